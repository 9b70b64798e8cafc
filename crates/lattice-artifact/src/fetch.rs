//! [`ArtifactFetcher`] and the fetchers for local files, plus pin verification.

use crate::{FetchError, OciLayoutFetcher, OciRegistryFetcher};
use bytes::Bytes;
use futures::future::BoxFuture;
use lattice_spec::{ArtifactRef, ComponentSpec, ContentDigest};
use sha2::Digest as _;
use std::{
    io,
    path::{Path, PathBuf},
};

/// Gets the bytes of a component's artifact.
///
/// The host holds one as `Arc<dyn ArtifactFetcher>`. The method returns a boxed future so the
/// trait stays dyn-compatible without a macro crate. An implementation checks what it can
/// (an OCI layout's blob digests, for instance); the spec's own digest pin is checked by
/// [`verify_pin`] or [`fetch_pinned`], whatever the fetcher.
///
/// ```
/// use bytes::Bytes;
/// use futures::future::BoxFuture;
/// use lattice_artifact::{ArtifactFetcher, FetchError};
/// use lattice_spec::ArtifactRef;
///
/// /// Serves the same bytes for every reference.
/// struct Always(Bytes);
///
/// impl ArtifactFetcher for Always {
///     fn fetch<'a>(&'a self, _: &'a ArtifactRef) -> BoxFuture<'a, Result<Bytes, FetchError>> {
///         Box::pin(async move { Ok(self.0.clone()) })
///     }
/// }
/// ```
pub trait ArtifactFetcher: Send + Sync + 'static {
    /// Fetches the artifact's bytes.
    ///
    /// # Errors
    ///
    /// [`FetchError`]: the artifact is missing, unreadable, of a kind this fetcher does not
    /// serve, corrupt, or stored in an invalid layout.
    fn fetch<'a>(&'a self, artifact: &'a ArtifactRef) -> BoxFuture<'a, Result<Bytes, FetchError>>;

    /// Fetches a capability provider's archive (a wasmCloud provider archive, `.par`): for
    /// an OCI reference, the manifest's provider archive layer
    /// ([`PROVIDER_ARCHIVE_LAYER_MEDIA_TYPES`](crate::PROVIDER_ARCHIVE_LAYER_MEDIA_TYPES)).
    /// Read it with [`provider_archive_binary`](crate::provider_archive_binary).
    ///
    /// The default refuses with [`FetchError::Unsupported`]; [`OciRegistryFetcher`] and
    /// [`DefaultFetcher`] serve registries.
    ///
    /// # Errors
    ///
    /// As [`fetch`](Self::fetch); [`FetchError::InvalidManifest`] when the manifest has no
    /// provider archive layer.
    fn fetch_provider_archive<'a>(
        &'a self,
        artifact: &'a ArtifactRef,
    ) -> BoxFuture<'a, Result<Bytes, FetchError>> {
        let error = FetchError::Unsupported {
            artifact: artifact.to_string(),
            detail: "this fetcher does not fetch provider archives: configure the host with \
                     an OCI registry fetcher (DefaultFetcher or OciRegistryFetcher)"
                .to_owned(),
        };
        Box::pin(async move { Err(error) })
    }
}

/// Checks that `bytes` hash to the pinned digest (`sha256:` or `sha512:`).
///
/// ```
/// use lattice_artifact::{FetchErrorKind, verify_pin};
/// use lattice_spec::ContentDigest;
///
/// let pin = ContentDigest::sha256_of(b"component bytes");
/// assert!(verify_pin(b"component bytes", &pin).is_ok());
/// assert_eq!(verify_pin(b"other bytes", &pin).unwrap_err().kind(), FetchErrorKind::DigestMismatch);
/// ```
///
/// # Errors
///
/// [`FetchError::DigestMismatch`] (without the artifact's name: see
/// [`FetchError::for_artifact`]) when the digest differs; [`FetchError::Unsupported`] for an
/// algorithm other than sha256 and sha512.
pub fn verify_pin(bytes: &[u8], pin: &ContentDigest) -> Result<(), FetchError> {
    let algorithm = pin
        .as_str()
        .split_once(':')
        .map_or("", |(algorithm, _)| algorithm);
    // `ContentDigest` admits only sha256 and sha512; kept for a future algorithm.
    let Some(actual) = digest_with(algorithm, bytes) else {
        return Err(FetchError::Unsupported {
            artifact: "(pinned)".to_owned(),
            detail: format!("pin `{pin}` uses a digest algorithm other than sha256/sha512"),
        });
    };
    if actual == pin.as_str() {
        Ok(())
    } else {
        Err(FetchError::DigestMismatch {
            artifact: None,
            blob: None,
            expected: pin.to_string(),
            actual,
        })
    }
}

