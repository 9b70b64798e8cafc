//! [`OciLayoutFetcher`]: OCI references served from local OCI image-layout directories.

use crate::{ArtifactFetcher, FetchError};
use bytes::Bytes;
use futures::future::BoxFuture;
use lattice_spec::ArtifactRef;
use oci_spec::image::{
    ANNOTATION_REF_NAME, Descriptor, ImageIndex, ImageManifest, MediaType, OciLayout,
};
use sha2::Digest as _;
use std::{
    io,
    path::{Path, PathBuf},
};

/// The layer media types that hold a WebAssembly component, in order of preference:
/// `application/wasm` (the CNCF WebAssembly OCI artifact format, what `wash oci push` 2.x
/// pushes), `application/vnd.wasm.content.layer.v1+wasm` (oci-client's and wasm-to-oci's), and
/// `application/vnd.module.wasm.content.layer.v1+wasm` (wasmCloud's before the CNCF format).
pub const WASM_LAYER_MEDIA_TYPES: &[&str] = &[
    "application/wasm",
    "application/vnd.wasm.content.layer.v1+wasm",
    "application/vnd.module.wasm.content.layer.v1+wasm",
];

pub(crate) const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub(crate) const DOCKER_MANIFEST_MEDIA_TYPE: &str =
    "application/vnd.docker.distribution.manifest.v2+json";
pub(crate) const INDEX_MEDIA_TYPES: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// Serves OCI references from local [OCI image-layout] directories, one per repository.
///
/// **Mapping.** The reference `registry/repository:tag` (normalised, so `nginx` is
/// `docker.io/library/nginx:latest`) is served from the layout directory
/// `<root>/<registry>/<repository>`: `ghcr.io/acme/counter:1.0.0` from
/// `<root>/ghcr.io/acme/counter`, `localhost:5000/app:1` from `<root>/localhost:5000/app`.
///
/// **Lookup.** In the layout's `index.json`, a reference by tag selects the manifest whose
/// `org.opencontainers.image.ref.name` annotation is the tag (or the whole reference); a
/// reference by digest (`…@sha256:…`, with or without a tag) selects the manifest with that
/// digest. From the image manifest, the first layer with a WebAssembly media type
/// ([`WASM_LAYER_MEDIA_TYPES`]) is the component. Every blob read — manifest and layer — is
/// checked against its descriptor's digest and size. Nested image indexes (multi-platform
/// images) are not supported. File references are refused with [`FetchError::Unsupported`].
///
/// [`testing::write_oci_layout`](crate::testing::write_oci_layout) (the `testing` feature) writes
/// such a layout.
///
/// [OCI image-layout]: https://github.com/opencontainers/image-spec/blob/main/image-layout.md
#[derive(Clone, Debug)]
pub struct OciLayoutFetcher {
    root: PathBuf,
}

impl OciLayoutFetcher {
    /// A fetcher serving layouts under `root`.
    #[must_use]
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The directory holding the layouts.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The layout directory an OCI reference is served from; `None` for a file reference.
    ///
    /// ```
    /// use lattice_artifact::OciLayoutFetcher;
    /// use std::path::Path;
    ///
    /// let fetcher = OciLayoutFetcher::new("/srv/oci");
    /// let dir = fetcher.layout_dir(&"ghcr.io/acme/counter:1.0.0".parse()?);
    /// assert_eq!(dir.as_deref(), Some(Path::new("/srv/oci/ghcr.io/acme/counter")));
    /// # Ok::<(), lattice_spec::ArtifactError>(())
    /// ```
    #[must_use]
    pub fn layout_dir(&self, artifact: &ArtifactRef) -> Option<PathBuf> {
        let reference = artifact.as_oci()?;
        Some(layout_dir(
            &self.root,
            reference.registry(),
            reference.repository(),
        ))
    }
}

/// `<root>/<registry>/<repository>`, the repository's `/`-separated parts as directories.
pub(crate) fn layout_dir(root: &Path, registry: &str, repository: &str) -> PathBuf {
    let mut dir = root.join(registry);
    dir.extend(repository.split('/'));
    dir
}

