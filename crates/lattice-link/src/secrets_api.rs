//! The wasmCloud secrets protocol (`v1alpha1`) between a host and a secrets backend, in the
//! shapes of `wasmcloud-secrets-types` 0.8 (wasmCloud 1.9), so a lattice host can ask a
//! wasmCloud backend (`secrets-nats-kv`) and a wasmCloud host can ask lattice's
//! (`lattice-secrets-kv`).
//!
//! Two request/reply subjects per backend, `{prefix}.v1alpha1.{backend}.{operation}`:
//!
//! - `server_xkey`: empty request; the reply is the backend's transit public xkey (`X…`) as
//!   UTF-8.
//! - `get`: the request carries the header [`HOST_XKEY_HEADER`] with a fresh requester public
//!   xkey and, as body, the JSON of a [`SecretRequest`] sealed by that xkey for the backend's
//!   transit xkey. A success has the header [`RESPONSE_XKEY_HEADER`] (a fresh backend xkey)
//!   and the JSON of a [`SecretResponse`] sealed for the requester; an error has no such header
//!   and a plaintext [`SecretResponse`] whose `error` says why.
//!
//! Sealing is nkeys' xkey box (curve25519, xsalsa20-poly1305); this crate only defines the
//! plaintext shapes. No type here prints a secret value in its `Debug`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// The protocol version in the subjects.
pub const SECRETS_API_VERSION: &str = "v1alpha1";
/// The subject prefix wasmCloud's tools and backends use by default.
pub const DEFAULT_SECRETS_PREFIX: &str = "wasmcloud.secrets";
/// The header carrying the requester's public xkey on a `get`.
pub const HOST_XKEY_HEADER: &str = "WasmCloud-Host-Xkey";
/// The header carrying the backend's (per-reply) public xkey on a successful `get` reply.
pub const RESPONSE_XKEY_HEADER: &str = "Server-Response-Xkey";

/// The subject of `operation` (`server_xkey`, `get`, …) of backend `backend` under `prefix`.
#[must_use]
pub fn secrets_subject(prefix: &str, backend: &str, operation: &str) -> String {
    format!("{prefix}.{SECRETS_API_VERSION}.{backend}.{operation}")
}

/// What a `get` asks for (sealed on the wire).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretRequest {
    /// The secret's key in the backend.
    pub key: String,
    /// A field within the secret (backends that store structured secrets); `None` for all.
    #[serde(default)]
    pub field: Option<String>,
    /// A version of the secret; `None` for the latest.
    #[serde(default)]
    pub version: Option<String>,
    /// Who asks.
    #[serde(default)]
    pub context: SecretContext,
}

/// Who asks for a secret. wasmCloud hosts send the entity's and the host's signed JWTs (and
/// `secrets-nats-kv` authorizes by the entity JWT's subject); lattice entities have no JWTs,
/// so a lattice host sends empty JWTs and names the entity in [`lattice_entity`], which
/// lattice's backend authorizes by. A wasmCloud backend ignores that field and refuses the
/// empty JWT (`InvalidEntityJWT`).
///
/// [`lattice_entity`]: Self::lattice_entity
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretContext {
    /// The wascap JWT of the component or provider the secret is for (empty from a lattice
    /// host).
    #[serde(default)]
    pub entity_jwt: String,
    /// The asking host's wascap JWT (empty from a lattice host).
    #[serde(default)]
    pub host_jwt: String,
    /// The application the entity belongs to.
    #[serde(default)]
    pub application: SecretApplication,
    /// Lattice's extension: the id of the component or provider the secret is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lattice_entity: Option<String>,
}

/// The application part of a [`SecretContext`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretApplication {
    /// The application's name, if any.
    #[serde(default)]
    pub name: Option<String>,
    /// The reference's policy, as a JSON string (wasmCloud's
    /// `{"type":"properties.secret.wasmcloud.dev/v1alpha1","properties":{}}`).
    #[serde(default)]
    pub policy: String,
}

/// The (sealed, on success) reply to a `get`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretResponse {
    /// The secret, on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Secret>,
    /// Why there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<GetSecretError>,
}

/// A secret as a backend returns it: a version and a text or a binary value. Its `Debug` shows
/// the version only.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secret {
    /// The version returned (the backend's revision).
    #[serde(default)]
    pub version: String,
    /// A text value.
    #[serde(default)]
    pub string_secret: Option<String>,
    /// A binary value.
    #[serde(default)]
    pub binary_secret: Option<Vec<u8>>,
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secret")
            .field("version", &self.version)
            .field(
                "string_secret",
                &self.string_secret.as_ref().map(|_| "redacted"),
            )
            .field(
                "binary_secret",
                &self.binary_secret.as_ref().map(|_| "redacted"),
            )
            .finish()
    }
}

