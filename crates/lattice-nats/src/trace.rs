//! W3C trace context (`traceparent`, `tracestate`) in NATS headers.
//!
//! One trace follows an apply from its caller through the host to the providers: the client
//! puts the OpenTelemetry context of the current `tracing` span in the headers of its request
//! ([`headers`]); the host makes the context it receives the parent of its request span
//! ([`set_parent`]) and, from inside that span, puts its own context in the headers of its link
//! requests; the provider kit makes that context the parent of its link-handling span.
//!
//! The context of a span comes from `tracing-opentelemetry`: without its layer installed there
//! is no context, so no header is sent and none is invented. Only the OpenTelemetry API is used
//! here (the format is written and read by this crate), so a kit carries no OpenTelemetry SDK;
//! the program that installs the layer chooses the SDK and the exporter.
//!
//! ```
//! use tracing::Instrument;
//!
//! async fn link_put(nats: async_nats::Client) -> Result<(), async_nats::RequestError> {
//!     async {
//!         // The request carries the trace of the span it is built in.
//!         let request = async_nats::Request::new()
//!             .payload("{}".into())
//!             .headers(lattice_nats::trace::headers());
//!         nats.send_request("wasmbus.rpc.default.kv.linkdefs.put", request).await?;
//!         Ok(())
//!     }
//!     .instrument(tracing::info_span!("link_put"))
//!     .await
//! }
//! ```

use async_nats::HeaderMap;
use opentelemetry::{
    Context,
    trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState},
};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The header carrying the version, trace id, parent span id and flags of a W3C trace context.
pub const TRACEPARENT: &str = "traceparent";

/// The header carrying the vendor-specific part of a W3C trace context.
pub const TRACESTATE: &str = "tracestate";

/// The only `traceparent` version written; later versions are read by their first four fields.
const VERSION: &str = "00";

/// Headers carrying the W3C trace context of the current span (empty when there is none).
///
/// ```
/// // Outside any span with an OpenTelemetry context, nothing is sent.
/// assert!(lattice_nats::trace::headers().is_empty());
/// ```
#[must_use]
pub fn headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    let context = tracing::Span::current().context();
    let span = context.span();
    let span_context = span.span_context();
    if span_context.is_valid() {
        headers.insert(TRACEPARENT, traceparent(span_context).as_str());
        let state = span_context.trace_state().header();
        if !state.is_empty() {
            headers.insert(TRACESTATE, state.as_str());
        }
    }
    headers
}

/// The remote span context `headers` carry, if they carry a valid one.
///
/// A malformed `traceparent` is ignored (the trace starts afresh, as the W3C recommendation
/// says); a malformed `tracestate` is dropped and the `traceparent` kept.
///
/// ```
/// let mut headers = async_nats::HeaderMap::new();
/// headers.insert(
///     lattice_nats::trace::TRACEPARENT,
///     "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
/// );
/// let remote = lattice_nats::trace::remote_span_context(&headers).expect("a trace context");
/// assert_eq!(remote.trace_id().to_string(), "0af7651916cd43dd8448eb211c80319c");
/// assert!(remote.is_remote() && remote.is_sampled());
/// ```
#[must_use]
pub fn remote_span_context(headers: &HeaderMap) -> Option<SpanContext> {
    let traceparent = headers.get(TRACEPARENT)?.as_str();
    let state = headers
        .get(TRACESTATE)
        .and_then(|state| state.as_str().parse::<TraceState>().ok())
        .unwrap_or_default();
    parse_traceparent(traceparent, state)
}

/// Makes the W3C trace context carried by `headers` (if any) the parent of `span`.
///
/// Call it before `span` is first entered: a span that has started keeps its parent.
///
/// ```
/// use tracing::Instrument;
///
/// async fn on_request(message: async_nats::Message) {
///     let span = tracing::info_span!("link_request", subject = %message.subject);
///     lattice_nats::trace::set_parent(&span, message.headers.as_ref());
///     async { /* handle the request */ }.instrument(span).await;
/// }
/// ```
pub fn set_parent(span: &tracing::Span, headers: Option<&HeaderMap>) {
    let Some(remote) = headers.and_then(remote_span_context) else {
        return;
    };
    // Fails only without an OpenTelemetry layer or for a disabled span: nothing to continue.
    let _ = span.set_parent(Context::new().with_remote_span_context(remote));
}

fn traceparent(span_context: &SpanContext) -> String {
    format!(
        "{VERSION}-{}-{}-{:02x}",
        span_context.trace_id(),
        span_context.span_id(),
        span_context.trace_flags() & TraceFlags::SAMPLED
    )
}