impl ArtifactFetcher for OciLayoutFetcher {
    fn fetch<'a>(&'a self, artifact: &'a ArtifactRef) -> BoxFuture<'a, Result<Bytes, FetchError>> {
        Box::pin(async move {
            let Some(reference) = artifact.as_oci() else {
                return Err(FetchError::Unsupported {
                    artifact: artifact.to_string(),
                    detail: "this is a file reference and the OCI layout fetcher only serves \
                             OCI references: configure a file fetcher (FileFetcher) for it"
                        .to_owned(),
                });
            };
            let layout = Layout {
                artifact: artifact.to_string(),
                dir: layout_dir(&self.root, reference.registry(), reference.repository()),
            };
            layout
                .fetch(reference.tag(), reference.digest(), &reference.whole())
                .await
        })
    }
}

/// The tag an image layout's `index.json` names a manifest with.
pub(crate) fn ref_name(descriptor: &Descriptor) -> Option<&str> {
    descriptor
        .annotations()
        .as_ref()?
        .get(ANNOTATION_REF_NAME)
        .map(String::as_str)
}

/// Whether `media_type` is an image index (OCI or Docker manifest list).
fn is_index(media_type: &MediaType) -> bool {
    INDEX_MEDIA_TYPES.contains(&media_type.as_ref())
}

/// Why manifest bytes are not an image manifest.
pub(crate) enum NotAnImage {
    /// They are an image index (a multi-platform image).
    Index,
    /// They are neither.
    Undecodable(serde_json::Error),
}

/// Decodes an image manifest, telling an image index (whatever its `mediaType` says) from
/// bytes that are no manifest at all.
pub(crate) fn decode_image_manifest(bytes: &[u8]) -> Result<ImageManifest, NotAnImage> {
    match serde_json::from_slice::<ImageManifest>(bytes) {
        Ok(image) if image.media_type().as_ref().is_some_and(is_index) => Err(NotAnImage::Index),
        Ok(image) => Ok(image),
        Err(_) if serde_json::from_slice::<ImageIndex>(bytes).is_ok() => Err(NotAnImage::Index),
        Err(error) => Err(NotAnImage::Undecodable(error)),
    }
}

/// The layer holding the component: the first of the most preferred WebAssembly media type.
pub(crate) fn wasm_layer(layers: &[Descriptor]) -> Option<&Descriptor> {
    WASM_LAYER_MEDIA_TYPES.iter().find_map(|wasm| {
        layers
            .iter()
            .find(|layer| layer.media_type().as_ref() == *wasm)
    })
}

/// One layout directory, while fetching one artifact from it.
struct Layout {
    artifact: String,
    dir: PathBuf,
}

impl Layout {
    async fn fetch(
        &self,
        tag: Option<&str>,
        digest: Option<&str>,
        whole: &str,
    ) -> Result<Bytes, FetchError> {
        if !tokio::fs::try_exists(&self.dir).await.unwrap_or(false) {
            return Err(self.not_found(format!(
                "no OCI image layout at {} (a reference `registry/repository:tag` is served \
                 from `<root>/<registry>/<repository>`): write the image there",
                self.dir.display()
            )));
        }
        let marker = self.read_metadata("oci-layout").await?;
        serde_json::from_slice::<OciLayout>(&marker)
            .map_err(|e| self.invalid(format!("`oci-layout` is not a layout marker: {e}")))?;
        let index: ImageIndex = serde_json::from_slice(&self.read_metadata("index.json").await?)
            .map_err(|e| self.invalid(format!("cannot decode `index.json`: {e}")))?;
        let manifest = self.select(&index, tag, digest, whole)?;
        let media_type = manifest.media_type();
        if is_index(media_type) {
            return Err(self.nested_index(manifest.digest().as_ref()));
        }
        if media_type.as_ref() != MANIFEST_MEDIA_TYPE
            && media_type.as_ref() != DOCKER_MANIFEST_MEDIA_TYPE
        {
            return Err(self.invalid(format!(
                "manifest {} has media type `{media_type}`, not an image manifest",
                manifest.digest(),
            )));
        }
        let manifest_bytes = self.read_blob(manifest).await?;
        let image = decode_image_manifest(&manifest_bytes).map_err(|e| match e {
            NotAnImage::Index => self.nested_index(manifest.digest().as_ref()),
            NotAnImage::Undecodable(e) => {
                self.invalid(format!("cannot decode manifest {}: {e}", manifest.digest()))
            }
        })?;
        let layer = wasm_layer(image.layers()).ok_or_else(|| {
            let found: Vec<&str> = image
                .layers()
                .iter()
                .map(|l| l.media_type().as_ref())
                .collect();
            self.invalid(format!(
                "manifest {} has no WebAssembly layer (media type {}); its layers are: [{}]",
                manifest.digest(),
                WASM_LAYER_MEDIA_TYPES.join(" or "),
                found.join(", ")
            ))
        })?;
        self.read_blob(layer).await.map(Bytes::from)
    }

