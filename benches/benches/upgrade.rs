//! Upgrading a component with four links on a real lattice: how long invocations are paused,
//! and what the typed client's round trip costs over raw async-nats.
//!
//! Everything is real: the bench's own `nats-server`, one `lattice-host` host, four
//! `lattice-provider` providers (a handler that accepts every link and notes when each request
//! arrived), real component binaries on disk, the typed `lattice-client` and wRPC invocations.
//!
//! 1. **Pause window** (not a criterion benchmark: it is a distribution of a duration the host
//!    measures itself, `HostHandle::last_pause_window`). A component with four links
//!    (`wasi:keyvalue`, `wasi:blobstore`, `wasmcloud:messaging`, `wasi:http` outgoing) is
//!    upgraded many times; every revision changes the artifact and the target configuration of
//!    all four links, so all four are re-put while invocations are paused. Reported: p50, p90,
//!    p99, max and mean in microseconds.
//!
//!    *Baseline, the physical floor:* the provider round trips the pause has to contain,
//!    measured right after each upgrade in the same conditions — the identical
//!    `LinkDeleteRequest` and `LinkPutRequest` bytes (the host deletes a changed link before
//!    putting it again) sent as plain `async_nats::Client::request`s to the same provider
//!    subjects, answered by the same providers, **the way the host sends them**: the four
//!    links concurrently, each link's delete then its put. The report gives pause / floor
//!    (p50 over p50, p99 over p99, and the median of each upgrade's own ratio): what the host
//!    adds over the link traffic it cannot avoid. The providers' arrival times split the pause
//!    into the part between the first link request and the last (link traffic) and the rest.
//!
//!    The upgrades run twice: idle, then under invocation load (callers looping on an
//!    invocation over their own connection), reporting how many invocations were served
//!    and held by a pause. Asserted (a failed check ends the bench before it writes a
//!    report): no invocation failed, at least one was held by a pause (the load overlapped
//!    the upgrades), and no caller saw an older revision after a newer one.
//!
//!    Both series run on two hosts in the same run: one with the `RevisionEchoRuntime`
//!    stand-in (nothing executes; the answer names the revision), one with the wasmtime
//!    runtime executing `examples/components/faulty/unruly.wasm` (its `hello` export; each
//!    revision's artifact is that component with a custom section naming the revision, so
//!    every upgrade compiles a new artifact, before the pause).
//! 2. **Client round trip** (criterion): `Client::inventory` against a raw
//!    `async_nats::Client::request` of the identical bytes (`HostInventoryRequest::new()`) to
//!    the identical subject over the same connection. The typed call also decodes the reply
//!    into `HostInventory` (the component with its four links); the raw one does not decode, so
//!    the difference is what the client adds: encoding, decoding, error mapping, its span and
//!    trace headers. A third function, raw + the same decode, splits that difference. Since
//!    criterion measures one function after the other and a loopback round trip on a small
//!    machine drifts between runs, the three are also alternated in one loop and reported as
//!    distributions.
//!
//! Writes `benches/report/upgrade.json`: `entries` (criterion pairs, ns/iteration),
//! `pause_window` (the two series, in microseconds) and `inventory_round_trip_interleaved`.

use criterion::Criterion;
use futures::future::join_all;
use lattice_benches::{Comparison, Distribution, Run};
use lattice_client::Client;
use lattice_ctl::{CtlSubject, HostInventoryReply, HostInventoryRequest};
use lattice_host::{HostHandle, Invoker, RevisionEchoRuntime};
use lattice_link::{
    LinkDeleteRequest, LinkPutRequest, LinkResponse, ProviderOperation, ProviderSubject,
};
use lattice_local::{AcceptAll, LinkCall, LocalLattice};
use lattice_runtime_wasmtime::WasmtimeRuntime;
use lattice_spec::{
    ComponentId, ComponentSpec, ComponentSpecDraft, HostId, LatticeName, LinkDraft, WireMessage,
};
use lattice_status::ComponentState;
use serde_json::json;
use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

/// Upgrades per series (after the warm-up).
const UPGRADES: u64 = 200;
/// Upgrades run before the first series and not recorded.
const WARM_UP: u64 = 10;
/// Callers looping on `Invoker::call` in the loaded series.
const CALLERS: usize = 4;
/// Rounds of the interleaved inventory measurement (three requests each).
const INTERLEAVED_ROUNDS: usize = 3000;
/// How long each apply may take.
const DEADLINE: Duration = Duration::from_secs(10);

