//! A local demo lattice, running real WebAssembly.
//!
//! Starts its own nats-server (JetStream on, free loopback port), two hosts with the wasmtime
//! runtime, the in-memory key-value provider and a messaging provider, applies revision 1 of
//! the example greeter (examples/components/greeter) to both hosts, then upgrades it to
//! revision 2 — new code, a new greeting in its configuration, its key-value link moved to
//! another bucket and a new messaging link — host by host while callers invoke its `hello`
//! export over wRPC. Every answer printed was computed by the component: the greeting read
//! from `wasi:config`, the visit count from `wasi:keyvalue` through the link. It prints every
//! status transition, how many invocations each revision's code answered, how many were held
//! by a pause, and how many failed or were lost (no answer within [`CALL_DEADLINE`]): every
//! call sent is counted as exactly one of answered, failed or lost. Finally it tries a revision
//! whose new link the messaging provider refuses, and shows the previous revision still
//! serving.
//!
//! Exits non-zero if any invocation was lost or failed, or if any host does not end serving
//! revision 2.

use futures::StreamExt;
use lattice_client::{Client, Discover, StatusEvent};
use lattice_ctl::EventFilter;
use lattice_host::{HostHandle, InvokeCallError, Invoker};
use lattice_link::{LinkErrorKind, LinkRefusal};
use lattice_local::{AcceptAll, LinkCall, LocalLattice};
use lattice_runtime_wasmtime::WasmtimeRuntime;
use lattice_spec::{ComponentSpec, ComponentSpecDraft, HostId, LatticeName, LinkDraft, Revision};
use std::{
    collections::BTreeMap,
    error::Error,
    process::ExitCode,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};
use tokio::sync::watch;

type Result<T, E = Box<dyn Error + Send + Sync>> = std::result::Result<T, E>;

/// The export the callers invoke.
const GREET: &str = "lattice:greeter/greet@0.1.0";

/// A call without an answer within this deadline is counted as lost.
const CALL_DEADLINE: Duration = Duration::from_secs(5);

/// How many answers the callers collect before the upgrade starts, and after it ended.
const ANSWERS_AROUND_THE_UPGRADE: u64 = 500;

/// What became of one call the callers sent.
enum CallOutcome {
    /// The component answered `text`, to a call sent after every host reported the upgrade
    /// done or not.
    Answered { text: String, after_upgrade: bool },
    /// The call ended with an error (transport or component).
    Failed(String),
    /// No answer and no error within [`CALL_DEADLINE`].
    Lost,
}

/// Waits until the callers collected `count` answers in all, for at most 30 s.
async fn answers_reach(answered: &watch::Sender<u64>, count: u64) -> Result<()> {
    let mut answered = answered.subscribe();
    tokio::time::timeout(Duration::from_secs(30), answered.wait_for(|n| *n >= count))
        .await
        .map_err(|_| format!("the callers got fewer than {count} answers in 30 s"))??;
    Ok(())
}

/// The messaging provider: accepts every link except those whose target configuration asks
/// for a subject that is "already in use", and says what it was asked.
fn messaging_provider() -> AcceptAll {
    AcceptAll::new()
        .refusing(
            "subject",
            "payments",
            LinkRefusal {
                kind: LinkErrorKind::ResourceUnavailable,
                message: "address already in use: payments".to_owned(),
            },
        )
        .on_call(|call, answer| match (call, answer) {
            (LinkCall::Put(link), Err(refusal)) => println!(
                "  [nats-messaging] refusing link from `{}`: {}",
                link.source_id, refusal.message
            ),
            (LinkCall::Put(link), Ok(())) => println!(
                "  [nats-messaging] link put from `{}` with {:?}",
                link.source_id, link.target_config
            ),
            (LinkCall::Delete(link), _) => {
                println!("  [nats-messaging] link delete from `{}`", link.source_id);
            }
            _ => {}
        })
}

/// A revision of the greeter: the binary of `code` (v1 or v2), `greeting` in its
/// configuration, and its key-value link to `bucket`, plus whatever `build` adds.
fn greeter(
    revision: u64,
    code: &str,
    greeting: &str,
    bucket: &str,
    build: impl FnOnce(ComponentSpecDraft) -> ComponentSpecDraft,
) -> Result<ComponentSpec> {
    let artifact =
        lattice_test_support::example_component_ref(&format!("greeter/greeter-{code}.wasm"));
    let draft = ComponentSpecDraft::new("greeter", artifact)
        .revision(revision)
        .config_value("greeting", greeting)
        .link(
            LinkDraft::new("keyvalue", "wasi", "keyvalue", ["store", "atomics"])
                .target_config_value("bucket", bucket),
        );
    Ok(build(draft).validate()?)
}