/// Why a backend did not return a secret: wasmCloud's `GetSecretError`, an externally tagged
/// enum (`"SecretNotFound"`, `{"UpstreamError":"…"}`). Variants this version does not know
/// decode as [`Unknown`](Self::Unknown) with their JSON.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GetSecretError {
    /// The entity's JWT is not valid.
    #[error("invalid entity JWT: {0}")]
    InvalidEntityJWT(String),
    /// The host's JWT is not valid.
    #[error("invalid host JWT: {0}")]
    InvalidHostJWT(String),
    /// No secret under the key.
    #[error("secret not found")]
    SecretNotFound,
    /// The requester's xkey header is not a public xkey.
    #[error("invalid xkey")]
    InvalidXKey,
    /// The backend could not seal its reply.
    #[error("error encrypting secret")]
    EncryptionError,
    /// The backend could not open the request (or its stored value).
    #[error("error decrypting secret")]
    DecryptionError,
    /// The store behind the backend failed.
    #[error("error fetching secret: {0}")]
    UpstreamError(String),
    /// The entity may not read the secret.
    #[error("unauthorized")]
    Unauthorized,
    /// The request is not valid.
    #[error("invalid request")]
    InvalidRequest,
    /// The body could not be read.
    #[error("invalid payload")]
    InvalidPayload,
    /// A header is missing or wrong.
    #[error("invalid headers")]
    InvalidHeaders,
    /// A policy refused the request.
    #[error("policy error: {0}")]
    PolicyError(String),
    /// Anything else the backend says.
    #[error("{0}")]
    Other(String),
    /// A variant this version does not know, as JSON.
    #[error("unknown backend error {0}")]
    Unknown(String),
}

impl Serialize for GetSecretError {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let (name, payload) = match self {
            Self::SecretNotFound => ("SecretNotFound", None),
            Self::InvalidXKey => ("InvalidXKey", None),
            Self::EncryptionError => ("EncryptionError", None),
            Self::DecryptionError => ("DecryptionError", None),
            Self::Unauthorized => ("Unauthorized", None),
            Self::InvalidRequest => ("InvalidRequest", None),
            Self::InvalidPayload => ("InvalidPayload", None),
            Self::InvalidHeaders => ("InvalidHeaders", None),
            Self::InvalidEntityJWT(m) => ("InvalidEntityJWT", Some(m)),
            Self::InvalidHostJWT(m) => ("InvalidHostJWT", Some(m)),
            Self::UpstreamError(m) => ("UpstreamError", Some(m)),
            Self::PolicyError(m) => ("PolicyError", Some(m)),
            Self::Other(m) => ("Other", Some(m)),
            Self::Unknown(json) => {
                return serde_json::from_str::<serde_json::Value>(json)
                    .unwrap_or_else(|_| serde_json::Value::String(json.clone()))
                    .serialize(serializer);
            }
        };
        match payload {
            None => serializer.serialize_str(name),
            Some(payload) => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry(name, payload)?;
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for GetSecretError {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        let unknown = || Self::Unknown(value.to_string());
        Ok(match &value {
            serde_json::Value::String(name) => match name.as_str() {
                "SecretNotFound" => Self::SecretNotFound,
                "InvalidXKey" => Self::InvalidXKey,
                "EncryptionError" => Self::EncryptionError,
                "DecryptionError" => Self::DecryptionError,
                "Unauthorized" => Self::Unauthorized,
                "InvalidRequest" => Self::InvalidRequest,
                "InvalidPayload" => Self::InvalidPayload,
                "InvalidHeaders" => Self::InvalidHeaders,
                _ => unknown(),
            },
            serde_json::Value::Object(map) if map.len() == 1 => {
                let (name, payload) = map.iter().next().expect("one entry");
                let Some(message) = payload.as_str().map(str::to_owned) else {
                    return Ok(unknown());
                };
                match name.as_str() {
                    "InvalidEntityJWT" => Self::InvalidEntityJWT(message),
                    "InvalidHostJWT" => Self::InvalidHostJWT(message),
                    "UpstreamError" => Self::UpstreamError(message),
                    "PolicyError" => Self::PolicyError(message),
                    "Other" => Self::Other(message),
                    _ => unknown(),
                }
            }
            _ => unknown(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_use_wasmclouds_external_tagging_and_unknown_ones_survive() {
        for (error, json) in [
            (GetSecretError::SecretNotFound, r#""SecretNotFound""#),
            (
                GetSecretError::UpstreamError("down".into()),
                r#"{"UpstreamError":"down"}"#,
            ),
        ] {
            assert_eq!(serde_json::to_string(&error).unwrap(), json);
            assert_eq!(serde_json::from_str::<GetSecretError>(json).unwrap(), error);
        }
        let unknown: GetSecretError = serde_json::from_str(r#"{"Quota":{"n":1}}"#).unwrap();
        assert_eq!(
            unknown,
            GetSecretError::Unknown(r#"{"Quota":{"n":1}}"#.into())
        );
        assert_eq!(
            serde_json::to_string(&unknown).unwrap(),
            r#"{"Quota":{"n":1}}"#
        );
    }

    #[test]
    fn a_wasmcloud_request_parses_and_a_secret_debug_hides_the_value() {
        let request: SecretRequest = serde_json::from_str(
            r#"{"key":"db/pw","field":null,"version":null,"context":{"entity_jwt":"e",
               "host_jwt":"h","application":{"name":null,"policy":"{}"}}}"#,
        )
        .unwrap();
        assert_eq!(request.key, "db/pw");
        assert_eq!(request.context.lattice_entity, None);
        let secret = Secret {
            version: "3".into(),
            string_secret: Some("hunter2".into()),
            binary_secret: None,
        };
        let debug = format!("{secret:?}");
        assert!(!debug.contains("hunter2") && debug.contains('3'), "{debug}");
    }
}
