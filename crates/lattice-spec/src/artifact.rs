//! Where a component's code comes from: [`ArtifactRef`] and the optional [`ContentDigest`] pin.

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::{borrow::Cow, fmt, path::PathBuf, str::FromStr, sync::Arc};

/// Why a string is not a valid artifact reference or digest.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArtifactError {
    /// The reference is empty.
    #[error("artifact reference must not be empty")]
    Empty,
    /// The OCI reference parser refused it.
    #[error("`{value}` is not a valid OCI reference")]
    InvalidOci {
        /// The offending value.
        value: String,
        /// What the OCI reference parser said.
        #[source]
        source: Arc<oci_spec::distribution::ParseError>,
    },
    /// A `file://` reference without a path.
    #[error("`{value}` names no file: write `file:///absolute/path.wasm`")]
    EmptyPath {
        /// The offending value.
        value: String,
    },
    /// A digest that is not `sha256:<64 hex>` or `sha512:<128 hex>`.
    #[error(
        "`{value}` is not a digest: expected `sha256:` followed by 64 lowercase hex digits \
         (or `sha512:` and 128)"
    )]
    InvalidDigest {
        /// The offending value.
        value: String,
    },
}

/// What is wrong with an artifact reference or digest, as a value to `match` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ArtifactErrorKind {
    /// See [`ArtifactError::Empty`].
    Empty,
    /// See [`ArtifactError::InvalidOci`].
    InvalidOci,
    /// See [`ArtifactError::EmptyPath`].
    EmptyPath,
    /// See [`ArtifactError::InvalidDigest`].
    InvalidDigest,
}

impl ArtifactError {
    /// The kind of problem.
    #[must_use]
    pub fn kind(&self) -> ArtifactErrorKind {
        match self {
            Self::Empty => ArtifactErrorKind::Empty,
            Self::InvalidOci { .. } => ArtifactErrorKind::InvalidOci,
            Self::EmptyPath { .. } => ArtifactErrorKind::EmptyPath,
            Self::InvalidDigest { .. } => ArtifactErrorKind::InvalidDigest,
        }
    }
}

/// A reference to a component's artifact: an OCI image reference or a local file.
///
/// Written as a string on the wire, exactly as given: `ghcr.io/org/app:1.2.0`,
/// `registry:5000/app@sha256:…`, `file:///srv/app.wasm`, `/srv/app.wasm` or `./app.wasm`.
/// Anything that is not a file reference is parsed with the OCI distribution reference parser,
/// so `nginx` normalises to `docker.io/library/nginx:latest` (see
/// [`ArtifactRef::canonical`]).
///
/// ```
/// use lattice_spec::ArtifactRef;
///
/// let oci: ArtifactRef = "ghcr.io/acme/app:1.2.0".parse()?;
/// assert_eq!(oci.as_oci().map(|r| r.repository()), Some("acme/app"));
/// let file: ArtifactRef = "file:///srv/app.wasm".parse()?;
/// assert_eq!(file.as_file().and_then(|p| p.to_str()), Some("/srv/app.wasm"));
/// # Ok::<(), lattice_spec::ArtifactError>(())
/// ```
#[derive(Clone, Debug)]
pub struct ArtifactRef {
    raw: String,
    kind: ArtifactKind,
}

#[derive(Clone, Debug)]
enum ArtifactKind {
    Oci(Box<oci_spec::distribution::Reference>),
    File(PathBuf),
}

impl ArtifactRef {
    /// Parses a reference.
    ///
    /// # Errors
    ///
    /// [`ArtifactError`] when the string is empty, an empty `file://`, or not an OCI reference.
    pub fn parse(value: impl Into<String>) -> Result<Self, ArtifactError> {
        let raw = value.into();
        if raw.trim().is_empty() {
            return Err(ArtifactError::Empty);
        }
        let kind = if let Some(path) = raw.strip_prefix("file://") {
            if path.is_empty() {
                return Err(ArtifactError::EmptyPath { value: raw });
            }
            ArtifactKind::File(PathBuf::from(path))
        } else if raw.starts_with('/') || raw.starts_with("./") || raw.starts_with("../") {
            ArtifactKind::File(PathBuf::from(&raw))
        } else {
            let reference = oci_spec::distribution::Reference::from_str(&raw).map_err(|e| {
                ArtifactError::InvalidOci {
                    value: raw.clone(),
                    source: Arc::new(e),
                }
            })?;
            ArtifactKind::Oci(Box::new(reference))
        };
        Ok(Self { raw, kind })
    }

    /// The reference exactly as it was written.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The parsed OCI reference, when this is one.
    #[must_use]
    pub fn as_oci(&self) -> Option<&oci_spec::distribution::Reference> {
        match &self.kind {
            ArtifactKind::Oci(reference) => Some(reference),
            ArtifactKind::File(_) => None,
        }
    }

    /// The local path, when this is a file reference.
    #[must_use]
    pub fn as_file(&self) -> Option<&std::path::Path> {
        match &self.kind {
            ArtifactKind::File(path) => Some(path),
            ArtifactKind::Oci(_) => None,
        }
    }

    /// The normalised form two equivalent references share: the fully qualified OCI reference
    /// (`nginx` → `docker.io/library/nginx:latest`), or `file://` and the path.
    #[must_use]
    pub fn canonical(&self) -> String {
        match &self.kind {
            ArtifactKind::Oci(reference) => reference.whole(),
            ArtifactKind::File(path) => format!("file://{}", path.display()),
        }
    }
}