/// The four links: provider id, WIT namespace, package, interface, the import that needs the
/// link, and the target configuration key every revision changes.
const LINKS: [(&str, &str, &str, &str, &str, &str); 4] = [
    (
        "kv",
        "wasi",
        "keyvalue",
        "store",
        "wasi:keyvalue/store@0.2.0-draft",
        "url",
    ),
    (
        "blobs",
        "wasi",
        "blobstore",
        "blobstore",
        "wasi:blobstore/blobstore@0.2.0",
        "container",
    ),
    (
        "messaging",
        "wasmcloud",
        "messaging",
        "consumer",
        "wasmcloud:messaging/consumer@0.2.0",
        "subscriptions",
    ),
    (
        "http-client",
        "wasi",
        "http",
        "outgoing-handler",
        "wasi:http/outgoing-handler@0.2.0",
        "base_url",
    ),
];

/// What executes the component.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Runtime {
    /// `RevisionEchoRuntime`: nothing executes.
    Echo,
    /// The wasmtime runtime executing a real component.
    Wasmtime,
}

impl Runtime {
    fn label(self) -> &'static str {
        match self {
            Self::Echo => "echo stand-in",
            Self::Wasmtime => "wasmtime",
        }
    }
}

/// The export the wasmtime series invokes.
const GREET: &str = "lattice:greeter/greet@0.1.0";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Put,
    Delete,
}

/// When each link request reached a provider's [`AcceptAll`] handler.
#[derive(Default)]
struct Arrivals(Mutex<Vec<(Instant, Op)>>);

impl Arrivals {
    fn note(&self, call: &LinkCall) {
        let now = Instant::now();
        let op = match call {
            LinkCall::Delete(_) => Op::Delete,
            _ => Op::Put,
        };
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((now, op));
    }

    fn take(&self) -> Vec<(Instant, Op)> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// A lattice of one host and four providers on the bench's own nats-server.
struct Lattice {
    local: LocalLattice,
    runtime: Runtime,
    /// Per provider, when its link requests arrived.
    providers: Vec<Arc<Arrivals>>,
    /// The bench's connection: the typed client and every raw request use it.
    nats: async_nats::Client,
    client: Client,
    lattice: LatticeName,
    host_id: HostId,
    component: ComponentId,
    dir: tempfile::TempDir,
}

impl Lattice {
    async fn start(runtime: Runtime) -> Self {
        let host_id: HostId = "host-a".parse().expect("host id");
        let mut local = LocalLattice::builder()
            .lattice("bench".parse().expect("lattice name"))
            .host(host_id.clone())
            .configure_hosts(|config| config.link_reply_timeout(Duration::from_secs(2)))
            .runtime(move |nats, lattice| {
                Ok(match runtime {
                    Runtime::Echo => Arc::new(RevisionEchoRuntime),
                    Runtime::Wasmtime => Arc::new(WasmtimeRuntime::new(nats.clone(), lattice)?),
                })
            });
        let mut providers = Vec::new();
        for (id, ..) in LINKS {
            let arrivals = Arc::new(Arrivals::default());
            let noted = arrivals.clone();
            let handler = AcceptAll::new().on_call(move |call, _| noted.note(call));
            // The provider's instance on this host, as wasmCloud runs one per host: the host's
            // link requests reach it on its host-scoped subject at the first try.
            local = local.provider_on_host(
                id.parse().expect("provider id"),
                host_id.clone(),
                Arc::new(handler),
            );
            providers.push(arrivals);
        }
        let local = local
            .start()
            .await
            .expect("the lattice starts (is nats-server on PATH?)");
        Self {
            runtime,
            providers,
            client: local.client().clone(),
            nats: local.nats().clone(),
            lattice: local.lattice().clone(),
            host_id,
            component: "web".parse().expect("component id"),
            dir: tempfile::tempdir().expect("temp dir"),
            local,
        }
    }

    /// The bench's one host.
    fn host(&self) -> &HostHandle {
        &self.local.hosts()[0]
    }

