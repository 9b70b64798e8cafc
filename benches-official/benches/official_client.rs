//! The typed lattice client next to the official wasmCloud 1.x control-interface client
//! (`wasmcloud-control-interface` 3.0.1, the one `wash` and wadm use, on its own async-nats
//! 0.39), against the same lattice hosts on one real nats-server; and decoding the same
//! 1,000-component inventory bytes with lattice's 1.x types and with the official ones.
//!
//! Everything is real: the bench's own `nats-server`, [`HOSTS`] `lattice-host` hosts (the
//! `RevisionEchoRuntime` stand-in: nothing here executes a component), each on its own
//! connection, and the two clients on connections of their own.
//!
//! - **Host discovery**, alternated in one loop ([`DISCOVERY_ROUNDS`] rounds, a
//!   distribution each): lattice's `Client::discover_hosts(Discover::expecting(n))`, which
//!   returns when all `n` hosts answered, against the official `Client::get_hosts()`, which by
//!   design gathers answers for its whole auction timeout (set to [`AUCTION`], lattice's
//!   default discovery window; the official default is 5 s). Both must list every host. The
//!   ratio says what a caller waits for "list all hosts", not what a ping costs on the wire.
//! - **Inventory round trip** (criterion): `Client::inventory` (v2alpha1, typed, with status)
//!   against the official `Client::get_host_inventory` (the 1.x subject and shape, decoded
//!   into its own types), on a host with one component and on one with [`BIG`] components.
//!   Each side's answer is checked before measuring (the same component ids).
//! - **Decode** (criterion): the bytes the [`BIG`]-component host sent the 1.x inventory
//!   request, decoded with `lattice_ctl::v1::CtlResponse<lattice_ctl::v1::HostInventory>`
//!   (what the lattice client's 1.x fallback decodes) and with serde_json into the official
//!   `wasmcloud_control_interface::CtlResponse<HostInventory>` — the same bytes. Both are
//!   checked to decode the same ids first.
//!
//! Run it with `scripts/bench` (or `cargo bench --manifest-path benches-official/Cargo.toml --bench
//! official_client`); it writes `benches/report/official.json` through `lattice-benches`,
//! like the workspace's benches, and nothing when a check fails or the run was filtered.

use criterion::Criterion;
use lattice_benches::{Comparison, Distribution, Run};
use lattice_client::Discover;
use lattice_ctl::v1::V1Subject;
use lattice_host::{Host, HostConfig, HostHandle, RevisionEchoRuntime};
use lattice_spec::{ComponentSpecDraft, HostId, LatticeName};
use lattice_test_support::NatsServer;
use serde_json::json;
use std::{
    collections::BTreeSet,
    hint::black_box,
    sync::Arc,
    time::{Duration, Instant},
};
use wasmcloud_control_interface::{ClientBuilder, CtlResponse, HostInventory};

/// Lattice hosts in the lattice (the small one and the big one included).
const HOSTS: usize = 10;
/// Components on the big host.
const BIG: usize = 1000;
/// The official client's auction timeout: lattice's default discovery window
/// (`Discover::all()`).
const AUCTION: Duration = Duration::from_secs(1);
/// Rounds of the alternated discovery measurement (one call of each client per round).
const DISCOVERY_ROUNDS: usize = 12;
/// Every setup step's bound.
const BOUND: Duration = Duration::from_secs(60);

async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: timed out after {BOUND:?}"))
}

/// The component ids of an official inventory, sorted.
fn official_ids(inventory: &HostInventory) -> BTreeSet<String> {
    inventory
        .components()
        .iter()
        .map(|c| c.id().to_owned())
        .collect()
}

