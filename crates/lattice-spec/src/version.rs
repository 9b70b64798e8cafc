//! API versions and the decoding rules every top-level message follows.
//!
//! Every top-level message carries `api_version`. Decoding a message whose version this build
//! does not speak yields [`DecodeError::UnsupportedVersion`] naming the versions it does speak,
//! so the peer can answer with a clear error instead of a parse failure. Unknown fields are
//! ignored and unknown enum values decode to `Unknown`, so a newer peer of the *same* version
//! can add to a message without breaking this one.

use bytes::Bytes;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use std::fmt;

/// A version of the lattice control API that this build speaks.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub enum ApiVersion {
    /// `v2alpha1`: the apply-component-spec contract.
    #[default]
    #[serde(rename = "v2alpha1")]
    V2Alpha1,
}

impl ApiVersion {
    /// The version this build sends.
    pub const CURRENT: Self = Self::V2Alpha1;

    /// Every version this build can decode, as written on the wire.
    pub const SUPPORTED: &'static [&'static str] = &["v2alpha1"];

    /// The version as written on the wire and in subjects.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::V2Alpha1 => "v2alpha1",
        }
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What went wrong decoding a message, as a small `Copy` value to `match` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// Not JSON, or not the message's shape, or a value failed validation.
    Malformed,
    /// The message does not say its `api_version`.
    MissingVersion,
    /// The message is of a version this build does not speak.
    UnsupportedVersion,
}

/// A message that could not be decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Not JSON, or not the message's shape, or a value failed validation.
    #[error("malformed {message}: {source}")]
    Malformed {
        /// The message type that was expected.
        message: &'static str,
        /// What the JSON decoder said (for an invalid spec: every problem with its path).
        #[source]
        source: serde_json::Error,
    },
    /// The message does not say its `api_version`.
    #[error("{message} has no `api_version`; supported versions: {}", ApiVersion::SUPPORTED.join(", "))]
    MissingVersion {
        /// The message type that was expected.
        message: &'static str,
    },
    /// The message is of a version this build does not speak.
    #[error(
        "{message} has api_version `{found}`, which is not supported; supported versions: {}",
        supported.join(", ")
    )]
    UnsupportedVersion {
        /// The message type that was expected.
        message: &'static str,
        /// The version the message declared.
        found: String,
        /// The versions this build speaks.
        supported: &'static [&'static str],
    },
}

impl DecodeError {
    /// The kind of failure.
    #[must_use]
    pub fn kind(&self) -> DecodeErrorKind {
        match self {
            Self::Malformed { .. } => DecodeErrorKind::Malformed,
            Self::MissingVersion { .. } => DecodeErrorKind::MissingVersion,
            Self::UnsupportedVersion { .. } => DecodeErrorKind::UnsupportedVersion,
        }
    }
}

/// A top-level message of the wire contract: it carries its API version and has a name.
///
/// ```
/// use lattice_spec::{ApiVersion, DecodeErrorKind, WireMessage};
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Serialize, Deserialize)]
/// # struct Ping { api_version: ApiVersion }
/// # impl WireMessage for Ping { const NAME: &'static str = "Ping"; }
///
/// let err = Ping::decode(br#"{"api_version":"v9"}"#).err().unwrap();
/// assert_eq!(err.kind(), DecodeErrorKind::UnsupportedVersion);
/// assert!(err.to_string().contains("supported versions: v2alpha1"));
/// ```
pub trait WireMessage: Serialize + DeserializeOwned {
    /// The message's name, as used in errors and schema file names.
    const NAME: &'static str;

    /// Decodes a message, checking its API version.
    ///
    /// # Errors
    ///
    /// [`DecodeError`]: unsupported or missing version, or malformed content.
    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        decode_versioned(Self::NAME, bytes)
    }

    /// Encodes the message as JSON.
    ///
    /// # Errors
    ///
    /// Only if a value refuses to serialize, which no type of this workspace does.
    fn encode(&self) -> Result<Bytes, serde_json::Error> {
        serde_json::to_vec(self).map(Bytes::from)
    }
}

/// Decodes `bytes` as `T`, reporting a version problem before a shape problem.
///
/// The common case (a well-formed message of a supported version) is parsed once; only a
/// failure pays for a second look at `api_version` to tell which error to report.
///
/// # Errors
///
/// [`DecodeError`]: unsupported or missing version, or malformed content.
pub fn decode_versioned<T: DeserializeOwned>(
    message: &'static str,
    bytes: &[u8],
) -> Result<T, DecodeError> {
    #[derive(Deserialize)]
    struct Probe {
        #[serde(default)]
        api_version: Option<serde_json::Value>,
    }

    let source = match serde_json::from_slice::<T>(bytes) {
        Ok(value) => return Ok(value),
        Err(source) => source,
    };
    match serde_json::from_slice::<Probe>(bytes) {
        Ok(Probe { api_version: None }) => Err(DecodeError::MissingVersion { message }),
        Ok(Probe {
            api_version: Some(serde_json::Value::String(found)),
        }) if !ApiVersion::SUPPORTED.contains(&found.as_str()) => {
            Err(DecodeError::UnsupportedVersion {
                message,
                found,
                supported: ApiVersion::SUPPORTED,
            })
        }
        Ok(Probe {
            api_version: Some(other),
        }) if !other.is_string() => Err(DecodeError::UnsupportedVersion {
            message,
            found: other.to_string(),
            supported: ApiVersion::SUPPORTED,
        }),
        _ => Err(DecodeError::Malformed { message, source }),
    }
}
