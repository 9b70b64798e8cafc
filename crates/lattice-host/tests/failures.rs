//! What a host refuses, and how every failure leaves the previous revision serving.

mod support;

use lattice_client::{ApplyError, ApplyErrorKind, WaitError};
use lattice_ctl::{ApplyOutcome, RejectionCode};
use lattice_host::UnacknowledgedLinks;
use lattice_spec::{ComponentSpec, ComponentSpecDraft, HostId, LinkDraft};
use lattice_status::{ComponentState, LinkState, ReasonCode};
use std::time::Duration;
use support::{Lattice, within};

const KV: &str = "wasi:keyvalue/store@0.2.0-draft";

fn spec(artifact: String, revision: u64) -> ComponentSpec {
    ComponentSpecDraft::new("web", artifact)
        .revision(revision)
        .link(LinkDraft::new("kv", "wasi", "keyvalue", ["store"]))
        .validate()
        .unwrap()
}

/// A lattice with host-a running revision 1 of `web`.
async fn running(lattice: &Lattice) -> (lattice_host::HostHandle, HostId) {
    let host = lattice.host("host-a").await;
    let host_id: HostId = "host-a".parse().unwrap();
    let v1 = spec(lattice.component("v1", &[KV]), 1);
    lattice.apply_and_wait(&host_id, &v1).await.unwrap();
    (host, host_id)
}

async fn assert_v1_serves(lattice: &Lattice) {
    let answer = within(lattice.invoker("web").await.call("x"))
        .await
        .unwrap();
    assert_eq!(
        answer, "hello from web@1: x",
        "the previous revision keeps serving"
    );
}

