//! Scheduler rollout engine for lattice.
//!
//! A wadm-like orchestrator embeds a [`Scheduler`] to roll an application from one revision
//! to the next across many hosts and back:
//!
//! - every revision is stored in a JetStream key-value bucket owned by the scheduler (hosts
//!   never write it), with a bounded history and a *last stable* marker ([`RolloutStore`]);
//! - a rollout computes its whole step schedule and its way back before touching any host,
//!   and can print it as a dry run ([`Scheduler::plan`], [`plan::Plan`]);
//! - strategies: all at once, rolling, canary, blue-green ([`Strategy`]); a strategy refuses
//!   a change it cannot make safely before starting ([`plan::check_guardrails`]);
//! - per-host and whole-rollout deadlines, a minimum healthy time and a failure budget
//!   ([`RolloutOptions`]);
//! - automatic rollback to the last stable revision — artifact, configuration and links
//!   together — written as a new revision that becomes the desired one, or freeze;
//! - named configurations pinned to their content when a rollout starts, so a rotated
//!   value rolls out and back like code ([`pinning`]);
//! - operator controls through the store ([`Scheduler::pause`], [`Scheduler::resume`],
//!   [`Scheduler::abort`], [`Scheduler::promote`]) and typed status events
//!   ([`Scheduler::watch`]), so a tool steering a rollout needs no NATS code of its own;
//! - the record, its events and the controls are the wire contract's
//!   ([`lattice_ctl::rollout`]), re-exported here: tools in any language read them with the
//!   schemas in `schemas/`;
//! - progress stored as it goes: a restarted scheduler continues or rolls back
//!   ([`Scheduler::recover`]); a second rollout of one application is refused.

mod debug;
mod engine;
mod manifest;
pub mod model;
pub mod pinning;
pub mod plan;
pub mod record;
pub mod store;
mod watch;

pub use engine::{
    NoReconcilers, PreflightError, PreflightErrorKind, Reconcilers, RolloutError, RolloutErrorKind,
    Scheduler, elapsed, event_subject,
};
pub use lattice_nats::KvError;
pub use manifest::{Manifest, ManifestComponent, ManifestProvider};
pub use model::{AppName, AppRevision, HostSelector, Placement, ProviderPlacement};
pub use plan::{OnFailure, RolloutOptions, Strategy};
pub use record::{Control, FailureCode, HostFailures, HostProgress, RolloutFailure, RolloutRecord};
pub use store::{RolloutStore, StoreError, StoreErrorKind};
pub use watch::RolloutEvents;
