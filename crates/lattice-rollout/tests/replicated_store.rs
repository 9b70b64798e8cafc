//! The scheduler's buckets replicated (R3) on a real three-server nats-server cluster: the
//! rollout store and the configuration bucket are created with three replicas, and what the
//! scheduler stored is still there, and writable, after the server holding it is killed.

use async_nats::jetstream;
use lattice_client::ConfigBucket;
use lattice_local::NatsCluster;
use lattice_rollout::{AppName, AppRevision, HostSelector, Placement, RolloutStore};
use lattice_spec::{ComponentSpecDraft, LatticeName, Revision};
use std::{collections::BTreeMap, future::Future, time::Duration};

const BOUND: Duration = Duration::from_secs(30);

async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, future)
        .await
        .expect("timed out")
}

fn revision(app: &AppName, n: u64) -> AppRevision {
    let spec = ComponentSpecDraft::new("web", "file:///web.wasm")
        .validate()
        .unwrap();
    AppRevision::new(
        app.clone(),
        Revision(n),
        vec![Placement::new(spec, HostSelector::All)],
    )
    .unwrap()
}

async fn context(url: String) -> jetstream::Context {
    jetstream::new(within(async_nats::connect(url)).await.unwrap())
}

/// The replica count JetStream reports for a stream, and the server leading it.
async fn replicas(js: &jetstream::Context, stream: &str) -> (usize, String) {
    let mut stream = within(js.get_stream(stream)).await.unwrap();
    let info = within(stream.info()).await.unwrap();
    let leader = info
        .cluster
        .as_ref()
        .and_then(|c| c.leader.clone())
        .unwrap_or_default();
    (info.config.num_replicas, leader)
}

#[tokio::test]
async fn r3_buckets_keep_the_schedulers_state_when_the_leading_server_is_lost() {
    let mut cluster = tokio::task::spawn_blocking(NatsCluster::start)
        .await
        .unwrap()
        .expect("a three-server cluster");
    let lattice: LatticeName = "replicated".parse().unwrap();
    let app: AppName = "shop".parse().unwrap();

    let js = context(cluster.server(0).url()).await;
    let store = within(RolloutStore::open_replicated(js.clone(), &lattice, 10, 3))
        .await
        .expect("create the R3 rollout store");
    within(store.put_revision(&revision(&app, 1)))
        .await
        .unwrap();
    let configs = within(ConfigBucket::open_replicated(js.clone(), &lattice, 3))
        .await
        .expect("create the R3 configuration bucket");
    let name = "db".parse().unwrap();
    within(configs.put(&name, &BTreeMap::from([("url".into(), "pg://a".into())])))
        .await
        .unwrap();

    let rollouts = format!("KV_{}", lattice_ctl::rollout::bucket(&lattice));
    let (count, leader) = replicas(&js, &rollouts).await;
    assert_eq!(count, 3, "rollout store replicas");
    let configdata = format!("KV_{}", lattice_spec::configdata::bucket_name(&lattice));
    assert_eq!(
        replicas(&js, &configdata).await.0,
        3,
        "config bucket replicas"
    );
    drop(js);

    // Kill the server leading the rollout store's stream, then read and write through another.
    let lost = cluster
        .servers()
        .iter()
        .position(|s| s.name() == leader)
        .unwrap_or_else(|| panic!("leader {leader:?} is not a cluster server"));
    cluster.kill(lost).unwrap();
    let mut cluster =
        tokio::task::spawn_blocking(move || cluster.wait_until_formed().map(|()| cluster))
            .await
            .unwrap()
            .expect("two servers keep a meta leader");
    let survivor = (lost + 1) % cluster.len();
    let js = context(cluster.server(survivor).url()).await;
    // The survivors elect a new leader for each stream; until then requests time out.
    let lost_name = cluster.server(lost).name().to_owned();
    let quick = jetstream::ContextBuilder::new()
        .timeout(Duration::from_secs(1))
        .build(js.client());
    for stream in [&rollouts, &configdata] {
        lattice_test_support::read_until(
            "a new stream leader",
            BOUND,
            || async {
                match quick.get_stream(stream.as_str()).await {
                    Ok(mut s) => s
                        .info()
                        .await
                        .ok()
                        .and_then(|i| i.cluster.as_ref().and_then(|c| c.leader.clone())),
                    Err(_) => None,
                }
            },
            |leader| {
                leader
                    .as_ref()
                    .is_some_and(|l| !l.is_empty() && *l != lost_name)
            },
            String::new,
        )
        .await;
    }
    let store = within(RolloutStore::open_replicated(js.clone(), &lattice, 10, 3))
        .await
        .unwrap();
    let stored = within(store.revision(&app, Revision(1)))
        .await
        .expect("read after the loss")
        .expect("revision 1 survives the lost server");
    assert_eq!(stored.revision, Revision(1));
    within(store.put_revision(&revision(&app, 2)))
        .await
        .expect("the store takes writes with one server lost");
    let configs = within(ConfigBucket::open_replicated(js, &lattice, 3))
        .await
        .unwrap();
    assert_eq!(
        within(configs.get(&name))
            .await
            .unwrap()
            .expect("the configuration survives the lost server")
            .get("url")
            .map(String::as_str),
        Some("pg://a")
    );
    assert_eq!(
        within(store.revisions(&app)).await.unwrap(),
        vec![Revision(1), Revision(2)]
    );
    cluster.restart(lost).unwrap();
}