async fn hello(invoker: &Invoker, name: &str) -> Result<String, InvokeCallError> {
    let (answer,) = invoker
        .invoke::<_, (String,)>(GREET, "hello", (name.to_owned(),))
        .await?;
    Ok(answer)
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("demo failed: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<bool> {
    println!("== starting a local lattice");
    let lattice: LatticeName = "demo".parse()?;
    let local = LocalLattice::builder()
        .lattice(lattice.clone())
        .host("host-a".parse()?)
        .host("host-b".parse()?)
        .configure_hosts(|config| {
            let zone = if config.host_id.as_str().ends_with('a') {
                "eu-1"
            } else {
                "eu-2"
            };
            config.label("zone", zone)
        })
        .runtime(|nats, lattice| Ok(Arc::new(WasmtimeRuntime::new(nats.clone(), lattice)?)))
        .provider("nats-messaging".parse()?, Arc::new(messaging_provider()))
        .start()
        .await?;
    println!("nats-server (JetStream on) at {}", local.url());
    let _keyvalue = lattice_provider_keyvalue::start(
        local.connect("demo keyvalue").await?,
        &lattice,
        &"keyvalue".parse()?,
    )
    .await
    .map_err(|e| format!("the keyvalue provider: {e:#}"))?;
    println!("provider keyvalue (in-memory wasi:keyvalue over wRPC) serving");
    println!("provider nats-messaging serving");
    let hosts = local.hosts();
    let nats = local.nats().clone();
    let client = local.client().clone();
    for summary in client.discover_hosts(Discover::expecting(2)).await? {
        println!(
            "host {} labels {:?} speaks {:?}",
            summary.host_id, summary.labels, summary.api_versions
        );
    }

    let mut events = client.events(&EventFilter::all(&lattice)).await?;
    tokio::spawn(async move {
        while let Some(event) = events.next().await {
            match event {
                Ok(StatusEvent::Component(e)) => println!(
                    "  event #{:<3} {} {}@{}: {} -> {}{}",
                    e.origin.sequence,
                    e.origin.host_id,
                    e.component_id,
                    e.revision,
                    e.previous.map_or("-".to_owned(), |p| p.to_string()),
                    e.status.state,
                    e.status
                        .reason
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                ),
                Ok(StatusEvent::Link(e)) => println!(
                    "  event #{:<3} {} link {}:{} -> {}: {}",
                    e.origin.sequence,
                    e.origin.host_id,
                    e.wit_namespace,
                    e.wit_package,
                    e.target,
                    e.status.state
                ),
                _ => {}
            }
        }
    });

    let v1 = greeter(1, "v1", "Hello", "visits", |d| d)?;
    let v2 = greeter(2, "v2", "Bonjour", "visits-2", |d| {
        d.link(
            LinkDraft::new("nats-messaging", "wasmcloud", "messaging", ["consumer"])
                .target_config_value("subject", "orders"),
        )
    })?;
    let v3 = greeter(3, "v2", "Hallo", "visits-2", |d| {
        d.link(
            LinkDraft::new("nats-messaging", "wasmcloud", "messaging", ["consumer"])
                .target_config_value("subject", "payments"),
        )
    })?;
    let host_ids: Vec<HostId> = hosts.iter().map(|h| h.host_id().clone()).collect();

    println!("\n== revision 1 on both hosts");
    for host_id in &host_ids {
        let report = client
            .apply_and_wait(host_id, &v1, Duration::from_secs(10))
            .await?;
        println!(
            "{host_id}: {} in {:?} via {:?}",
            report.status.state, report.elapsed, report.transitions
        );
    }

    let first = Invoker::new(nats.clone(), &lattice, v1.id()).await?;
    println!("greeter says: {}", hello(&first, "Ada").await?);
    println!("greeter says: {}", hello(&first, "Grace").await?);

    println!(
        "\n== revision 2 (new code, greeting, key-value bucket, new messaging link), host by host, under load"
    );
    let (stop, upgrade_done) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let answered_so_far = Arc::new(watch::channel(0u64).0);
    let mut callers = Vec::new();
    for caller in 0..4 {
        let invoker = Invoker::new(nats.clone(), &lattice, v1.id())
            .await?
            .with_timeout(CALL_DEADLINE);
        let (stop, answered_so_far) = (stop.clone(), answered_so_far.clone());
        let upgrade_done = upgrade_done.clone();
        callers.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let after_upgrade = upgrade_done.load(Ordering::SeqCst);
                outcomes.push(match hello(&invoker, &format!("caller {caller}")).await {
                    Ok(text) => {
                        answered_so_far.send_modify(|n| *n += 1);
                        CallOutcome::Answered {
                            text,
                            after_upgrade,
                        }
                    }
                    Err(InvokeCallError::TimedOut(_)) => CallOutcome::Lost,
                    Err(error) => CallOutcome::Failed(error.to_string()),
                });
            }
            outcomes
        }));
    }
    let started = Instant::now();
    // Traffic before the upgrade …
    answers_reach(&answered_so_far, ANSWERS_AROUND_THE_UPGRADE).await?;
    for host_id in &host_ids {
        let report = client
            .apply_and_wait(host_id, &v2, Duration::from_secs(10))
            .await?;
        println!(
            "{host_id}: {} in {:?} via {:?}",
            report.status.state, report.elapsed, report.transitions
        );
    }
    upgrade_done.store(true, Ordering::SeqCst);
    // … and after it.
    let after = *answered_so_far.borrow() + ANSWERS_AROUND_THE_UPGRADE;
    answers_reach(&answered_so_far, after).await?;
    stop.store(true, Ordering::Relaxed);

    let mut by_revision: BTreeMap<String, u64> = BTreeMap::new();
    let mut samples: BTreeMap<String, String> = BTreeMap::new();
    let (mut sent, mut failed, mut lost) = (0u64, 0u64, 0u64);
    let mut stale = Vec::new();
    for caller in callers {
        for outcome in caller.await? {
            sent += 1;
            match outcome {
                CallOutcome::Answered {
                    text,
                    after_upgrade,
                } => {
                    // Each revision's code signs its answers: "(greeter v1)" or "(greeter v2)".
                    let code = text
                        .rsplit_once("(greeter ")
                        .and_then(|(_, rest)| rest.strip_suffix(')'))
                        .unwrap_or("?")
                        .to_owned();
                    *by_revision.entry(code.clone()).or_default() += 1;
                    if after_upgrade && code != "v2" {
                        stale.push(text.clone());
                    }
                    samples.entry(code).or_insert(text);
                }
                CallOutcome::Failed(error) => {
                    failed += 1;
                    eprintln!("  invocation failed: {error}");
                }
                CallOutcome::Lost => {
                    lost += 1;
                    eprintln!("  invocation lost: no answer within {CALL_DEADLINE:?}");
                }
            }
        }
    }
    let elapsed = started.elapsed();
    println!("\n== invocations during the upgrade");
    println!(
        "sent {sent} in {elapsed:.2?} ({:.0}/s)",
        sent as f64 / elapsed.as_secs_f64()
    );
    for (code, count) in &by_revision {
        println!(
            "  greeter {code} code answered {count}, e.g. {:?}",
            samples[code]
        );
    }
    let answered: u64 = by_revision.values().sum();
    println!("  failed: {failed}");
    println!("  lost (no answer within {CALL_DEADLINE:?}): {lost}");
    // The hosts' own count: the two greetings before the load, then one per answered call.
    // A host counts a call just after its answer left, so the last ones may still land.
    let expected = 2 + answered;
    let served = served_reaches(hosts, v1.id(), expected).await;
    println!(
        "  the hosts served {served} calls; {expected} were answered (2 greetings, {answered} under load)"
    );
    for host in hosts {
        let (served, held) = host.invocation_counters(v1.id()).unwrap_or_default();
        println!(
            "  {} paused invocations for {:?}; served {served}, {held} held by the pause",
            host.host_id(),
            host.last_pause_window(v1.id()).unwrap_or_default()
        );
    }
    // A call sent once every host reported revision 2 running is answered by its code.
    println!(
        "  answered by older code though sent after the upgrade: {}",
        stale.len()
    );
    for text in stale.iter().take(3) {
        println!("    e.g. {text:?}");
    }
    let upgraded =
        serves_everywhere(&client, &host_ids, v2.id(), v2.revision()).await? && stale.is_empty();

    println!("\n== revision 3: the messaging provider refuses the new subject");
    match client
        .apply_and_wait(&host_ids[0], &v3, Duration::from_secs(10))
        .await
    {
        Ok(report) => println!("unexpectedly {}", report.status.state),
        Err(error) => println!("{error}"),
    }
    let still = hello(&first, "Ada").await?;
    println!("still serving: {still}");
    let kept = serves_everywhere(&client, &host_ids, v2.id(), v2.revision()).await?
        && still.ends_with("(greeter v2)");
    println!(
        "\nThe lattice shuts down with the demo; it wrote nothing to disk but nats-server's temporary store."
    );
    Ok(failed == 0 && lost == 0 && served == expected && upgraded && kept)
}

