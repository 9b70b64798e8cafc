//! NATS plumbing the lattice kits share, below both the host kit (`lattice-host`) and the
//! provider kit (`lattice-provider`), above the message crates (`lattice-status`, `-spec`,
//! `-link`, `-ctl`), which have no I/O:
//!
//! - [`server_barrier`]: the one check that the server has processed a connection's
//!   subscriptions before a kit reports itself ready;
//! - [`trace`]: W3C trace context in NATS headers, so one trace follows an apply from its
//!   caller through hosts to providers (the client re-exports it as `lattice_client::trace`);
//! - [`ConfigBucket`]: the one reader and writer of the lattice's named-configuration bucket
//!   (`CONFIGDATA_{lattice}`), used by hosts to read and by the scheduler and the CLI to write
//!   (the client re-exports it).
//!
//! The provider kit does not depend on `lattice-client`, and the host kit no longer does:
//! what both need from NATS lives here.

mod barrier;
mod configs;
mod kv_error;
mod replicated;
pub mod trace;

pub use barrier::{Barrier, BarrierError, BarrierErrorKind, server_barrier};
pub use configs::{ConfigBucket, ConfigBucketError, ConfigBucketErrorKind};
pub use kv_error::KvError;
pub use replicated::{REPLICAS_READY_WITHIN, create_key_value_ready, until_replicas_ready};
