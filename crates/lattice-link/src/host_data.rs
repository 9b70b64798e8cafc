//! [`HostData`]: what a host hands a provider process it starts, in the exact shape a
//! wasmCloud 1.x host writes and 1.x provider SDKs read, so 1.x providers start unchanged
//! under a lattice host and lattice providers start unchanged under a 1.x host.
//!
//! No I/O here: [`HostData::to_stdin_line`] and [`HostData::from_stdin_line`] work on bytes.

use crate::SecretValue;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::{collections::BTreeMap, fmt};

/// Initialization data for a provider process, as wasmCloud 1.x hosts write it.
///
/// # Compatibility facts (wasmCloud v1.9.2 = `wasmcloud-host` 0.27.1, `wasmcloud-core` 0.21.1)
///
/// - The struct mirrors `wasmcloud_core::HostData` (`crates/core/src/host.rs`) field for field:
///   the same JSON keys in the same order, the same defaults. Only `env_values` and
///   `link_definitions` have no `#[serde(default)]` there, so they are always written.
/// - Hand-over (`crates/host/src/wasmbus/providers/mod.rs`, `provider_command`): the host
///   serialises it to JSON, encodes that with base64 (standard alphabet, padded), writes it to
///   the child's **stdin** followed by `\r\n` and closes stdin. The child's environment is
///   cleared except `RUST_LOG` and `OTEL_*`; no arguments are passed.
/// - The SDK (`crates/provider-sdk/src/provider.rs`, `load_host_data`) reads **one line**,
///   trims it, base64-decodes and JSON-decodes it; an empty line is an error.
/// - `provider_key` is the provider id (the token of its subjects), `lattice_rpc_prefix` the
///   lattice name, `link_name` is `"default"`, `instance_id` a fresh id per (re)start, and
///   `provider_xkey_private_key` the seed of a fresh per-instance xkey whose public half the
///   host seals link secrets to (`crates/host/src/wasmbus/mod.rs`, `handle_start_provider_task`).
///
/// ```
/// use lattice_link::HostData;
///
/// let mut data = HostData::new("host-a", "default", "keyvalue", "nats://127.0.0.1:4222");
/// data.instance_id = "01J0000000000000000000000".into();
/// let line = data.to_stdin_line();
/// assert!(line.ends_with(b"\r\n"));
/// let back = HostData::from_stdin_line(&line)?;
/// assert_eq!(back.provider_key, "keyvalue");
/// assert_eq!(back.lattice_rpc_prefix, "default");
/// # Ok::<(), lattice_link::HostDataError>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HostData {
    /// The id of the host that started the provider (a 1.x host's `N…` key).
    #[serde(default)]
    pub host_id: String,
    /// The lattice name (1.x calls it the RPC prefix).
    #[serde(default)]
    pub lattice_rpc_prefix: String,
    /// Always `"default"` from 1.x hosts.
    #[serde(default)]
    pub link_name: String,
    /// A JWT for the provider's NATS connection, or empty.
    #[serde(default)]
    pub lattice_rpc_user_jwt: String,
    /// The nkey seed signing that JWT, or empty.
    #[serde(default)]
    pub lattice_rpc_user_seed: String,
    /// The NATS URL the provider connects to.
    #[serde(default)]
    pub lattice_rpc_url: String,
    /// The provider id: the token of its subjects.
    #[serde(default)]
    pub provider_key: String,
    /// Environment values (1.x hosts write `{}`); a JSON object, always present.
    pub env_values: BTreeMap<String, String>,
    /// A fresh id for this process (a new one on every restart).
    #[serde(default)]
    pub instance_id: String,
    /// The links the provider already has (1.x `InterfaceLinkDefinition`s); always present.
    pub link_definitions: Vec<HostLinkDefinition>,
    /// Cluster issuers (unused by lattice; 1.x hosts write `[]`).
    #[serde(default)]
    pub cluster_issuers: Vec<String>,
    /// The provider's configuration: named configurations merged, then inline values.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// The provider's own secrets, in plain text (stdin only, never on NATS).
    #[serde(default)]
    pub secrets: BTreeMap<String, SecretValue>,
    /// The public xkey of the host, which sealed the links' secrets.
    #[serde(default)]
    pub host_xkey_public_key: String,
    /// The seed of this instance's xkey (`SX…`), to open the links' secrets.
    #[serde(default)]
    pub provider_xkey_private_key: String,
    /// The host's default RPC timeout in milliseconds (1.x default 2000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_rpc_timeout_ms: Option<u64>,
    /// Whether the host logs structured (JSON) logs.
    #[serde(default)]
    pub structured_logging: bool,
    /// The level the provider should log at: `error`, `warn`, `info`, `debug`, `trace` or
    /// `critical`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,
    /// OpenTelemetry settings (1.x `OtelConfig`), kept as they are: lattice hosts write the
    /// default, `{}`-equivalent settings, and a provider reads what it understands.
    #[serde(default = "default_otel_config")]
    pub otel_config: serde_json::Value,
}

