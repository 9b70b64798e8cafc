//! The upgrade sequence on a real nats-server: a new component is pending right after the ack
//! and reaches running, and an upgrade of code, configuration and links under continuous load
//! holds invocations in its pause, loses nothing and switches once.

mod support;

use futures::{StreamExt as _, future::BoxFuture};
use lattice_client::{Applied, StatusEvent};
use lattice_ctl::ApplyOutcome;
use lattice_host::{HostHandle, Invoker};
use lattice_link::{HealthCheckResponse, LinkDeleteRequest, LinkPutRequest, LinkRefusal};
use lattice_local::AcceptAll;
use lattice_provider::{LinkHandler, ProviderHandle, ProviderServer};
use lattice_spec::{ComponentId, ComponentSpec, ComponentSpecDraft, HostId, LinkDraft, Revision};
use lattice_status::{ComponentState, LinkState};
use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Instant,
};
use support::{Call, Lattice, Recorded, within};
use tokio::sync::watch;

const KV: &str = "wasi:keyvalue/store@0.2.0-draft";
const MESSAGING: &str = "wasmcloud:messaging/consumer@0.2.0";

fn v1(lattice: &Lattice) -> ComponentSpec {
    ComponentSpecDraft::new("web", lattice.component("web-v1", &[KV]))
        .revision(1)
        .config_value("greeting", "hello")
        .link(
            LinkDraft::new("kv", "wasi", "keyvalue", ["store"])
                .target_config_value("url", "redis://cache-1"),
        )
        .validate()
        .unwrap()
}

fn v2(lattice: &Lattice) -> ComponentSpec {
    ComponentSpecDraft::new("web", lattice.component("web-v2", &[KV, MESSAGING]))
        .revision(2)
        .config_value("greeting", "bonjour")
        .link(
            LinkDraft::new("kv", "wasi", "keyvalue", ["store"])
                .target_config_value("url", "redis://cache-2"),
        )
        .link(
            LinkDraft::new("nats", "wasmcloud", "messaging", ["consumer"])
                .target_config_value("subject", "orders"),
        )
        .validate()
        .unwrap()
}

/// What revision 1 or 2 of `web` answers to `payload`, or `None` for anything else.
fn answering_revision(answer: &str, payload: &str) -> Option<u64> {
    if answer == format!("hello from web@1: {payload}") {
        Some(1)
    } else if answer == format!("bonjour from web@2: {payload}") {
        Some(2)
    } else {
        None
    }
}

/// A host whose link puts may be held by a test for as long as it needs.
async fn patient_host(lattice: &Lattice) -> HostHandle {
    lattice
        .host_with(lattice.config("host-a").link_reply_timeout(support::BOUND))
        .await
}

