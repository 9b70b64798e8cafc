//! W3C trace context travels in the NATS headers of a request, from the caller's span.

use futures::StreamExt;
use lattice_client::Client;
use lattice_ctl::{CtlSubject, HostInventory, HostInventoryReply};
use lattice_spec::WireMessage;
use lattice_test_support::NatsServer;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use std::time::Duration;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

#[tokio::test(flavor = "current_thread")]
async fn the_callers_trace_context_travels_in_the_request_headers() {
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = tokio::task::spawn_blocking(NatsServer::start)
        .await
        .unwrap()
        .unwrap();
    let bound = Duration::from_secs(10);
    let nats = tokio::time::timeout(bound, async_nats::connect(server.url()))
        .await
        .unwrap()
        .unwrap();
    let subject = CtlSubject::HostInventory {
        lattice: "test".parse().unwrap(),
        host_id: "h1".parse().unwrap(),
    };
    let mut host = nats.subscribe(subject.to_string()).await.unwrap();
    let responder = nats.clone();
    let seen = tokio::spawn(async move {
        let request = host.next().await.unwrap();
        let reply = HostInventoryReply::ok(HostInventory::new(
            "h1".parse().unwrap(),
            "test".parse().unwrap(),
        ));
        responder
            .publish(request.reply.clone().unwrap(), reply.encode().unwrap())
            .await
            .unwrap();
        request.headers
    });
    let client = Client::new(nats, "test".parse().unwrap());

    let span = tracing::info_span!("scheduler.rollout");
    let trace_id = span.context().span().span_context().trace_id();
    let inventory = tokio::time::timeout(
        bound,
        tracing::Instrument::instrument(client.inventory(&"h1".parse().unwrap()), span),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(inventory.host_id, "h1");

    let headers = tokio::time::timeout(bound, seen)
        .await
        .unwrap()
        .unwrap()
        .expect("request headers");
    let traceparent = headers
        .get("traceparent")
        .expect("traceparent header")
        .as_str()
        .to_owned();
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{traceparent}");
    assert_eq!(parts[0], "00");
    assert_eq!(
        parts[1],
        trace_id.to_string(),
        "the request continues the caller's trace"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn without_an_opentelemetry_layer_no_header_is_invented() {
    assert!(lattice_client::trace::headers().is_empty());
}
