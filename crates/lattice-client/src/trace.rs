//! W3C trace context (`traceparent`, `tracestate`) in NATS headers.
//!
//! Outgoing requests carry the OpenTelemetry context of the current `tracing` span (through
//! `tracing-opentelemetry`); a host extracts it and makes it the parent of its own span, so
//! one trace follows an apply from the scheduler through the host to the providers. Without an
//! OpenTelemetry layer installed there is no context and no header: nothing is invented.

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

struct HeaderInjector<'a>(&'a mut async_nats::HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key, value.as_str());
    }
}

struct HeaderExtractor<'a>(&'a async_nats::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|value| value.as_str())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(name, _)| name.as_ref()).collect()
    }
}

/// Headers carrying the W3C trace context of the current span (empty when there is none).
#[must_use]
pub fn headers() -> async_nats::HeaderMap {
    let mut headers = async_nats::HeaderMap::new();
    let context = tracing::Span::current().context();
    TraceContextPropagator::new().inject_context(&context, &mut HeaderInjector(&mut headers));
    headers
}

/// Makes the W3C trace context carried by `headers` (if any) the parent of `span`.
pub fn set_parent(span: &tracing::Span, headers: Option<&async_nats::HeaderMap>) {
    let Some(headers) = headers else { return };
    let context = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    let _ = span.set_parent(context);
}
