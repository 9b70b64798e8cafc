//! Providers from OCI registries: this crate's real `lattice-provider-keyvalue` binary packed
//! into a provider archive (`.par`, a tar with `claims.jwt` and `{ARCH}-{OS}.bin`), pushed to a
//! real registry (docker-registry, with basic auth) in the manifest shape wasmCloud 1.x
//! `wash push` uses, and started by a lattice host that pulls it with its configured registry
//! credentials, with a real nats-server. A corrupt archive (a hash that is not the binary's)
//! is refused while the previous revision keeps running.
//!
//! The archives' JWTs are unsigned (lattice does not verify PAR signatures).

use lattice_artifact::{
    DefaultFetcher, OciRegistryFetcher, PROVIDER_ARCHIVE_CONFIG_MEDIA_TYPE,
    PROVIDER_ARCHIVE_LAYER_MEDIA_TYPES, current_target, testing,
};
use lattice_client::Client;
use lattice_ctl::{ApplyOutcome, ProviderInventory};
use lattice_host::{Host, HostConfig, HostHandle, ProviderSupervision};
use lattice_runtime_wasmtime::WasmtimeRuntime;
use lattice_spec::{LatticeName, ProviderId, ProviderSpec, ProviderSpecDraft};
use lattice_status::{ProviderState, ReasonCode};
use lattice_test_support::{NatsServer, Registry};
use oci_client::{
    client::{ClientConfig, ClientProtocol, Config, ImageLayer},
    manifest::OciImageManifest,
    secrets::RegistryAuth,
};
use std::{future::Future, sync::Arc, time::Duration};

const DEADLINE: Duration = Duration::from_secs(30);
const PROVIDER: &str = env!("CARGO_BIN_EXE_lattice-provider-keyvalue");
const USER: &str = "ci";
const PASSWORD: &str = "par-secret";

async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(DEADLINE, future)
        .await
        .expect("timed out")
}

/// Pushes `par` as `reference` the way wash 1.x pushes a provider archive: one layer (the
/// whole archive, media type `…provider.archive.layer.v1+par`) and a `{}` config blob of
/// media type `…provider.archive.config`.
async fn push_par(registry: &Registry, reference: &str, par: Vec<u8>) {
    push(
        registry,
        reference,
        par,
        PROVIDER_ARCHIVE_LAYER_MEDIA_TYPES[0],
    )
    .await;
}

/// Pushes `bytes` as the one layer of an image, with `media_type`.
async fn push(registry: &Registry, reference: &str, bytes: Vec<u8>, media_type: &str) {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    let client = oci_client::Client::new(ClientConfig {
        protocol: ClientProtocol::Http,
        ..ClientConfig::default()
    });
    let layer = ImageLayer::new(bytes, media_type.to_owned(), None);
    let config = Config::new(
        b"{}".to_vec(),
        PROVIDER_ARCHIVE_CONFIG_MEDIA_TYPE.to_owned(),
        None,
    );
    let manifest = OciImageManifest::build(std::slice::from_ref(&layer), &config, None);
    let (user, password) = registry.credentials().unwrap();
    within(client.push(
        &reference.parse().unwrap(),
        &[layer],
        config,
        &RegistryAuth::Basic(user.to_owned(), password.to_owned()),
        Some(manifest),
    ))
    .await
    .expect("the provider archive is pushed");
}

struct Lattice {
    _server: NatsServer,
    registry: Registry,
    host: HostHandle,
    client: Client,
}

impl Lattice {
    /// A host whose fetcher has the registry's credentials (anonymous pulls are refused).
    async fn start() -> Self {
        let registry = Registry::builder()
            .basic_auth(USER, PASSWORD)
            .start()
            .expect("docker-registry starts");
        let server = NatsServer::start().expect("nats-server starts");
        let lattice: LatticeName = "default".parse().unwrap();
        let nats = within(async_nats::connect(server.url())).await.unwrap();
        let host_nats = within(async_nats::connect(server.url())).await.unwrap();
        let runtime = WasmtimeRuntime::new(host_nats.clone(), &lattice).unwrap();
        let supervision = ProviderSupervision::default()
            .start_poll_interval(Duration::from_millis(100))
            .health_interval(Duration::from_millis(200))
            .health_timeout(Duration::from_millis(500))
            .start_timeout(Duration::from_secs(5))
            .stop_timeout(Duration::from_secs(3))
            .nats_url(server.url());
        let config = HostConfig::new("host-1".parse().unwrap(), lattice.clone())
            .provider_supervision(supervision);
        let fetcher = DefaultFetcher::empty().with_registry(
            OciRegistryFetcher::builder()
                .basic_auth(registry.address(), USER, PASSWORD)
                .build(),
        );
        let host = within(
            Host::new(host_nats, config, Arc::new(runtime))
                .fetcher(Arc::new(fetcher))
                .start(),
        )
        .await
        .unwrap();
        let client = Client::new(nats, lattice);
        Self {
            _server: server,
            registry,
            host,
            client,
        }
    }

