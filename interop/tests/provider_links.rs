//! The provider side of the link contract against the published wasmCloud 1.x types
//! (`wasmcloud-core` 0.21.1, what wasmCloud 1.9 hosts and provider SDKs use), on a real
//! nats-server:
//!
//! - a provider built with the kit establishes the link a 1.x host publishes — the
//!   `InterfaceLinkDefinition` the crate serializes, with a secret sealed the way a 1.x host
//!   seals it, on the instance-xkey subject 1.1+ hosts use — and answers nothing;
//! - what a lattice host sends (a v2alpha1 link put with sealed secrets) is read by a 1.x
//!   provider: decoded as an `InterfaceLinkDefinition`, its secrets opened as the 1.x SDK opens
//!   them into `wasmcloud_core::secrets::SecretValue`s.

use futures::StreamExt;
use lattice_host::{Host, HostConfig, LinkSecrets, RevisionEchoRuntime, StaticSecrets};
use lattice_link::{LinkDeleteRequest, LinkPutRequest, LinkRefusal, SecretValue};
use lattice_provider::{BoxFuture, LinkHandler, ProviderServer, secrets};
use lattice_spec::{ComponentSpecDraft, LatticeName, LinkDraft, SecretRefDraft};
use lattice_test_support::NatsServer;
use nkeys::XKey;
use std::{
    collections::HashMap,
    future::Future,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::sync::mpsc;
use wasmcloud_core::InterfaceLinkDefinition;

const BOUND: Duration = Duration::from_secs(30);
const LATTICE: &str = "interop";

async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, future)
        .await
        .expect("timed out")
}

/// Records the link puts it is handed.
struct Recorder(Mutex<mpsc::UnboundedSender<LinkPutRequest>>);

impl LinkHandler for Recorder {
    fn put_link<'a>(&'a self, link: &'a LinkPutRequest) -> BoxFuture<'a, Result<(), LinkRefusal>> {
        let _ = self.0.lock().unwrap().send(link.clone());
        Box::pin(async { Ok(()) })
    }

    fn delete_link<'a>(
        &'a self,
        _: &'a LinkDeleteRequest,
    ) -> BoxFuture<'a, Result<(), LinkRefusal>> {
        Box::pin(async { Ok(()) })
    }
}

