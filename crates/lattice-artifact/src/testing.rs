//! Real artifacts for tests and demos: component binaries built from WAT text at runtime,
//! OCI image layouts written to disk, and an in-memory fetcher.
//!
//! The binaries are genuine WebAssembly components (compiled with the `wat` crate), so they
//! pass or fail [`WasmComponentValidator`](crate::WasmComponentValidator) for real.
//!
//! ```
//! use lattice_artifact::{FetchErrorKind, testing};
//!
//! let component = testing::component_importing(&["wasi:keyvalue/store@0.2.0"]);
//! assert!(wasmparser::Parser::is_component(&component));
//! assert!(wasmparser::Parser::is_core_wasm(&testing::core_module()));
//! ```

use crate::{
    ArtifactFetcher, FetchError,
    oci_layout::{WASM_LAYER_MEDIA_TYPES, layout_dir, ref_name},
};
use bytes::Bytes;
use futures::future::BoxFuture;
use lattice_spec::{ArtifactRef, ContentDigest};
use oci_spec::image::{
    ANNOTATION_REF_NAME, Descriptor, ImageIndex, ImageIndexBuilder, ImageManifestBuilder,
    MediaType, OciLayoutBuilder,
};
use serde_json::json;
use std::{
    collections::HashMap,
    fmt::Write as _,
    io,
    path::{Path, PathBuf},
    sync::{Mutex, PoisonError},
};

/// The media type of the config blob [`write_oci_layout`] writes (the CNCF WebAssembly OCI
/// artifact format).
pub const WASM_CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";

/// A component importing `imports` and exporting nothing. See [`component`].
///
/// # Panics
///
/// As [`component`].
#[must_use]
pub fn component_importing(imports: &[&str]) -> Vec<u8> {
    component(imports, &[])
}

/// A component importing `imports` and exporting `exports`.
///
/// An import with an interface name (containing `:`, like `wasi:keyvalue/store@0.2.0`) is an
/// empty instance type; any other name (like `greeting`) is a function of no parameters. Each
/// export is an empty instance. The WAT is minimal but the binary is a valid component.
///
/// # Panics
///
/// When a name is not a valid component import or export name (the WAT does not compile).
#[must_use]
pub fn component(imports: &[&str], exports: &[&str]) -> Vec<u8> {
    let mut wat = String::from("(component\n");
    for name in imports {
        let kind = if name.contains(':') {
            "(instance)"
        } else {
            "(func)"
        };
        let _ = writeln!(wat, "  (import {} {kind})", quoted(name));
    }
    if !exports.is_empty() {
        wat.push_str("  (instance $exported)\n");
    }
    for name in exports {
        let _ = writeln!(wat, "  (export {} (instance $exported))", quoted(name));
    }
    wat.push(')');
    compile(&wat)
}

/// A core WebAssembly module exporting a function `run` — not a component.
#[must_use]
pub fn core_module() -> Vec<u8> {
    compile(r#"(module (func (export "run")))"#)
}

/// Compiles WebAssembly text (`(component …)` or `(module …)`) to a binary.
///
/// # Panics
///
/// When the text does not compile; the panic message is `wat`'s.
#[must_use]
pub fn compile(wat: &str) -> Vec<u8> {
    wat::parse_str(wat).unwrap_or_else(|e| panic!("test WAT does not compile: {e}\n{wat}"))
}

fn quoted(name: &str) -> String {
    assert!(
        !name.contains(['"', '\\']),
        "component names cannot contain quotes or backslashes: {name:?}"
    );
    format!("\"{name}\"")
}

/// What [`write_oci_image`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct OciImage {
    /// The layout directory (`<root>/<registry>/<repository>`).
    pub layout_dir: PathBuf,
    /// The digest of the image manifest: reference the image as `registry/repo@<digest>`.
    pub manifest_digest: ContentDigest,
    /// The digest of the WebAssembly layer (the component bytes).
    pub layer_digest: ContentDigest,
}

/// Writes `wasm` as the image `reference` (`registry/repository:tag`) into an OCI image layout
/// under `root`, where [`OciLayoutFetcher::new(root)`](crate::OciLayoutFetcher) finds it, and
/// returns the layout directory. See [`write_oci_image`].
///
/// # Errors
///
/// As [`write_oci_image`].
pub fn write_oci_layout(root: &Path, reference: &str, wasm: &[u8]) -> io::Result<PathBuf> {
    write_oci_image(root, reference, wasm).map(|image| image.layout_dir)
}

