//! Typed async client for the lattice control interface, over the caller's async-nats
//! connection.
//!
//! Every v2alpha1 operation: [`Client::discover`] / [`Client::discover_hosts`] (returns as
//! soon as every host the [`directory`] lists answered, or the expected hosts), and, on a [`HostApi`] bound to one host by [`Client::host`]:
//! [`HostApi::inventory`], [`HostApi::apply`] (the host's acknowledgement),
//! [`HostApi::wait_for`] (until a [`conditions::Condition`] holds, with the timeout left to
//! the caller), [`HostApi::apply_and_wait`] (sugar: apply, then wait for
//! [`conditions::is_settled`] under a deadline), [`HostApi::delete`], and
//! [`HostApi::events`]; for capability providers [`HostApi::apply_provider`],
//! [`HostApi::delete_provider`] and [`HostApi::wait_for_provider`]; [`Client::events`] and link
//! put/delete for tools. The same calls are
//! on [`Client`] with the host as first argument.
//!
//! Against a host that only speaks the wasmCloud 1.x control interface, [`Client::apply`]
//! falls back to 1.x operations and says so — when the fallback is turned on with
//! [`Client::with_v1_fallback`]; it is off by default, and such a host is then a typed
//! error ([`ApplyError::V1Only`]).
//!
//! Each operation has its own error with a `kind()` to `match` on; a host's or provider's
//! refusal travels inside the error whole. With a [`PermissionWatch`] on the connection
//! ([`Client::with_permission_watch`]), a subject the NATS server denies the user is an error
//! naming it (`PermissionDenied`), not a timeout.

mod apply;
pub mod auth;
mod client;
pub mod conditions;
pub mod directory;
mod error;
mod events;
mod host;
mod permissions;
mod provider;
mod wait;

/// W3C trace context in NATS headers: the client's requests carry the current span's.
pub use lattice_nats::trace;

pub use apply::{Applied, WaitReport};
pub use client::{
    Client, DEFAULT_QUIET, DEFAULT_RECHECK_INTERVAL, DEFAULT_TIMEOUT, DIRECTORY_PATIENCE, Discover,
    Discovery, LinkError, LinkErrorKind, QUIET_WITHOUT_DIRECTORY,
};
pub use error::{
    ApplyError, ApplyErrorKind, DirectoryError, DirectoryErrorKind, DiscoverError,
    DiscoverErrorKind, EncodeError, FollowError, RequestError, RequestErrorKind, SubscribeError,
    SubscribeErrorKind, WaitError, WaitErrorKind,
};
pub use events::{EventError, EventErrorKind, EventStream, StatusEvent};
pub use host::HostApi;
pub use lattice_nats::{ConfigBucket, ConfigBucketError, ConfigBucketErrorKind, KvError};
pub use permissions::{PermissionOperation, PermissionViolation, PermissionWatch};
