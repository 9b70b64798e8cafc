//! Host kit for lattice: serves the v2alpha1 control interface for one host and runs the
//! zero-downtime upgrade sequence.
//!
//! A real host embeds a [`Host`]: it answers pings and inventory requests, accepts component
//! specs (a component is `pending` the moment its apply is acknowledged), publishes a status
//! event on every transition, and upgrades a running component without dropping an
//! invocation:
//!
//! fetch → validate → instantiate → establish new links → **pause** → re-put changed links →
//! **swap** → resume → remove old links → running.
//!
//! On any failure the previous revision keeps serving and its links are restored. Applies to
//! one component are serialised; a stale revision is refused; the same spec twice is
//! `unchanged`. The host never writes lattice-wide state.
//!
//! A host also answers the wasmCloud 1.x control interface's reads and component writes (as
//! v2alpha1 applies) and publishes the 1.x host events, so 1.x tools see it.
//!
//! The pluggable pieces are traits: artifact fetching and validation
//! ([`lattice_artifact::ArtifactFetcher`], [`lattice_artifact::ComponentValidator`]), what
//! executes an invocation ([`ComponentRuntime`]), and where named configuration comes from
//! ([`ConfigStore`]; by default [`NatsConfigStore`], the lattice's `CONFIGDATA_{lattice}`
//! bucket). Invocations of every exported function arrive over wRPC ([`wrpc`]) and pass
//! through each component's [`InvocationGate`].

mod config;
mod configdata;
mod debug;
mod gate;
mod host;
mod links;
mod provider;
mod runtime;
mod secrets;
mod secrets_nats;
mod server;
mod state;
mod upgrade;
mod v1;
pub mod wrpc;

pub use config::{ConfigError, HostDeadlines};
pub use config::{
    ConfigStore, DEFAULT_HEARTBEAT_INTERVAL, HostConfig, StaticConfigStore, UnacknowledgedLinks,
    V1LatticeWide,
};
pub use configdata::NatsConfigStore;
pub use gate::{InvocationGate, InvokeError, InvokeErrorKind};
pub use host::{Host, HostError, HostErrorKind, HostHandle, Shutdown};
/// Secret values as the runtime receives them (name → value), re-exported from
/// `lattice-link`.
pub use lattice_link::{SecretMap, SecretValue};
pub use provider::{InvalidCredentials, ProviderCredentials, ProviderSupervision};
pub use runtime::{
    AsyncPaths, ComponentInstance, ComponentRuntime, ECHO_FUNCTION, ECHO_INSTANCE,
    ExportedFunction, Invocation, RevisionEchoRuntime, RuntimeError, RuntimeErrorKind,
};
pub use secrets::{
    InvalidXKey, LinkSecrets, SecretError, SecretErrorKind, SecretsBackend, StaticSecrets,
};
pub use secrets_nats::{DEFAULT_SECRETS_TIMEOUT, NatsSecretsBackend};
pub use wrpc::{InvokeCallError, InvokeCallErrorKind, Invoker};
/// The wRPC NATS transport the host serves invocations on, re-exported so runtimes build on
/// the same version.
pub use wrpc_transport_nats;

/// The README's examples, compiled and run as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