/// `algorithm:hex` of `bytes` for `sha256` and `sha512`; `None` for another algorithm.
pub(crate) fn digest_with(algorithm: &str, bytes: &[u8]) -> Option<String> {
    match algorithm {
        "sha256" => Some(format!("sha256:{:x}", sha2::Sha256::digest(bytes))),
        "sha512" => Some(format!("sha512:{:x}", sha2::Sha512::digest(bytes))),
        _ => None,
    }
}

/// Fetches `spec`'s artifact and, when the spec pins a digest, checks the bytes against it.
///
/// # Errors
///
/// Whatever `fetcher` returns, and [`FetchError::DigestMismatch`] naming the artifact when the
/// bytes are not the pinned ones.
pub async fn fetch_pinned(
    fetcher: &dyn ArtifactFetcher,
    spec: &ComponentSpec,
) -> Result<Bytes, FetchError> {
    let bytes = fetcher.fetch(spec.artifact()).await?;
    if let Some(pin) = spec.digest_pin() {
        verify_pin(&bytes, pin).map_err(|e| e.for_artifact(spec.artifact().as_str()))?;
    }
    Ok(bytes)
}

/// Reads file references (`file:///srv/app.wasm`, `/srv/app.wasm`, `./app.wasm`) from the
/// local filesystem.
///
/// Absolute paths are read as they are; relative ones (`./app.wasm`, `../app.wasm`) resolve
/// against the base directory given to [`FileFetcher::new`], not the process's working
/// directory. OCI references are refused with [`FetchError::Unsupported`].
#[derive(Clone, Debug)]
pub struct FileFetcher {
    base_dir: PathBuf,
}

impl FileFetcher {
    /// A fetcher resolving relative paths against `base_dir`.
    #[must_use]
    pub fn new(base_dir: impl Into<PathBuf>) -> Self {
        Self {
            base_dir: base_dir.into(),
        }
    }

    /// The directory relative paths resolve against.
    #[must_use]
    pub fn base_dir(&self) -> &Path {
        &self.base_dir
    }

    /// The path a file reference is read from; `None` for an OCI reference.
    #[must_use]
    pub fn resolve(&self, artifact: &ArtifactRef) -> Option<PathBuf> {
        let path = artifact.as_file()?;
        Some(if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base_dir.join(path.strip_prefix(".").unwrap_or(path))
        })
    }
}

impl ArtifactFetcher for FileFetcher {
    fn fetch<'a>(&'a self, artifact: &'a ArtifactRef) -> BoxFuture<'a, Result<Bytes, FetchError>> {
        Box::pin(async move {
            let Some(path) = self.resolve(artifact) else {
                return Err(FetchError::Unsupported {
                    artifact: artifact.to_string(),
                    detail: "this is an OCI reference and the file fetcher only reads local \
                             files: configure an OCI fetcher (OciRegistryFetcher or OciLayoutFetcher) \
                             for it"
                        .to_owned(),
                });
            };
            match tokio::fs::read(&path).await {
                Ok(bytes) => Ok(Bytes::from(bytes)),
                Err(error) if error.kind() == io::ErrorKind::NotFound => {
                    Err(FetchError::NotFound {
                        artifact: artifact.to_string(),
                        detail: format!(
                            "no file at {}; relative paths resolve against {}",
                            path.display(),
                            self.base_dir.display()
                        ),
                    })
                }
                Err(error) => Err(FetchError::Io {
                    artifact: artifact.to_string(),
                    path,
                    error,
                }),
            }
        })
    }
}

