//! Discovery that knows when it is done, against a real nats-server (JetStream) and real host
//! kits: the host directory (kept from the hosts' presence messages) tells discovery whom to
//! wait for, so a host that answers late is not missed, a listed host that never answers is
//! reported, and a host that stopped is not waited for.

mod support;

use futures::StreamExt;
use lattice_client::{Discover, DiscoverErrorKind, directory::KnownHost};
use lattice_ctl::{CtlSubject, HostPresence, HostSummary, HostSummaryReply, PresenceState, Reply};
use lattice_spec::{HostId, WireMessage};
use std::time::Duration;
use support::{Lattice, within};

/// How late the fake slow host answers: far beyond the quiet periods (20 ms with a directory,
/// 250 ms without), far within the discovery window. This is the fault injected, not a
/// synchronisation.
const LATE: Duration = Duration::from_millis(1_500);

/// The window the tests give discovery: far beyond [`LATE`].
const WINDOW: Duration = Duration::from_secs(15);

/// A **fake** host: it publishes its presence like a host kit (so the directory lists it),
/// and answers the v2alpha1 ping `answer_after` late — or never, with `None`. It stands for
/// a host whose control subscription is slow (overloaded, paused).
async fn fake_slow_host(lattice: &Lattice, id: &str, answer_after: Option<Duration>) {
    let nats = within(async_nats::connect(lattice.local.url()))
        .await
        .unwrap();
    let host_id: HostId = id.parse().unwrap();
    let mut pings = within(
        nats.subscribe(
            CtlSubject::HostPing {
                lattice: lattice.lattice.clone(),
            }
            .to_string(),
        ),
    )
    .await
    .unwrap();
    let presence = HostPresence::new(
        host_id.clone(),
        lattice.lattice.clone(),
        PresenceState::Alive,
        30_000,
    );
    within(nats.publish(presence.subject().to_string(), presence.encode().unwrap()))
        .await
        .unwrap();
    within(nats.flush()).await.unwrap();
    let summary = HostSummary::new(host_id, lattice.lattice.clone());
    tokio::spawn(async move {
        while let Some(ping) = pings.next().await {
            let (Some(after), Some(reply)) = (answer_after, ping.reply) else {
                continue;
            };
            let nats = nats.clone();
            let answer: HostSummaryReply = Reply::ok(summary.clone());
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                let _ = nats.publish(reply, answer.encode().unwrap()).await;
            });
        }
    });
}

/// Waits until the directory lists `hosts` as expected (live) and `stopped` as not.
async fn directory_lists(lattice: &Lattice, hosts: &[&str], stopped: &[&str]) {
    let client = lattice.client.clone();
    let (hosts, stopped): (Vec<HostId>, Vec<HostId>) = (
        hosts.iter().map(|h| h.parse().unwrap()).collect(),
        stopped.iter().map(|h| h.parse().unwrap()).collect(),
    );
    lattice_test_support::read_until(
        "the directory listing the hosts",
        WINDOW,
        || async { client.host_directory().await.unwrap() },
        |known: &Vec<KnownHost>| {
            let expected = |id: &HostId| known.iter().any(|k| &k.host_id == id && k.is_expected());
            let gone = |id: &HostId| {
                known
                    .iter()
                    .any(|k| &k.host_id == id && k.state == PresenceState::Stopped)
            };
            hosts.iter().all(expected) && stopped.iter().all(gone)
        },
        || format!("expected live {hosts:?}, stopped {stopped:?}"),
    )
    .await;
}

fn ids(hosts: &[HostSummary]) -> Vec<String> {
    let mut ids: Vec<String> = hosts.iter().map(|h| h.host_id.to_string()).collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_discovery_waits_for_a_late_host_the_directory_lists() {
    let lattice = Lattice::start().await;
    // The first discovery creates the directory stream; it lists nobody yet.
    let first = within(lattice.client.discover(Discover::live().window(WINDOW)))
        .await
        .unwrap();
    assert_eq!(first.directory, Some(0), "{first:?}");
    assert!(first.hosts.is_empty());

    let _a = lattice.host("host-a").await;
    let _b = lattice.host("host-b").await;
    let _c = lattice.host("host-c").await;
    fake_slow_host(&lattice, "slow-host", Some(LATE)).await;
    directory_lists(&lattice, &["host-a", "host-b", "host-c", "slow-host"], &[]).await;

    let discovery = within(lattice.client.discover(Discover::live().window(WINDOW)))
        .await
        .unwrap();
    assert_eq!(
        ids(&discovery.hosts),
        ["host-a", "host-b", "host-c", "slow-host"],
        "{discovery:?}"
    );
    assert!(discovery.unanswered.is_empty(), "{discovery:?}");
    assert_eq!(discovery.directory, Some(4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listed_host_that_never_answers_is_reported_and_a_stopped_host_is_not_waited_for() {
    let lattice = Lattice::start().await;
    within(lattice.client.host_directory()).await.unwrap();
    let _a = lattice.host("host-a").await;
    let gone = lattice.host("host-gone").await;
    fake_slow_host(&lattice, "silent-host", None).await;
    directory_lists(&lattice, &["host-a", "host-gone", "silent-host"], &[]).await;
    gone.shutdown(Duration::from_secs(5)).await;
    directory_lists(&lattice, &["host-a", "silent-host"], &["host-gone"]).await;

    let window = Duration::from_millis(1_500);
    let discovery = within(lattice.client.discover(Discover::live().window(window)))
        .await
        .unwrap();
    assert_eq!(ids(&discovery.hosts), ["host-a"], "{discovery:?}");
    let silent: HostId = "silent-host".parse().unwrap();
    assert_eq!(discovery.unanswered, [silent], "{discovery:?}");

    // A caller that must not go on without it (a rollout) gets a typed, retryable error.
    let error = discovery.into_complete().unwrap_err();
    assert_eq!(error.kind(), DiscoverErrorKind::Unanswered);
    assert!(error.kind().is_retryable());
    assert!(error.to_string().contains("silent-host"), "{error}");

    // `discover_hosts` keeps its shape: the hosts that answered.
    let hosts = within(
        lattice
            .client
            .discover_hosts(Discover::live().window(window)),
    )
    .await
    .unwrap();
    assert_eq!(ids(&hosts), ["host-a"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_jetstream_discovery_goes_on_with_the_quiet_period_and_says_why() {
    let server = tokio::task::spawn_blocking(|| {
        lattice_local::NatsServer::builder()
            .jetstream(false)
            .start()
    })
    .await
    .unwrap()
    .expect("nats-server");
    let nats = within(async_nats::connect(server.url())).await.unwrap();
    let lattice: lattice_spec::LatticeName = "plain".parse().unwrap();
    let _host = within(
        lattice_host::Host::new(
            nats.clone(),
            lattice_host::HostConfig::new("host-a".parse().unwrap(), lattice.clone()),
            std::sync::Arc::new(lattice_host::RevisionEchoRuntime),
        )
        .start(),
    )
    .await
    .unwrap();
    let client = lattice_client::Client::new(nats, lattice);
    let discovery = within(client.discover(Discover::live().window(WINDOW)))
        .await
        .unwrap();
    assert_eq!(ids(&discovery.hosts), ["host-a"]);
    assert_eq!(discovery.directory, None);
    assert_eq!(
        discovery.directory_error,
        Some(lattice_client::DirectoryErrorKind::Unavailable)
    );
}
