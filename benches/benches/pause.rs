//! The pause window of an upgrade that changes four links, with **silent** providers next to
//! the same with **answering** providers, reply timeout 2 s (the host's default).
//!
//! Everything is real: the bench's own `nats-server`, one `lattice-host` host (the
//! `RevisionEchoRuntime` stand-in executes the component: nothing here depends on what runs
//! inside), real component binaries on disk, the typed `lattice-client`, and wRPC invocations
//! from callers looping throughout each series.
//!
//! - **Answering**: four `lattice-provider` providers (an `AcceptAll` handler) serving on this
//!   host's host-scoped subjects, as wasmCloud runs one instance per host.
//! - **Silent**: for each of the four provider ids, a real NATS subscriber on
//!   `wasmbus.rpc.bench.{provider}.linkdefs.>` (lattice-wide and host-scoped subjects) that
//!   receives every link request and never answers — what a wasmCloud 1.x provider, or one
//!   built with an SDK that predates link replies, is to the host. Not "no subscriber at all":
//!   then every request is answered at once by the server with "no responders" and the link
//!   is *refused* (`resource_unavailable`), which measures a failing upgrade, not a silent
//!   provider.
//!
//! Every revision changes the artifact and the target configuration of all four links, so all
//! four are replaced (old link deleted, new one put) while invocations are paused. The figure
//! is `HostHandle::last_pause_window` after each upgrade. The host replaces the links
//! concurrently and bounds each replacement by one reply timeout as a whole, so the silent
//! pause should be about one timeout (it was about two before: a delete and a put, each
//! waiting out the timeout).
//!
//! Asserted (correctness, not speed; a failed check ends the bench before it writes a report):
//! every upgrade ends `running` on the new revision, no invocation failed, at least one
//! invocation was held by a pause (the callers overlapped the upgrades), no caller saw an
//! older revision after a newer one, and the host served every invocation answered. Reported, not asserted: the pause distribution per series and
//! whether the silent pause stayed within one timeout + [`MARGIN`].
//!
//! Writes `benches/report/pause.json`.

use lattice_benches::{Distribution, Run};
use lattice_client::Client;
use lattice_host::{HostHandle, Invoker};
use lattice_local::{AcceptAll, LocalLattice};
use lattice_spec::{ComponentId, ComponentSpec, ComponentSpecDraft, HostId, LinkDraft};
use lattice_status::ComponentState;
use serde_json::json;
use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

/// The host's link reply timeout (its default).
const REPLY_TIMEOUT: Duration = Duration::from_secs(2);
/// What the report allows on top of one timeout for the silent pause: draining, the swap, and
/// the requests' way out.
const MARGIN: Duration = Duration::from_millis(250);
/// Upgrades per series: few with silent providers, each costs about one timeout.
const SILENT_UPGRADES: u64 = 4;
const ANSWERING_UPGRADES: u64 = 30;
/// Callers looping on an invocation throughout each series.
const CALLERS: usize = 2;
/// How long each apply may take (a first revision with four silent links waits for each).
const DEADLINE: Duration = Duration::from_secs(60);

/// The four links: provider id, WIT namespace, package, interface, the import that needs it.
const LINKS: [(&str, &str, &str, &str, &str); 4] = [
    (
        "kv",
        "wasi",
        "keyvalue",
        "store",
        "wasi:keyvalue/store@0.2.0-draft",
    ),
    (
        "blobs",
        "wasi",
        "blobstore",
        "blobstore",
        "wasi:blobstore/blobstore@0.2.0",
    ),
    (
        "messaging",
        "wasmcloud",
        "messaging",
        "consumer",
        "wasmcloud:messaging/consumer@0.2.0",
    ),
    (
        "http-client",
        "wasi",
        "http",
        "outgoing-handler",
        "wasi:http/outgoing-handler@0.2.0",
    ),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Providers {
    Answering,
    Silent,
}

impl Providers {
    fn label(self) -> &'static str {
        match self {
            Self::Answering => "answering providers",
            Self::Silent => "silent providers",
        }
    }
}

struct Bench {
    local: LocalLattice,
    client: Client,
    host_id: HostId,
    component: ComponentId,
    dir: tempfile::TempDir,
    /// Link requests the silent subscribers received (and never answered).
    unanswered: Arc<AtomicU64>,
    silent: Vec<tokio::task::JoinHandle<()>>,
}

