//! Fault matrix (README, "Fault matrix"), the rows about hosts and the NATS server: a rollout
//! of the example greeter (real WebAssembly, executed by wasmtime) over three `lattice host`
//! processes, with callers invoking it all along, while
//!
//! - the nats-server is killed and restarted mid-rollout (same port, same JetStream store);
//! - a host process is SIGKILLed mid-upgrade and started again.
//!
//! Each ends converged ([`fault_support::assert_converged`]: every host on one revision, the
//! store's desired = stable = what the hosts serve, links established) with no call lost
//! ([`fault_support::Tally`]). The scheduler runs in this test process: its own faults are
//! other rows.

mod fault_support;
mod support;

use fault_support::{Callers, app, assert_converged, greeter, options};
use futures::StreamExt as _;
use lattice_client::{Client, Discover};
use lattice_ctl::ComponentStatusEvent;
use lattice_rollout::{
    HostProgress, Placement, RolloutError, RolloutRecord, RolloutStore, Scheduler, Strategy,
};
use lattice_spec::{HostId, LatticeName, WireMessage as _};
use lattice_test_support::{NatsServer, read_until};
use std::{
    future::Future,
    process::{Child, Stdio},
    time::Duration,
};

const BOUND: Duration = Duration::from_secs(45);
const HOSTS: [&str; 3] = ["host-1", "host-2", "host-3"];
/// How long one invocation attempt may take before the caller tries again.
const ATTEMPT: Duration = Duration::from_secs(3);
/// The bound on a whole rollout of a row.
const PROGRESS_DEADLINE: Duration = Duration::from_secs(40);

async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, future)
        .await
        .expect("timed out")
}

/// A `lattice host` process (wasmtime runtime), SIGKILLed on drop.
struct HostProcess {
    child: Child,
}

impl HostProcess {
    fn start(url: &str, id: &str) -> Self {
        let mut child = support::command()
            .args(["--nats-url", url, "host", "--host-id", id])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("lattice host starts");
        let line = support::first_line(child.stdout.take().unwrap());
        assert!(line.starts_with(&format!("host {id} serving")), "{line:?}");
        Self { child }
    }

