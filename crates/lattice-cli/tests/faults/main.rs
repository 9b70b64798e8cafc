//! The fault matrix, scheduler side (README "Fault matrix"): real processes against a real
//! nats-server (the `lattice` binary as the scheduler, host kits serving the control
//! interface), each fault ending in one check — every host on one revision, the store's
//! desired = stable = what the hosts serve (`fault_support::assert_converged`, shared with the
//! host and provider rows), and no invocation lost ([`load`]).
//!
//! - a scheduler SIGKILLed while its first step's hosts are mid-apply (their artifact
//!   downloads parked at a registry the test holds; one then fails while no scheduler is
//!   alive), recovered by another process;
//! - two schedulers racing to roll out one application: one wins, the other is refused;
//! - 50,000 control requests at concurrency 64, every reply counted.

#[path = "../fault_support/mod.rs"]
mod fault_support;
#[path = "../support/mod.rs"]
mod support;

mod gated_registry;
mod load;

use fault_support::assert_converged;
use gated_registry::GatedRegistry;
use lattice_local::LocalLattice;
use lattice_rollout::{AppName, HostProgress, RolloutStore};
use lattice_spec::HostId;
use lattice_status::{ComponentState, RolloutState};
use load::InvocationLoad;
use std::{
    path::{Path, PathBuf},
    process::{Child, Stdio},
    time::Duration,
};
use support::{Run, finish, kill};

/// Every wait of a test for a state sits under this bound.
const BOUND: Duration = Duration::from_secs(30);

/// Revisions the CLI keeps per application (its `HISTORY`); the tests' store handle reads
/// the same bucket.
const HISTORY: usize = 20;

fn app() -> AppName {
    "shop".parse().unwrap()
}

/// A nats-server with `hosts` host kits (`host-1` …) serving lattice `default`, the CLI's.
async fn lattice_with(hosts: usize) -> LocalLattice {
    tokio::time::timeout(BOUND, LocalLattice::builder().hosts(hosts).start())
        .await
        .expect("the lattice starts in time")
        .expect("the lattice starts")
}

async fn store_of(lattice: &LocalLattice) -> RolloutStore {
    RolloutStore::open(lattice.nats().clone(), lattice.lattice(), HISTORY)
        .await
        .expect("the rollout bucket opens")
}

fn host_ids(lattice: &LocalLattice) -> Vec<HostId> {
    lattice.host_ids().cloned().collect()
}