impl Bench {
    async fn start(providers: Providers) -> Self {
        let host_id: HostId = "host-a".parse().expect("host id");
        let mut builder = LocalLattice::builder()
            .lattice("bench".parse().expect("lattice name"))
            .host(host_id.clone())
            .configure_hosts(|config| config.link_reply_timeout(REPLY_TIMEOUT));
        if providers == Providers::Answering {
            for (id, ..) in LINKS {
                builder = builder.provider_on_host(
                    id.parse().expect("provider id"),
                    host_id.clone(),
                    Arc::new(AcceptAll::new()),
                );
            }
        }
        let local = builder
            .start()
            .await
            .expect("the lattice starts (is nats-server on PATH?)");
        let unanswered = Arc::new(AtomicU64::new(0));
        let mut silent = Vec::new();
        if providers == Providers::Silent {
            let nats = local.connect("silent providers").await.expect("connects");
            for (id, ..) in LINKS {
                let mut requests = nats
                    .subscribe(format!("wasmbus.rpc.bench.{id}.linkdefs.>"))
                    .await
                    .expect("subscribes");
                let unanswered = unanswered.clone();
                silent.push(tokio::spawn(async move {
                    while futures::StreamExt::next(&mut requests).await.is_some() {
                        unanswered.fetch_add(1, Ordering::Relaxed);
                    }
                }));
            }
            nats.flush().await.expect("subscriptions are live");
        }
        Self {
            client: local.client().clone(),
            host_id,
            component: "web".parse().expect("component id"),
            dir: tempfile::tempdir().expect("temp dir"),
            unanswered,
            silent,
            local,
        }
    }

    fn host(&self) -> &HostHandle {
        &self.local.hosts()[0]
    }

    /// Revision `revision`: a distinct artifact importing the four linked interfaces, and a
    /// new target configuration for every link.
    fn spec(&self, revision: u64) -> ComponentSpec {
        let imports: Vec<&str> = LINKS.iter().map(|l| l.4).collect();
        let export = format!("acme:bench/rev{revision}");
        let bytes = lattice_artifact::testing::component(&imports, &[export.as_str()]);
        let path = self.dir.path().join(format!("web-{revision}.wasm"));
        std::fs::write(&path, bytes).expect("write artifact");
        let mut draft =
            ComponentSpecDraft::new("web", format!("file://{}", path.display())).revision(revision);
        for (target, namespace, package, interface, _) in LINKS {
            draft = draft.link(
                LinkDraft::new(target, namespace, package, [interface])
                    .target_config_value("setting", format!("{target}-{revision}")),
            );
        }
        draft.validate().expect("bench spec is valid")
    }

    async fn apply(&self, spec: &ComponentSpec) -> Duration {
        let report = self
            .client
            .apply_and_wait(&self.host_id, spec, DEADLINE)
            .await
            .expect("the upgrade succeeds");
        assert_eq!(report.status.state, ComponentState::Running, "{report:?}");
        report.elapsed
    }
}

/// Callers looping on an invocation; what they saw.
#[derive(Default)]
struct CallerStats {
    answered: u64,
    failed: u64,
    went_back: u64,
    first_error: Option<String>,
}

/// The revision in an echo answer: `hello from web@{revision}: {payload}`.
fn revision_of(answer: &str) -> u64 {
    answer
        .split_once('@')
        .and_then(|(_, rest)| rest.split_once(':'))
        .and_then(|(revision, _)| revision.parse().ok())
        .unwrap_or_else(|| panic!("not an echo answer: {answer}"))
}

