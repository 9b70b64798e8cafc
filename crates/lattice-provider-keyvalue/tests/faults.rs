//! Fault matrix (README, "Fault matrix"), the rows about providers: this crate's
//! `lattice-provider-keyvalue` binary supervised by two lattice hosts (one process each, as
//! 1.x hosts start providers), the example greeter (real WebAssembly, executed by wasmtime)
//! linked to it, a rollout of a new greeter revision that changes the link (another bucket),
//! and callers invoking the greeter all along, while
//!
//! - host-1's provider process is SIGKILLed with the link request of the upgrade in flight:
//!   it is frozen (SIGSTOP) before the rollout so that it cannot answer, and killed the moment
//!   the request is seen on its subject;
//! - host-1's provider answers after the host's bound: frozen (SIGSTOP) until the host gave
//!   up on the request, then thawed (SIGCONT), so its answer arrives late.
//!
//! Each ends converged ([`fault_support::assert_converged`]) with no call lost; the only
//! attempts that fail are the greeter's calls caught in flight by the frozen provider (they
//! trap at the runtime's import timeout and are retried), none after the fault ends.

#[path = "../../lattice-cli/tests/fault_support/mod.rs"]
mod fault_support;

use fault_support::{Callers, app, assert_converged, greeter, options};
use futures::StreamExt as _;
use lattice_client::{Client, Discover};
use lattice_ctl::LinkStatusEvent;
use lattice_host::{Host, HostConfig, HostHandle, ProviderSupervision, UnacknowledgedLinks};
use lattice_rollout::{
    FailureCode, HostSelector, Placement, RolloutError, RolloutRecord, RolloutStore, Scheduler,
    Strategy,
};
use lattice_runtime_wasmtime::WasmtimeRuntime;
use lattice_spec::{HostId, LatticeName, ProviderId, ProviderSpecDraft, WireMessage as _};
use lattice_status::{LinkState, ProviderState, ReasonCode, RolloutState};
use lattice_test_support::NatsServer;
use std::{future::Future, sync::Arc, time::Duration};

const BOUND: Duration = Duration::from_secs(40);
const PROVIDER: &str = env!("CARGO_BIN_EXE_lattice-provider-keyvalue");
/// The host's bound on a link reply.
const LINK_REPLY: Duration = Duration::from_secs(1);
/// How long one invocation attempt may take: above a link reply bound plus a greeter's call
/// to a frozen provider (bounded by the runtime's import timeout), so no attempt fails.
const ATTEMPT: Duration = Duration::from_secs(5);
/// The bound on a whole rollout of a row.
const PROGRESS_DEADLINE: Duration = Duration::from_secs(30);

async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, future)
        .await
        .expect("timed out")
}

fn signal(signal: &str, pid: u32) {
    let status = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {signal} {pid}");
}

struct Lattice {
    _server: NatsServer,
    lattice: LatticeName,
    nats: async_nats::Client,
    hosts: Vec<HostHandle>,
    scheduler: Scheduler,
}

impl Lattice {
    /// Two hosts (`policy` for unanswered link requests), each supervising a keyvalue
    /// provider process, and revision 1 of the greeter rolled out on both.
    async fn start(policy: UnacknowledgedLinks) -> Self {
        let server = NatsServer::start().expect("nats-server starts");
        let lattice: LatticeName = "default".parse().unwrap();
        let nats = within(async_nats::connect(server.url())).await.unwrap();
        let mut hosts = Vec::new();
        for id in ["host-1", "host-2"] {
            let host_nats = within(async_nats::connect(server.url())).await.unwrap();
            // A call to a frozen provider ends (with an error the greeter answers around) within a
            // second, instead of the default ten.
            let runtime = WasmtimeRuntime::new(host_nats.clone(), &lattice)
                .unwrap()
                .import_timeout(Duration::from_secs(1));
            // Health is polled rarely (a frozen provider must not turn unhealthy meanwhile);
            // a killed one is restarted at once.
            let supervision = ProviderSupervision::default()
                .start_poll_interval(Duration::from_millis(100))
                .backoff(Duration::from_millis(100), Duration::from_millis(400))
                .stop_timeout(Duration::from_secs(3))
                .nats_url(server.url());
            let config = HostConfig::new(id.parse().unwrap(), lattice.clone())
                .link_reply_timeout(LINK_REPLY)
                .unacknowledged_links(policy)
                .provider_supervision(supervision);
            hosts.push(
                within(Host::new(host_nats, config, Arc::new(runtime)).start())
                    .await
                    .unwrap(),
            );
        }
        let client = Client::new(nats.clone(), lattice.clone());
        let keyvalue = ProviderSpecDraft::new("keyvalue", format!("file://{PROVIDER}"))
            .validate()
            .unwrap();
        for host in &hosts {
            let api = client.host(host.host_id());
            within(api.apply_provider(&keyvalue)).await.unwrap();
            within(api.wait_for_provider(&provider_id(), |p| {
                p.is_some_and(|p| p.status.state == ProviderState::Running)
            }))
            .await
            .unwrap();
        }
        let store = within(RolloutStore::open(nats.clone(), &lattice, 10))
            .await
            .unwrap();
        let scheduler = Scheduler::new(client, store)
            .with_discovery(Discover::expecting(hosts.len()).window(Duration::from_secs(10)));
        let record = within(scheduler.rollout(
            &app(),
            vec![Placement::new(
                greeter("greeter-v1.wasm", "Hi", "visits"),
                HostSelector::All,
            )],
            Strategy::AllAtOnce,
            options(PROGRESS_DEADLINE),
        ))
        .await
        .unwrap();
        assert_eq!(record.state, RolloutState::Succeeded, "{record:?}");
        Self {
            _server: server,
            lattice,
            nats,
            hosts,
            scheduler,
        }
    }