fn parse_traceparent(value: &str, state: TraceState) -> Option<SpanContext> {
    let mut fields = value.trim().split('-');
    let (version, trace_id, span_id, flags) = (
        fields.next()?,
        fields.next()?,
        fields.next()?,
        fields.next()?,
    );
    // Version 00 has exactly four fields; a later version may append more, read past here.
    if !is_lower_hex(version, 2)
        || version == "ff"
        || (version == VERSION && fields.next().is_some())
    {
        return None;
    }
    if !is_lower_hex(trace_id, 32) || !is_lower_hex(span_id, 16) || !is_lower_hex(flags, 2) {
        return None;
    }
    let trace_id = TraceId::from_hex(trace_id).ok()?;
    let span_id = SpanId::from_hex(span_id).ok()?;
    // Flags other than `sampled` are unknown to this version: accepted and cleared.
    let flags = TraceFlags::new(u8::from_str_radix(flags, 16).ok()?) & TraceFlags::SAMPLED;
    let span_context = SpanContext::new(trace_id, span_id, flags, true, state);
    // All-zero trace and span ids are invalid.
    span_context.is_valid().then_some(span_context)
}

fn is_lower_hex(field: &str, len: usize) -> bool {
    field.len() == len
        && field
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::{propagation::TextMapPropagator, trace::TracerProvider as _};
    use opentelemetry_sdk::propagation::TraceContextPropagator;
    use std::collections::HashMap;
    use tracing_subscriber::layer::SubscriberExt;

    fn headers_with(traceparent: &str, tracestate: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(TRACEPARENT, traceparent);
        if let Some(state) = tracestate {
            headers.insert(TRACESTATE, state);
        }
        headers
    }

    /// What the OpenTelemetry SDK's own W3C propagator reads from the same header values.
    fn sdk_reads(traceparent: &str, tracestate: Option<&str>) -> Option<SpanContext> {
        let mut carrier = HashMap::from([(TRACEPARENT.to_owned(), traceparent.to_owned())]);
        if let Some(state) = tracestate {
            carrier.insert(TRACESTATE.to_owned(), state.to_owned());
        }
        let context = TraceContextPropagator::new().extract(&carrier);
        let span_context = context.span().span_context().clone();
        span_context.is_valid().then_some(span_context)
    }

    #[test]
    fn reads_traceparent_and_tracestate_as_the_sdk_propagator_does() {
        let cases = [
            (
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                None,
            ),
            (
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
                None,
            ),
            (
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                Some("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"),
            ),
            // Unknown flags are cleared; a later version is read by its first four fields.
            (
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-09",
                None,
            ),
            (
                "cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
                None,
            ),
            // Malformed: every one is ignored.
            (
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
                None,
            ),
            (
                "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
                None,
            ),
            (
                "00-00000000000000000000000000000000-b7ad6b7169203331-01",
                None,
            ),
            (
                "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
                None,
            ),
            (
                "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                None,
            ),
            ("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331", None),
            ("", None),
        ];
        for (traceparent, tracestate) in cases {
            let ours = remote_span_context(&headers_with(traceparent, tracestate));
            assert_eq!(
                ours,
                sdk_reads(traceparent, tracestate),
                "{traceparent} {tracestate:?}"
            );
        }
        assert!(
            remote_span_context(&headers_with(
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                None
            ))
            .is_some()
        );
    }

    #[test]
    fn writes_what_the_sdk_propagator_writes_for_the_current_span() {
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        let _guard = tracing::subscriber::set_default(subscriber);

        let span = tracing::info_span!("caller");
        let _entered = span.enter();
        let ours = headers();
        let mut sdk = HashMap::new();
        TraceContextPropagator::new().inject_context(&span.context(), &mut sdk);
        assert_eq!(
            ours.get(TRACEPARENT).map(|v| v.as_str()),
            sdk.get(TRACEPARENT).map(String::as_str)
        );
        assert!(
            ours.get(TRACESTATE).is_none(),
            "an empty tracestate is not sent"
        );
        // And what is written reads back as the same (now remote) span.
        let remote = remote_span_context(&ours).unwrap();
        let local = span.context().span().span_context().clone();
        assert_eq!(
            (remote.trace_id(), remote.span_id(), remote.is_sampled()),
            (local.trace_id(), local.span_id(), local.is_sampled())
        );
    }

    #[test]
    fn set_parent_continues_the_remote_trace() {
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        let _guard = tracing::subscriber::set_default(subscriber);

        let headers = headers_with(
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            None,
        );
        let span = tracing::info_span!("handler");
        set_parent(&span, Some(&headers));
        let context = span.context();
        let span_context = context.span().span_context().clone();
        assert_eq!(
            span_context.trace_id().to_string(),
            "0af7651916cd43dd8448eb211c80319c"
        );
        assert_ne!(span_context.span_id().to_string(), "b7ad6b7169203331");

        let unrelated = tracing::info_span!("no headers");
        set_parent(&unrelated, None);
        assert_ne!(
            unrelated.context().span().span_context().trace_id(),
            span_context.trace_id()
        );
    }
}