    /// SIGKILL, as a crash or the OOM killer would; waits until it is gone.
    fn kill(&mut self) {
        self.child.kill().expect("SIGKILL the host");
        self.child.wait().expect("reap the host");
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A nats-server, the in-memory key-value provider (the greeter's link target, in this
/// process), three host processes, and a scheduler.
struct Lattice {
    server: NatsServer,
    lattice: LatticeName,
    nats: async_nats::Client,
    hosts: Vec<HostProcess>,
    scheduler: Scheduler,
    _provider: lattice_provider_keyvalue::RunningProvider,
}

impl Lattice {
    async fn start() -> Self {
        let server = tokio::task::spawn_blocking(NatsServer::start)
            .await
            .unwrap()
            .expect("nats-server starts");
        let lattice: LatticeName = "default".parse().unwrap();
        let url = server.url();
        let provider_nats = within(async_nats::connect(&url)).await.unwrap();
        let provider = within(lattice_provider_keyvalue::start(
            provider_nats,
            &lattice,
            &"keyvalue".parse().unwrap(),
        ))
        .await
        .expect("the keyvalue provider starts");
        let hosts = tokio::task::spawn_blocking(move || {
            HOSTS
                .iter()
                .map(|id| HostProcess::start(&url, id))
                .collect::<Vec<_>>()
        })
        .await
        .unwrap();
        let nats = within(async_nats::connect(server.url())).await.unwrap();
        let store = within(RolloutStore::open(nats.clone(), &lattice, 10))
            .await
            .unwrap();
        let discover = Discover::expecting(HOSTS.len()).window(Duration::from_secs(10));
        let scheduler = Scheduler::new(Client::new(nats.clone(), lattice.clone()), store)
            .with_discovery(discover);
        Self {
            server,
            lattice,
            nats,
            hosts,
            scheduler,
            _provider: provider,
        }
    }

    fn host_ids() -> Vec<HostId> {
        HOSTS.iter().map(|h| h.parse().unwrap()).collect()
    }

    /// Revision 1 (greeter v1) everywhere, then callers invoking it.
    async fn serving_v1_with_callers(&self) -> Callers {
        let record = within(self.scheduler.rollout(
            &app(),
            vec![Placement::new(
                greeter("greeter-v1.wasm", "Hi", "visits"),
                lattice_rollout::HostSelector::All,
            )],
            Strategy::AllAtOnce,
            options(PROGRESS_DEADLINE),
        ))
        .await
        .unwrap();
        assert_eq!(
            record.state,
            lattice_status::RolloutState::Succeeded,
            "{record:?}"
        );
        Callers::start(&self.nats, &self.lattice, 4, ATTEMPT).await
    }

    /// Starts rolling revision 2 (greeter v2, another greeting and bucket) host by host.
    fn roll_v2(&self) -> tokio::task::JoinHandle<Result<RolloutRecord, RolloutError>> {
        fault_support::roll_v2(&self.scheduler, PROGRESS_DEADLINE)
    }

    /// Waits until the stored rollout of revision 2 satisfies `condition`.
    async fn until_stored(&self, what: &str, condition: impl Fn(&RolloutRecord) -> bool) {
        let store = self.scheduler.store();
        read_until(
            what,
            BOUND,
            || async {
                store
                    .rollout(&app())
                    .await
                    .ok()
                    .flatten()
                    .map(|(record, _)| record)
            },
            |record| {
                record
                    .as_ref()
                    .is_some_and(|r| r.plan.to.0 == 2 && condition(r))
            },
            String::new,
        )
        .await;
    }
}

/// Hosts of `record` in `progress`.
fn count(record: &RolloutRecord, progress: HostProgress) -> usize {
    record.hosts.values().filter(|p| **p == progress).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nats_server_restarted_mid_rollout_converges_and_loses_no_call() {
    let mut lattice = Lattice::start().await;
    let callers = lattice.serving_v1_with_callers().await;

    let rollout = lattice.roll_v2();
    // Mid-rollout: one host on revision 2, the others not yet.
    lattice
        .until_stored("one host upgraded, one not yet", |r| {
            count(r, HostProgress::Running) >= 1 && count(r, HostProgress::Pending) >= 1
        })
        .await;
    let killed_at = callers.elapsed();
    tokio::task::block_in_place(|| lattice.server.restart()).expect("nats-server restarts");
    eprintln!(
        "server killed at {killed_at:?}, ready again at {:?}",
        callers.elapsed()
    );

    // The scheduler either rode out the restart, or stopped on a store error it reports as
    // retryable; then it is recovered from what it stored, as `lattice rollout recover` does.
    let record = match within(rollout).await.unwrap() {
        Ok(record) => record,
        Err(error) => {
            assert!(error.is_retryable(), "{error:?}");
            within(lattice.scheduler.recover(&app())).await.unwrap()
        }
    };
    let converged = assert_converged(
        lattice.scheduler.store(),
        lattice.scheduler.client(),
        &app(),
        &Lattice::host_ids(),
    )
    .await;
    let tally = callers.stop().await;
    eprintln!("{record:?}\n{tally:#?}");
    tally.assert_none_lost(10);
    assert_eq!(converged.record.plan.to.0, 2);
    // JetStream kept what the scheduler stored before the restart: no revision lost.
    let stored = within(lattice.scheduler.store().revisions(&app()))
        .await
        .unwrap();
    assert!(
        stored.iter().map(|r| r.0).eq(1..=converged.revision.0),
        "{stored:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn host_killed_mid_upgrade_and_restarted_converges_and_loses_no_call() {
    let mut lattice = Lattice::start().await;
    let callers = lattice.serving_v1_with_callers().await;

    // host-2's status events for the greeter: the first one of revision 2 means it accepted
    // the upgrade and is working on it.
    let mut events = lattice
        .nats
        .subscribe(format!(
            "wasmbus.status.v2alpha1.{}.component.host-2.greeter",
            lattice.lattice
        ))
        .await
        .unwrap();
    lattice.nats.flush().await.unwrap();
    let rollout = lattice.roll_v2();
    let mid_upgrade = within(async {
        while let Some(message) = events.next().await {
            let event = ComponentStatusEvent::decode(&message.payload).unwrap();
            if event.revision.0 == 2 {
                return event;
            }
        }
        panic!("the event subscription ended");
    })
    .await;
    let url = lattice.server.url();
    let restarted = tokio::task::block_in_place(|| {
        lattice.hosts[1].kill();
        // Started again at once, as a service manager would: it comes back empty (a host
        // keeps no lattice state), under the same id.
        HostProcess::start(&url, "host-2")
    });
    lattice.hosts[1] = restarted;
    let back_at = callers.elapsed();

    let record = within(rollout)
        .await
        .unwrap()
        .expect("the rollout runs to its end");
    let converged = assert_converged(
        lattice.scheduler.store(),
        lattice.scheduler.client(),
        &app(),
        &Lattice::host_ids(),
    )
    .await;
    let tally = callers.stop().await;
    eprintln!("killed at {mid_upgrade:?}, back at {back_at:?}\n{record:?}\n{tally:#?}");
    // Calls the killed host had accepted are never answered by it; their callers retry.
    // (Once it is back, an attempt may still time out while the rollback restores the hosts:
    // seen in 1 run of 3, one attempt; not asserted, counted in the tally.)
    tally.assert_none_lost(10);
    // The scheduler applied revision 2 again to the host that came back empty: the rollout
    // went on instead of rolling every host back.
    assert_eq!(
        record.state,
        lattice_status::RolloutState::Succeeded,
        "{record:?}"
    );
    assert_eq!(converged.revision.0, 2, "{converged:?}");
}