async fn nats_server() -> NatsServer {
    tokio::task::spawn_blocking(NatsServer::start)
        .await
        .unwrap()
        .expect("nats-server starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kit_provider_establishes_the_link_a_1x_host_publishes() {
    let server = nats_server().await;
    // What a 1.1+ host generates when it starts a provider instance: the instance's xkey (its
    // seed goes to the provider in the host data) and the host's own secrets xkey.
    let (instance_key, host_key) = (XKey::new(), XKey::new());
    let (tx, mut puts) = mpsc::unbounded_channel();
    let provider = ProviderServer::new(
        within(async_nats::connect(server.url())).await.unwrap(),
        LATTICE.parse().unwrap(),
        "keyvalue".parse().unwrap(),
        Arc::new(Recorder(Mutex::new(tx))),
    )
    .instance_xkey(&instance_key);
    let _served = within(provider.serve()).await.unwrap();

    // The link put exactly as a 1.x host builds it (wasmcloud-host `resolve_link_config`):
    // the secret map serialized, sealed by the host's xkey for the instance's public xkey.
    let secrets: HashMap<String, wasmcloud_core::secrets::SecretValue> = HashMap::from([(
        "password".to_owned(),
        wasmcloud_core::secrets::SecretValue::String("hunter2".to_owned()),
    )]);
    let recipient = XKey::from_public_key(&instance_key.public_key()).unwrap();
    let sealed = host_key
        .seal(&serde_json::to_vec(&secrets).unwrap(), &recipient)
        .unwrap();
    let link = InterfaceLinkDefinition {
        source_id: "greeter".into(),
        target: "keyvalue".into(),
        name: "default".into(),
        wit_namespace: "wasi".into(),
        wit_package: "keyvalue".into(),
        interfaces: vec!["store".into(), "atomics".into()],
        source_config: HashMap::new(),
        target_config: HashMap::from([("bucket".to_owned(), "visits".to_owned())]),
        source_secrets: None,
        target_secrets: Some(sealed),
    };
    // Published as a 1.x host publishes it: the 1.x async-nats, no reply subject, on the
    // instance's xkey subject.
    let v1_nats = within(async_nats_1x::connect(server.url())).await.unwrap();
    let subject = format!(
        "wasmbus.rpc.{LATTICE}.{}.linkdefs.put",
        instance_key.public_key()
    );
    within(v1_nats.publish(subject, serde_json::to_vec(&link).unwrap().into()))
        .await
        .unwrap();
    within(v1_nats.flush()).await.unwrap();

    let put = within(puts.recv()).await.unwrap();
    assert_eq!(put.source_id, "greeter");
    assert_eq!(put.target, "keyvalue");
    assert_eq!(put.interfaces, ["store", "atomics"]);
    assert_eq!(put.target_config["bucket"], "visits");
    let (_, target) =
        secrets::open_link(&put, &instance_key, Some(&host_key.public_key())).unwrap();
    assert_eq!(target["password"].as_string(), Some("hunter2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_1x_provider_reads_the_link_put_a_lattice_host_sends() {
    let server = nats_server().await;
    let lattice: LatticeName = LATTICE.parse().unwrap();
    // The 1.x provider: listens where 1.x providers listen, with its xkey.
    let provider_key = XKey::new();
    let v1_nats = within(async_nats_1x::connect(server.url())).await.unwrap();
    let mut puts = within(v1_nats.subscribe(format!("wasmbus.rpc.{LATTICE}.kv1x.linkdefs.put")))
        .await
        .unwrap();
    within(v1_nats.flush()).await.unwrap();

    let values = StaticSecrets::default();
    values.put("vault", "redis", SecretValue::String("s3cr3t".into()));
    let secrets = LinkSecrets::new(Arc::new(values))
        .provider_key("kv1x".parse().unwrap(), &provider_key.public_key())
        .unwrap();
    let host_public = secrets.host_public_key();
    let config = HostConfig::new("host-a".parse().unwrap(), lattice.clone())
        .link_secrets(secrets)
        // A 1.x provider never answers: do not wait long for it.
        .link_reply_timeout(Duration::from_millis(200));
    let nats = within(async_nats::connect(server.url())).await.unwrap();
    let _host = within(Host::new(nats.clone(), config, Arc::new(RevisionEchoRuntime)).start())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.wasm");
    std::fs::write(
        &path,
        lattice_artifact::testing::component_importing(&["wasi:keyvalue/store@0.2.0"]),
    )
    .unwrap();
    let spec = ComponentSpecDraft::new("app", format!("file://{}", path.display()))
        .link(
            LinkDraft::new("kv1x", "wasi", "keyvalue", ["store"])
                .target_config_value("url", "redis://cache:6379")
                .target_secret(SecretRefDraft::new("password", "vault", "redis")),
        )
        .validate()
        .unwrap();
    let client = lattice_client::Client::new(nats, lattice);
    within(client.apply_and_wait(&"host-a".parse().unwrap(), &spec, BOUND))
        .await
        .unwrap();

    // What the 1.x provider received, read as a 1.x provider SDK reads it.
    let message = within(puts.next()).await.unwrap();
    let link: InterfaceLinkDefinition = serde_json::from_slice(&message.payload).unwrap();
    assert_eq!(link.source_id, "app");
    assert_eq!(link.target, "kv1x");
    assert_eq!(link.name, "default");
    assert_eq!(link.target_config["url"], "redis://cache:6379");
    // The SDK opens with its private xkey and the host's public xkey (from its host data).
    let host_key = XKey::from_public_key(&host_public).unwrap();
    let opened = provider_key
        .open(link.target_secrets.as_deref().unwrap(), &host_key)
        .unwrap();
    let secrets: HashMap<String, wasmcloud_core::secrets::SecretValue> =
        serde_json::from_slice(&opened).unwrap();
    assert_eq!(secrets["password"].as_string(), Some("s3cr3t"));
    assert!(link.source_secrets.is_none());
}