/// Polls `host`'s invocation counters for `component` until `done` holds (under
/// [`support::BOUND`]) and returns them.
async fn counters_when(
    host: &HostHandle,
    component: &ComponentId,
    done: impl Fn((u64, u64)) -> bool,
) -> (u64, u64) {
    within(async {
        loop {
            let counters = host.invocation_counters(component).unwrap_or_default();
            if done(counters) {
                return counters;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
}

/// A provider that records like the [`AcceptAll`] of [`Lattice::provider`] but holds the put of a link whose target
/// configuration has `key` = `value` until [`HoldingProvider::release`]: the apply making that
/// put stays where it is for exactly as long as the test needs.
struct HoldingProvider {
    recording: AcceptAll,
    hold: (String, String),
    arrived: watch::Sender<bool>,
    released: watch::Sender<bool>,
}

impl HoldingProvider {
    async fn serve(
        lattice: &Lattice,
        id: &str,
        key: &str,
        value: &str,
    ) -> (ProviderHandle, Arc<Self>) {
        let handler = Arc::new(Self {
            recording: AcceptAll::new(),
            hold: (key.to_owned(), value.to_owned()),
            arrived: watch::channel(false).0,
            released: watch::channel(false).0,
        });
        let nats = within(async_nats::connect(lattice.local.url()))
            .await
            .unwrap();
        let server = ProviderServer::new(
            nats,
            lattice.lattice.clone(),
            id.parse().unwrap(),
            handler.clone(),
        );
        (within(server.serve()).await.unwrap(), handler)
    }

    /// Returns once the held put arrived (and is being held).
    async fn put_arrived(&self) {
        within(self.arrived.subscribe().wait_for(|arrived| *arrived))
            .await
            .unwrap();
    }

    /// Lets the held put (and any later one) through.
    fn release(&self) {
        self.released.send_replace(true);
    }

    fn recorded(&self) -> Vec<Call> {
        self.recording.recorded()
    }
}

impl LinkHandler for HoldingProvider {
    fn put_link<'a>(&'a self, link: &'a LinkPutRequest) -> BoxFuture<'a, Result<(), LinkRefusal>> {
        Box::pin(async move {
            let (key, value) = &self.hold;
            if link.target_config.get(key) == Some(value) {
                let mut released = self.released.subscribe();
                self.arrived.send_replace(true);
                let _ = released.wait_for(|released| *released).await;
            }
            self.recording.put_link(link).await
        })
    }

    fn delete_link<'a>(
        &'a self,
        link: &'a LinkDeleteRequest,
    ) -> BoxFuture<'a, Result<(), LinkRefusal>> {
        self.recording.delete_link(link)
    }

    fn health<'a>(&'a self) -> BoxFuture<'a, HealthCheckResponse> {
        self.recording.health()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_component_is_pending_right_after_the_ack_and_reaches_running() {
    let lattice = Lattice::start().await;
    let host = patient_host(&lattice).await;
    // Its link put is held: the component cannot run before the test has looked at it.
    let (_kv, kv) = HoldingProvider::serve(&lattice, "kv", "url", "redis://cache-1").await;
    let host_id: HostId = "host-a".parse().unwrap();
    let spec = v1(&lattice);
    let mut events = lattice.component_events(spec.id()).await;

    let applied = within(lattice.client.apply(&host_id, &spec)).await.unwrap();
    let Applied::V2Alpha1(ack) = applied else {
        panic!("fell back: {applied:?}")
    };
    assert_eq!(ack.outcome, ApplyOutcome::Accepted);
    assert_eq!(ack.spec_digest, Some(spec.digest()));

    // Straight after the acknowledgement the component is in the inventory, not serving.
    let inventory = within(lattice.client.inventory(&host_id)).await.unwrap();
    let entry = inventory
        .component(spec.id())
        .expect("listed right after the ack");
    assert_eq!(entry.desired.revision, spec.revision());
    assert!(entry.serving.is_none(), "{entry:?}");
    // Its first status is `pending`, and it moves on from there, one step at a time.
    let mut next_state = async || loop {
        let event = within(events.next()).await.expect("the event stream ended");
        if let Ok(StatusEvent::Component(event)) = event {
            assert_eq!(event.revision, spec.revision());
            return (event.previous, event.status.state);
        }
    };
    assert_eq!(next_state().await, (None, ComponentState::Pending));
    assert_eq!(
        next_state().await,
        (Some(ComponentState::Pending), ComponentState::Fetching)
    );
    kv.put_arrived().await;
    assert!(
        host.inventory()
            .component(spec.id())
            .unwrap()
            .serving
            .is_none(),
        "serving before its link was established"
    );
    kv.release();

    // Follow it to running (the same revision again is `unchanged`, which apply_and_wait
    // settles from the inventory).
    let report = lattice.apply_and_wait(&host_id, &spec).await.unwrap();
    assert_eq!(report.status.state, ComponentState::Running);
    let inventory = host.inventory();
    let entry = inventory.component(spec.id()).unwrap();
    assert!(entry.is_serving(spec.revision()));
    assert_eq!(entry.links.len(), 1);
    assert_eq!(entry.links[0].status.state, LinkState::Established);
    assert_eq!(kv.recorded().len(), 1, "one link put: {:?}", kv.recorded());

    let answer = within(lattice.invoker("web").await.call("ping"))
        .await
        .unwrap();
    assert_eq!(answer, "hello from web@1: ping");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apply_behind_another_is_pending_in_the_inventory_right_after_its_ack() {
    let lattice = Lattice::start().await;
    let host = patient_host(&lattice).await;
    let (_kv, kv) = HoldingProvider::serve(&lattice, "kv", "url", "redis://cache-1").await;
    let host_id: HostId = "host-a".parse().unwrap();
    let first = v1(&lattice);
    let second = first
        .to_draft()
        .revision(2)
        .config_value("greeting", "bonjour")
        .validate()
        .unwrap();

    // Revision 1 is held at its link put, so revision 2 waits behind it.
    within(lattice.client.apply(&host_id, &first))
        .await
        .unwrap();
    kv.put_arrived().await;
    let applied = within(lattice.client.apply(&host_id, &second))
        .await
        .unwrap();
    assert!(
        matches!(&applied, Applied::V2Alpha1(ack) if ack.outcome == ApplyOutcome::Accepted),
        "{applied:?}"
    );
    let inventory = within(lattice.client.inventory(&host_id)).await.unwrap();
    let desired = &inventory.component(second.id()).unwrap().desired;
    assert_eq!(
        (desired.revision, desired.status.state),
        (Revision(2), ComponentState::Pending)
    );

    kv.release();
    let report = lattice.apply_and_wait(&host_id, &second).await.unwrap();
    assert_eq!(report.status.state, ComponentState::Running);
    assert!(
        host.inventory()
            .component(second.id())
            .unwrap()
            .is_serving(Revision(2))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invocation_arriving_in_the_pause_is_held_and_answered_by_the_new_revision() {
    let lattice = Lattice::start().await;
    let host = patient_host(&lattice).await;
    // The changed kv link is re-put during the pause; holding that put holds the pause.
    let (_kv, kv) = HoldingProvider::serve(&lattice, "kv", "url", "redis://cache-2").await;
    let (_nats, _) = lattice.provider("nats").await;
    let host_id: HostId = "host-a".parse().unwrap();
    let (v1, v2) = (v1(&lattice), v2(&lattice));
    lattice.apply_and_wait(&host_id, &v1).await.unwrap();
    let invoker = lattice.invoker("web").await;

    let (report, answer) = tokio::join!(lattice.apply_and_wait(&host_id, &v2), async {
        kv.put_arrived().await;
        let call = tokio::spawn(async move { invoker.call("held").await });
        counters_when(&host, v1.id(), |(_, held)| held >= 1).await;
        assert!(
            !call.is_finished(),
            "answered while paused: {:?}",
            call.await
        );
        kv.release();
        within(call).await.unwrap()
    });
    assert_eq!(report.unwrap().status.state, ComponentState::Running);
    assert_eq!(
        answer.unwrap(),
        "bonjour from web@2: held",
        "the held invocation is answered by the revision swapped in"
    );
    let (served, held) = counters_when(&host, v1.id(), |(served, _)| served >= 1).await;
    assert_eq!((served, held), (1, 1), "served once, after being held once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_under_load_holds_invocations_in_its_pause_loses_nothing_and_switches_once() {
    let lattice = Lattice::start().await;
    let host = patient_host(&lattice).await;
    let (_kv, kv) = HoldingProvider::serve(&lattice, "kv", "url", "redis://cache-2").await;
    let (_nats, nats) = lattice.provider("nats").await;
    let host_id: HostId = "host-a".parse().unwrap();
    let (v1, v2) = (v1(&lattice), v2(&lattice));
    let first = lattice.apply_and_wait(&host_id, &v1).await.unwrap();
    assert_eq!(first.status.state, ComponentState::Running);

    // Continuous load: sequential callers, each payload its own.
    let stop = Arc::new(AtomicBool::new(false));
    let mut callers = Vec::new();
    for caller in 0..8 {
        let invoker: Invoker = lattice.invoker("web").await;
        let stop = stop.clone();
        callers.push(tokio::spawn(async move {
            let mut calls = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let payload = format!("{caller}-{}", calls.len());
                let answer = invoker.call(payload.clone()).await;
                calls.push((payload, answer.map_err(|e| e.to_string())));
            }
            calls
        }));
    }
    let started = Instant::now();
    // Load before the upgrade, in its pause (held open until a caller was held), and after.
    counters_when(&host, v1.id(), |(served, _)| served >= 1_000).await;
    let (report, held_in_pause) = tokio::join!(lattice.apply_and_wait(&host_id, &v2), async {
        kv.put_arrived().await;
        let (_, held) = counters_when(&host, v1.id(), |(_, held)| held >= 1).await;
        kv.release();
        held
    });
    let report = report.unwrap();
    let (served_at_swap, _) = host.invocation_counters(v1.id()).unwrap();
    counters_when(&host, v1.id(), |(served, _)| {
        served >= served_at_swap + 1_000
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed();

    let (mut sent, mut v1_answers, mut v2_answers) = (0u64, 0u64, 0u64);
    for caller in callers {
        let mut seen_v2 = false;
        for (payload, answer) in within(caller).await.unwrap() {
            sent += 1;
            let answer = answer.expect("no invocation fails or is lost");
            match answering_revision(&answer, &payload) {
                Some(1) => {
                    assert!(
                        !seen_v2,
                        "a caller got v1 after v2: the switch must be one-way"
                    );
                    v1_answers += 1;
                }
                Some(2) => {
                    seen_v2 = true;
                    v2_answers += 1;
                }
                _ => panic!("{payload:?} answered with {answer:?}"),
            }
        }
    }
    // The gate counts an invocation just after its answer left: let the last ones land.
    let (served, held) = counters_when(&host, v1.id(), |(served, _)| served >= sent).await;
    let rate = sent as f64 / elapsed.as_secs_f64();
    println!(
        "{sent} invocations in {elapsed:?} ({rate:.0}/s): {v1_answers} by v1, {v2_answers} by v2, {held} held; pause window {:?}",
        host.last_pause_window(v1.id())
    );
    assert_eq!(served, sent, "the host served each call sent exactly once");
    assert!(held >= held_in_pause && held >= 1, "held {held}");
    assert!(v1_answers > 0 && v2_answers > 0);

    assert_eq!(report.status.state, ComponentState::Running);
    assert!(
        report.transitions.contains(&ComponentState::Upgrading),
        "{:?}",
        report.transitions
    );
    // Links: kv re-put with the new URL while paused; messaging established before the pause.
    let kv_calls = kv.recorded();
    assert!(
        kv_calls.contains(&Call::Delete {
            name: "default".into(),
            package: "keyvalue".into()
        }),
        "{kv_calls:?}"
    );
    assert!(
        matches!(kv_calls.last(), Some(Call::Put { target_config, .. }) if target_config["url"] == "redis://cache-2")
    );
    assert_eq!(nats.recorded().len(), 1);
    let inventory = host.inventory();
    let entry = inventory.component(v2.id()).unwrap();
    assert!(entry.is_serving(v2.revision()));
    assert_eq!(entry.links.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_new_link_fails_the_upgrade_and_keeps_the_old_revision() {
    let lattice = Lattice::start().await;
    let host = lattice.host("host-a").await;
    let (_kv, _) = lattice.provider("kv").await;
    let (_blobs, blobs) = lattice.provider("blobs").await;
    let (_nats, nats) = lattice.provider("nats").await;
    nats.refuse_address("subject", "orders");
    let host_id: HostId = "host-a".parse().unwrap();
    let v1 = v1(&lattice);
    lattice.apply_and_wait(&host_id, &v1).await.unwrap();

    // Two new links: `wasi:blobstore` is established first, then `wasmcloud:messaging` is
    // refused — so the blobstore link must be removed again.
    const BLOBS: &str = "wasi:blobstore/blobstore@0.2.0";
    let v2 = ComponentSpecDraft::new("web", lattice.component("web-v2b", &[KV, BLOBS, MESSAGING]))
        .revision(2)
        .link(
            LinkDraft::new("kv", "wasi", "keyvalue", ["store"])
                .target_config_value("url", "redis://cache-1"),
        )
        .link(LinkDraft::new("blobs", "wasi", "blobstore", ["blobstore"]))
        .link(
            LinkDraft::new("nats", "wasmcloud", "messaging", ["consumer"])
                .target_config_value("subject", "orders"),
        )
        .validate()
        .unwrap();
    let err = lattice.apply_and_wait(&host_id, &v2).await.unwrap_err();
    let lattice_client::WaitError::Failed { reason, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(reason.code, lattice_status::ReasonCode::LinkRefused);
    assert_eq!(reason.message, "address already in use: orders");
    assert_eq!(reason.provider_id.as_deref(), Some("nats"));
    assert_eq!(
        reason.link_error,
        Some(lattice_status::LinkErrorKind::ResourceUnavailable)
    );

    let answer = within(lattice.invoker("web").await.call("still there?"))
        .await
        .unwrap();
    assert_eq!(
        answer, "hello from web@1: still there?",
        "the old revision keeps serving"
    );
    // The link just added was removed again, on the provider and in the inventory.
    assert_eq!(
        blobs.recorded(),
        [
            Call::Put {
                name: "default".into(),
                package: "blobstore".into(),
                target_config: Default::default()
            },
            Call::Delete {
                name: "default".into(),
                package: "blobstore".into()
            },
        ]
    );
    assert_eq!(
        nats.recorded().len(),
        1,
        "the refused link was never established: {:?}",
        nats.recorded()
    );
    let inventory = host.inventory();
    let entry = inventory.component(v1.id()).unwrap();
    assert!(entry.is_serving(v1.revision()));
    assert_eq!(entry.desired.status.state, ComponentState::Failed);
    assert_eq!(entry.links.len(), 1, "{:?}", entry.links);
    assert_eq!(entry.links[0].wit_package, "keyvalue");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_changed_link_restores_the_old_configuration() {
    let lattice = Lattice::start().await;
    let host = lattice.host("host-a").await;
    let (_kv, kv) = lattice.provider("kv").await;
    let (_nats, _) = lattice.provider("nats").await;
    kv.refuse_address("url", "redis://cache-2");
    let host_id: HostId = "host-a".parse().unwrap();
    let (v1, v2) = (v1(&lattice), v2(&lattice));
    lattice.apply_and_wait(&host_id, &v1).await.unwrap();

    let err = lattice.apply_and_wait(&host_id, &v2).await.unwrap_err();
    assert_eq!(err.kind(), lattice_client::WaitErrorKind::Failed, "{err}");

    // put(v1) … delete, put(v2) refused, delete, put(v1 again)
    let calls = kv.recorded();
    let Some(Call::Put { target_config, .. }) = calls.last() else {
        panic!("{calls:?}")
    };
    assert_eq!(
        target_config["url"], "redis://cache-1",
        "the old link configuration is restored: {calls:?}"
    );
    let answer = within(lattice.invoker("web").await.call("x"))
        .await
        .unwrap();
    assert_eq!(answer, "hello from web@1: x");
    let inventory = host.inventory();
    let entry = inventory.component(v1.id()).unwrap();
    assert!(entry.is_serving(v1.revision()));
    assert!(
        entry.links.iter().all(|l| l.wit_package != "messaging"),
        "added link removed: {:?}",
        entry.links
    );
}