    async fn apply(&self, spec: &ProviderSpec) -> ApplyOutcome {
        within(self.client.host(self.host.host_id()).apply_provider(spec))
            .await
            .unwrap()
            .outcome
    }

    async fn wait_for(
        &self,
        id: &str,
        condition: impl Fn(&ProviderInventory) -> bool,
    ) -> ProviderInventory {
        let host = self.client.host(self.host.host_id());
        within(host.wait_for_provider(&id.parse().unwrap(), |p| p.is_some_and(&condition)))
            .await
            .unwrap()
            .unwrap()
    }
}

fn spec(id: &str, revision: u64, artifact: &str) -> ProviderSpec {
    ProviderSpecDraft::new(id, artifact)
        .revision(revision)
        .validate()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_provider_archive_from_a_registry_runs_and_a_corrupt_one_is_refused() {
    let lattice = Lattice::start().await;
    let binary = std::fs::read(PROVIDER).unwrap();
    let target = current_target();

    // Revision 1: a gzip'd PAR holding the keyvalue provider for this machine (and an
    // unrelated target), pulled with the host's registry credentials.
    let good = testing::provider_archive(
        &[(&target, &binary), ("riscv64-none", b"other target")],
        None,
        true,
    );
    let good_ref = lattice.registry.reference("providers/keyvalue:1");
    push_par(&lattice.registry, &good_ref, good).await;
    assert_eq!(
        lattice.apply(&spec("keyvalue", 1, &good_ref)).await,
        ApplyOutcome::Accepted
    );
    let entry = lattice
        .wait_for("keyvalue", |p| p.status.state == ProviderState::Running)
        .await;
    assert_eq!(entry.revision, Some(1.into()));
    let id: ProviderId = "keyvalue".parse().unwrap();
    let pid = lattice
        .host
        .provider_process_id(&id)
        .expect("a process runs");
    // It runs the extracted binary, at a path named by the binary's digest.
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    let digest = lattice_spec::ContentDigest::sha256_of(&binary);
    assert_eq!(
        exe,
        std::env::temp_dir()
            .join("lattice-providers")
            .join(digest.as_str().replace(':', "-"))
    );

    // Revision 2: an archive whose claims list a hash that is not the binary's.
    let wrong_hash = "AB".repeat(32);
    let bad = testing::provider_archive(&[(&target, &binary)], Some(&wrong_hash), false);
    let bad_ref = lattice.registry.reference("providers/keyvalue:2");
    push_par(&lattice.registry, &bad_ref, bad).await;
    assert_eq!(
        lattice.apply(&spec("keyvalue", 2, &bad_ref)).await,
        ApplyOutcome::Accepted
    );
    let entry = lattice
        .wait_for("keyvalue", |p| p.status.reason.is_some())
        .await;
    let reason = entry.status.reason.unwrap();
    assert_eq!(reason.code, ReasonCode::InvalidArtifact, "{reason:?}");
    assert!(
        reason
            .message
            .contains(&format!("but claims.jwt lists {wrong_hash}")),
        "{reason:?}"
    );
    assert!(reason.message.contains("revision 2"), "{reason:?}");
    // The previous revision keeps running, in the same process.
    assert_eq!(entry.status.state, ProviderState::Running);
    assert_eq!(entry.revision, Some(1.into()));
    assert_eq!(lattice.host.provider_process_id(&id), Some(pid));

    // Revision 3: an image whose layer is a WebAssembly component, not a provider archive.
    let component_ref = lattice.registry.reference("providers/keyvalue:3");
    push(
        &lattice.registry,
        &component_ref,
        binary,
        "application/wasm",
    )
    .await;
    assert_eq!(
        lattice.apply(&spec("keyvalue", 3, &component_ref)).await,
        ApplyOutcome::Accepted
    );
    let entry = lattice
        .wait_for("keyvalue", |p| {
            p.status
                .reason
                .as_ref()
                .is_some_and(|r| r.message.contains("revision 3"))
        })
        .await;
    let reason = entry.status.reason.unwrap();
    assert_eq!(reason.code, ReasonCode::InvalidArtifact, "{reason:?}");
    assert!(
        reason
            .message
            .contains("has no provider archive layer (media type application/vnd.wasmcloud.provider.archive.layer.v1+par"),
        "{reason:?}"
    );
    assert_eq!(entry.status.state, ProviderState::Running);
    assert_eq!(lattice.host.provider_process_id(&id), Some(pid));
}