    fn host_ids(&self) -> Vec<HostId> {
        self.hosts.iter().map(|h| h.host_id().clone()).collect()
    }

    /// The process id of host-1's provider.
    fn provider_pid(&self) -> u32 {
        self.hosts[0]
            .provider_process_id(&provider_id())
            .expect("host-1 runs the provider")
    }

    /// Host-1's link requests to its provider, from now on.
    async fn link_requests(&self) -> async_nats::Subscriber {
        let subscriber = self
            .nats
            .subscribe(format!(
                "wasmbus.rpc.{}.keyvalue.linkdefs.*.host-1",
                self.lattice
            ))
            .await
            .unwrap();
        self.nats.flush().await.unwrap();
        subscriber
    }

    /// Starts rolling revision 2 (greeter v2, its link moved to another bucket) host by host,
    /// host-1 first.
    fn roll_v2(&self) -> tokio::task::JoinHandle<Result<RolloutRecord, RolloutError>> {
        fault_support::roll_v2(&self.scheduler, PROGRESS_DEADLINE)
    }

    async fn assert_converged(&self) -> fault_support::Converged {
        assert_converged(
            self.scheduler.store(),
            self.scheduler.client(),
            &app(),
            &self.host_ids(),
        )
        .await
    }
}

fn provider_id() -> ProviderId {
    "keyvalue".parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn provider_killed_with_a_link_request_in_flight_converges_and_loses_no_call() {
    let lattice = Lattice::start(UnacknowledgedLinks::Accept).await;
    let callers = Callers::start(&lattice.nats, &lattice.lattice, 4, ATTEMPT).await;
    let mut requests = lattice.link_requests().await;
    let pid = lattice.provider_pid();

    // Frozen, it cannot answer: the request the upgrade sends is in flight when it dies.
    signal("-STOP", pid);
    let rollout = lattice.roll_v2();
    let request = within(requests.next()).await.expect("a link request");
    signal("-KILL", pid);
    let killed_at = callers.elapsed();

    let record = within(rollout).await.unwrap().expect("the rollout runs");
    // The host took the silence as `unacknowledged` (its default policy) and went on; the
    // provider, restarted by the host, has the links of what the host serves put again.
    assert_eq!(record.state, RolloutState::Succeeded, "{record:?}");
    let converged = lattice.assert_converged().await;
    assert_eq!(converged.revision.0, 2);
    let restarted = lattice.provider_pid();
    assert_ne!(restarted, pid);
    let tally = callers.stop().await;
    eprintln!(
        "request in flight: {}, killed at {killed_at:?}\n{tally:#?}",
        request.subject
    );
    // The greeter's calls in flight to the frozen provider trap at the import timeout (their
    // callers retry them); after the kill, nothing fails.
    tally.assert_failed_only_before(killed_at, 10);
    assert!(tally.v2_answers > 0, "{tally:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn provider_answering_after_the_bound_rolls_back_and_the_old_revision_serves_on() {
    let lattice = Lattice::start(UnacknowledgedLinks::Fail).await;
    let callers = Callers::start(&lattice.nats, &lattice.lattice, 4, ATTEMPT).await;
    let mut link_events = lattice
        .nats
        .subscribe(format!(
            "wasmbus.status.v2alpha1.{}.link.host-1.greeter",
            lattice.lattice
        ))
        .await
        .unwrap();
    lattice.nats.flush().await.unwrap();
    let pid = lattice.provider_pid();

    signal("-STOP", pid);
    let rollout = lattice.roll_v2();
    // The host's bound passes: revision 2's link is `unacknowledged`, which this host's
    // policy takes as a refusal. Only then does the provider answer.
    let unanswered = within(async {
        while let Some(message) = link_events.next().await {
            let event = LinkStatusEvent::decode(&message.payload).unwrap();
            if event.revision.0 == 2 && event.status.state == LinkState::Unacknowledged {
                return event;
            }
        }
        panic!("the event subscription ended");
    })
    .await;
    signal("-CONT", pid);
    let thawed_at = callers.elapsed();

    let record = within(rollout).await.unwrap().expect("the rollout runs");
    assert_eq!(record.state, RolloutState::RolledBack, "{record:?}");
    let failure = record.failure.as_ref().expect("a failure");
    assert_eq!(failure.host.as_ref().map(|h| h.as_str()), Some("host-1"));
    assert_eq!(
        failure.reason.as_ref().map(|r| r.code),
        Some(ReasonCode::LinkUnacknowledged),
        "{failure:?}"
    );
    assert_ne!(failure.code, FailureCode::Deadline, "{failure:?}");
    let converged = lattice.assert_converged().await;
    assert_eq!(converged.app_revision.restores.map(|r| r.0), Some(1));
    // The same process, thawed, serves on.
    assert_eq!(lattice.provider_pid(), pid);
    let tally = callers.stop().await;
    eprintln!("{unanswered:?}, thawed at {thawed_at:?}\n{tally:#?}");
    tally.assert_failed_only_before(thawed_at, 10);
    // Host-1 was the first step: revision 2 never served a call.
    assert_eq!(tally.v2_answers, 0, "{tally:#?}");
}
