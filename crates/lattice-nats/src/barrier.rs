//! The server barrier: the one check that the server has processed what a connection sent.
//!
//! The host kit (`lattice-host`) and the provider kit (`lattice-provider`) both subscribe and
//! then must know the server has those subscriptions before they answer "ready": a host that
//! acknowledges an apply or a provider that reports itself serving while its subscription is
//! still in flight loses the first request sent to it. [`server_barrier`] is that one check.

use async_nats::{Client, RequestErrorKind};
use bytes::Bytes;
use std::time::Duration;

/// How long the barrier waits when the client has no request timeout of its own.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// What a [`server_barrier`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Barrier {
    /// The server processed everything the connection sent before the barrier.
    Confirmed,
    /// The server did not answer in time; most likely the connection may not publish on its
    /// inbox prefix (permissions), as nothing else keeps a no-responders answer from coming.
    Unconfirmed,
}

/// The barrier failed: the connection could not flush or send the probe.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BarrierError {
    /// The connection's buffer could not be written to the server.
    #[error("cannot flush the connection")]
    Flush(#[source] async_nats::client::FlushError),
    /// The probe request failed other than by "no responders" or a timeout.
    #[error("cannot send the barrier probe")]
    Probe(#[source] async_nats::RequestError),
}

/// Why a barrier failed, as a value to `match` on. Both are transport failures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BarrierErrorKind {
    /// See [`BarrierError::Flush`].
    Flush,
    /// See [`BarrierError::Probe`].
    Probe,
}

impl BarrierError {
    /// The kind of failure.
    #[must_use]
    pub fn kind(&self) -> BarrierErrorKind {
        match self {
            Self::Flush(_) => BarrierErrorKind::Flush,
            Self::Probe(_) => BarrierErrorKind::Probe,
        }
    }
}

/// Flushes `client` and waits until the server has processed everything sent on it before.
///
/// `async_nats::Client::flush` only writes the client's buffer to the socket; it does not wait
/// for the server. The server answers a request only after it has processed every earlier
/// operation of the connection, so a request on a fresh inbox subject that nobody listens on
/// — answered at once with "no responders" — is that round trip. It waits as long as the
/// client's request timeout (10 s without one).
///
/// ```no_run
/// use lattice_nats::{Barrier, server_barrier};
///
/// # async fn run(nats: async_nats::Client) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let _requests = nats.subscribe("wasmbus.ctl.v2alpha1.default.host.h1.>").await?;
/// match server_barrier(&nats).await? {
///     Barrier::Confirmed => println!("the server has the subscription"),
///     _ => println!("not confirmed in time; serving anyway"),
/// }
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// [`BarrierError`] when the connection fails.
pub async fn server_barrier(client: &Client) -> Result<Barrier, BarrierError> {
    client.flush().await.map_err(BarrierError::Flush)?;
    let timeout = client.timeout().unwrap_or(DEFAULT_TIMEOUT);
    let probe = client.request(client.new_inbox(), Bytes::new());
    match tokio::time::timeout(timeout, probe).await {
        Ok(Ok(_)) => Ok(Barrier::Confirmed),
        Ok(Err(error)) => match error.kind() {
            RequestErrorKind::NoResponders => Ok(Barrier::Confirmed),
            RequestErrorKind::TimedOut => Ok(Barrier::Unconfirmed),
            _ => Err(BarrierError::Probe(error)),
        },
        Err(_) => Ok(Barrier::Unconfirmed),
    }
}