/// Starts `lattice --nats-url URL args…` without waiting for it.
fn spawn_cli(url: &str, args: &[&str]) -> Child {
    support::command()
        .args(["--nats-url", url, "--timeout", "5s"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the lattice binary starts")
}

/// Waits for a spawned `lattice` off the async runtime (bounded by `support::DEADLINE`).
async fn finished(child: Child) -> Run {
    tokio::task::spawn_blocking(move || finish(child))
        .await
        .expect("the wait does not panic")
}

async fn cli(url: &str, args: &[&str]) -> Run {
    finished(spawn_cli(url, args)).await
}

/// A real component with no imports, at `dir/name`.
fn write_component(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, lattice_artifact::testing::component_importing(&[])).unwrap();
    path
}

/// The manifest of `shop`: component `web` from `artifact` on every host, rolled
/// `max_parallel` hosts at a time.
fn write_manifest(dir: &Path, name: &str, artifact: &str, max_parallel: usize) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "name: shop\nstrategy:\n  type: rolling\n  max_parallel: {max_parallel}\noptions:\n  min_healthy_ms: 100\n  per_host_deadline_ms: 20000\ncomponents:\n  - spec:\n      id: web\n      revision: 1\n      artifact: {artifact}\n      scale: 1\n    hosts: all\n"
        ),
    )
    .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduler_killed_while_hosts_are_mid_apply_is_recovered_by_another_process() {
    let lattice = lattice_with(4).await;
    let (url, hosts, app) = (lattice.url(), host_ids(&lattice), app());
    let store = store_of(&lattice).await;
    let dir = tempfile::tempdir().unwrap();
    let v1 = write_component(dir.path(), "web-1.wasm");
    let v1 = write_manifest(
        dir.path(),
        "v1.yaml",
        &format!("file://{}", v1.display()),
        2,
    );
    let applied = cli(&url, &["apply", "-f", v1.to_str().unwrap()]).await;
    assert_eq!(applied.code(), Some(0), "{applied:#?}");
    let before = assert_converged(&store, lattice.client(), &app, &hosts).await;
    assert_eq!(before.revision.0, 1);

    // Revision 2 comes from a registry that answers the scheduler's pre-flight download and
    // then holds every host's: the first step's hosts stay mid-apply for as long as the
    // test wants.
    let registry = GatedRegistry::serve(&lattice_artifact::testing::component_importing(&[]), 1);
    let v2 = write_manifest(dir.path(), "v2.yaml", &registry.reference("2"), 2);
    let load = InvocationLoad::start(lattice.nats(), lattice.lattice(), "web", 4).await;
    let driver = spawn_cli(&url, &["apply", "-f", v2.to_str().unwrap()]);
    tokio::task::block_in_place(|| registry.wait_held(2, BOUND));
    assert_eq!(
        registry.layers_served(),
        1,
        "only the pre-flight downloaded"
    );

    // The scheduler dies with its first step's two hosts fetching.
    kill("-KILL", &driver.id().to_string());
    let killed = finished(driver).await;
    assert!(!killed.status.success(), "{killed:#?}");
    let (record, at_kill) = store.rollout(&app).await.unwrap().unwrap();
    assert_eq!(
        (record.state, record.next_step, record.plan.to.0),
        (RolloutState::Progressing, 0, 2),
        "{record:#?}"
    );
    let applying: Vec<&HostId> = record
        .hosts
        .iter()
        .filter(|(_, p)| **p == HostProgress::Applying)
        .map(|(h, _)| h)
        .collect();
    assert_eq!(applying.len(), 2, "{record:#?}");
    for host in &applying {
        let entry = lattice
            .client()
            .host(host)
            .component(&"web".parse().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(entry.desired.revision.0, 2, "{entry:#?}");
        assert_eq!(entry.desired.status.state, ComponentState::Fetching);
        assert_eq!(
            entry.serving.as_ref().map(|s| s.revision.0),
            Some(1),
            "{entry:#?}"
        );
    }

    // With no scheduler alive, one of the two downloads fails: that host reports revision 2
    // failed (revision 1 keeps serving); the other host is still fetching.
    registry.fail_one_held();
    tokio::task::block_in_place(|| registry.wait_held(1, BOUND));
    let web: lattice_spec::ComponentId = "web".parse().unwrap();
    let failed = lattice_test_support::read_until(
        "a host reporting its download of revision 2 failed",
        BOUND,
        || async {
            let mut failed = Vec::new();
            for host in &applying {
                let entry = lattice.client().host(host).component(&web).await.unwrap();
                if let Some(entry) = entry
                    && entry.desired.status.state == ComponentState::Failed
                {
                    failed.push(entry);
                }
            }
            failed
        },
        |failed| failed.len() == 1,
        String::new,
    )
    .await;
    assert_eq!(failed[0].desired.revision.0, 2, "{failed:#?}");
    assert_eq!(
        failed[0].serving.as_ref().map(|s| s.revision.0),
        Some(1),
        "{failed:#?}"
    );

    // Another process picks the rollout up from the store while the other host is still
    // mid-apply: it drives the step again (its first store write), then the held download
    // finishes. It must apply again where the download failed and follow the one in flight.
    let recovering = spawn_cli(&url, &["rollout", "recover", "shop"]);
    lattice_test_support::read_until(
        "the recovering scheduler driving the step",
        BOUND,
        || async { store.rollout(&app).await.unwrap().unwrap().1 },
        |revision| *revision > at_kill,
        String::new,
    )
    .await;
    // It applies again where the download failed: that host's second download is held too.
    tokio::task::block_in_place(|| registry.wait_held(2, BOUND));
    registry.release();
    let recovered = finished(recovering).await;
    assert_eq!(recovered.code(), Some(0), "{recovered:#?}");
    assert!(
        recovered.stdout.contains("succeeded"),
        "{}",
        recovered.stdout
    );

    let after = assert_converged(&store, lattice.client(), &app, &hosts).await;
    assert_eq!(
        (after.revision.0, after.record.state),
        (2, RolloutState::Succeeded)
    );
    let load = load.stop().await;
    println!("invocations during the fault: {load}");
    load.assert_none_lost(&[1]);
    let answer = lattice_host::Invoker::new(
        lattice.nats().clone(),
        lattice.lattice(),
        &"web".parse().unwrap(),
    )
    .await
    .unwrap()
    .call("after")
    .await
    .unwrap();
    assert!(answer.contains("web@2: after"), "{answer}");
}

/// Records what a scheduler asked of its reconcilers.
#[derive(Default)]
struct RecordingReconcilers {
    calls: std::sync::Mutex<Vec<String>>,
}

impl RecordingReconcilers {
    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

impl lattice_rollout::Reconcilers for RecordingReconcilers {
    fn suspend<'a>(&'a self, app: &'a AppName) -> futures::future::BoxFuture<'a, ()> {
        Box::pin(async move { self.calls.lock().unwrap().push(format!("suspend {app}")) })
    }

    fn resume<'a>(
        &'a self,
        app: &'a AppName,
        revision: lattice_spec::Revision,
    ) -> futures::future::BoxFuture<'a, ()> {
        Box::pin(async move {
            self.calls
                .lock()
                .unwrap()
                .push(format!("resume {app} at {revision}"))
        })
    }
}