fn default_otel_config() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

impl fmt::Debug for HostData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the seeds, the JWT or the secrets.
        f.debug_struct("HostData")
            .field("host_id", &self.host_id)
            .field("lattice_rpc_prefix", &self.lattice_rpc_prefix)
            .field("lattice_rpc_url", &self.lattice_rpc_url)
            .field("provider_key", &self.provider_key)
            .field("instance_id", &self.instance_id)
            .field("link_definitions", &self.link_definitions.len())
            .field("config", &self.config.keys().collect::<Vec<_>>())
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .field("host_xkey_public_key", &self.host_xkey_public_key)
            .finish_non_exhaustive()
    }
}

/// A link as a 1.x host hands it in [`HostData::link_definitions`]: wasmCloud's
/// `InterfaceLinkDefinition` (`crates/core/src/link.rs`), secrets as sealed byte arrays.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HostLinkDefinition {
    /// The link's source.
    pub source_id: String,
    /// The link's target.
    pub target: String,
    /// The link's name (`default` when absent).
    #[serde(default = "default_link_name")]
    pub name: String,
    /// The WIT namespace.
    pub wit_namespace: String,
    /// The WIT package.
    pub wit_package: String,
    /// The interfaces.
    pub interfaces: Vec<String>,
    /// Resolved configuration of the source's end.
    #[serde(default)]
    pub source_config: BTreeMap<String, String>,
    /// Resolved configuration of the target's end.
    #[serde(default)]
    pub target_config: BTreeMap<String, String>,
    /// The source's secrets, sealed to the instance's xkey.
    #[serde(default)]
    pub source_secrets: Option<Vec<u8>>,
    /// The target's secrets, sealed to the instance's xkey.
    #[serde(default)]
    pub target_secrets: Option<Vec<u8>>,
}

fn default_link_name() -> String {
    "default".to_owned()
}

impl fmt::Debug for HostLinkDefinition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostLinkDefinition")
            .field("source_id", &self.source_id)
            .field("target", &self.target)
            .field("name", &self.name)
            .field("wit_namespace", &self.wit_namespace)
            .field("wit_package", &self.wit_package)
            .field("interfaces", &self.interfaces)
            .finish_non_exhaustive()
    }
}

impl HostData {
    /// Host data for `provider_key` in `lattice`, started by `host_id`, connecting to
    /// `nats_url`; link name `default`, no links, configuration or secrets, empty keys.
    #[must_use]
    pub fn new(
        host_id: impl Into<String>,
        lattice: impl Into<String>,
        provider_key: impl Into<String>,
        nats_url: impl Into<String>,
    ) -> Self {
        Self {
            host_id: host_id.into(),
            lattice_rpc_prefix: lattice.into(),
            link_name: "default".to_owned(),
            lattice_rpc_url: nats_url.into(),
            provider_key: provider_key.into(),
            otel_config: default_otel_config(),
            ..Self::default()
        }
    }