/// Routes file references to a [`FileFetcher`], and OCI references to an
/// [`OciLayoutFetcher`] (local OCI image layouts) and an [`OciRegistryFetcher`] (registries).
/// Any of them may be left out; a reference nothing configured serves is refused with
/// [`FetchError::Unsupported`] saying what to configure.
///
/// **OCI references.** With both configured, a reference whose layout directory exists
/// under the layout root is served from the layout (a local mirror wins, and works offline);
/// any other goes to the registry. With only one configured, it serves every OCI reference.
///
/// [`DefaultFetcher::new`] (and `default()`) reads files with relative paths resolved against
/// the process's working directory and pulls OCI references from their registries with
/// [`OciRegistryFetcher::new`] (anonymous, HTTPS except for loopback registries, a 60 s
/// deadline); it configures no layout root, since there is no sensible default one.
/// [`DefaultFetcher::empty`] serves nothing.
///
/// ```
/// use lattice_artifact::{DefaultFetcher, FileFetcher, OciLayoutFetcher, OciRegistryFetcher};
///
/// let fetcher = DefaultFetcher::empty()
///     .with_files(FileFetcher::new("/srv/components"))
///     .with_oci_layouts(OciLayoutFetcher::new("/srv/oci"))
///     .with_registry(OciRegistryFetcher::builder().basic_auth("ghcr.io", "ci", "token").build());
/// # let _ = fetcher;
/// ```
#[derive(Clone, Debug)]
pub struct DefaultFetcher {
    files: Option<FileFetcher>,
    oci: Option<OciLayoutFetcher>,
    registry: Option<OciRegistryFetcher>,
}

impl Default for DefaultFetcher {
    fn default() -> Self {
        Self::new()
    }
}

impl DefaultFetcher {
    /// A fetcher reading files relative to the working directory (`FileFetcher::new(".")`)
    /// and pulling OCI references from registries (`OciRegistryFetcher::new()`), with no OCI
    /// layouts configured.
    #[must_use]
    pub fn new() -> Self {
        Self::empty()
            .with_files(FileFetcher::new("."))
            .with_registry(OciRegistryFetcher::new())
    }

    /// A fetcher with neither files, OCI layouts nor registries configured.
    #[must_use]
    pub fn empty() -> Self {
        Self {
            files: None,
            oci: None,
            registry: None,
        }
    }

    /// Serves file references with `files`.
    #[must_use]
    pub fn with_files(mut self, files: FileFetcher) -> Self {
        self.files = Some(files);
        self
    }

    /// Serves OCI references that have a layout under `oci`'s root from it.
    #[must_use]
    pub fn with_oci_layouts(mut self, oci: OciLayoutFetcher) -> Self {
        self.oci = Some(oci);
        self
    }

    /// Pulls OCI references from registries with `registry`.
    #[must_use]
    pub fn with_registry(mut self, registry: OciRegistryFetcher) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Serves no OCI references from registries (files and layouts only).
    #[must_use]
    pub fn without_registry(mut self) -> Self {
        self.registry = None;
        self
    }
}

impl ArtifactFetcher for DefaultFetcher {
    fn fetch<'a>(&'a self, artifact: &'a ArtifactRef) -> BoxFuture<'a, Result<Bytes, FetchError>> {
        let unsupported = |detail: &str| {
            let error = FetchError::Unsupported {
                artifact: artifact.to_string(),
                detail: detail.to_owned(),
            };
            Box::pin(async move { Err(error) }) as BoxFuture<'a, _>
        };
        if artifact.as_file().is_some() {
            return match &self.files {
                Some(files) => files.fetch(artifact),
                None => unsupported(
                    "this host serves no local files: configure the fetcher with \
                     `DefaultFetcher::with_files(FileFetcher::new(base_dir))`",
                ),
            };
        }
        match (&self.oci, &self.registry) {
            (Some(oci), None) => oci.fetch(artifact),
            (None, Some(registry)) => registry.fetch(artifact),
            (Some(oci), Some(registry)) => Box::pin(async move {
                let has_layout = match oci.layout_dir(artifact) {
                    Some(dir) => tokio::fs::try_exists(dir).await.unwrap_or(false),
                    None => false,
                };
                if has_layout {
                    oci.fetch(artifact).await
                } else {
                    registry.fetch(artifact).await
                }
            }),
            (None, None) => unsupported(
                "this host serves no OCI references: configure the fetcher with \
                 `DefaultFetcher::with_registry(OciRegistryFetcher::new())` or \
                 `DefaultFetcher::with_oci_layouts(OciLayoutFetcher::new(root))`",
            ),
        }
    }

