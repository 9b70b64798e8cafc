//! [`OciRegistryFetcher`]: OCI references pulled from OCI distribution registries.

use crate::{
    ArtifactFetcher, FetchError,
    oci_layout::{DOCKER_MANIFEST_MEDIA_TYPE, INDEX_MEDIA_TYPES, MANIFEST_MEDIA_TYPE},
    registry_pull::{Pull, Step, Wanted, is_lost_connection},
};
use bytes::{Bytes, BytesMut};
use futures::{StreamExt as _, future::BoxFuture};
use lattice_spec::ArtifactRef;
use oci_client::{
    Reference,
    client::{ClientConfig, ClientProtocol},
    errors::OciDistributionError,
    secrets::RegistryAuth,
};
use std::{
    collections::{BTreeMap, BTreeSet},
    fmt,
    net::IpAddr,
    sync::Arc,
    time::Duration,
};

/// How long one fetch from a registry may take, unless configured otherwise.
pub const DEFAULT_REGISTRY_DEADLINE: Duration = Duration::from_secs(60);

/// The manifest media types asked for: image manifests, and indexes so that one can be named
/// in the error.
const ACCEPTED_MANIFESTS: &[&str] = &[
    MANIFEST_MEDIA_TYPE,
    DOCKER_MANIFEST_MEDIA_TYPE,
    INDEX_MEDIA_TYPES[0],
    INDEX_MEDIA_TYPES[1],
];

/// At most this much of a layer is allocated up front, whatever its descriptor says.
const MAX_PREALLOCATION: usize = 16 * 1024 * 1024;

/// Pulls WebAssembly components from OCI distribution registries (`ghcr.io`, Docker Hub, a
/// `docker-registry`/`distribution` server, Harbor, Zot, …), as `wash oci push` pushes them.
///
/// **What is pulled.** The manifest the reference names (by tag, or by digest:
/// `registry/repo@sha256:…`), then from it the first layer with a WebAssembly media type
/// ([`WASM_LAYER_MEDIA_TYPES`](crate::WASM_LAYER_MEDIA_TYPES): `application/wasm` is what
/// `wash` 2.x pushes). The config blob is not read: nothing in it is needed to run the
/// component. Image indexes (multi-platform images) are refused with
/// [`FetchError::Unsupported`].
///
/// **What is verified.** A manifest fetched by digest must hash to that digest, a manifest
/// fetched by tag to the digest the registry announces for it, and the layer to its
/// descriptor's digest and size; anything else is [`FetchError::RegistryDigestMismatch`]
/// (kind [`DigestMismatch`](crate::FetchErrorKind::DigestMismatch)). A spec's own pin is
/// checked by [`fetch_pinned`](crate::fetch_pinned), as for every fetcher.
///
/// **Authentication**, per registry: anonymous unless [`basic_auth`] names credentials for it.
/// Registries that answer with a bearer-token challenge (Docker Hub, GHCR) get a token for
/// the credentials (or an anonymous one) from their token service.
///
/// **Transport.** HTTPS (rustls, the platform's trust store), except plain HTTP for
/// registries listed with [`insecure_registry`] and, by default, for loopback registries
/// (`localhost`, `127.0.0.0/8`, `[::1]`): traffic to them never leaves the machine, and a
/// local development registry (`docker-registry`, `wash`'s) serves plain HTTP.
/// [`loopback_plain_http(false)`](OciRegistryFetcherBuilder::loopback_plain_http) requires
/// HTTPS for them too.
///
/// **Deadline.** A whole fetch — authentication, manifest and layer — is bounded by
/// [`deadline`] (default [`DEFAULT_REGISTRY_DEADLINE`]): a registry that is down fails with
/// [`FetchError::Unreachable`] at once, one that accepts connections but does not answer with
/// [`FetchError::TimedOut`] when the deadline passes.
///
/// **TLS crypto.** The fetcher uses rustls' `ring` provider, the one the rest of the workspace
/// (async-nats) uses. If the process has not installed a default rustls `CryptoProvider`
/// when the fetcher first connects, it installs `ring`'s; install your own before then to
/// use another.
///
/// The fetcher is cheap to clone (clones share connections and tokens) and connects lazily:
/// building one does no I/O. It needs a Tokio runtime with the time driver enabled.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use lattice_artifact::{ArtifactFetcher, OciRegistryFetcher};
/// use std::time::Duration;
///
/// let fetcher = OciRegistryFetcher::builder()
///     .basic_auth("registry.acme.internal", "ci", "s3cret")
///     .insecure_registry("registry.acme.internal:5000")
///     .deadline(Duration::from_secs(30))
///     .build();
/// let wasm = fetcher.fetch(&"ghcr.io/acme/counter:1.0.0".parse()?).await?;
/// assert!(wasmparser::Parser::is_component(&wasm));
/// # Ok(()) }
/// ```
///
/// [`basic_auth`]: OciRegistryFetcherBuilder::basic_auth
/// [`insecure_registry`]: OciRegistryFetcherBuilder::insecure_registry
/// [`deadline`]: OciRegistryFetcherBuilder::deadline
#[derive(Clone)]
pub struct OciRegistryFetcher {
    settings: Arc<Settings>,
    clients: Arc<tokio::sync::OnceCell<Clients>>,
}