    /// What a host writes on the provider's stdin: `base64(json) + "\r\n"`.
    #[must_use]
    pub fn to_stdin_line(&self) -> Vec<u8> {
        let json = serde_json::to_vec(self)
            .unwrap_or_else(|e| unreachable!("host data always serializes: {e}"));
        let mut line = base64::engine::general_purpose::STANDARD
            .encode(json)
            .into_bytes();
        line.extend_from_slice(b"\r\n");
        line
    }

    /// Reads what a host wrote on stdin: one line (surrounding whitespace ignored, as the
    /// 1.x SDK trims it), base64 then JSON.
    ///
    /// # Errors
    ///
    /// [`HostDataError`]: empty, not base64, or not host data.
    pub fn from_stdin_line(line: &[u8]) -> Result<Self, HostDataError> {
        let text = std::str::from_utf8(line).map_err(|_| HostDataError::NotBase64)?;
        let text = text.trim();
        if text.is_empty() {
            return Err(HostDataError::Empty);
        }
        let json = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| HostDataError::NotBase64)?;
        serde_json::from_slice(&json).map_err(HostDataError::Json)
    }
}

/// Host data that could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostDataError {
    /// Nothing was written on stdin.
    #[error(
        "stdin is empty: expected the host data a host writes when it starts a provider \
         (base64 of JSON, one line)"
    )]
    Empty,
    /// The line is not base64.
    #[error("the host data on stdin is not base64 (standard alphabet)")]
    NotBase64,
    /// The decoded bytes are not host data.
    #[error("the host data on stdin is not valid host data JSON")]
    Json(#[source] serde_json::Error),
}

/// What is wrong with host data, as a value to `match` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HostDataErrorKind {
    /// See [`HostDataError::Empty`].
    Empty,
    /// See [`HostDataError::NotBase64`].
    NotBase64,
    /// See [`HostDataError::Json`].
    Json,
}

impl HostDataError {
    /// The kind of problem.
    #[must_use]
    pub fn kind(&self) -> HostDataErrorKind {
        match self {
            Self::Empty => HostDataErrorKind::Empty,
            Self::NotBase64 => HostDataErrorKind::NotBase64,
            Self::Json(_) => HostDataErrorKind::Json,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_minimal_1x_document_decodes_and_required_keys_are_required() {
        let minimal = br#"{"env_values":{},"link_definitions":[]}"#;
        let line = base64::engine::general_purpose::STANDARD.encode(minimal);
        let data = HostData::from_stdin_line(format!("{line}\n").as_bytes()).unwrap();
        assert_eq!(data.provider_key, "");
        let missing = base64::engine::general_purpose::STANDARD.encode(br#"{"env_values":{}}"#);
        let error = HostData::from_stdin_line(missing.as_bytes()).unwrap_err();
        assert_eq!(error.kind(), HostDataErrorKind::Json);
        assert_eq!(
            HostData::from_stdin_line(b"\r\n").unwrap_err().kind(),
            HostDataErrorKind::Empty
        );
        assert_eq!(
            HostData::from_stdin_line(b"not base64!")
                .unwrap_err()
                .kind(),
            HostDataErrorKind::NotBase64
        );
    }

    #[test]
    fn debug_never_prints_seeds_or_secrets() {
        let mut data = HostData::new("h", "l", "p", "nats://x");
        data.provider_xkey_private_key = "SXSEEDSEED".into();
        data.lattice_rpc_user_seed = "SUSEED".into();
        data.secrets
            .insert("token".into(), SecretValue::String("hunter2".into()));
        let debug = format!("{data:?}");
        assert!(
            !debug.contains("SXSEED") && !debug.contains("SUSEED") && !debug.contains("hunter2")
        );
    }
}
