//! The upgrade sequence on a real nats-server: a new component reaches running, and an
//! upgrade of code, configuration and links under continuous load loses nothing.

mod support;

use lattice_client::Applied;
use lattice_ctl::ApplyOutcome;
use lattice_spec::{ComponentSpec, ComponentSpecDraft, HostId, LinkDraft};
use lattice_status::{ComponentState, LinkState};
use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Instant,
};
use support::{Call, Lattice, within};

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

/// Parses the revision out of a [`lattice_host::RevisionEchoRuntime`] answer.
fn revision_of(answer: &str) -> u64 {
    let (_, rest) = answer.split_once('@').expect("answer names its revision");
    rest.split(':').next().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_component_is_pending_right_after_the_ack_and_reaches_running() {
    let lattice = Lattice::start().await;
    let host = lattice.host("host-a").await;
    let (_kv, kv) = lattice.provider("kv").await;
    let host_id: HostId = "host-a".parse().unwrap();
    let spec = v1(&lattice);

    let applied = within(lattice.client.apply(&host_id, &spec)).await.unwrap();
    let Applied::V2Alpha1(ack) = applied else {
        panic!("fell back: {applied:?}")
    };
    assert_eq!(ack.outcome, ApplyOutcome::Accepted);
    assert_eq!(ack.spec_digest, Some(spec.digest()));

    // Straight after the acknowledgement the component is in the inventory, not yet running.
    let inventory = within(lattice.client.inventory(&host_id)).await.unwrap();
    let entry = inventory
        .component(spec.id())
        .expect("listed right after the ack");
    assert_eq!(entry.desired.revision, spec.revision());
    assert_ne!(entry.desired.status.state, ComponentState::Failed);

    // Follow it to running (the same revision again is `unchanged`, which apply_and_wait
    // settles from the inventory).
    let report = lattice.apply_and_wait(&host_id, &spec).await.unwrap();
    assert_eq!(report.status.state, ComponentState::Running);
    let inventory = host.inventory();
    let entry = inventory.component(spec.id()).unwrap();
    assert!(entry.is_serving(spec.revision()));
    assert_eq!(entry.links.len(), 1);
    assert_eq!(entry.links[0].status.state, LinkState::Established);
    assert_eq!(kv.calls().len(), 1, "one link put: {:?}", kv.calls());

    let answer = within(lattice.invoker("web").await.call("ping"))
        .await
        .unwrap();
    assert_eq!(answer, "hello from web@1: ping");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_under_load_loses_nothing_and_switches_once() {
    let lattice = Lattice::start().await;
    let host = lattice.host("host-a").await;
    let (_kv, kv) = lattice.provider("kv").await;
    let (_nats, nats) = lattice.provider("nats").await;
    let host_id: HostId = "host-a".parse().unwrap();
    let (v1, v2) = (v1(&lattice), v2(&lattice));
    let first = lattice.apply_and_wait(&host_id, &v1).await.unwrap();
    assert_eq!(first.status.state, ComponentState::Running);

    // Continuous load: sequential callers, each checking that answers never go back to v1.
    let stop = Arc::new(AtomicBool::new(false));
    let mut callers = Vec::new();
    for caller in 0..8 {
        let invoker = lattice.invoker("web").await;
        let stop = stop.clone();
        callers.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            let mut sent = 0u64;
            while !stop.load(Ordering::Relaxed) {
                sent += 1;
                let answer = invoker.call(format!("{caller}-{sent}")).await;
                answers.push(answer.map_err(|e| e.to_string()));
            }
            (sent, answers)
        }));
    }
    let started = Instant::now();
    // Let the load run before and after the upgrade.
    within(async {
        while host.invocation_counters(v1.id()).unwrap().0 < 1_000 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    let report = lattice.apply_and_wait(&host_id, &v2).await.unwrap();
    let served_at_swap = host.invocation_counters(v1.id()).unwrap().0;
    within(async {
        while host.invocation_counters(v1.id()).unwrap().0 < served_at_swap + 1_000 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed();

    let (mut sent, mut v1_answers, mut v2_answers) = (0, 0, 0);
    for caller in callers {
        let (caller_sent, answers) = within(caller).await.unwrap();
        sent += caller_sent;
        let mut seen_v2 = false;
        for answer in answers {
            let answer = answer.expect("no invocation fails or is lost");
            match revision_of(&answer) {
                1 => {
                    assert!(
                        !seen_v2,
                        "a caller got v1 after v2: the switch must be one-way"
                    );
                    assert!(answer.starts_with("hello from web@1"), "{answer}");
                    v1_answers += 1;
                }
                2 => {
                    seen_v2 = true;
                    assert!(answer.starts_with("bonjour from web@2"), "{answer}");
                    v2_answers += 1;
                }
                other => panic!("answer from unknown revision {other}: {answer}"),
            }
        }
    }
    let rate = sent as f64 / elapsed.as_secs_f64();
    println!(
        "{sent} invocations in {elapsed:?} ({rate:.0}/s): {v1_answers} by v1, {v2_answers} by v2; pause window {:?}",
        host.last_pause_window(v1.id())
    );
    assert_eq!(
        v1_answers + v2_answers,
        sent,
        "every invocation answered by exactly one revision"
    );
    assert!(v1_answers > 0 && v2_answers > 0);
    assert!(
        rate >= 1000.0,
        "the load must reach 1000 invocations/s to mean anything; got {rate:.0}/s"
    );

    assert_eq!(report.status.state, ComponentState::Running);
    assert!(
        report.transitions.contains(&ComponentState::Upgrading),
        "{:?}",
        report.transitions
    );
    // Links: kv re-put with the new URL while paused; messaging established before the pause.
    let kv_calls = kv.calls();
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
    assert_eq!(nats.calls().len(), 1);
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
    nats.refuse_when("subject", "orders");
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
        blobs.calls(),
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
        nats.calls().len(),
        1,
        "the refused link was never established: {:?}",
        nats.calls()
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
    kv.refuse_when("url", "redis://cache-2");
    let host_id: HostId = "host-a".parse().unwrap();
    let (v1, v2) = (v1(&lattice), v2(&lattice));
    lattice.apply_and_wait(&host_id, &v1).await.unwrap();

    let err = lattice.apply_and_wait(&host_id, &v2).await.unwrap_err();
    assert_eq!(err.kind(), lattice_client::WaitErrorKind::Failed, "{err}");

    // put(v1) … delete, put(v2) refused, delete, put(v1 again)
    let calls = kv.calls();
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