async fn failed_reason(
    lattice: &Lattice,
    host_id: &HostId,
    spec: &ComponentSpec,
) -> lattice_status::StatusReason {
    match lattice.apply_and_wait(host_id, spec).await {
        Err(WaitError::Failed { reason, .. }) => reason,
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_failure_and_invalid_artifacts_fail_with_their_reason() {
    let lattice = Lattice::start().await;
    let _kv = lattice.provider("kv").await;
    let (host, host_id) = running(&lattice).await;

    let missing = spec(
        format!("file://{}/nope.wasm", lattice.dir.path().display()),
        2,
    );
    let reason = failed_reason(&lattice, &host_id, &missing).await;
    assert_eq!(reason.code, ReasonCode::FetchFailed, "{reason}");
    assert!(reason.message.contains("nope.wasm"), "{reason}");
    assert_v1_serves(&lattice).await;

    let core = spec(
        lattice.file("core", &lattice_artifact::testing::core_module()),
        3,
    );
    let reason = failed_reason(&lattice, &host_id, &core).await;
    assert_eq!(reason.code, ReasonCode::InvalidArtifact, "{reason}");
    assert!(
        reason.message.contains("core WebAssembly module"),
        "{reason}"
    );
    assert_v1_serves(&lattice).await;

    let uncovered = spec(
        lattice.component("v4", &[KV, "wasi:http/outgoing-handler@0.2.0"]),
        4,
    );
    let reason = failed_reason(&lattice, &host_id, &uncovered).await;
    assert_eq!(reason.code, ReasonCode::UnsatisfiedImports, "{reason}");
    assert!(
        reason.message.contains("wasi:http/outgoing-handler"),
        "{reason}"
    );
    assert_v1_serves(&lattice).await;

    let pinned = ComponentSpecDraft::new("web", lattice.component("v5", &[KV]))
        .revision(5)
        .digest(format!("sha256:{}", "0".repeat(64)))
        .link(LinkDraft::new("kv", "wasi", "keyvalue", ["store"]))
        .validate()
        .unwrap();
    let reason = failed_reason(&lattice, &host_id, &pinned).await;
    assert_eq!(
        reason.code,
        ReasonCode::InvalidArtifact,
        "a digest pin mismatch: {reason}"
    );
    assert_v1_serves(&lattice).await;

    let inventory = host.inventory();
    let entry = inventory.component(&"web".parse().unwrap()).unwrap();
    assert!(entry.is_serving(1.into()));
    assert_eq!(
        (entry.desired.revision.0, entry.desired.status.state),
        (5, ComponentState::Failed)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_revision_is_rejected_and_the_same_spec_twice_is_unchanged() {
    let lattice = Lattice::start().await;
    let _kv = lattice.provider("kv").await;
    let (host, host_id) = running(&lattice).await;
    let v2 = spec(lattice.component("v2", &[KV]), 2);
    lattice.apply_and_wait(&host_id, &v2).await.unwrap();
    let events_before = host.inventory().event_sequence;
    let served_before = host.invocation_counters(v2.id()).unwrap();

    let stale = spec(lattice.component("v1-again", &[KV]), 1);
    let err = within(lattice.client.apply(&host_id, &stale))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ApplyErrorKind::Rejected);
    let ApplyError::Rejected { rejection, .. } = err else {
        unreachable!()
    };
    assert_eq!(rejection.code, RejectionCode::StaleRevision);
    assert_eq!(rejection.current_revision, Some(2.into()));

    let conflict = ComponentSpecDraft::new("web", lattice.component("v2-other", &[KV]))
        .revision(2)
        .validate()
        .unwrap();
    let err = within(lattice.client.apply(&host_id, &conflict))
        .await
        .unwrap_err();
    let ApplyError::Rejected { rejection, .. } = err else {
        panic!("{err}")
    };
    assert_eq!(rejection.code, RejectionCode::RevisionConflict);

    let again = within(lattice.client.apply(&host_id, &v2)).await.unwrap();
    let lattice_client::Applied::V2Alpha1(ack) = again else {
        panic!()
    };
    assert_eq!(ack.outcome, ApplyOutcome::Unchanged);
    // Nothing restarted: no status event since, and the same gate keeps counting.
    assert_eq!(host.inventory().event_sequence, events_before);
    let answer = within(lattice.invoker("web").await.call("y"))
        .await
        .unwrap();
    assert_eq!(answer, "hello from web@2: y");
    let (served, _) = host.invocation_counters(v2.id()).unwrap();
    assert_eq!(served, served_before.0 + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_never_replies_leaves_the_link_unacknowledged_within_the_bound() {
    let lattice = Lattice::start().await;
    // An "old SDK" provider: it receives link puts and never answers.
    let _silent = within(lattice.nats.subscribe("wasmbus.rpc.test.kv.linkdefs.>"))
        .await
        .unwrap();
    within(lattice.nats.flush()).await.unwrap();
    let _host = lattice.host("host-a").await;
    let host_id: HostId = "host-a".parse().unwrap();

    let v1 = spec(lattice.component("v1", &[KV]), 1);
    let report = lattice.apply_and_wait(&host_id, &v1).await.unwrap();
    assert_eq!(
        report.status.state,
        ComponentState::Running,
        "policy Accept: the upgrade goes on"
    );
    let link = report
        .links
        .iter()
        .find(|e| e.status.state == LinkState::Unacknowledged)
        .expect("link event");
    assert_eq!(
        link.status.reason.as_ref().unwrap().code,
        ReasonCode::LinkUnacknowledged
    );

    // With policy Fail, the same silence fails the apply — within the bound, not a hang.
    let strict = lattice
        .host_with(
            lattice
                .config("host-b")
                .unacknowledged_links(UnacknowledgedLinks::Fail),
        )
        .await;
    let started = std::time::Instant::now();
    let reason = failed_reason(&lattice, strict.host_id(), &v1).await;
    assert_eq!(reason.code, ReasonCode::LinkUnacknowledged, "{reason}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "bounded by the link reply timeout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_spec_and_an_unknown_version_get_typed_answers_and_the_host_keeps_serving() {
    let lattice = Lattice::start().await;
    let _kv = lattice.provider("kv").await;
    let (_host, host_id) = running(&lattice).await;
    let subject = lattice_ctl::CtlSubject::ApplyComponentSpec {
        lattice: lattice.lattice.clone(),
        host_id: host_id.clone(),
    };

    let bad =
        br#"{"api_version":"v2alpha1","spec":{"id":"web","revision":9,"artifact":"::","scale":0}}"#;
    let reply = within(
        lattice
            .nats
            .request(subject.to_string(), bad.to_vec().into()),
    )
    .await
    .unwrap();
    let ack =
        <lattice_ctl::ApplyComponentSpecReply as lattice_spec::WireMessage>::decode(&reply.payload)
            .unwrap()
            .into_result()
            .unwrap();
    let ApplyOutcome::Rejected(rejection) = ack.outcome else {
        panic!("{ack:?}")
    };
    assert_eq!(rejection.code, RejectionCode::InvalidSpec);
    let paths: Vec<_> = rejection.errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["artifact", "scale"]);

    let future = br#"{"api_version":"v7","spec":{}}"#;
    let reply = within(
        lattice
            .nats
            .request(subject.to_string(), future.to_vec().into()),
    )
    .await
    .unwrap();
    let error =
        <lattice_ctl::ApplyComponentSpecReply as lattice_spec::WireMessage>::decode(&reply.payload)
            .unwrap()
            .into_result()
            .unwrap_err();
    assert_eq!(error.code, lattice_ctl::ErrorCode::UnsupportedVersion);
    assert_eq!(error.supported_versions, ["v2alpha1"]);

    assert_v1_serves(&lattice).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_applies_to_one_component_are_serialised_and_the_newest_wins() {
    let lattice = Lattice::start().await;
    let _kv = lattice.provider("kv").await;
    let (host, host_id) = running(&lattice).await;
    let v2 = spec(lattice.component("v2", &[KV]), 2);
    let v3 = spec(lattice.component("v3", &[KV]), 3);
    let mut events = within(lattice.client.events(&lattice_ctl::EventFilter::component(
        &lattice.lattice,
        v2.id(),
    )))
    .await
    .unwrap();

    // Both applies are in flight at once.
    let (first, second) = tokio::join!(
        lattice.client.apply(&host_id, &v2),
        lattice.client.apply(&host_id, &v3)
    );
    second.unwrap();
    // Whichever arrived first: revision 2 is accepted, or refused as stale when 3 was first.
    match first {
        Ok(_) => {}
        Err(ApplyError::Rejected { rejection, .. }) => {
            assert_eq!(rejection.code, RejectionCode::StaleRevision)
        }
        Err(other) => panic!("{other}"),
    }
    let report = lattice.apply_and_wait(&host_id, &v3).await.unwrap();
    assert_eq!(report.status.state, ComponentState::Running);
    let answer = within(lattice.invoker("web").await.call("z"))
        .await
        .unwrap();
    assert_eq!(answer, "hello from web@3: z");

    // Revision 2 either finished before 3 started or was superseded; never interleaved with
    // it: once 3 left `pending`, 2 made no further step other than stopping.
    let mut order = Vec::new();
    within(async {
        while let Some(event) = futures::StreamExt::next(&mut events).await {
            if let Ok(lattice_client::StatusEvent::Component(event)) = event {
                order.push((event.revision.0, event.status.state));
                if order.last() == Some(&(3, ComponentState::Running)) {
                    return;
                }
            }
        }
    })
    .await;
    let started_3 = order
        .iter()
        .position(|e| *e == (3, ComponentState::Fetching))
        .expect("3 was fetched");
    for (revision, state) in &order[started_3..] {
        if *revision == 2 {
            assert!(
                matches!(
                    state,
                    ComponentState::Stopping | ComponentState::Stopped | ComponentState::Failed
                ),
                "revision 2 moved to {state} after revision 3 started: {order:?}"
            );
        }
    }
    assert!(
        host.inventory()
            .component(v3.id())
            .unwrap()
            .is_serving(3.into())
    );
}