impl PartialEq for ArtifactRef {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}

impl Eq for ArtifactRef {}

impl fmt::Display for ArtifactRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl FromStr for ArtifactRef {
    type Err = ArtifactError;
    fn from_str(value: &str) -> Result<Self, ArtifactError> {
        Self::parse(value)
    }
}

impl Serialize for ArtifactRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.raw)
    }
}

impl<'de> Deserialize<'de> for ArtifactRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::parse(String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for ArtifactRef {
    fn schema_name() -> Cow<'static, str> {
        "ArtifactRef".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "minLength": 1,
            "description": "An OCI image reference (registry/repository[:tag][@digest]) or a \
                local file (file:///path, /path, ./path).",
        })
    }
}

/// A content digest pinning an artifact: `sha256:<64 hex>` or `sha512:<128 hex>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct ContentDigest(String);

impl ContentDigest {
    /// Validates and wraps a digest.
    ///
    /// # Errors
    ///
    /// [`ArtifactError::InvalidDigest`] when it is not `sha256:`/`sha512:` and lowercase hex of
    /// the right length.
    pub fn new(value: impl Into<String>) -> Result<Self, ArtifactError> {
        let value = value.into();
        let hex_len = match value.split_once(':') {
            Some(("sha256", hex)) => (hex, 64),
            Some(("sha512", hex)) => (hex, 128),
            _ => return Err(ArtifactError::InvalidDigest { value }),
        };
        let (hex, len) = hex_len;
        if hex.len() != len || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(ArtifactError::InvalidDigest { value });
        }
        Ok(Self(value))
    }

    /// The sha256 digest of `bytes`.
    #[must_use]
    pub fn sha256_of(bytes: &[u8]) -> Self {
        use sha2::Digest as _;
        Self(format!("sha256:{:x}", sha2::Sha256::digest(bytes)))
    }

    /// The digest as written: `algorithm:hex`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ContentDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for ContentDigest {
    type Err = ArtifactError;
    fn from_str(value: &str) -> Result<Self, ArtifactError> {
        Self::new(value)
    }
}

impl<'de> Deserialize<'de> for ContentDigest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::new(String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for ContentDigest {
    fn schema_name() -> Cow<'static, str> {
        "ContentDigest".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$",
            "description": "A content digest: sha256:<64 hex> or sha512:<128 hex>.",
        })
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for ArtifactRef {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let name = crate::id::arbitrary_identifier(u, 20)?.to_ascii_lowercase();
        let raw = match u.int_in_range(0..=3)? {
            0 => format!("file:///srv/{name}.wasm"),
            1 => format!("./{name}.wasm"),
            2 => format!(
                "ghcr.io/acme/{}:{}",
                name.trim_start_matches(['-', '_']),
                u.int_in_range(0..=99u8)?
            ),
            _ => format!("localhost:5000/{}", name.trim_start_matches(['-', '_'])),
        };
        Self::parse(raw).map_err(|_| arbitrary::Error::IncorrectFormat)
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for ContentDigest {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let seed: [u8; 16] = u.arbitrary()?;
        Ok(Self::sha256_of(&seed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oci_references_parse_and_normalise() {
        let short = ArtifactRef::parse("nginx").unwrap();
        assert_eq!(short.canonical(), "docker.io/library/nginx:latest");
        assert_eq!(short.as_str(), "nginx");
        let pinned = ArtifactRef::parse(format!("ghcr.io/a/b@sha256:{}", "0".repeat(64))).unwrap();
        assert!(pinned.as_oci().unwrap().digest().is_some());
    }

    #[test]
    fn bad_references_are_refused_with_the_reason() {
        assert_eq!(ArtifactRef::parse(" "), Err(ArtifactError::Empty));
        assert!(matches!(
            ArtifactRef::parse("file://"),
            Err(ArtifactError::EmptyPath { .. })
        ));
        let err = ArtifactRef::parse("ghcr.io/UPPER/Case:tag").unwrap_err();
        assert!(matches!(err, ArtifactError::InvalidOci { .. }), "{err}");
        assert_eq!(err.kind(), ArtifactErrorKind::InvalidOci);
        // The parser's reason is the typed source, and a spec's field error still says it.
        let reason = std::error::Error::source(&err).unwrap().to_string();
        assert_eq!(reason, "invalid reference format");
        let errors = crate::ComponentSpecDraft::new("web", "ghcr.io/UPPER/Case:tag")
            .validate()
            .unwrap_err();
        assert!(errors.to_string().contains(&reason), "{errors}");
        assert!(ArtifactRef::parse("ghcr.io/a/b:bad tag").is_err());
    }

    #[test]
    fn file_references_keep_their_path() {
        assert_eq!(
            ArtifactRef::parse("./x.wasm")
                .unwrap()
                .as_file()
                .unwrap()
                .to_str(),
            Some("./x.wasm")
        );
        assert_eq!(
            ArtifactRef::parse("/a/x.wasm").unwrap().canonical(),
            "file:///a/x.wasm"
        );
    }

    #[test]
    fn digests_are_checked() {
        let digest = ContentDigest::sha256_of(b"abc");
        assert_eq!(
            digest.as_str(),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(ContentDigest::new(digest.as_str()).is_ok());
        assert!(ContentDigest::new("sha256:abc").is_err());
        assert!(ContentDigest::new("md5:0123").is_err());
        assert!(ContentDigest::new(format!("sha256:{}", "A".repeat(64))).is_err());
    }
}