    fn select<'i>(
        &self,
        index: &'i ImageIndex,
        tag: Option<&str>,
        digest: Option<&str>,
        whole: &str,
    ) -> Result<&'i Descriptor, FetchError> {
        let index_path = self.dir.join("index.json");
        if let Some(digest) = digest {
            return index
                .manifests()
                .iter()
                .find(|m| m.digest().as_ref() == digest)
                .ok_or_else(|| {
                    let digests: Vec<&str> = index
                        .manifests()
                        .iter()
                        .map(|m| m.digest().as_ref())
                        .collect();
                    self.not_found(format!(
                        "no manifest with digest {digest} in {}; it lists: [{}]",
                        index_path.display(),
                        digests.join(", ")
                    ))
                });
        }
        // The reference parser gives every reference without a digest a tag (`latest` at worst).
        let tag = tag.unwrap_or("latest");
        index
            .manifests()
            .iter()
            .find(|m| ref_name(m).is_some_and(|name| name == tag || name == whole))
            .ok_or_else(|| {
                let tags: Vec<&str> = index.manifests().iter().filter_map(ref_name).collect();
                let present = if tags.is_empty() {
                    "the layout has no tagged manifests".to_owned()
                } else {
                    format!("tags present: {}", tags.join(", "))
                };
                self.not_found(format!(
                    "no tag `{tag}` in {}; {present}",
                    index_path.display()
                ))
            })
    }

    /// Reads `oci-layout` or `index.json`: missing means the directory is no valid layout.
    async fn read_metadata(&self, name: &str) -> Result<Vec<u8>, FetchError> {
        let path = self.dir.join(name);
        match tokio::fs::read(&path).await {
            Ok(bytes) => Ok(bytes),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(self.invalid(format!("the `{name}` file is missing")))
            }
            Err(error) => Err(FetchError::Io {
                artifact: self.artifact.clone(),
                path,
                error,
            }),
        }
    }

    /// Reads a blob and checks it against its descriptor's digest and size.
    async fn read_blob(&self, descriptor: &Descriptor) -> Result<Vec<u8>, FetchError> {
        let digest = descriptor.digest().as_ref();
        let (algorithm, hex) = match digest.split_once(':') {
            Some((algorithm @ ("sha256" | "sha512"), hex))
                if hex.len() == if algorithm == "sha256" { 64 } else { 128 }
                    && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) =>
            {
                (algorithm, hex)
            }
            // Checked before the digest becomes a path, so `index.json` cannot point outside.
            _ => {
                return Err(self.invalid(format!(
                    "descriptor digest `{digest}` is not `sha256:` or `sha512:` and lowercase hex"
                )));
            }
        };
        let path = self.dir.join("blobs").join(algorithm).join(hex);
        let bytes = match tokio::fs::read(&path).await {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(self.not_found(format!(
                    "blob {digest} is missing from the layout (expected at {})",
                    path.display()
                )));
            }
            Err(error) => {
                return Err(FetchError::Io {
                    artifact: self.artifact.clone(),
                    path,
                    error,
                });
            }
        };
        let actual = if algorithm == "sha256" {
            format!("sha256:{:x}", sha2::Sha256::digest(&bytes))
        } else {
            format!("sha512:{:x}", sha2::Sha512::digest(&bytes))
        };
        if actual != digest {
            return Err(FetchError::DigestMismatch {
                artifact: Some(self.artifact.clone()),
                blob: Some(path),
                expected: digest.to_owned(),
                actual,
            });
        }
        if bytes.len() as u64 != descriptor.size() {
            return Err(self.invalid(format!(
                "the descriptor of blob {digest} says {} bytes but the blob has {}",
                descriptor.size(),
                bytes.len()
            )));
        }
        Ok(bytes)
    }

    fn not_found(&self, detail: String) -> FetchError {
        FetchError::NotFound {
            artifact: self.artifact.clone(),
            detail,
        }
    }

    fn invalid(&self, detail: String) -> FetchError {
        FetchError::InvalidLayout {
            artifact: self.artifact.clone(),
            layout: self.dir.clone(),
            detail,
        }
    }

    fn nested_index(&self, digest: &str) -> FetchError {
        FetchError::Unsupported {
            artifact: self.artifact.clone(),
            detail: format!(
                "{digest} in {} is an image index (a multi-platform image); only single \
                 image manifests are supported: reference the WebAssembly manifest by digest",
                self.dir.display()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_map_to_registry_and_repository_directories() {
        let fetcher = OciLayoutFetcher::new("/oci");
        let dir = |r: &str| fetcher.layout_dir(&r.parse().unwrap()).unwrap();
        assert_eq!(
            dir("ghcr.io/acme/app:1"),
            Path::new("/oci/ghcr.io/acme/app")
        );
        assert_eq!(
            dir("localhost:5000/app:2"),
            Path::new("/oci/localhost:5000/app")
        );
        assert_eq!(dir("nginx"), Path::new("/oci/docker.io/library/nginx"));
        assert_eq!(fetcher.layout_dir(&"./a.wasm".parse().unwrap()), None);
    }

    #[tokio::test]
    async fn file_references_are_refused() {
        let error = OciLayoutFetcher::new("/oci")
            .fetch(&"./app.wasm".parse().unwrap())
            .await
            .unwrap_err();
        assert_eq!(error.kind(), crate::FetchErrorKind::Unsupported);
        assert!(error.to_string().contains("FileFetcher"), "{error}");
    }

    #[tokio::test]
    async fn nested_indexes_are_refused_by_descriptor_and_by_content() {
        let root = tempfile::tempdir().unwrap();
        let wasm = crate::testing::component_importing(&[]);
        let image = crate::testing::write_oci_image(root.path(), "ghcr.io/a/app:1", &wasm).unwrap();
        let fetcher = OciLayoutFetcher::new(root.path());
        let app = "ghcr.io/a/app:1".parse().unwrap();
        assert_eq!(fetcher.fetch(&app).await.unwrap(), wasm);

        // The manifest blob is an index although its descriptor says image manifest.
        let nested = br#"{"schemaVersion":2,"manifests":[]}"#;
        let digest = lattice_spec::ContentDigest::sha256_of(nested);
        let hex = &digest.as_str()["sha256:".len()..];
        std::fs::write(image.layout_dir.join("blobs/sha256").join(hex), nested).unwrap();
        let index_path = image.layout_dir.join("index.json");
        let mut index: ImageIndex =
            serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
        let mut manifests = index.manifests().clone();
        manifests[0].set_digest(digest.as_str().parse().unwrap());
        manifests[0].set_size(nested.len() as u64);
        index.set_manifests(manifests.clone());
        std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
        let error = fetcher.fetch(&app).await.unwrap_err();
        assert_eq!(error.kind(), crate::FetchErrorKind::Unsupported, "{error}");

        // The descriptor itself says image index.
        manifests[0].set_media_type(MediaType::ImageIndex);
        index.set_manifests(manifests);
        std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
        let error = fetcher.fetch(&app).await.unwrap_err();
        assert_eq!(error.kind(), crate::FetchErrorKind::Unsupported, "{error}");
        assert!(error.to_string().contains("image index"), "{error}");
    }
}
