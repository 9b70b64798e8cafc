//! A `LocalLattice` against a real nats-server: its hosts answer discovery, its providers
//! answer link requests through their `AcceptAll` handler, and a fixed port already in use is
//! refused with `PortInUse`.

use lattice_client::Discover;
use lattice_link::LinkPutRequest;
use lattice_local::{AcceptAll, LinkCall, LocalLattice, LocalLatticeError, NatsServer, StartError};
use lattice_spec::{ComponentId, ComponentSpecDraft, LinkDraft};
use std::{collections::BTreeMap, future::Future, sync::Arc, time::Duration};

async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), future)
        .await
        .expect("timed out")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_answer_discovery_and_providers_answer_link_puts() {
    let kv = Arc::new(AcceptAll::new());
    let lattice = within(
        LocalLattice::builder()
            .lattice("local".parse().unwrap())
            .hosts(2)
            .provider("kv".parse().unwrap(), kv.clone())
            .start(),
    )
    .await
    .unwrap();
    let hosts = within(lattice.client().discover_hosts(Discover::expecting(2)))
        .await
        .unwrap();
    let mut ids: Vec<String> = hosts.iter().map(|h| h.host_id.to_string()).collect();
    ids.sort();
    assert_eq!(ids, ["host-1", "host-2"]);

    let spec = ComponentSpecDraft::new("app", "ghcr.io/acme/app:1")
        .link(LinkDraft::new("kv", "wasi", "keyvalue", ["store"]))
        .validate()
        .unwrap();
    let put = LinkPutRequest::new(
        &ComponentId::new("app").unwrap(),
        &spec.links()[0],
        BTreeMap::new(),
        BTreeMap::new(),
    );
    let accepted = within(lattice.client().link_put(&"kv".parse().unwrap(), &put)).await;
    assert!(accepted.is_ok(), "{accepted:?}");
    assert!(matches!(kv.calls().as_slice(), [LinkCall::Put(p)] if *p == put));
    lattice.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_port_in_use_is_refused() {
    let taken = tokio::task::spawn_blocking(NatsServer::start)
        .await
        .unwrap()
        .unwrap();
    let error = within(
        LocalLattice::builder()
            .server(NatsServer::builder().port(taken.port()))
            .start(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            &error,
            LocalLatticeError::Server(StartError::PortInUse { port, .. }) if *port == taken.port()
        ),
        "{error:?}"
    );
}