    /// Pulls provider archives from registries with the configured [`OciRegistryFetcher`];
    /// file references and OCI layouts are not served (refused with
    /// [`FetchError::Unsupported`]).
    fn fetch_provider_archive<'a>(
        &'a self,
        artifact: &'a ArtifactRef,
    ) -> BoxFuture<'a, Result<Bytes, FetchError>> {
        match (&self.registry, artifact.as_oci()) {
            (Some(registry), Some(_)) => registry.fetch_provider_archive(artifact),
            (registry, oci) => {
                let detail = if oci.is_none() {
                    "provider archives are pulled from OCI registries; a file reference names \
                     the provider's executable itself"
                } else {
                    debug_assert!(registry.is_none());
                    "this host pulls from no OCI registries: configure the fetcher with \
                     `DefaultFetcher::with_registry(OciRegistryFetcher::new())`"
                };
                let error = FetchError::Unsupported {
                    artifact: artifact.to_string(),
                    detail: detail.to_owned(),
                };
                Box::pin(async move { Err(error) })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FetchErrorKind;

    fn artifact(value: &str) -> ArtifactRef {
        value.parse().unwrap()
    }

    #[test]
    fn relative_paths_resolve_against_the_base_directory() {
        let fetcher = FileFetcher::new("/srv/components");
        assert_eq!(
            fetcher.resolve(&artifact("./app.wasm")),
            Some(PathBuf::from("/srv/components/app.wasm"))
        );
        assert_eq!(
            fetcher.resolve(&artifact("../app.wasm")),
            Some(PathBuf::from("/srv/components/../app.wasm"))
        );
        assert_eq!(
            fetcher.resolve(&artifact("file:///opt/app.wasm")),
            Some(PathBuf::from("/opt/app.wasm"))
        );
        assert_eq!(fetcher.resolve(&artifact("ghcr.io/acme/app:1")), None);
    }

    #[test]
    fn sha256_and_sha512_pins_are_checked() {
        let bytes = b"\0asm component";
        let sha512 =
            ContentDigest::new(format!("sha512:{:x}", sha2::Sha512::digest(bytes))).unwrap();
        assert!(verify_pin(bytes, &sha512).is_ok());
        assert!(verify_pin(bytes, &ContentDigest::sha256_of(bytes)).is_ok());
        let error = verify_pin(b"tampered", &sha512).unwrap_err();
        assert_eq!(error.kind(), FetchErrorKind::DigestMismatch);
        assert!(error.is_pin_mismatch());
        assert!(error.to_string().contains(sha512.as_str()), "{error}");
    }

    #[tokio::test]
    async fn file_fetcher_refuses_oci_references() {
        let error = FileFetcher::new("/")
            .fetch(&artifact("ghcr.io/acme/app:1"))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), FetchErrorKind::Unsupported);
        assert!(error.to_string().contains("OciLayoutFetcher"), "{error}");
    }

    #[tokio::test]
    async fn default_fetcher_names_what_to_configure() {
        let fetcher = DefaultFetcher::empty();
        let file = fetcher.fetch(&artifact("./app.wasm")).await.unwrap_err();
        assert_eq!(file.kind(), FetchErrorKind::Unsupported);
        assert!(file.to_string().contains("with_files"), "{file}");
        let oci = fetcher.fetch(&artifact("ghcr.io/a/b:1")).await.unwrap_err();
        assert_eq!(oci.kind(), FetchErrorKind::Unsupported);
        assert!(oci.to_string().contains("with_oci_layouts"), "{oci}");
        assert!(oci.to_string().contains("with_registry"), "{oci}");
        let oci = DefaultFetcher::new()
            .without_registry()
            .fetch(&artifact("ghcr.io/a/b:1"))
            .await
            .unwrap_err();
        assert_eq!(oci.kind(), FetchErrorKind::Unsupported);
    }
}
