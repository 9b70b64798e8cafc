//! The typed client against real hosts: discovery that returns as soon as the expected hosts
//! answered, delete, events, the scoped host handle and its `wait_for`, and the opt-in
//! fallback to a host that speaks only wasmCloud 1.x.

#[path = "support/fake_v1.rs"]
mod fake_v1;
mod support;

use fake_v1::FakeV1Host;
use futures::StreamExt;
use lattice_client::conditions::{self, Condition};
use lattice_client::{Applied, ApplyError, ApplyErrorKind, Discover, StatusEvent};
use lattice_ctl::{ComponentInventory, DeleteOutcome};
use lattice_spec::{ComponentSpecDraft, HostId, LinkDraft};
use lattice_status::{ComponentState, LinkState};
use std::time::{Duration, Instant};
use support::{Lattice, Recorded, within};

/// A **fake** 1.x host `NOLDHOST` serving on the lattice's server; its recorded state and id.
async fn fake_1x_host(lattice: &Lattice) -> (std::sync::Arc<FakeV1Host>, HostId) {
    let state = FakeV1Host::new("NOLDHOST", "test");
    let nats = within(async_nats::connect(lattice.local.url()))
        .await
        .unwrap();
    state.clone().serve(nats).await;
    (state, "NOLDHOST".parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_returns_lattice_and_1x_hosts_as_soon_as_the_expected_hosts_answered() {
    let lattice = Lattice::start().await;
    let _a = lattice.host("host-a").await;
    let _b = lattice.host("host-b").await;
    // A (fake) host that speaks only 1.x answers the 1.x ping alone.
    let _old = fake_1x_host(&lattice).await;
    let window = Duration::from_secs(30);
    let started = Instant::now();
    let hosts = within(
        lattice
            .client
            .discover_hosts(Discover::expecting(3).window(window)),
    )
    .await
    .unwrap();
    let elapsed = started.elapsed();
    let mut found: Vec<(String, Vec<String>)> = hosts
        .iter()
        .map(|h| (h.host_id.to_string(), h.api_versions.clone()))
        .collect();
    found.sort();
    let versions = |list: &[&str]| list.iter().map(|v| (*v).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        found,
        [
            ("NOLDHOST".to_owned(), versions(&["v1"])),
            ("host-a".to_owned(), versions(&["v1", "v2alpha1"])),
            ("host-b".to_owned(), versions(&["v1", "v2alpha1"])),
        ]
    );
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
    let spec = lattice.web_with_kv();
    lattice.apply_and_wait(&host_id, &spec).await.unwrap();

    let mut events = lattice.component_events(spec.id()).await;
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
        matches!(kv.recorded().last(), Some(support::Call::Delete { .. })),
        "{:?}",
        kv.recorded()
    );
    let again = within(lattice.client.delete(&host_id, spec.id()))
        .await
        .unwrap();
    assert_eq!(again.outcome, DeleteOutcome::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_falls_back_to_a_host_that_speaks_only_1x_and_says_so() {
    let mut lattice = Lattice::start().await;
    lattice.client = lattice.client.clone().with_v1_fallback(true);
    let (state, host_id) = fake_1x_host(&lattice).await;
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
    assert_eq!(operations.len(), 4, "{operations:#?}");
    assert_eq!(operations[0], "config.put.lattice-web-r2 {}");
    assert!(
        operations[1].starts_with(
            "config.put.lattice-web-wasi-http-default-r2-target {\"address\":\"0.0.0.0:8080\"}"
        ),
        "{}",
        operations[1]
    );
    assert!(
        operations[2].starts_with("link.put {\"source_id\":\"web\",\"target\":\"http\""),
        "{}",
        operations[2]
    );
    assert!(
        operations[3]
            .starts_with("component.scale.NOLDHOST {\"component_ref\":\"ghcr.io/acme/web:2.0.0\""),
        "{}",
        operations[3]
    );
    assert!(
        operations[3].contains("\"count\":3") && operations[3].contains("\"allow_update\":true"),
        "{}",
        operations[3]
    );

    // Following it works from the 1.x inventory, since 1.x publishes no status.
    let report = lattice.apply_and_wait(&host_id, &spec).await.unwrap();
    assert!(report.applied.is_fallback());
    assert_eq!(report.status.state, ComponentState::Running);

    // Revision 3 drops the link: the client reads the lattice's links (1.x keeps them
    // lattice-wide) and deletes the one the spec no longer has.
    state.operations.lock().unwrap().clear();
    let without_link = ComponentSpecDraft::new("web", "ghcr.io/acme/web:2.0.0")
        .revision(3)
        .scale(3)
        .validate()
        .unwrap();
    let applied = within(lattice.client.apply(&host_id, &without_link))
        .await
        .unwrap();
    assert!(applied.is_fallback());
    let operations = state.operations.lock().unwrap().clone();
    assert!(
        operations.last().is_some_and(|op| op.starts_with(
            "link.del {\"source_id\":\"web\",\"name\":\"default\",\"wit_namespace\":\"wasi\",\"wit_package\":\"http\""
        )),
        "{operations:#?}"
    );
    assert!(state.links.lock().unwrap().is_empty());

    // Revision 4 changes the artifact: a 1.x host does not replace code in place, so the
    // client stops the old artifact, and starts the new one only once the host no longer
    // lists it.
    state.operations.lock().unwrap().clear();
    let new_artifact = ComponentSpecDraft::new("web", "ghcr.io/acme/web:3.0.0")
        .revision(4)
        .scale(3)
        .validate()
        .unwrap();
    within(lattice.client.apply(&host_id, &new_artifact))
        .await
        .unwrap();
    let scales: Vec<String> = state
        .operations
        .lock()
        .unwrap()
        .iter()
        .filter(|op| op.starts_with("component.scale."))
        .cloned()
        .collect();
    assert_eq!(scales.len(), 2, "{scales:#?}");
    assert!(
        scales[0].contains("\"component_ref\":\"ghcr.io/acme/web:2.0.0\"")
            && scales[0].contains("\"count\":0"),
        "{}",
        scales[0]
    );
    assert!(
        scales[1].contains("\"component_ref\":\"ghcr.io/acme/web:3.0.0\"")
            && scales[1].contains("\"count\":3"),
        "{}",
        scales[1]
    );
    let running = state.component("web").unwrap();
    assert_eq!(
        (running.image_ref.as_str(), running.max_instances),
        ("ghcr.io/acme/web:3.0.0", 3)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_1x_fallback_is_off_by_default_and_a_1x_only_host_is_a_typed_error() {
    let lattice = Lattice::start().await;
    let (state, host_id) = fake_1x_host(&lattice).await;
    let spec = ComponentSpecDraft::new("web", "ghcr.io/acme/web:2.0.0")
        .validate()
        .unwrap();
    assert!(!lattice.client.v1_fallback());

    let error = within(lattice.client.host(&host_id).apply(&spec))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ApplyError::V1Only { host } if *host == host_id),
        "{error:?}"
    );
    assert_eq!(error.kind(), ApplyErrorKind::V1Only);
    assert!(!error.is_retryable());
    let message = error.to_string();
    assert!(
        message.contains("speaks only the wasmCloud 1.x control interface")
            && message.contains("Client::with_v1_fallback(true)"),
        "{message}"
    );
    // Nothing was sent to the host beyond reading its inventory.
    assert_eq!(*state.operations.lock().unwrap(), Vec::<String>::new());
    let error = within(lattice.client.serving_revision(&host_id, spec.id()))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ApplyErrorKind::V1Only, "{error:?}");
    let error = within(lattice.apply_and_wait(&host_id, &spec))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &error,
            lattice_client::WaitError::Apply(ApplyError::V1Only { .. })
        ),
        "{error:?}"
    );

    // Opting in drives the same host with 1.x operations.
    let client = lattice.client.clone().with_v1_fallback(true);
    let applied = within(client.host(&host_id).apply(&spec)).await.unwrap();
    assert!(applied.is_fallback(), "{applied:?}");
    assert!(state.component("web").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scoped_host_handle_applies_and_waits_for_a_custom_condition_without_a_timeout_of_its_own()
 {
    let lattice = Lattice::start().await;
    let _host = lattice.host("host-a").await;
    let (_kv, _calls) = lattice.provider("kv").await;
    let host_id: HostId = "host-a".parse().unwrap();
    // Events alone must drive the wait: the quiet re-read comes after the test's bound.
    let client = lattice
        .client
        .clone()
        .with_recheck_interval(Duration::from_secs(600));
    let host = client.host(&host_id);
    assert_eq!(host.host_id(), &host_id);
    let artifact = lattice.component("web", &["wasi:keyvalue/store@0.2.0"]);
    let revision = |n: u64| {
        ComponentSpecDraft::new("web", artifact.as_str())
            .revision(n)
            .scale(2)
            .link(LinkDraft::new("kv", "wasi", "keyvalue", ["store"]))
            .validate()
            .unwrap()
    };
    let (first, second) = (revision(1), revision(2));

    // A condition of the caller's own: revision 1 serving with every link established.
    let linked = |c: Option<&ComponentInventory>| {
        c.is_some_and(|c| {
            !c.links.is_empty()
                && c.links
                    .iter()
                    .all(|l| l.status.state == LinkState::Established)
        })
    };
    let applied = within(host.apply(&first)).await.unwrap();
    assert!(!applied.is_fallback());
    let entry = within(host.wait_for(
        first.id(),
        conditions::is_serving(first.revision()).and(linked),
    ))
    .await
    .unwrap()
    .expect("the host has the component");
    assert!(entry.is_serving(first.revision()), "{entry:?}");
    assert!(linked(Some(&entry)), "{entry:?}");
    assert_eq!(entry.scale, 2);

    // A wait that has read the inventory (revision 1 serving) before revision 2 is applied
    // returns only once revision 2 serves: the host's events drive it.
    let evaluated = std::sync::Arc::new(tokio::sync::Notify::new());
    let waiting = tokio::spawn({
        let host = host.clone();
        let id = second.id().clone();
        let serving = conditions::is_serving(second.revision());
        let evaluated = evaluated.clone();
        async move {
            let condition = move |c: Option<&ComponentInventory>| {
                evaluated.notify_one();
                serving.matches(c)
            };
            host.wait_for(&id, condition).await
        }
    });
    within(evaluated.notified()).await;
    within(host.apply(&second)).await.unwrap();
    let entry = within(waiting).await.unwrap().unwrap().unwrap();
    assert!(entry.is_serving(second.revision()), "{entry:?}");
    assert_eq!(
        within(host.serving_revision(second.id())).await.unwrap(),
        Some((second.revision(), ComponentState::Running))
    );

    // Deleted: the wait returns once the host has stopped it (it drops the entry next).
    let ack = within(host.delete(second.id())).await.unwrap();
    assert_eq!(ack.outcome, DeleteOutcome::Accepted);
    let gone = within(host.wait_for(second.id(), conditions::is_deleted()))
        .await
        .unwrap();
    assert!(
        gone.as_ref()
            .is_none_or(|c| c.desired.status.state == ComponentState::Stopped),
        "{gone:?}"
    );
}
