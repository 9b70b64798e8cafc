//! W3C trace context for outgoing requests (filled in below).

/// Headers carrying the current trace context.
pub(crate) fn headers() -> async_nats::HeaderMap {
    async_nats::HeaderMap::new()
}