/// Writes `wasm` as the image `reference` into an OCI image layout under `root`: the
/// `oci-layout` marker, the config blob, the layer blob (media type `application/wasm`), the
/// image manifest, and `index.json` naming the manifest with the tag in the
/// `org.opencontainers.image.ref.name` annotation. All digests and sizes are correct.
///
/// An existing layout in the same directory is kept: the new manifest is added to its
/// `index.json`, replacing one with the same tag, so several tags can live side by side.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// use lattice_artifact::{ArtifactFetcher, OciLayoutFetcher, testing};
///
/// let root = tempfile::tempdir()?;
/// let wasm = testing::component_importing(&[]);
/// let image = testing::write_oci_image(root.path(), "ghcr.io/acme/app:1.0.0", &wasm)?;
///
/// let fetcher = OciLayoutFetcher::new(root.path());
/// let by_tag = fetcher.fetch(&"ghcr.io/acme/app:1.0.0".parse()?).await?;
/// let by_digest = format!("ghcr.io/acme/app@{}", image.manifest_digest);
/// assert_eq!(by_tag, wasm);
/// assert_eq!(fetcher.fetch(&by_digest.parse()?).await?, wasm);
/// # Ok(()) })
/// # }
/// ```
///
/// # Errors
///
/// [`io::ErrorKind::InvalidInput`] when `reference` is not an OCI reference with a tag and
/// without a digest (a digest cannot be chosen; it is computed), or the existing `index.json`
/// is not JSON; any error writing the files.
pub fn write_oci_image(root: &Path, reference: &str, wasm: &[u8]) -> io::Result<OciImage> {
    let invalid = |message: String| io::Error::new(io::ErrorKind::InvalidInput, message);
    let artifact = ArtifactRef::parse(reference).map_err(|e| invalid(e.to_string()))?;
    let oci = artifact
        .as_oci()
        .ok_or_else(|| invalid(format!("`{reference}` is not an OCI reference")))?;
    let tag = match (oci.tag(), oci.digest()) {
        (Some(tag), None) => tag,
        _ => {
            return Err(invalid(format!(
                "`{reference}` must have a tag and no digest: the digest is computed"
            )));
        }
    };
    let dir = layout_dir(root, oci.registry(), oci.repository());
    std::fs::create_dir_all(dir.join("blobs").join("sha256"))?;
    let marker = OciLayoutBuilder::default()
        .image_layout_version("1.0.0")
        .build()
        .map_err(io::Error::other)?;
    std::fs::write(dir.join("oci-layout"), serde_json::to_vec(&marker)?)?;

    let layer = write_blob(&dir, wasm)?;
    let config = serde_json::to_vec(&json!({
        "architecture": "wasm",
        "os": "wasip2",
        "layerDigests": [layer.digest.as_str()],
    }))?;
    let config = write_blob(&dir, &config)?;
    let manifest = ImageManifestBuilder::default()
        .schema_version(2_u32)
        .media_type(MediaType::ImageManifest)
        .artifact_type(MediaType::from("application/wasm"))
        .config(config.descriptor(MediaType::from(WASM_CONFIG_MEDIA_TYPE))?)
        .layers([layer.descriptor(MediaType::from(WASM_LAYER_MEDIA_TYPES[0]))?])
        .build()
        .map_err(io::Error::other)?;
    let manifest = write_blob(&dir, &serde_json::to_vec(&manifest)?)?;

    let index_path = dir.join("index.json");
    let mut manifests = match std::fs::read(&index_path) {
        Ok(bytes) => serde_json::from_slice::<ImageIndex>(&bytes)
            .map_err(|e| invalid(format!("{}: {e}", index_path.display())))?
            .manifests()
            .clone(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    manifests.retain(|m| ref_name(m) != Some(tag));
    let mut descriptor = manifest.descriptor(MediaType::ImageManifest)?;
    descriptor.set_annotations(Some(
        [(ANNOTATION_REF_NAME.to_owned(), tag.to_owned())].into(),
    ));
    manifests.push(descriptor);
    let index = ImageIndexBuilder::default()
        .schema_version(2_u32)
        .media_type(MediaType::ImageIndex)
        .manifests(manifests)
        .build()
        .map_err(io::Error::other)?;
    std::fs::write(&index_path, serde_json::to_vec_pretty(&index)?)?;
    Ok(OciImage {
        layout_dir: dir,
        manifest_digest: manifest.digest,
        layer_digest: layer.digest,
    })
}

struct Blob {
    digest: ContentDigest,
    size: usize,
}

impl Blob {
    fn descriptor(&self, media_type: MediaType) -> io::Result<Descriptor> {
        let digest: oci_spec::image::Digest =
            self.digest.as_str().parse().map_err(io::Error::other)?;
        Ok(Descriptor::new(media_type, self.size as u64, digest))
    }
}

fn write_blob(layout: &Path, bytes: &[u8]) -> io::Result<Blob> {
    let digest = ContentDigest::sha256_of(bytes);
    let hex = &digest.as_str()["sha256:".len()..];
    std::fs::write(layout.join("blobs").join("sha256").join(hex), bytes)?;
    Ok(Blob {
        digest,
        size: bytes.len(),
    })
}

/// An [`ArtifactFetcher`] serving bytes from memory, keyed by the artifact's canonical form
/// (so `nginx` and `docker.io/library/nginx:latest` are the same). Artifacts can be added
/// while it is shared, e.g. to publish a new version during a rollout test.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// use lattice_artifact::{ArtifactFetcher, testing::MemoryFetcher};
///
/// let fetcher = MemoryFetcher::new().with("ghcr.io/acme/app:1.0.0", b"bytes".to_vec());
/// assert_eq!(fetcher.fetch(&"ghcr.io/acme/app:1.0.0".parse()?).await?, &b"bytes"[..]);
/// assert!(fetcher.fetch(&"ghcr.io/acme/app:2.0.0".parse()?).await.is_err());
/// # Ok(()) })
/// # }
/// ```
#[derive(Debug, Default)]
pub struct MemoryFetcher {
    artifacts: Mutex<HashMap<String, Bytes>>,
}

impl MemoryFetcher {
    /// An empty fetcher.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an artifact.
    ///
    /// # Panics
    ///
    /// When `artifact` is not a valid artifact reference.
    #[must_use]
    pub fn with(self, artifact: &str, bytes: impl Into<Bytes>) -> Self {
        self.insert(artifact, bytes);
        self
    }

    /// Adds or replaces an artifact.
    ///
    /// # Panics
    ///
    /// When `artifact` is not a valid artifact reference.
    pub fn insert(&self, artifact: &str, bytes: impl Into<Bytes>) {
        let key = ArtifactRef::parse(artifact)
            .unwrap_or_else(|e| panic!("invalid artifact reference: {e}"))
            .canonical();
        self.lock().insert(key, bytes.into());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Bytes>> {
        self.artifacts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl ArtifactFetcher for MemoryFetcher {
    fn fetch<'a>(&'a self, artifact: &'a ArtifactRef) -> BoxFuture<'a, Result<Bytes, FetchError>> {
        let result = {
            let artifacts = self.lock();
            artifacts
                .get(&artifact.canonical())
                .cloned()
                .ok_or_else(|| {
                    let mut known: Vec<&str> = artifacts.keys().map(String::as_str).collect();
                    known.sort_unstable();
                    FetchError::NotFound {
                        artifact: artifact.to_string(),
                        detail: format!("not in memory; known: [{}]", known.join(", ")),
                    }
                })
        };
        Box::pin(async move { result })
    }
}

/// A provider archive (PAR) holding `binaries` (`(target, bytes)`, stored as `{target}.bin`)
/// and a `claims.jwt` listing their SHA-256 in `wascap.target_hashes`, gzip-compressed when
/// `gzip`. `hash_override` replaces every listed hash (to build a corrupt archive).
///
/// The JWT is **unsigned** (`header.payload.` with `"alg":"none"`): lattice does not verify
/// provider archive signatures (see [`provider_archive_binary`](crate::provider_archive_binary)).
///
/// ```
/// use lattice_artifact::{provider_archive_binary, testing};
///
/// let par = testing::provider_archive(&[("x86_64-linux", b"exe")], None, true);
/// assert_eq!(provider_archive_binary(&par, "x86_64-linux").unwrap(), b"exe");
/// ```
#[must_use]
pub fn provider_archive(
    binaries: &[(&str, &[u8])],
    hash_override: Option<&str>,
    gzip: bool,
) -> Vec<u8> {
    use base64::Engine as _;
    use sha2::Digest as _;
    let hashes: serde_json::Map<String, serde_json::Value> = binaries
        .iter()
        .map(|(target, bytes)| {
            let hash = hash_override.map_or_else(
                || format!("{:X}", sha2::Sha256::digest(bytes)),
                str::to_owned,
            );
            ((*target).to_owned(), json!(hash))
        })
        .collect();
    let b64 = |value: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
    };
    let jwt = format!(
        "{}.{}.",
        b64(json!({"typ": "jwt", "alg": "none"})),
        b64(json!({
            "iss": "lattice-test",
            "sub": "lattice-test-provider",
            "wascap": {"name": "test provider", "vendor": "lattice-test", "target_hashes": hashes},
            "wascap_revision": 3,
        }))
    );
    let mut builder = tar::Builder::new(Vec::new());
    let mut entries: Vec<(String, &[u8])> = vec![("claims.jwt".to_owned(), jwt.as_bytes())];
    entries.extend(
        binaries
            .iter()
            .map(|(target, bytes)| (format!("{target}.bin"), *bytes)),
    );
    for (name, bytes) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, name, bytes)
            .expect("writing to a Vec cannot fail");
    }
    let tar = builder.into_inner().expect("writing to a Vec cannot fail");
    if !gzip {
        return tar;
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    io::Write::write_all(&mut encoder, &tar).expect("writing to a Vec cannot fail");
    encoder.finish().expect("writing to a Vec cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn component_wat_compiles_to_components() {
        let bytes = component(
            &["wasi:keyvalue/store@0.2.0", "greeting"],
            &["run", "a:b/c"],
        );
        assert!(wasmparser::Parser::is_component(&bytes));
        assert!(wasmparser::Parser::is_core_wasm(&core_module()));
    }

    #[test]
    fn references_without_tag_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let digest = ContentDigest::sha256_of(b"x");
        let error =
            write_oci_layout(root.path(), &format!("ghcr.io/a/b@{digest}"), b"x").unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
        assert!(write_oci_layout(root.path(), "./a.wasm", b"x").is_err());
    }
}