/// What an [`OciRegistryFetcherBuilder`] configures.
#[derive(Clone, Debug)]
struct Settings {
    credentials: BTreeMap<String, Credentials>,
    insecure: BTreeSet<String>,
    loopback_plain_http: bool,
    deadline: Duration,
}

/// A username and password; the password never appears in `Debug` output.
#[derive(Clone)]
struct Credentials {
    username: String,
    password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// One registry client per protocol: the protocol is fixed when a client is built.
struct Clients {
    https: oci_client::Client,
    http: oci_client::Client,
}

impl fmt::Debug for OciRegistryFetcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OciRegistryFetcher")
            .field("credentials", &self.settings.credentials)
            .field("insecure", &self.settings.insecure)
            .field("loopback_plain_http", &self.settings.loopback_plain_http)
            .field("deadline", &self.settings.deadline)
            .finish_non_exhaustive()
    }
}

impl Default for OciRegistryFetcher {
    fn default() -> Self {
        Self::new()
    }
}

impl OciRegistryFetcher {
    /// A fetcher with the defaults: anonymous pulls, HTTPS except for loopback registries,
    /// a deadline of [`DEFAULT_REGISTRY_DEADLINE`].
    #[must_use]
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder to configure credentials, plain-HTTP registries and the deadline.
    pub fn builder() -> OciRegistryFetcherBuilder {
        OciRegistryFetcherBuilder {
            settings: Settings {
                credentials: BTreeMap::new(),
                insecure: BTreeSet::new(),
                loopback_plain_http: true,
                deadline: DEFAULT_REGISTRY_DEADLINE,
            },
        }
    }

    /// How long one fetch may take.
    #[must_use]
    pub fn deadline(&self) -> Duration {
        self.settings.deadline
    }

    /// Whether `registry` (`host[:port]`, as in a reference) is reached over plain HTTP.
    ///
    /// ```
    /// use lattice_artifact::OciRegistryFetcher;
    ///
    /// let fetcher = OciRegistryFetcher::builder().insecure_registry("mirror.lan").build();
    /// assert!(fetcher.uses_plain_http("127.0.0.1:5000"));
    /// assert!(fetcher.uses_plain_http("mirror.lan:5000"));
    /// assert!(!fetcher.uses_plain_http("ghcr.io"));
    /// ```
    #[must_use]
    pub fn uses_plain_http(&self, registry: &str) -> bool {
        let registry = registry.to_ascii_lowercase();
        let insecure = &self.settings.insecure;
        insecure.contains(&registry)
            || insecure.contains(host_of(&registry))
            || (self.settings.loopback_plain_http && is_loopback(host_of(&registry)))
    }

    /// The username whose credentials are sent to `registry`; `None` for anonymous pulls.
    #[must_use]
    pub fn username_for(&self, registry: &str) -> Option<&str> {
        self.credentials_for(registry)
            .map(|credentials| credentials.username.as_str())
    }

    fn credentials_for(&self, registry: &str) -> Option<&Credentials> {
        let registry = registry.to_ascii_lowercase();
        lookup(&self.settings.credentials, &registry)
    }

    async fn clients(&self, pull: &Pull) -> Result<&Clients, FetchError> {
        self.clients
            .get_or_try_init(|| async {
                Ok(Clients {
                    https: registry_client(ClientProtocol::Https)?,
                    http: registry_client(ClientProtocol::Http)?,
                })
            })
            .await
            .map_err(|error: OciDistributionError| FetchError::Registry {
                artifact: pull.artifact.clone(),
                registry: pull.registry.clone(),
                detail: "cannot set up the registry client".to_owned(),
                source: Some(Box::new(error)),
            })
    }

