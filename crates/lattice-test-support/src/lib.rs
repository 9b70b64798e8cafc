//! Test support for lattice: a real `nats-server` (re-exported from [`lattice_local`], which
//! launches it for tests, benches, the demo and `lattice up` alike), a real OCI registry, and
//! the example components of the repository.
//!
//! [`NatsServer::start`] launches `nats-server` with JetStream on, on its own free loopback
//! port, and kills it on drop; see [`lattice_local::NatsServer`].
//!
//! [`Registry::start`] launches Debian's `docker-registry` (the CNCF distribution server)
//! the same way: a free loopback port, filesystem storage in a temporary directory, killed
//! on drop, ready once `GET /v2/` answers; optionally behind basic authentication.
//! [`Wash`] pushes components to it with `wash oci push`, as wasmCloud users do. Install both
//! with `scripts/install-registry`.
//!
//! Launchers are plain blocking `std`. [`read_until`] waits, under a deadline, for a state
//! that has no event to wait on (a 1.x host's inventory); it needs a tokio runtime.
//!
//! ```no_run
//! use lattice_test_support::NatsServer;
//!
//! let server = NatsServer::start()?;
//! println!("nats-server {} listens on {}", server.pid(), server.url());
//! drop(server); // kills and reaps nats-server, removes its store directory
//! # Ok::<(), lattice_test_support::StartError>(())
//! ```

mod eventually;
mod examples;
mod logs;
mod registry;
mod wash;

pub use eventually::{READ_INTERVAL, read_until};
pub use examples::{example_component, example_component_ref};
pub use lattice_local::{NATS_SERVER_BIN_ENV, NatsServer, NatsServerBuilder, StartError};
pub use logs::captured_logs;
pub use registry::{DOCKER_REGISTRY_BIN_ENV, Registry, RegistryBuilder, RegistryStartError};
pub use wash::{PushError, PushedComponent, WASH_BIN_ENV, Wash};