async fn series(bench: &Bench, providers: Providers, upgrades: u64) -> serde_json::Value {
    bench.apply(&bench.spec(1)).await;
    let stop = Arc::new(AtomicBool::new(false));
    let mut callers = Vec::new();
    for caller in 0..CALLERS {
        let nats = bench
            .local
            .connect(&format!("caller {caller}"))
            .await
            .expect("connects");
        let invoker = Invoker::new(nats, bench.local.lattice(), &bench.component)
            .await
            .expect("invoker");
        let stop = stop.clone();
        callers.push(tokio::spawn(async move {
            let (mut stats, mut last) = (CallerStats::default(), 0);
            while !stop.load(Ordering::Relaxed) {
                match invoker.call(format!("{caller}")).await {
                    Ok(answer) => {
                        stats.answered += 1;
                        let revision = revision_of(&answer);
                        if revision < last {
                            stats.went_back += 1;
                        }
                        last = last.max(revision);
                    }
                    Err(error) => {
                        stats.failed += 1;
                        stats.first_error.get_or_insert_with(|| error.to_string());
                    }
                }
            }
            stats
        }));
    }

    let (_, held_before) = bench
        .host()
        .invocation_counters(&bench.component)
        .expect("counters");
    let (mut pauses, mut elapsed) = (Vec::new(), Vec::new());
    for revision in 2..=upgrades + 1 {
        elapsed.push(bench.apply(&bench.spec(revision)).await);
        pauses.push(
            bench
                .host()
                .last_pause_window(&bench.component)
                .expect("the upgrade paused"),
        );
    }
    stop.store(true, Ordering::Relaxed);
    let mut total = CallerStats::default();
    for caller in callers {
        let stats = caller.await.expect("caller");
        total.answered += stats.answered;
        total.failed += stats.failed;
        total.went_back += stats.went_back;
        total.first_error = total.first_error.or(stats.first_error);
    }
    assert_eq!(
        total.failed,
        0,
        "{}: invocations failed: {:?}",
        providers.label(),
        total.first_error
    );
    assert_eq!(total.went_back, 0, "a caller saw an older revision");
    let (served, held_after) = bench
        .host()
        .invocation_counters(&bench.component)
        .expect("counters");
    let held = held_after - held_before;
    assert!(
        served >= total.answered,
        "served {served} < answered {}",
        total.answered
    );
    assert!(
        held >= 1,
        "{}: no invocation was held by a pause: the callers did not overlap the upgrades",
        providers.label()
    );
    assert!(
        bench
            .host()
            .inventory()
            .component(&bench.component)
            .expect("entry")
            .is_serving((upgrades + 1).into()),
        "the last revision serves"
    );
    if providers == Providers::Silent {
        // v1's four puts, then per upgrade four deletes and four puts, none answered.
        assert_eq!(
            bench.unanswered.load(Ordering::Relaxed),
            4 + 8 * upgrades,
            "every link request reached a silent provider"
        );
    }

    let pause = Distribution::of(&pauses).expect("samples");
    let max = pauses.iter().max().copied().unwrap_or_default();
    println!(
        "  {:<20} {:>3} upgrades  pause µs: p50 {:>9.0}  max {:>9.0}  (timeout {:?}; max / timeout {:.3})  invocations: {} answered, 0 failed, {held} held",
        providers.label(),
        upgrades,
        pause.p50_us,
        pause.max_us,
        REPLY_TIMEOUT,
        max.as_secs_f64() / REPLY_TIMEOUT.as_secs_f64(),
        total.answered,
    );
    json!({
        "providers": providers.label(),
        "upgrades": upgrades,
        "pause": pause,
        "max_pause_over_reply_timeout": max.as_secs_f64() / REPLY_TIMEOUT.as_secs_f64(),
        "max_pause_within_one_timeout_plus_margin": max <= REPLY_TIMEOUT + MARGIN,
        "apply_and_wait": Distribution::of(&elapsed),
        "invocations": {
            "callers": CALLERS,
            "answered": total.answered,
            "failed": total.failed,
            "went_back_to_an_older_revision": total.went_back,
            "held_by_a_pause": held,
        },
    })
}

fn main() {
    let run = Run::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    println!(
        "pause: upgrades replacing 4 changed links, link reply timeout {REPLY_TIMEOUT:?} (1 host, own nats-server, {CALLERS} callers looping)"
    );
    let mut results = Vec::new();
    for (providers, upgrades) in [
        (Providers::Answering, ANSWERING_UPGRADES),
        (Providers::Silent, SILENT_UPGRADES),
    ] {
        let bench = runtime.block_on(Bench::start(providers));
        results.push(runtime.block_on(series(&bench, providers, upgrades)));
        runtime.block_on(async move {
            for task in &bench.silent {
                task.abort();
            }
            drop(bench);
        });
    }
    let mut extra = serde_json::Map::new();
    extra.insert(
        "pause_window".to_owned(),
        json!({
            "unit": "us",
            "what": "HostHandle::last_pause_window after each apply_and_wait; every revision changes the artifact and the target configuration of all 4 links",
            "links_changed_per_upgrade": LINKS.len(),
            "reply_timeout_ms": REPLY_TIMEOUT.as_millis(),
            "margin_ms": MARGIN.as_millis(),
            "silent": "a real NATS subscriber per provider id on wasmbus.rpc.bench.{provider}.linkdefs.> that never answers (as a 1.x provider); not an absent subscriber, which the server answers with no responders (a refused link)",
            "series": results,
        }),
    );
    run.finish("pause", &[], extra);
}
