//! The rollout store against a real nats-server: a JetStream failure is reported as what it
//! is, never as a rollout already in progress, and a lost compare-and-swap is told apart
//! from both.

use async_nats::jetstream;
use lattice_local::NatsServer;
use lattice_rollout::{
    AppName, AppRevision, HostSelector, Placement, RolloutOptions, RolloutRecord, RolloutStore,
    StoreError, StoreErrorKind, Strategy,
};
use lattice_spec::{ComponentSpecDraft, HostId, LatticeName, Revision};
use lattice_status::RolloutState;
use std::{collections::BTreeMap, future::Future, path::Path, time::Duration};

const BOUND: Duration = Duration::from_secs(60);
/// How long a JetStream request of the restricted users may take: their denied requests
/// time out after it.
const JS_TIMEOUT: Duration = Duration::from_millis(500);

async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, future)
        .await
        .expect("timed out")
}

async fn server() -> NatsServer {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/configs/kv_permissions.conf");
    tokio::task::spawn_blocking(move || NatsServer::builder().config_file(config).start())
        .await
        .unwrap()
        .expect("nats-server starts")
}

/// A JetStream context of `user` (see `configs/kv_permissions.conf`), with a short timeout.
async fn context(server: &NatsServer, user: &str) -> jetstream::Context {
    let nats = within(
        async_nats::ConnectOptions::with_user_and_password(
            user.into(),
            format!("{user}-test-password"),
        )
        .connect(server.url()),
    )
    .await
    .unwrap();
    jetstream::ContextBuilder::new()
        .timeout(JS_TIMEOUT)
        .build(nats)
}

fn lattice() -> LatticeName {
    "store-test".parse().unwrap()
}

fn app() -> AppName {
    "shop".parse().unwrap()
}

fn revision(n: u64) -> AppRevision {
    let spec = ComponentSpecDraft::new("web", "file:///web.wasm")
        .validate()
        .unwrap();
    AppRevision::new(
        app(),
        Revision(n),
        vec![Placement::new(spec, HostSelector::All)],
    )
    .unwrap()
}

/// A pending rollout of revision `n` to one host.
fn record(n: u64) -> RolloutRecord {
    let hosts = [("host-a".parse::<HostId>().unwrap(), BTreeMap::new())];
    let plan = lattice_rollout::plan::plan(
        None,
        &revision(n),
        &hosts,
        &Strategy::AllAtOnce,
        &RolloutOptions::default(),
    )
    .unwrap();
    RolloutRecord::new(app(), Strategy::AllAtOnce, RolloutOptions::default(), plan)
}

#[tokio::test]
async fn a_kv_timeout_during_begin_is_not_reported_as_a_conflict() {
    let server = server().await;
    let scheduler = within(RolloutStore::open_with(
        context(&server, "scheduler").await,
        &lattice(),
        10,
    ))
    .await
    .unwrap();
    // The reader finds the bucket and reads that no rollout runs; its write times out.
    let reader = within(RolloutStore::open_with(
        context(&server, "reader").await,
        &lattice(),
        10,
    ))
    .await
    .unwrap();
    let err = within(reader.begin(&record(1))).await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::TimedOut, "{err:?}");
    assert!(err.is_retryable());
    assert!(
        matches!(
            &err,
            StoreError::JetStream {
                operation: "create",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        within(scheduler.rollout(&app())).await.unwrap().is_none(),
        "nothing was written"
    );
    // The same timeout on an update of a finished rollout's record.
    let mut finished = record(1);
    within(scheduler.begin(&finished)).await.unwrap();
    finished.state = RolloutState::Succeeded;
    within(scheduler.save(&finished)).await.unwrap();
    let err = within(reader.begin(&record(2))).await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::TimedOut, "{err:?}");
    assert!(
        matches!(
            &err,
            StoreError::JetStream {
                operation: "update",
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn concurrent_begins_start_one_rollout_and_report_a_conflict_to_the_others() {
    let server = server().await;
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(
            within(RolloutStore::open_with(
                context(&server, "scheduler").await,
                &lattice(),
                10,
            ))
            .await
            .unwrap(),
        );
    }
    // Over a finished rollout, so that each begin reads, then compare-and-swaps an update.
    let mut finished = record(1);
    within(stores[0].begin(&finished)).await.unwrap();
    finished.state = RolloutState::Succeeded;
    within(stores[0].save(&finished)).await.unwrap();

    let next = record(2);
    let results = within(futures::future::join_all(
        stores.iter().map(|store| store.begin(&next)),
    ))
    .await;
    let started = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(started, 1, "{results:?}");
    for err in results.iter().filter_map(|r| r.as_ref().err()) {
        // Read the running rollout, or lost the swap to the one that started it: either way
        // refused naming it (a lost swap is not reported as a store failure).
        assert!(
            matches!(
                err,
                StoreError::Conflict {
                    revision: Revision(2),
                    ..
                }
            ),
            "{err:?}"
        );
    }
    // Once started, a begin reads the running rollout.
    let err = within(stores[1].begin(&record(3))).await.unwrap_err();
    assert!(
        matches!(
            &err,
            StoreError::Conflict {
                revision: Revision(2),
                state: RolloutState::Pending,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn storing_an_existing_revision_is_a_lost_swap() {
    let server = server().await;
    let store = within(RolloutStore::open_with(
        context(&server, "scheduler").await,
        &lattice(),
        10,
    ))
    .await
    .unwrap();
    within(store.put_revision(&revision(1))).await.unwrap();
    let err = within(store.put_revision(&revision(1))).await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Changed, "{err:?}");
}

#[tokio::test]
async fn a_failed_bucket_lookup_does_not_create_the_bucket() {
    let server = server().await;
    let err = within(RolloutStore::open_with(
        context(&server, "blind").await,
        &lattice(),
        10,
    ))
    .await
    .expect_err("the lookup times out");
    assert_eq!(err.kind(), StoreErrorKind::TimedOut, "{err:?}");
    assert!(
        matches!(
            &err,
            StoreError::JetStream {
                operation: "look up the bucket",
                ..
            }
        ),
        "{err:?}"
    );
    let bucket = format!("LATTICE_ROLLOUTS_{}", lattice());
    let lookup = within(context(&server, "scheduler").await.get_key_value(bucket)).await;
    assert!(lookup.is_err(), "the bucket was not created");
}
