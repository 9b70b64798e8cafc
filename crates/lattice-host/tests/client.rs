//! The typed client against real hosts: discovery that returns as soon as the expected hosts
//! answered, delete, events, and the fallback to a host that speaks only wasmCloud 1.x.

mod support;

use futures::StreamExt;
use lattice_client::{Applied, Discover, StatusEvent};
use lattice_ctl::{DeleteOutcome, EventFilter, v1};
use lattice_spec::{ComponentSpecDraft, HostId, LinkDraft};
use lattice_status::ComponentState;
use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use support::{Lattice, within};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_returns_as_soon_as_the_expected_hosts_answered() {
    let lattice = Lattice::start().await;
    let _a = lattice.host("host-a").await;
    let _b = lattice.host("host-b").await;
    let window = Duration::from_secs(30);
    let started = Instant::now();
    let hosts = within(
        lattice
            .client
            .discover_hosts(Discover::expecting(2).window(window)),
    )
    .await
    .unwrap();
    let elapsed = started.elapsed();
    let mut ids: Vec<String> = hosts.iter().map(|h| h.host_id.to_string()).collect();
    ids.sort();
    assert_eq!(ids, ["host-a", "host-b"]);
    assert!(hosts.iter().all(|h| h.api_versions == ["v2alpha1"]));
    assert!(
        elapsed < window / 2,
        "returned after {elapsed:?}, not at the end of the window"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_stops_the_component_and_removes_its_links_with_events() {
    let lattice = Lattice::start().await;
    let host = lattice.host("host-a").await;
    let (_kv, kv) = lattice.provider("kv").await;
    let host_id: HostId = "host-a".parse().unwrap();
    let spec = ComponentSpecDraft::new(
        "web",
        lattice.component("web", &["wasi:keyvalue/store@0.2.0"]),
    )
    .link(LinkDraft::new("kv", "wasi", "keyvalue", ["store"]))
    .validate()
    .unwrap();
    lattice.apply_and_wait(&host_id, &spec).await.unwrap();

    let mut events = within(
        lattice
            .client
            .events(&EventFilter::component(&lattice.lattice, spec.id())),
    )
    .await
    .unwrap();
    let ack = within(lattice.client.delete(&host_id, spec.id()))
        .await
        .unwrap();
    assert_eq!(ack.outcome, DeleteOutcome::Accepted);
    within(async {
        while let Some(event) = events.next().await {
            if let Ok(StatusEvent::Component(event)) = event
                && event.status.state == ComponentState::Stopped
            {
                return;
            }
        }
        panic!("the event stream ended before `stopped`");
    })
    .await;
    assert!(host.inventory().component(spec.id()).is_none());
    assert!(
        matches!(kv.calls().last(), Some(support::Call::Delete { .. })),
        "{:?}",
        kv.calls()
    );
    let again = within(lattice.client.delete(&host_id, spec.id()))
        .await
        .unwrap();
    assert_eq!(again.outcome, DeleteOutcome::NotFound);
}

/// What a wasmCloud 1.x host received.
#[derive(Default)]
struct V1Host {
    operations: Mutex<Vec<String>>,
    inventory: Mutex<v1::HostInventory>,
}

/// A peer speaking the 1.x control interface on a real nats-server, with the 1.x shapes.
async fn serve_v1_host(nats: async_nats::Client, state: Arc<V1Host>) {
    let mut requests = nats.subscribe("wasmbus.ctl.v1.test.>").await.unwrap();
    lattice_test_support_barrier(&nats).await;
    tokio::spawn(async move {
        while let Some(message) = requests.next().await {
            let operation = message
                .subject
                .as_str()
                .trim_start_matches("wasmbus.ctl.v1.test.")
                .to_owned();
            let reply = if operation.starts_with("host.get.") {
                serde_json::to_vec(&v1::CtlResponse::ok(
                    state.inventory.lock().unwrap().clone(),
                ))
                .unwrap()
            } else {
                if operation.starts_with("component.scale.") {
                    let command: v1::ScaleComponentCommand =
                        serde_json::from_slice(&message.payload).unwrap();
                    let mut component = v1::ComponentDescription::default();
                    component.id = command.component_id.clone();
                    component.image_ref = command.component_ref.clone();
                    component.max_instances = command.max_instances;
                    state.inventory.lock().unwrap().components = vec![component];
                }
                state.operations.lock().unwrap().push(format!(
                    "{operation} {}",
                    String::from_utf8_lossy(&message.payload)
                ));
                br#"{"success":true,"message":""}"#.to_vec()
            };
            if let Some(reply_to) = message.reply {
                nats.publish(reply_to, reply.into()).await.unwrap();
            }
        }
    });
}

async fn lattice_test_support_barrier(nats: &async_nats::Client) {
    let inbox = nats.new_inbox();
    let mut probe = nats.subscribe(inbox.clone()).await.unwrap();
    nats.publish(inbox, bytes::Bytes::new()).await.unwrap();
    within(probe.next()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_falls_back_to_a_host_that_speaks_only_1x_and_says_so() {
    let lattice = Lattice::start().await;
    let state = Arc::new(V1Host::default());
    let nats = within(async_nats::connect(lattice.server.url()))
        .await
        .unwrap();
    serve_v1_host(nats, state.clone()).await;
    let host_id: HostId = "NOLDHOST".parse().unwrap();
    let spec = ComponentSpecDraft::new("web", "ghcr.io/acme/web:2.0.0")
        .revision(2)
        .scale(3)
        .link(
            LinkDraft::new("http", "wasi", "http", ["incoming-handler"])
                .target_config_value("address", "0.0.0.0:8080"),
        )
        .validate()
        .unwrap();

    let applied = within(lattice.client.apply(&host_id, &spec)).await.unwrap();
    assert!(applied.is_fallback(), "{applied:?}");
    assert_eq!(applied, Applied::V1Fallback { lost: vec![] });
    let operations = state.operations.lock().unwrap().clone();
    assert_eq!(operations.len(), 3, "{operations:#?}");
    assert!(
        operations[0].starts_with(
            "config.put.lattice-web-wasi-http-default-target {\"address\":\"0.0.0.0:8080\"}"
        ),
        "{}",
        operations[0]
    );
    assert!(
        operations[1].starts_with("link.put {\"source_id\":\"web\",\"target\":\"http\""),
        "{}",
        operations[1]
    );
    assert!(
        operations[2]
            .starts_with("component.scale.NOLDHOST {\"component_ref\":\"ghcr.io/acme/web:2.0.0\""),
        "{}",
        operations[2]
    );
    assert!(
        operations[2].contains("\"count\":3") && operations[2].contains("\"allow_update\":true"),
        "{}",
        operations[2]
    );

    // Following it works from the 1.x inventory, since 1.x publishes no status.
    let report = lattice.apply_and_wait(&host_id, &spec).await.unwrap();
    assert!(report.applied.is_fallback());
    assert_eq!(report.status.state, ComponentState::Running);
}