/// The placements of `shop` with component `web` from `artifact` on every host.
fn placements(artifact: &Path) -> Vec<lattice_rollout::Placement> {
    let yaml = format!(
        "name: shop\ncomponents:\n  - spec:\n      id: web\n      revision: 1\n      artifact: file://{}\n      scale: 1\n    hosts: all\n",
        artifact.display()
    );
    let manifest: lattice_rollout::Manifest = serde_yaml_ng::from_str(&yaml).unwrap();
    manifest.validate().unwrap().1
}

/// One scheduler of its own: its own NATS connection, store handle and reconcilers.
async fn racer(
    lattice: &LocalLattice,
    name: &str,
) -> (
    lattice_rollout::Scheduler,
    std::sync::Arc<RecordingReconcilers>,
) {
    let nats = lattice.connect(name).await.unwrap();
    let store = RolloutStore::open(nats.clone(), lattice.lattice(), HISTORY)
        .await
        .unwrap();
    let client = lattice_client::Client::new(nats, lattice.lattice().clone());
    let reconcilers = std::sync::Arc::new(RecordingReconcilers::default());
    let scheduler = lattice_rollout::Scheduler::new(client, store)
        .with_discovery(lattice_client::Discover::expecting(lattice.hosts().len()))
        .with_reconcilers(reconcilers.clone());
    (scheduler, reconcilers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_schedulers_racing_on_one_application_one_wins_the_other_is_refused() {
    use lattice_rollout::{
        RolloutError, RolloutErrorKind, RolloutOptions, StoreError, StoreErrorKind, Strategy,
    };

    const ROUNDS: usize = 30;
    // The store says at debug level when a begin lost its compare-and-swap: how often the
    // two really collided.
    let logs = lattice_test_support::captured_logs("lattice_rollout::store=debug");
    let lattice = lattice_with(2).await;
    let (hosts, app) = (host_ids(&lattice), app());
    let store = store_of(&lattice).await;
    let dir = tempfile::tempdir().unwrap();
    let (a, a_reconcilers) = racer(&lattice, "scheduler a").await;
    let (b, b_reconcilers) = racer(&lattice, "scheduler b").await;
    // Long enough that the winner is still rolling out when the loser reaches the store.
    let options: RolloutOptions =
        serde_json::from_value(serde_json::json!({"min_healthy_ms": 200})).unwrap();
    let first = a
        .rollout(
            &app,
            placements(&write_component(dir.path(), "web-0.wasm")),
            Strategy::AllAtOnce,
            options.clone(),
        )
        .await
        .unwrap();
    assert_eq!(first.state, RolloutState::Succeeded);
    let load = InvocationLoad::start(lattice.nats(), lattice.lattice(), "web", 2).await;

    let (mut wins, mut conflicts) = ([0usize; 2], 0usize);
    for round in 1..=ROUNDS {
        let revisions_before = store.revisions(&app).await.unwrap();
        let calls_before = [a_reconcilers.calls().len(), b_reconcilers.calls().len()];
        let artifacts = [
            write_component(dir.path(), &format!("web-{round}-a.wasm")),
            write_component(dir.path(), &format!("web-{round}-b.wasm")),
        ];
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(2));
        let race = |scheduler: &lattice_rollout::Scheduler, artifact: &Path| {
            let (scheduler, start, app, options) = (
                scheduler.clone(),
                start.clone(),
                app.clone(),
                options.clone(),
            );
            let placements = placements(artifact);
            tokio::spawn(async move {
                start.wait().await;
                scheduler
                    .rollout(&app, placements, Strategy::AllAtOnce, options)
                    .await
            })
        };
        let (ra, rb) = (race(&a, &artifacts[0]), race(&b, &artifacts[1]));
        let results = [
            tokio::time::timeout(BOUND, ra).await.unwrap().unwrap(),
            tokio::time::timeout(BOUND, rb).await.unwrap().unwrap(),
        ];
        let winners: Vec<usize> = (0..2).filter(|i| results[*i].is_ok()).collect();
        assert_eq!(
            winners.len(),
            1,
            "round {round}: exactly one wins: {results:#?}"
        );
        let (winner, loser) = (winners[0], 1 - winners[0]);
        wins[winner] += 1;
        let record = results[winner].as_ref().unwrap();
        assert_eq!(
            record.state,
            RolloutState::Succeeded,
            "round {round}: {record:#?}"
        );
        match &results[loser] {
            Err(RolloutError::Store(StoreError::Conflict {
                app: refused,
                revision,
                ..
            })) => {
                assert_eq!(
                    (refused, *revision),
                    (&app, record.plan.to),
                    "round {round}"
                );
                conflicts += 1;
            }
            other => {
                panic!("round {round}: the loser is refused with a typed conflict: {other:#?}")
            }
        }
        let refused = results[loser].as_ref().unwrap_err();
        assert_eq!(
            refused.kind(),
            RolloutErrorKind::Store(StoreErrorKind::Conflict)
        );
        assert!(!refused.is_retryable(), "{refused:?}");

        // Nothing half-applied: one new revision (the winner's), desired = stable = it,
        // every host serving it, and the loser never suspended or resumed its reconcilers.
        let revisions = store.revisions(&app).await.unwrap();
        assert_eq!(
            revisions.len().min(HISTORY),
            (revisions_before.len() + 1).min(HISTORY),
            "round {round}: {revisions_before:?} -> {revisions:?}"
        );
        let converged = assert_converged(&store, lattice.client(), &app, &hosts).await;
        assert_eq!(converged.revision, record.plan.to, "round {round}");
        let stored = store
            .revision(&app, converged.revision)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            stored.components[0].spec.artifact().as_str(),
            format!("file://{}", artifacts[winner].display()),
            "round {round}: the store holds the winner's revision"
        );
        let calls_after = [a_reconcilers.calls().len(), b_reconcilers.calls().len()];
        assert_eq!(
            calls_after[loser], calls_before[loser],
            "round {round}: the loser touched its reconcilers"
        );
        assert_eq!(
            calls_after[winner],
            calls_before[winner] + 2,
            "round {round}"
        );
    }
    let lost_swaps = String::from_utf8_lossy(&logs.lock().unwrap())
        .matches("lost the race to begin a rollout")
        .count();
    println!(
        "{ROUNDS} rounds: a won {}, b won {}; the loser was refused {conflicts} times with a conflict, {lost_swaps} of them after losing the compare-and-swap",
        wins[0], wins[1]
    );
    assert_eq!(conflicts, ROUNDS);
    let load = load.stop().await;
    println!("invocations during the races: {load}");
    load.assert_none_lost(&[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_lattice_processes_racing_on_one_application_one_wins_the_other_exits_1() {
    const ROUNDS: usize = 4;
    let lattice = lattice_with(2).await;
    let (url, hosts, app) = (lattice.url(), host_ids(&lattice), app());
    let store = store_of(&lattice).await;
    let dir = tempfile::tempdir().unwrap();
    let manifest = |name: &str| {
        let artifact = write_component(dir.path(), &format!("{name}.wasm"));
        let path = dir.path().join(format!("{name}.yaml"));
        // Long enough that the winner is still rolling out when the loser reaches the store.
        std::fs::write(
            &path,
            format!(
                "name: shop\noptions:\n  min_healthy_ms: 600\ncomponents:\n  - spec:\n      id: web\n      revision: 1\n      artifact: file://{}\n      scale: 1\n    hosts: all\n",
                artifact.display()
            ),
        )
        .unwrap();
        (path, artifact)
    };
    let (first, _) = manifest("web-0");
    let applied = cli(&url, &["apply", "-f", first.to_str().unwrap()]).await;
    assert_eq!(applied.code(), Some(0), "{applied:#?}");
    let load = InvocationLoad::start(lattice.nats(), lattice.lattice(), "web", 2).await;
    for round in 1..=ROUNDS {
        let racers = [
            manifest(&format!("web-{round}-a")),
            manifest(&format!("web-{round}-b")),
        ];
        let children: Vec<Child> = racers
            .iter()
            .map(|(path, _)| spawn_cli(&url, &["apply", "-f", path.to_str().unwrap()]))
            .collect();
        let mut runs = Vec::new();
        for child in children {
            runs.push(finished(child).await);
        }
        let winners: Vec<usize> = (0..2).filter(|i| runs[*i].code() == Some(0)).collect();
        assert_eq!(
            winners.len(),
            1,
            "round {round}: exactly one wins: {runs:#?}"
        );
        let (winner, loser) = (winners[0], 1 - winners[0]);
        assert!(
            runs[winner].stdout.contains("succeeded"),
            "{:#?}",
            runs[winner]
        );
        let refused = &runs[loser];
        println!("round {round}: the loser said {:?}", refused.stderr);
        assert_eq!(refused.code(), Some(1), "round {round}: {refused:#?}");
        assert!(
            refused
                .stderr
                .contains("error: the rollout of `shop` did not start"),
            "round {round}: {refused:#?}"
        );
        let converged = assert_converged(&store, lattice.client(), &app, &hosts).await;
        // Whether it lost at the read or at the compare-and-swap, the loser names the
        // winner's rollout and says nothing was touched.
        assert!(
            refused.stderr.contains(&format!(
                "caused by: a rollout of `shop` to revision {} is already",
                converged.revision
            )),
            "round {round}: {refused:#?}"
        );
        assert!(
            refused
                .stderr
                .contains("hint: nothing was touched; see the message for what to change"),
            "round {round}: {refused:#?}"
        );
        let stored = store
            .revision(&app, converged.revision)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            stored.components[0].spec.artifact().as_str(),
            format!("file://{}", racers[winner].1.display()),
            "round {round}: the store holds the winner's revision"
        );
    }
    let load = load.stop().await;
    println!("invocations during the races: {load}");
    load.assert_none_lost(&[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_thousand_control_requests_at_concurrency_64_lose_no_reply() {
    use futures::StreamExt as _;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const REQUESTS: usize = 50_000;
    const CONCURRENCY: usize = 64;
    let lattice = lattice_with(4).await;
    let hosts = host_ids(&lattice);
    // Each reply may wait behind the 63 others in flight on a loaded machine: a late reply is
    // a lost one only after this long.
    let client = lattice
        .client()
        .clone()
        .with_timeout(Duration::from_secs(10));
    let dir = tempfile::tempdir().unwrap();
    let artifact = write_component(dir.path(), "web.wasm");
    let spec =
        lattice_spec::ComponentSpecDraft::new("web", format!("file://{}", artifact.display()))
            .validate()
            .unwrap();
    for host in &hosts {
        let report = client
            .apply_and_wait(host, &spec, BOUND)
            .await
            .expect("web runs");
        assert_eq!(report.status.state, ComponentState::Running);
    }

    // A mix through the typed client: a ping of the lattice (one reply per host), a host's
    // inventory, an apply of the spec it runs (acknowledged unchanged), the component's
    // serving revision (an inventory read).
    let replies = AtomicUsize::new(0);
    let kinds = ["ping", "inventory", "apply", "status"];
    let started = std::time::Instant::now();
    let errors: Vec<String> = futures::stream::iter(0..REQUESTS)
        .map(|n| {
            let (client, spec, replies, hosts) = (&client, &spec, &replies, &hosts);
            let host = &hosts[n / kinds.len() % hosts.len()];
            async move {
                let outcome = match n % kinds.len() {
                    0 => match client
                        .discover_hosts(lattice_client::Discover::expecting(hosts.len()))
                        .await
                    {
                        Ok(found) => {
                            replies.fetch_add(found.len(), Ordering::Relaxed);
                            if found.len() == hosts.len() {
                                Ok(())
                            } else {
                                Err(format!("{} of {} hosts answered", found.len(), hosts.len()))
                            }
                        }
                        Err(e) => Err(e.to_string()),
                    },
                    1 => client
                        .inventory(host)
                        .await
                        .map_err(|e| e.to_string())
                        .and_then(|inventory| {
                            replies.fetch_add(1, Ordering::Relaxed);
                            inventory
                                .component(spec.id())
                                .map(drop)
                                .ok_or_else(|| format!("{host} lost `web`"))
                        }),
                    2 => client
                        .apply(host, spec)
                        .await
                        .map_err(|e| e.to_string())
                        .and_then(|applied| {
                            replies.fetch_add(1, Ordering::Relaxed);
                            if applied.is_unchanged() {
                                Ok(())
                            } else {
                                Err(format!(
                                    "{host} did not find the spec unchanged: {applied:?}"
                                ))
                            }
                        }),
                    _ => client
                        .serving_revision(host, spec.id())
                        .await
                        .map_err(|e| e.to_string())
                        .and_then(|serving| {
                            replies.fetch_add(1, Ordering::Relaxed);
                            match serving {
                                Some((revision, ComponentState::Running))
                                    if revision == spec.revision() =>
                                {
                                    Ok(())
                                }
                                other => Err(format!("{host} serves {other:?}")),
                            }
                        }),
                };
                outcome
                    .err()
                    .map(|e| format!("request {n} ({}): {e}", kinds[n % kinds.len()]))
            }
        })
        .buffer_unordered(CONCURRENCY)
        .filter_map(|error| async move { error })
        .collect()
        .await;
    let elapsed = started.elapsed();
    let replies = replies.into_inner();
    let pings = REQUESTS.div_ceil(kinds.len());
    let expected = (REQUESTS - pings) + pings * hosts.len();
    println!(
        "{REQUESTS} control requests at concurrency {CONCURRENCY} on {} hosts: {replies} replies of {expected} expected, {} errors, in {elapsed:.1?} ({:.0} requests/s)",
        hosts.len(),
        errors.len(),
        REQUESTS as f64 / elapsed.as_secs_f64()
    );
    assert!(
        errors.is_empty(),
        "{} requests failed; the first: {:#?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );
    assert_eq!(replies, expected, "every reply arrived");
}

/// A connection to a cluster that tries `urls` in this order (its first server first) and
/// fails over to the next when its server goes.
async fn connect_in_order(urls: &[String], name: &str) -> async_nats::Client {
    tokio::time::timeout(
        BOUND,
        async_nats::ConnectOptions::new()
            .name(name)
            .retain_servers_order()
            .connect(urls),
    )
    .await
    .expect("connects in time")
    .expect("connects")
}

/// `urls` rotated so that server `first` comes first.
fn starting_at(urls: &[String], first: usize) -> Vec<String> {
    (0..urls.len())
        .map(|i| urls[(first + i) % urls.len()].clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_node_lost_mid_rollout_loses_no_revision_with_r3_buckets() {
    use lattice_rollout::{RolloutOptions, Strategy};

    let mut cluster = tokio::task::spawn_blocking(lattice_local::NatsCluster::start)
        .await
        .unwrap()
        .expect("a three-server cluster");
    let urls = cluster.urls();
    let lattice_name: lattice_spec::LatticeName = "default".parse().unwrap();
    let app = app();

    // The scheduler's bucket, three copies; the server leading its stream is the one lost,
    // and the scheduler is connected to it.
    let probe = async_nats::jetstream::new(connect_in_order(&urls, "probe").await);
    let store = RolloutStore::open_replicated(probe.clone(), &lattice_name, HISTORY, 3)
        .await
        .expect("the R3 rollout bucket");
    let stream = format!("KV_{}", lattice_ctl::rollout::bucket(&lattice_name));
    let info = probe
        .get_stream(&stream)
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .clone();
    assert_eq!(info.config.num_replicas, 3);
    let leader = info
        .cluster
        .and_then(|c| c.leader)
        .expect("a stream leader");
    let lost = cluster
        .servers()
        .iter()
        .position(|s| s.name() == leader)
        .expect("the leader is a cluster server");
    let scheduler_nats = connect_in_order(&starting_at(&urls, lost), "scheduler").await;
    let scheduler = lattice_rollout::Scheduler::new(
        lattice_client::Client::new(scheduler_nats.clone(), lattice_name.clone()),
        RolloutStore::open_replicated(
            async_nats::jetstream::new(scheduler_nats),
            &lattice_name,
            HISTORY,
            3,
        )
        .await
        .unwrap(),
    )
    .with_discovery(lattice_client::Discover::expecting(6));

    // Six host kits, two on each server (each fails over to the others).
    let mut hosts = Vec::new();
    for n in 1..=6 {
        let nats =
            connect_in_order(&starting_at(&urls, n % urls.len()), &format!("host-{n}")).await;
        let config = lattice_host::HostConfig::new(
            format!("host-{n}").parse().unwrap(),
            lattice_name.clone(),
        );
        hosts.push(
            lattice_host::Host::new(
                nats,
                config,
                std::sync::Arc::new(lattice_host::RevisionEchoRuntime),
            )
            .start()
            .await
            .expect("a host starts"),
        );
    }
    let host_ids: Vec<HostId> = hosts.iter().map(|h| h.host_id().clone()).collect();
    let client_nats = connect_in_order(&starting_at(&urls, lost + 1), "checks").await;
    let client = lattice_client::Client::new(client_nats.clone(), lattice_name.clone());
    // A host's subscriptions reach the other servers over the routes a moment after it
    // started: the scheduler's discovery must see all six before its plan is made.
    lattice_test_support::read_until(
        "every host answering a ping from the scheduler's server",
        BOUND,
        || async {
            scheduler
                .client()
                .discover_hosts(
                    lattice_client::Discover::expecting(6).window(Duration::from_millis(500)),
                )
                .await
                .map(|hosts| hosts.len())
                .unwrap_or(0)
        },
        |found| *found == 6,
        String::new,
    )
    .await;

    let dir = tempfile::tempdir().unwrap();
    let options: RolloutOptions =
        serde_json::from_value(serde_json::json!({"min_healthy_ms": 100})).unwrap();
    let strategy: Strategy =
        serde_json::from_value(serde_json::json!({"type": "rolling", "max_parallel": 2})).unwrap();
    let first = scheduler
        .rollout(
            &app,
            placements(&write_component(dir.path(), "web-1.wasm")),
            strategy.clone(),
            options.clone(),
        )
        .await
        .unwrap();
    assert_eq!(first.state, RolloutState::Succeeded, "{first:#?}");
    assert_converged(&store, &client, &app, &host_ids).await;

    // Revision 2: the first step's hosts held mid-apply at the registry, then the server
    // leading the scheduler's bucket (and serving the scheduler and two hosts) is SIGKILLed.
    let registry = GatedRegistry::serve(&lattice_artifact::testing::component_importing(&[]), 1);
    let v2 = {
        let yaml = format!(
            "name: shop\ncomponents:\n  - spec:\n      id: web\n      revision: 1\n      artifact: {}\n      scale: 1\n    hosts: all\n",
            registry.reference("2")
        );
        let manifest: lattice_rollout::Manifest = serde_yaml_ng::from_str(&yaml).unwrap();
        manifest.validate().unwrap().1
    };
    let load = InvocationLoad::start(&client_nats, &lattice_name, "web", 4).await;
    let rolling = tokio::spawn({
        let (scheduler, app) = (scheduler.clone(), app.clone());
        async move { scheduler.rollout(&app, v2, strategy, options).await }
    });
    tokio::task::block_in_place(|| registry.wait_held(2, BOUND));
    cluster.kill(lost).unwrap();
    let cluster =
        tokio::task::spawn_blocking(move || cluster.wait_until_formed().map(|()| cluster))
            .await
            .unwrap()
            .expect("two servers keep a meta leader");
    let formed_at = std::time::Instant::now();
    registry.release();
    let record = tokio::time::timeout(Duration::from_secs(45), rolling)
        .await
        .expect("the rollout ends in time")
        .unwrap()
        .expect("the rollout rides out the lost server");
    // No revision lost, whichever way it ended: forward (revisions 1 and 2, 2 everywhere), or
    // — when the scheduler could not follow a host through the failover — back (revision 3,
    // revision 1's content, everywhere).
    let converged = assert_converged(&store, &client, &app, &host_ids).await;
    let revisions = store.revisions(&app).await.unwrap();
    println!(
        "the rollout ended {:?} ({:?}); revisions {revisions:?}",
        record.state, record.failure
    );
    match record.state {
        RolloutState::Succeeded => {
            assert_eq!(revisions, [1, 2].map(lattice_spec::Revision));
            assert_eq!(converged.revision.0, 2);
        }
        RolloutState::RolledBack => {
            assert_eq!(revisions, [1, 2, 3].map(lattice_spec::Revision));
            assert_eq!(converged.revision.0, 3);
            let (one, three) = (
                store
                    .revision(&app, lattice_spec::Revision(1))
                    .await
                    .unwrap()
                    .unwrap(),
                store
                    .revision(&app, lattice_spec::Revision(3))
                    .await
                    .unwrap()
                    .unwrap(),
            );
            assert_eq!(
                one.components[0].spec.artifact().as_str(),
                three.components[0].spec.artifact().as_str()
            );
        }
        other => panic!("the rollout ended {other}: {record:#?}"),
    }
    let load = load.stop().await;
    println!("invocations while a cluster node was lost: {load}");
    // Calls on their way through the killed server before the survivors re-formed are gone
    // with it (core NATS, at most once): at most one per caller. Every call sent after is
    // answered.
    load.assert_none_lost_but_in_flight_at(Some(formed_at), &[1]);
    drop(cluster);
}