    /// Revision `revision`: a distinct artifact (its export names the revision) importing the
    /// four linked interfaces, and a new target configuration for every link.
    fn spec(&self, revision: u64) -> ComponentSpec {
        let bytes = match self.runtime {
            Runtime::Echo => {
                let imports: Vec<&str> = LINKS.iter().map(|l| l.4).collect();
                let export = format!("acme:bench/rev{revision}");
                lattice_artifact::testing::component(&imports, &[export.as_str()])
            }
            Runtime::Wasmtime => with_custom_section(
                &std::fs::read(lattice_test_support::example_component(
                    "faulty/unruly.wasm",
                ))
                .expect("the example component"),
                &format!("revision {revision}"),
            ),
        };
        let path = self.dir.path().join(format!("web-{revision}.wasm"));
        std::fs::write(&path, bytes).expect("write artifact");
        let mut draft = ComponentSpecDraft::new("web", format!("file://{}", path.display()))
            .revision(revision)
            .config_value("greeting", "hello");
        for (target, namespace, package, interface, _, key) in LINKS {
            draft = draft.link(
                LinkDraft::new(target, namespace, package, [interface])
                    .target_config_value(key, format!("{target}-value-{revision}")),
            );
        }
        draft.validate().expect("bench spec is valid")
    }

    async fn apply(&self, spec: &ComponentSpec) -> Duration {
        let report = self
            .client
            .apply_and_wait(&self.host_id, spec, DEADLINE)
            .await
            .expect("upgrade succeeds");
        assert_eq!(report.status.state, ComponentState::Running, "{report:?}");
        report.elapsed
    }

    /// The raw link requests of `spec`, per link: (delete subject, delete bytes, put subject,
    /// put bytes) — the bytes the host sends (no named configuration, so the resolved
    /// configuration is the inline one).
    fn raw_link_requests(&self, spec: &ComponentSpec) -> Vec<[(String, bytes::Bytes); 2]> {
        spec.links()
            .iter()
            .map(|link| {
                let subject = |op| {
                    let provider = link.provider().expect("the bench links to providers");
                    ProviderSubject::new(self.lattice.clone(), provider, op)
                        .on_host(self.host_id.clone())
                        .to_string()
                };
                let delete = LinkDeleteRequest::new(&self.component, link)
                    .from_host(self.host_id.clone())
                    .encode()
                    .expect("encodes");
                let put = LinkPutRequest::new(
                    &self.component,
                    link,
                    link.source_config().values().clone(),
                    link.target_config().values().clone(),
                )
                .from_host(self.host_id.clone())
                .encode()
                .expect("encodes");
                [
                    (subject(ProviderOperation::LinkDelete), delete),
                    (subject(ProviderOperation::LinkPut), put),
                ]
            })
            .collect()
    }

    /// One raw request: how long its reply took, and the reply (checked by the caller, outside
    /// the timed part).
    async fn raw_request(&self, subject: &str, payload: bytes::Bytes) -> (Duration, bytes::Bytes) {
        let started = Instant::now();
        let reply = self
            .nats
            .request(subject.to_owned(), payload)
            .await
            .expect("provider answers");
        (started.elapsed(), reply.payload)
    }

    /// The baseline of one upgrade: the raw link requests of `spec` sent the way the host
    /// sends them — the links concurrently, each link's delete then its put — so that it is
    /// the physical floor of the pause. Returns the whole time and each delete's and put's
    /// round trip; every reply is checked to be an acceptance after the clock stopped.
    async fn raw_link_requests_as_the_host_sends_them(
        &self,
        spec: &ComponentSpec,
    ) -> (Duration, Vec<(Duration, Duration)>) {
        let requests = self.raw_link_requests(spec);
        let started = Instant::now();
        let replies = join_all(requests.into_iter().map(
            |[(delete_subject, delete), (put_subject, put)]| async move {
                let delete = self.raw_request(&delete_subject, delete).await;
                let put = self.raw_request(&put_subject, put).await;
                (delete, put)
            },
        ))
        .await;
        let elapsed = started.elapsed();
        let mut round_trips = Vec::new();
        for ((delete, delete_reply), (put, put_reply)) in replies {
            for reply in [delete_reply, put_reply] {
                assert!(
                    LinkResponse::decode(&reply)
                        .expect("a LinkResponse")
                        .is_accepted(),
                    "the provider accepted the raw request"
                );
            }
            round_trips.push((delete, put));
        }
        (elapsed, round_trips)
    }
}

/// `component` with a custom section holding `note` appended: other bytes, the same code.
fn with_custom_section(component: &[u8], note: &str) -> Vec<u8> {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            out.push(if n == 0 { byte } else { byte | 0x80 });
            if n == 0 {
                break;
            }
        }
    }
    let name = b"lattice-bench";
    let mut payload = Vec::new();
    leb(name.len(), &mut payload);
    payload.extend_from_slice(name);
    payload.extend_from_slice(note.as_bytes());
    let mut out = component.to_vec();
    out.push(0); // custom section
    leb(payload.len(), &mut out);
    out.extend_from_slice(&payload);
    out
}

