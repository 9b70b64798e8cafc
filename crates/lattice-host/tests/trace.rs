//! One trace from the caller to the provider: the client's apply, the host's request and
//! upgrade spans, and the provider kit's handling of the link put the upgrade sends.

mod support;

use lattice_spec::HostId;
use opentelemetry::{
    Context,
    trace::{SpanId, TraceContextExt, TraceId, TracerProvider as _},
};
use opentelemetry_sdk::{
    error::OTelSdkResult,
    trace::{SdkTracerProvider, Span, SpanData, SpanProcessor},
};
use std::time::Duration;
use support::{Lattice, within};
use tokio::sync::mpsc;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

/// Hands every finished span to the test as it ends, so the test waits for the spans it
/// expects instead of polling an exporter.
#[derive(Debug)]
struct FinishedSpans(mpsc::UnboundedSender<SpanData>);

impl SpanProcessor for FinishedSpans {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        let _ = self.0.send(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}

/// Receives finished spans (under the test bound) until `done` holds of all those received
/// so far, and returns them all.
async fn received_until(
    spans: &mut mpsc::UnboundedReceiver<SpanData>,
    done: impl Fn(&[SpanData]) -> bool,
) -> Vec<SpanData> {
    let mut received = Vec::new();
    within(async {
        while !done(&received) {
            received.push(spans.recv().await.expect("the tracer provider is alive"));
        }
    })
    .await;
    received
}

fn named<'a>(spans: &'a [SpanData], name: &str) -> Option<&'a SpanData> {
    spans.iter().find(|span| span.name == name)
}

// One thread: the subscriber is this thread's default, and the host's and the provider's
// tasks (on this runtime) run under it.
#[tokio::test(flavor = "current_thread")]
async fn one_trace_follows_an_apply_from_the_client_through_the_host_to_the_provider() {
    let (sender, mut spans) = mpsc::unbounded_channel();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(FinishedSpans(sender))
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    let _guard = tracing::subscriber::set_default(subscriber);

    let lattice = Lattice::start().await;
    let _host = lattice.host("host-a").await;
    let (_kv, kv) = lattice.provider("kv").await;
    let host_id: HostId = "host-a".parse().unwrap();
    let spec = lattice.web_with_kv();

    let rollout = tracing::info_span!("scheduler.rollout");
    let trace_id: TraceId = rollout.context().span().span_context().trace_id();
    lattice
        .apply_and_wait(&host_id, &spec)
        .instrument(rollout)
        .await
        .unwrap();
    assert_eq!(kv.calls().len(), 1, "the provider got the link put");

    // The apply's request span closes after the apply (a parent outlives its children), so
    // the client's later inventory reads (same trace) may close first: the request span is
    // the one the apply span names as its parent.
    let received = received_until(&mut spans, |spans| {
        let (Some(apply), Some(_)) = (
            named(spans, "lattice.host.apply"),
            named(spans, "link_request"),
        ) else {
            return false;
        };
        apply.parent_span_id == SpanId::INVALID
            || spans
                .iter()
                .any(|span| span.span_context.span_id() == apply.parent_span_id)
    })
    .await;
    let apply = named(&received, "lattice.host.apply").unwrap();
    let link = named(&received, "link_request").unwrap();
    let request = received
        .iter()
        .find(|span| span.span_context.span_id() == apply.parent_span_id)
        .expect("the upgrade's span has the request's span as its parent");
    assert_eq!(request.name, "lattice.host.request");
    // The host's request span continues the client's trace from the request headers...
    assert_eq!(request.span_context.trace_id(), trace_id);
    assert!(request.parent_span_is_remote);
    // ...the upgrade, on its own task, continues the request's span...
    assert_eq!(
        apply.span_context.trace_id(),
        trace_id,
        "the spawned upgrade keeps the request's trace"
    );
    assert_eq!(apply.parent_span_id, request.span_context.span_id());
    // ...and the provider's handling of the link put continues the upgrade's, from the
    // headers of the host's link request.
    assert_eq!(
        link.span_context.trace_id(),
        trace_id,
        "the provider continues the host's trace"
    );
    assert!(link.parent_span_is_remote);
    assert_eq!(link.parent_span_id, apply.span_context.span_id());
}
