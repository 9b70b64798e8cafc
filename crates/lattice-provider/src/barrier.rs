//! A round trip to the NATS server, to know it has processed what this client sent before.
//!
//! `async_nats::Client::flush` only writes the client's buffer to the socket; it does not wait
//! for the server. A request is answered by the server only after it has processed every
//! earlier operation on the connection, so a request on a fresh inbox subject that nobody
//! listens on — answered at once with "no responders" — is such a round trip.

use async_nats::{Client, RequestErrorKind};
use bytes::Bytes;
use std::time::Duration;

/// How long the round trip may take when the client has no request timeout of its own.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the round trip found.
pub(crate) enum RoundTrip {
    /// The server processed everything sent before.
    Confirmed,
    /// The server did not answer in time; most likely the connection may not publish on its
    /// inbox prefix (permissions), as nothing else keeps a no-responders answer from coming.
    Unconfirmed,
}

/// Flushes the client and waits for the server to process what was sent before.
///
/// # Errors
///
/// What async-nats said, when the connection fails.
pub(crate) async fn round_trip(
    client: &Client,
) -> Result<RoundTrip, Box<dyn std::error::Error + Send + Sync>> {
    client.flush().await?;
    let timeout = client.timeout().unwrap_or(DEFAULT_TIMEOUT);
    let probe = client.request(client.new_inbox(), Bytes::new());
    match tokio::time::timeout(timeout, probe).await {
        Ok(Ok(_)) => Ok(RoundTrip::Confirmed),
        Ok(Err(error)) => match error.kind() {
            RequestErrorKind::NoResponders => Ok(RoundTrip::Confirmed),
            RequestErrorKind::TimedOut => Ok(RoundTrip::Unconfirmed),
            _ => Err(error.into()),
        },
        Err(_) => Ok(RoundTrip::Unconfirmed),
    }
}