    async fn pull(
        &self,
        pull: &Pull,
        reference: &Reference,
        wanted: Wanted,
    ) -> Result<Bytes, FetchError> {
        let clients = self.clients(pull).await?;
        let client = if pull.plain_http {
            &clients.http
        } else {
            &clients.https
        };
        let auth = match self.credentials_for(&pull.registry) {
            Some(credentials) => {
                RegistryAuth::Basic(credentials.username.clone(), credentials.password.clone())
            }
            None => RegistryAuth::Anonymous,
        };

        // oci-client checks the manifest against the reference's digest and the digest the
        // registry announces; it is checked again here so the guarantee does not rest on it.
        let (manifest_bytes, manifest_digest) = client
            .pull_manifest_raw(reference, &auth, ACCEPTED_MANIFESTS)
            .await
            .map_err(|error| pull.classify(&Step::Manifest, error))?;
        if let Some(expected) = reference.digest() {
            pull.verify("manifest".to_owned(), expected, &manifest_bytes)?;
        }
        let layer = pull.layer(&manifest_bytes, &manifest_digest, wanted)?;

        let digest = layer.digest().to_string();
        let step = Step::Layer(digest.clone());
        let mut stream = client
            .pull_blob_stream(reference, digest.as_str())
            .await
            .map_err(|error| pull.classify(&step, error))?
            .stream;
        let size = usize::try_from(layer.size()).unwrap_or(usize::MAX);
        let mut bytes = BytesMut::with_capacity(size.min(MAX_PREALLOCATION));
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|error| pull.classify_read(&step, error))?;
            if bytes.len() + chunk.len() > size {
                return Err(pull.registry_error(
                    format!("layer {digest} is larger than the {size} bytes its descriptor says"),
                    None,
                ));
            }
            bytes.extend_from_slice(&chunk);
        }
        pull.verify(format!("layer {digest}"), &digest, &bytes)?;
        if bytes.len() != size {
            return Err(pull.registry_error(
                format!(
                    "layer {digest} has {} bytes but its descriptor says {size}",
                    bytes.len()
                ),
                None,
            ));
        }
        Ok(bytes.freeze())
    }
}

impl OciRegistryFetcher {
    /// Pulls `artifact` for its layer of `wanted` kind, with this fetcher's credentials,
    /// plain-HTTP registries and deadline, checking every digest.
    async fn fetch_layer(
        &self,
        artifact: &ArtifactRef,
        wanted: Wanted,
    ) -> Result<Bytes, FetchError> {
        let Some(reference) = artifact.as_oci() else {
            return Err(FetchError::Unsupported {
                artifact: artifact.to_string(),
                detail: "this is a file reference and the OCI registry fetcher only serves \
                             OCI references: configure a file fetcher (FileFetcher) for it"
                    .to_owned(),
            });
        };
        let registry = reference.registry().to_owned();
        let pull = Pull {
            artifact: artifact.to_string(),
            plain_http: self.uses_plain_http(&registry),
            username: self.username_for(&registry).map(str::to_owned),
            repository: reference.repository().to_owned(),
            registry,
        };
        let deadline = self.settings.deadline;
        let attempts = async {
            match self.pull(&pull, reference, wanted).await {
                // A pooled connection the registry has closed since (it restarted, or
                // went away) fails the first request sent on it: try once more on a new
                // connection, which tells a registry that is down from one that is back.
                Err(error) if is_lost_connection(&error) => {
                    self.pull(&pull, reference, wanted).await
                }
                result => result,
            }
        };
        match tokio::time::timeout(deadline, attempts).await {
            Ok(result) => result,
            Err(_elapsed) => Err(FetchError::TimedOut {
                artifact: pull.artifact,
                registry: pull.registry,
                after: deadline,
            }),
        }
    }
}

impl ArtifactFetcher for OciRegistryFetcher {
    fn fetch<'a>(&'a self, artifact: &'a ArtifactRef) -> BoxFuture<'a, Result<Bytes, FetchError>> {
        Box::pin(self.fetch_layer(artifact, Wanted::Component))
    }

    /// Pulls the manifest's provider archive layer
    /// ([`PROVIDER_ARCHIVE_LAYER_MEDIA_TYPES`](crate::PROVIDER_ARCHIVE_LAYER_MEDIA_TYPES)), as
    /// wasmCloud 1.x `wash push` pushes a `.par`.
    fn fetch_provider_archive<'a>(
        &'a self,
        artifact: &'a ArtifactRef,
    ) -> BoxFuture<'a, Result<Bytes, FetchError>> {
        Box::pin(self.fetch_layer(artifact, Wanted::ProviderArchive))
    }
}

/// Configures an [`OciRegistryFetcher`]; from [`OciRegistryFetcher::builder`].
#[derive(Clone, Debug)]
#[must_use]
pub struct OciRegistryFetcherBuilder {
    settings: Settings,
}

impl OciRegistryFetcherBuilder {
    /// Sends HTTP basic credentials to `registry`.
    ///
    /// `registry` is matched against a reference's registry as written (`ghcr.io`,
    /// `localhost:5000`, `docker.io` for Docker Hub, whatever the reference abbreviates):
    /// either exactly, or by host alone when given without a port. Registries with no
    /// credentials are pulled from anonymously.
    pub fn basic_auth(
        mut self,
        registry: impl Into<String>,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.settings.credentials.insert(
            registry.into().to_ascii_lowercase(),
            Credentials {
                username: username.into(),
                password: password.into(),
            },
        );
        self
    }

