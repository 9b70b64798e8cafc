//! Component secrets at apply time, with the in-memory `StaticSecrets` backend and the stand-in
//! runtime (which executes nothing and cannot hand secrets to components): every way a
//! component's secrets can fail is a typed reason, and the previous revision keeps serving.
//! The real backend and the wasmtime runtime are tested end to end in `lattice-secrets-kv`.

mod support;

use lattice_client::WaitError;
use lattice_host::{SecretValue, StaticSecrets};
use lattice_spec::{ComponentSpec, ComponentSpecDraft, SecretRefDraft};
use lattice_status::{ReasonCode, StatusReason};
use std::sync::Arc;
use support::{Lattice, within};

fn spec(lattice: &Lattice, revision: u64, secret: Option<&str>) -> ComponentSpec {
    let mut draft =
        ComponentSpecDraft::new("web", lattice.component("web", &[])).revision(revision);
    if let Some(key) = secret {
        draft = draft.secret(SecretRefDraft::new("token", "static", key));
    }
    draft.validate().unwrap()
}

async fn failed(
    lattice: &Lattice,
    host: &lattice_spec::HostId,
    spec: &ComponentSpec,
) -> StatusReason {
    match lattice.apply_and_wait(host, spec).await {
        Err(WaitError::Failed { reason, .. }) => reason,
        other => panic!("expected a failure, got {other:?}"),
    }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn component_secrets_fail_typed_and_the_previous_revision_keeps_serving() {
    let lattice = Lattice::start().await;
    let secrets = StaticSecrets::default();
    secrets.put(
        "static",
        "web/token",
        SecretValue::String("s3cr3t-value".into()),
    );
    let with_backend = lattice
        .host_with(lattice.config("host-a").secrets_backend(Arc::new(secrets)))
        .await;
    let without_backend = lattice.host("host-b").await;
    let (a, b) = (
        with_backend.host_id().clone(),
        without_backend.host_id().clone(),
    );
    lattice
        .apply_and_wait(&a, &spec(&lattice, 1, None))
        .await
        .unwrap();
    assert_v1_serves(&lattice).await;

    // A key the backend does not have: named, with its backend.
    let reason = failed(&lattice, &a, &spec(&lattice, 2, Some("web/missing"))).await;
    assert_eq!(reason.code, ReasonCode::SecretNotFound, "{reason:?}");
    assert_eq!(
        reason.message,
        "secret `token`: secret `web/missing` not found in backend `static`"
    );
    assert_v1_serves(&lattice).await;

    // Resolved, but the stand-in runtime cannot hand secrets over: refused, not started
    // without them.
    let reason = failed(&lattice, &a, &spec(&lattice, 3, Some("web/token"))).await;
    assert_eq!(reason.code, ReasonCode::InstantiateFailed, "{reason:?}");
    assert!(reason.message.contains("cannot hand secrets"), "{reason:?}");
    assert!(!reason.message.contains("s3cr3t-value"));
    assert_v1_serves(&lattice).await;

    // A host without a secrets backend.
    let reason = failed(&lattice, &b, &spec(&lattice, 1, Some("web/token"))).await;
    assert_eq!(reason.code, ReasonCode::SecretsUnavailable, "{reason:?}");
    assert!(reason.message.contains("no secrets backend"), "{reason:?}");
}