/// What one caller of the load saw.
#[derive(Default)]
struct CallerStats {
    ok: u64,
    failed: u64,
    first_error: Option<String>,
    went_back: u64,
    latencies: Vec<Duration>,
}

/// Parses the revision out of a `RevisionEchoRuntime` answer (`hello from web@7: …`).
fn revision_of(answer: &str) -> u64 {
    answer
        .split_once('@')
        .and_then(|(_, rest)| rest.split(':').next())
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

struct Load {
    stop: Arc<AtomicBool>,
    callers: Vec<tokio::task::JoinHandle<CallerStats>>,
    started: Instant,
}

impl Load {
    /// Starts `CALLERS` callers on a connection of their own.
    async fn start(lattice: &Lattice) -> Self {
        let nats = lattice.local.connect("callers").await.expect("connect");
        let stop = Arc::new(AtomicBool::new(false));
        let mut callers = Vec::new();
        for caller in 0..CALLERS {
            let invoker = Invoker::new(nats.clone(), &lattice.lattice, &lattice.component)
                .await
                .expect("invoker");
            let stop = stop.clone();
            let runtime = lattice.runtime;
            callers.push(tokio::spawn(async move {
                let mut stats = CallerStats::default();
                let mut last = 0;
                let mut sent = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    sent += 1;
                    let started = Instant::now();
                    let name = format!("{caller}-{sent}");
                    let answer = match runtime {
                        Runtime::Echo => invoker.call(name).await,
                        Runtime::Wasmtime => invoker
                            .invoke::<_, (String,)>(GREET, "hello", (name,))
                            .await
                            .map(|(answer,)| answer),
                    };
                    match answer {
                        Ok(answer) => {
                            stats.latencies.push(started.elapsed());
                            stats.ok += 1;
                            // Only the echo stand-in names the revision in its answer.
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
        Self {
            stop,
            callers,
            started: Instant::now(),
        }
    }

    async fn stop(self) -> serde_json::Value {
        self.stop.store(true, Ordering::Relaxed);
        let elapsed = self.started.elapsed();
        let (mut ok, mut failed, mut went_back, mut latencies, mut first_error) =
            (0, 0, 0, Vec::new(), None);
        for caller in self.callers {
            let stats = caller.await.expect("caller");
            ok += stats.ok;
            failed += stats.failed;
            went_back += stats.went_back;
            latencies.extend(stats.latencies);
            first_error = first_error.or(stats.first_error);
        }
        json!({
            "callers": CALLERS,
            "answered": ok,
            "failed": failed,
            "first_error": first_error,
            "went_back_to_an_older_revision": went_back,
            "seconds": elapsed.as_secs_f64(),
            "per_second": ok as f64 / elapsed.as_secs_f64(),
            "latency": Distribution::of(&latencies),
        })
    }
}

/// One series of upgrades and the raw round trips measured alongside.
#[derive(Default)]
struct Series {
    pause: Vec<Duration>,
    upgrade: Vec<Duration>,
    raw_put: Vec<Duration>,
    raw_delete: Vec<Duration>,
    /// The raw link requests of each upgrade, sent as the host sends them (the floor).
    raw_concurrent: Vec<Duration>,
    /// Each upgrade's pause over its own floor.
    pause_over_floor: Vec<f64>,
    /// First link request's arrival at a provider to the last one's, per upgrade.
    link_span: Vec<Duration>,
    /// Pause minus `link_span`: pausing (draining), the first request's way out, the last
    /// reply's way back, swap and resume.
    outside_link_span: Vec<Duration>,
    /// Between consecutive link request arrivals within one pause (7 per upgrade).
    arrival_gap: Vec<Duration>,
}

async fn run_series(lattice: &Lattice, revisions: std::ops::Range<u64>) -> Series {
    let mut series = Series::default();
    let specs: Vec<ComponentSpec> = revisions.map(|r| lattice.spec(r)).collect();
    for spec in &specs {
        for provider in &lattice.providers {
            provider.take();
        }
        series.upgrade.push(lattice.apply(spec).await);
        let pause = lattice
            .host()
            .last_pause_window(&lattice.component)
            .expect("the upgrade paused");
        series.pause.push(pause);

        // Every link was deleted and put again, once, and nothing else reached a provider.
        let mut arrivals = Vec::new();
        for provider in &lattice.providers {
            let seen = provider.take();
            let ops: Vec<Op> = seen.iter().map(|(_, op)| *op).collect();
            assert_eq!(ops, [Op::Delete, Op::Put], "one re-put per link");
            arrivals.extend(seen.into_iter().map(|(at, _)| at));
        }
        arrivals.sort();
        let span = arrivals[arrivals.len() - 1] - arrivals[0];
        series.link_span.push(span);
        series.outside_link_span.push(pause.saturating_sub(span));
        series
            .arrival_gap
            .extend(arrivals.windows(2).map(|w| w[1] - w[0]));

        // The baseline: the same requests, raw, sent as the host sends them.
        let (floor, round_trips) = lattice.raw_link_requests_as_the_host_sends_them(spec).await;
        series.raw_concurrent.push(floor);
        series
            .pause_over_floor
            .push(pause.as_secs_f64() / floor.as_secs_f64());
        for (delete, put) in round_trips {
            series.raw_delete.push(delete);
            series.raw_put.push(put);
        }
    }
    series
}

fn dist(samples: &[Duration]) -> Distribution {
    Distribution::of(samples).expect("samples")
}

/// Prints the series and returns its report section.
fn summarise(label: &str, series: &Series, load: Option<serde_json::Value>) -> serde_json::Value {
    let rows = [
        ("pause window", dist(&series.pause)),
        (
            "  of which: 1st link request → last (providers)",
            dist(&series.link_span),
        ),
        (
            "  of which: the rest (drain, swap, resume, 2 trips)",
            dist(&series.outside_link_span),
        ),
        (
            "gap between link request arrivals",
            dist(&series.arrival_gap),
        ),
        (
            "raw link put round trip (in the floor)",
            dist(&series.raw_put),
        ),
        (
            "raw link delete round trip (in the floor)",
            dist(&series.raw_delete),
        ),
        (
            "floor: raw 4 links concurrently, delete then put",
            dist(&series.raw_concurrent),
        ),
        ("apply_and_wait (whole upgrade)", dist(&series.upgrade)),
    ];
    println!("\n  {label}");
    println!(
        "    {:<52} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "µs", "samples", "p50", "p90", "p99", "max", "mean"
    );
    for (what, d) in &rows {
        println!(
            "    {what:<52} {:>7} {:>9.0} {:>9.0} {:>9.0} {:>9.0} {:>9.0}",
            d.samples, d.p50_us, d.p90_us, d.p99_us, d.max_us, d.mean_us
        );
    }
    let (pause, put, delete, floor) = (rows[0].1, rows[4].1, rows[5].1, rows[6].1);
    let mut per_upgrade = series.pause_over_floor.clone();
    per_upgrade.sort_by(f64::total_cmp);
    let per_upgrade_p50 = per_upgrade[per_upgrade.len() / 2];
    let ratios = json!({
        "pause_p50_over_floor_p50": pause.p50_us / floor.p50_us,
        "pause_p99_over_floor_p99": pause.p99_us / floor.p99_us,
        "pause_over_floor_per_upgrade_p50": per_upgrade_p50,
    });
    println!(
        "    pause / floor (raw, concurrent as the host): p50 {:.2}x   p99 {:.2}x   per upgrade, median {:.2}x",
        pause.p50_us / floor.p50_us,
        pause.p99_us / floor.p99_us,
        per_upgrade_p50,
    );
    if let Some(load) = &load {
        println!(
            "    load: {} callers, {} invocations answered ({:.0}/s), {} failed, {} held by a pause, {} went back a revision",
            load["callers"],
            load["answered"],
            load["per_second"].as_f64().unwrap_or(f64::NAN),
            load["failed"],
            load["held_by_a_pause"],
            load["went_back_to_an_older_revision"],
        );
        if let Some(latency) = load["latency"].as_object() {
            println!(
                "    invocation latency µs: p50 {:.0}  p99 {:.0}  max {:.0}",
                latency["p50_us"].as_f64().unwrap_or(f64::NAN),
                latency["p99_us"].as_f64().unwrap_or(f64::NAN),
                latency["max_us"].as_f64().unwrap_or(f64::NAN),
            );
        }
    }
    json!({
        "label": label,
        "upgrades": series.pause.len(),
        "pause": rows[0].1,
        "pause_link_span": rows[1].1,
        "pause_outside_link_span": rows[2].1,
        "link_request_arrival_gap": rows[3].1,
        "raw_link_put_round_trip": put,
        "raw_link_delete_round_trip": delete,
        "raw_link_requests_as_the_host_sends_them": floor,
        "apply_and_wait": rows[7].1,
        "ratios": ratios,
        "load": load,
    })
}

/// The idle and the loaded series of pause windows on `lattice`, summarised.
fn pause_windows(
    lattice: &Lattice,
    runtime: &tokio::runtime::Runtime,
) -> (serde_json::Value, serde_json::Value) {
    runtime.block_on(async {
        lattice.apply(&lattice.spec(1)).await;
        run_series(lattice, 2..2 + WARM_UP).await;
        let first = 2 + WARM_UP;
        let idle = run_series(lattice, first..first + UPGRADES).await;
        let idle = summarise(&format!("{}, idle", lattice.runtime.label()), &idle, None);

        let first = first + UPGRADES;
        let load = Load::start(lattice).await;
        // Let the load reach its pace (every caller answered a few times) before the first
        // upgrade.
        let counters = || {
            lattice
                .host()
                .invocation_counters(&lattice.component)
                .expect("serving")
        };
        let warm = counters().0 + 20 * CALLERS as u64;
        while counters().0 < warm {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let (served, held) = lattice
            .host()
            .invocation_counters(&lattice.component)
            .expect("serving");
        let series = run_series(lattice, first..first + UPGRADES).await;
        let (served_after, held_after) = lattice
            .host()
            .invocation_counters(&lattice.component)
            .expect("serving");
        let mut load = load.stop().await;
        load["served_during_the_series"] = json!(served_after - served);
        load["held_by_a_pause"] = json!(held_after - held);
        // Correctness of the loaded series: nothing failed, the pauses held invocations (the
        // load did overlap the upgrades), and no caller went back a revision. A failed check
        // ends the bench before any report is written.
        assert_eq!(load["failed"], 0, "invocations failed under load: {load}");
        assert!(
            held_after - held >= 1,
            "no invocation was held by a pause: the load did not overlap the upgrades: {load}"
        );
        assert_eq!(load["went_back_to_an_older_revision"], 0, "{load}");
        let loaded = summarise(
            &format!("{}, under load", lattice.runtime.label()),
            &series,
            Some(load),
        );
        (idle, loaded)
    })
}

fn main() {
    let run = Run::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    // 1. Pause windows: deploy, warm up, then an idle series and a loaded one, on the echo
    //    stand-in and on the wasmtime runtime.
    println!(
        "upgrade: pause window of {UPGRADES} upgrades re-putting 4 changed links (1 host, 4 providers, own nats-server)"
    );
    let mut series = Vec::new();
    for kind in [Runtime::Wasmtime, Runtime::Echo] {
        let lattice = runtime.block_on(Lattice::start(kind));
        let (idle, loaded) = pause_windows(&lattice, &runtime);
        series.extend([idle, loaded]);
        runtime.block_on(async move { drop(lattice) });
    }
    let lattice = runtime.block_on(Lattice::start(Runtime::Echo));
    runtime.block_on(lattice.apply(&lattice.spec(1)));

    // 2. Client round trip vs raw async-nats: the same request bytes, subject and connection.
    let mut c = Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let subject = CtlSubject::HostInventory {
        lattice: lattice.lattice.clone(),
        host_id: lattice.host_id.clone(),
    }
    .to_string();
    let payload = HostInventoryRequest::new().encode().expect("encodes");
    let raw = || lattice.nats.request(subject.clone(), payload.clone());
    let decode = |reply: async_nats::Message| {
        HostInventoryReply::decode(&reply.payload)
            .expect("decodes")
            .into_result()
            .expect("an inventory")
    };
    let mut group = c.benchmark_group("inventory_round_trip");
    group.bench_function("lattice_client", |b| {
        b.to_async(&runtime).iter(|| async {
            let inventory = lattice
                .client
                .inventory(&lattice.host_id)
                .await
                .expect("inventory");
            debug_assert_eq!(inventory.components.len(), 1);
            inventory
        })
    });
    group.bench_function("raw_async_nats", |b| {
        b.to_async(&runtime)
            .iter(|| async { raw().await.expect("reply") })
    });
    group.bench_function("raw_async_nats_then_decode", |b| {
        b.to_async(&runtime)
            .iter(|| async { decode(raw().await.expect("reply")) })
    });
    group.finish();
    c.final_summary();

    // Criterion runs the functions one after the other, and on this machine a plain round trip
    // drifts by up to 2x between runs of a few seconds; alternating the three in one loop gives
    // a ratio that drift cannot skew.
    let interleaved = runtime.block_on(async {
        let mut samples: [Vec<Duration>; 3] = Default::default();
        for round in 0..INTERLEAVED_ROUNDS {
            for i in 0..3 {
                let which = (round + i) % 3;
                let started = Instant::now();
                match which {
                    0 => drop(
                        lattice
                            .client
                            .inventory(&lattice.host_id)
                            .await
                            .expect("inventory"),
                    ),
                    1 => drop(raw().await.expect("reply")),
                    _ => drop(decode(raw().await.expect("reply"))),
                }
                samples[which].push(started.elapsed());
            }
        }
        samples.map(|s| dist(&s))
    });
    let [typed, plain, plain_decoded] = interleaved;
    println!("\n  inventory round trip, interleaved ({INTERLEAVED_ROUNDS} rounds)");
    println!(
        "    {:<52} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "µs", "samples", "p50", "p90", "p99", "max", "mean"
    );
    for (what, d) in [
        ("typed client (decodes)", typed),
        ("raw async-nats", plain),
        ("raw async-nats + the same decode", plain_decoded),
    ] {
        println!(
            "    {what:<52} {:>7} {:>9.0} {:>9.0} {:>9.0} {:>9.0} {:>9.0}",
            d.samples, d.p50_us, d.p90_us, d.p99_us, d.max_us, d.mean_us
        );
    }
    println!(
        "    typed / raw: p50 {:.2}x; typed / (raw + decode): p50 {:.2}x",
        typed.p50_us / plain.p50_us,
        typed.p50_us / plain_decoded.p50_us
    );

    let mut extra = serde_json::Map::new();
    extra.insert(
        "pause_window".to_owned(),
        json!({
            "unit": "us",
            "what": "HostHandle::last_pause_window after each apply_and_wait; every revision changes the artifact and the target configuration of all 4 links",
            "links_changed_per_upgrade": LINKS.len(),
            "baseline": "the floor: raw async-nats requests of the identical LinkDeleteRequest/LinkPutRequest bytes to the same providers, right after each upgrade, sent as the host sends them (the 4 links concurrently, each link's delete then its put, on one connection)",
            "series": series,
        }),
    );
    extra.insert(
        "inventory_round_trip_interleaved".to_owned(),
        json!({
            "unit": "us",
            "what": "the three inventory requests of the criterion group, alternated in one loop so drift affects all alike",
            "rounds": INTERLEAVED_ROUNDS,
            "typed_client": typed,
            "raw_async_nats": plain,
            "raw_async_nats_then_decode": plain_decoded,
            "typed_p50_over_raw_p50": typed.p50_us / plain.p50_us,
            "typed_p50_over_raw_then_decode_p50": typed.p50_us / plain_decoded.p50_us,
        }),
    );
    let comparisons = [
        Comparison {
            what: "inventory round trip: typed vs raw",
            subject: "inventory_round_trip/lattice_client",
            baseline: "inventory_round_trip/raw_async_nats",
        },
        Comparison {
            what: "inventory round trip: typed vs raw + decode",
            subject: "inventory_round_trip/lattice_client",
            baseline: "inventory_round_trip/raw_async_nats_then_decode",
        },
    ];
    runtime.block_on(async move { drop(lattice) });
    run.finish("upgrade", &comparisons, extra);
}