    /// Reaches `registry` over plain HTTP instead of HTTPS; matched as in
    /// [`basic_auth`](Self::basic_auth).
    ///
    /// Only for registries on a network you trust: the component's bytes, and any
    /// credentials, travel unencrypted (digests are still verified).
    pub fn insecure_registry(mut self, registry: impl Into<String>) -> Self {
        self.settings
            .insecure
            .insert(registry.into().to_ascii_lowercase());
        self
    }

    /// Whether loopback registries (`localhost`, `127.0.0.0/8`, `[::1]`) are reached over
    /// plain HTTP; default true.
    pub fn loopback_plain_http(mut self, allowed: bool) -> Self {
        self.settings.loopback_plain_http = allowed;
        self
    }

    /// Bounds a whole fetch (authentication, manifest and layer); default
    /// [`DEFAULT_REGISTRY_DEADLINE`].
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.settings.deadline = deadline;
        self
    }

    /// The fetcher. Nothing is connected until the first fetch.
    #[must_use]
    pub fn build(self) -> OciRegistryFetcher {
        OciRegistryFetcher {
            settings: Arc::new(self.settings),
            clients: Arc::new(tokio::sync::OnceCell::new()),
        }
    }
}

/// Builds one registry client, after making sure rustls has a crypto provider.
fn registry_client(protocol: ClientProtocol) -> Result<oci_client::Client, OciDistributionError> {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race to another installer is fine: a provider is installed either way.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    oci_client::Client::try_from(ClientConfig {
        protocol,
        // Indexes are refused here; no platform is ever chosen for the caller.
        platform_resolver: None,
        user_agent: concat!("lattice-artifact/", env!("CARGO_PKG_VERSION")),
        ..ClientConfig::default()
    })
}

/// `map[registry]`, else `map[host]` for a registry written with a port.
fn lookup<'m, T>(map: &'m BTreeMap<String, T>, registry: &str) -> Option<&'m T> {
    map.get(registry).or_else(|| map.get(host_of(registry)))
}

/// The host of `host[:port]` (`[v6]:port` too), without brackets.
fn host_of(registry: &str) -> &str {
    if let Some(rest) = registry.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match registry.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => registry,
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host.ends_with(".localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registries_match_exactly_or_by_host() {
        let fetcher = OciRegistryFetcher::builder()
            .basic_auth("Registry.Example", "alice", "pw")
            .basic_auth("other.example:5000", "bob", "pw")
            .insecure_registry("mirror.lan")
            .build();
        assert_eq!(fetcher.username_for("registry.example:443"), Some("alice"));
        assert_eq!(fetcher.username_for("registry.example"), Some("alice"));
        assert_eq!(fetcher.username_for("other.example:5000"), Some("bob"));
        assert_eq!(fetcher.username_for("other.example"), None);
        assert_eq!(fetcher.username_for("ghcr.io"), None);
        assert!(fetcher.uses_plain_http("mirror.lan:5000"));
        assert!(!fetcher.uses_plain_http("registry.example"));
    }

    #[test]
    fn loopback_registries_use_plain_http_unless_told_otherwise() {
        let fetcher = OciRegistryFetcher::new();
        for registry in [
            "localhost:5000",
            "127.0.0.1:5000",
            "127.1.2.3",
            "[::1]:5000",
        ] {
            assert!(fetcher.uses_plain_http(registry), "{registry}");
        }
        for registry in ["ghcr.io", "10.0.0.1:5000", "localhost.example.com"] {
            assert!(!fetcher.uses_plain_http(registry), "{registry}");
        }
        let strict = OciRegistryFetcher::builder()
            .loopback_plain_http(false)
            .build();
        assert!(!strict.uses_plain_http("localhost:5000"));
        assert_eq!(strict.deadline(), DEFAULT_REGISTRY_DEADLINE);
    }

    #[test]
    fn debug_output_hides_passwords() {
        let fetcher = OciRegistryFetcher::builder()
            .basic_auth("ghcr.io", "alice", "hunter2")
            .build();
        let debug = format!("{fetcher:?}");
        assert!(debug.contains("alice"), "{debug}");
        assert!(!debug.contains("hunter2"), "{debug}");
    }

    #[test]
    fn hosts_are_split_from_ports() {
        assert_eq!(host_of("localhost:5000"), "localhost");
        assert_eq!(host_of("[::1]:5000"), "::1");
        assert_eq!(host_of("ghcr.io"), "ghcr.io");
    }

    #[tokio::test]
    async fn file_references_are_refused() {
        let error = OciRegistryFetcher::new()
            .fetch(&"./app.wasm".parse().unwrap())
            .await
            .unwrap_err();
        assert_eq!(error.kind(), crate::FetchErrorKind::Unsupported);
        assert!(error.to_string().contains("FileFetcher"), "{error}");
    }
}