/// How many calls of `component` the hosts served, once that reaches `expected` or after 5 s.
async fn served_reaches(
    hosts: &[HostHandle],
    component: &lattice_spec::ComponentId,
    expected: u64,
) -> u64 {
    let served = || -> u64 {
        hosts
            .iter()
            .filter_map(|host| host.invocation_counters(component))
            .map(|(served, _)| served)
            .sum()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while served() < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await; // a poll interval, not a wait
    }
    served()
}

/// Whether every host in `host_ids` serves `revision` of `component`, running; says which
/// does not.
async fn serves_everywhere(
    client: &Client,
    host_ids: &[HostId],
    component: &lattice_spec::ComponentId,
    revision: Revision,
) -> Result<bool> {
    let mut everywhere = true;
    for host_id in host_ids {
        let inventory = client.inventory(host_id).await?;
        let serving = inventory
            .component(component)
            .and_then(|entry| entry.serving.as_ref());
        match serving {
            Some(serving) if serving.revision == revision && serving.status.state.is_serving() => {
                println!("  {host_id} serves {component}@{revision}");
            }
            other => {
                println!(
                    "  {host_id} does not serve {component}@{revision}: {:?}",
                    other.map(|s| (s.revision, s.status.state))
                );
                everywhere = false;
            }
        }
    }
    Ok(everywhere)
}