fn main() {
    let run = Run::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let server = NatsServer::start().expect("nats-server starts (is it on PATH?)");
    let lattice: LatticeName = "bench".parse().expect("lattice name");
    let dir = tempfile::tempdir().expect("temp dir");
    let small: HostId = "host-small".parse().expect("host id");
    let big: HostId = "host-big".parse().expect("host id");

    // The lattice: HOSTS hosts; one component on the small host, BIG on the big one.
    let (hosts, client, official, official_nats) = runtime.block_on(async {
        let mut hosts: Vec<HostHandle> = Vec::new();
        for i in 0..HOSTS {
            let id: HostId = match i {
                0 => small.clone(),
                1 => big.clone(),
                _ => format!("host-{i}").parse().expect("host id"),
            };
            let nats = within("connect", async_nats::connect(server.url()))
                .await
                .expect("host connects");
            let config = HostConfig::new(id, lattice.clone());
            hosts.push(
                within(
                    "host start",
                    Host::new(nats, config, Arc::new(RevisionEchoRuntime)).start(),
                )
                .await
                .expect("host starts"),
            );
        }
        let nats = within("connect", async_nats::connect(server.url()))
            .await
            .expect("client connects");
        let client = lattice_client::Client::new(nats, lattice.clone());
        let official_nats = within("connect", async_nats_1x::connect(server.url()))
            .await
            .expect("the 1.x client connects");
        let official = ClientBuilder::new(official_nats.clone())
            .lattice(lattice.as_str())
            .timeout(Duration::from_secs(10))
            .auction_timeout(AUCTION)
            .build();

        let artifact = dir.path().join("component.wasm");
        std::fs::write(
            &artifact,
            lattice_artifact::testing::component_importing(&[]),
        )
        .expect("write artifact");
        let artifact = format!("file://{}", artifact.display());
        let spec = |id: String| {
            ComponentSpecDraft::new(id, artifact.clone())
                .validate()
                .expect("spec")
        };
        within(
            "apply",
            client.apply_and_wait(&small, &spec("web".into()), BOUND),
        )
        .await
        .expect("applied");
        for i in 0..BIG {
            within(
                "apply",
                client.apply_and_wait(&big, &spec(format!("c{i:04}")), BOUND),
            )
            .await
            .expect("applied");
        }
        (hosts, client, official, official_nats)
    });

    // Correctness first: both clients see every host and the same inventories.
    let one_inventory_each = |host: &HostId| {
        runtime.block_on(async {
            let typed = within("inventory", client.inventory(host))
                .await
                .expect("lattice inventory");
            let reply = within("inventory", official.get_host_inventory(host.as_str()))
                .await
                .expect("official inventory");
            assert!(reply.succeeded(), "{}", reply.message());
            let theirs = official_ids(&reply.into_data().expect("an inventory"));
            let ours: BTreeSet<String> = typed
                .components
                .iter()
                .map(|c| c.component_id.to_string())
                .collect();
            assert_eq!(ours, theirs, "both clients read the same components");
            ours.len()
        })
    };
    assert_eq!(one_inventory_each(&small), 1);
    assert_eq!(one_inventory_each(&big), BIG);

    // Discovery, alternated.
    let discovery = runtime.block_on(async {
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for round in 0..DISCOVERY_ROUNDS {
            for which in [round % 2, (round + 1) % 2] {
                let started = Instant::now();
                if which == 0 {
                    let found = within(
                        "discover",
                        client.discover_hosts(Discover::expecting(HOSTS)),
                    )
                    .await
                    .expect("discovers");
                    ours.push(started.elapsed());
                    assert_eq!(found.len(), HOSTS, "lattice discovery lists every host");
                } else {
                    let found = within("get_hosts", official.get_hosts())
                        .await
                        .expect("get_hosts");
                    theirs.push(started.elapsed());
                    assert_eq!(found.len(), HOSTS, "the official client lists every host");
                    assert!(found.iter().all(|r| r.succeeded()));
                }
            }
        }
        (
            Distribution::of(&ours).expect("samples"),
            Distribution::of(&theirs).expect("samples"),
        )
    });
    println!(
        "discover {HOSTS} hosts, p50: lattice (expecting {HOSTS}) {:.0} µs, official get_hosts (auction {AUCTION:?}) {:.0} µs",
        discovery.0.p50_us, discovery.1.p50_us
    );

    // The same bytes for both decoders: the big host's answer to the 1.x inventory request.
    let big_v1_bytes = runtime.block_on(async {
        let subject = V1Subject::HostInventory {
            lattice: lattice.clone(),
            host_id: big.clone(),
        }
        .to_string();
        within(
            "raw request",
            official_nats.request(subject, Vec::new().into()),
        )
        .await
        .expect("the host answers")
        .payload
    });
    let decode_lattice = |bytes: &[u8]| {
        serde_json::from_slice::<lattice_ctl::v1::CtlResponse<lattice_ctl::v1::HostInventory>>(
            bytes,
        )
        .expect("decodes")
    };
    let decode_official = |bytes: &[u8]| {
        serde_json::from_slice::<CtlResponse<HostInventory>>(bytes).expect("decodes")
    };
    {
        let ours: BTreeSet<String> = decode_lattice(&big_v1_bytes)
            .response
            .expect("an inventory")
            .components
            .into_iter()
            .map(|c| c.id)
            .collect();
        let theirs = official_ids(
            &decode_official(&big_v1_bytes)
                .into_data()
                .expect("an inventory"),
        );
        assert_eq!(ours.len(), BIG);
        assert_eq!(ours, theirs, "both decoders read the same components");
    }

    let mut c = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    for (group, host) in [("inventory_1", &small), ("inventory_1000", &big)] {
        let mut g = c.benchmark_group(group);
        g.bench_function("lattice_client", |b| {
            b.to_async(&runtime)
                .iter(|| async { client.inventory(host).await.expect("inventory") })
        });
        g.bench_function("official_client", |b| {
            b.to_async(&runtime).iter(|| async {
                official
                    .get_host_inventory(host.as_str())
                    .await
                    .expect("inventory")
            })
        });
        g.finish();
    }
    let mut g = c.benchmark_group("decode_v1_inventory_1000");
    g.bench_function("lattice_v1_types", |b| {
        b.iter(|| decode_lattice(black_box(&big_v1_bytes)))
    });
    g.bench_function("official_types", |b| {
        b.iter(|| decode_official(black_box(&big_v1_bytes)))
    });
    g.finish();
    c.final_summary();

    let comparisons = [
        Comparison {
            what: "inventory round trip, host with 1 component: lattice client vs official get_host_inventory",
            subject: "inventory_1/lattice_client",
            baseline: "inventory_1/official_client",
        },
        Comparison {
            what: "inventory round trip, host with 1,000 components: lattice client vs official get_host_inventory",
            subject: "inventory_1000/lattice_client",
            baseline: "inventory_1000/official_client",
        },
        Comparison {
            what: "decode a 1,000-component 1.x inventory (same bytes): lattice's 1.x types vs serde_json into the official types",
            subject: "decode_v1_inventory_1000/lattice_v1_types",
            baseline: "decode_v1_inventory_1000/official_types",
        },
    ];
    let mut extra = serde_json::Map::new();
    extra.insert(
        "discovery".to_owned(),
        json!({
            "unit": "us",
            "hosts": HOSTS,
            "rounds": DISCOVERY_ROUNDS,
            "lattice_call": "lattice_client::Client::discover_hosts(Discover::expecting(hosts))",
            "official_call": "wasmcloud_control_interface::Client::get_hosts() (always waits its auction timeout)",
            "official_auction_timeout_ms": AUCTION.as_millis(),
            "lattice": discovery.0,
            "official": discovery.1,
        }),
    );
    extra.insert(
        "setup".to_owned(),
        json!({
            "official_client": "wasmcloud-control-interface 3.0.1 on async-nats 0.39",
            "hosts": HOSTS,
            "big_host_components": BIG,
            "v1_inventory_bytes": big_v1_bytes.len(),
            "runtime": "RevisionEchoRuntime (nothing executes)",
        }),
    );
    runtime.block_on(async move {
        drop(official);
        drop(client);
        for host in hosts {
            host.shutdown(Duration::from_secs(5)).await;
        }
    });
    drop(server);
    run.finish("official", &comparisons, extra);
}
