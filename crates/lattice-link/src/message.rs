//! Link put/delete requests and the provider's [`LinkResponse`].

use bytes::Bytes;
use lattice_spec::{
    ApiVersion, ComponentId, DecodeError, HostId, LinkName, LinkSpec, WireMessage, WorkloadId,
    decode_versioned,
};
use lattice_status::LinkErrorKind;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::{collections::BTreeMap, fmt};

/// Asks a provider to establish (or replace) one link.
///
/// The body keeps the shape wasmCloud 1.x providers already decode — wasmCloud's
/// `InterfaceLinkDefinition`: `source_id`, `target`, `name`, `wit_namespace`, `wit_package`,
/// `interfaces`, resolved `source_config` / `target_config` maps, optional encrypted secret
/// blobs — and adds `api_version`, which older providers ignore. Configuration here is
/// *resolved*: the host has merged named configurations and inline values into plain maps.
///
/// The provider receiving it is the link's source (an HTTP server delivering requests to a
/// component: `source_id` is the provider's own id) or its target (a key-value store a
/// component calls), as with 1.x providers. To read what a 1.x host sends as well, decode
/// with [`LinkPutRequest::decode_any`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct LinkPutRequest {
    /// The API version of this message.
    pub api_version: ApiVersion,
    /// The link's source: the component that calls, or the provider that calls a component.
    pub source_id: WorkloadId,
    /// The link's target: the provider (or component) that serves the interfaces.
    pub target: WorkloadId,
    /// The link's name.
    #[serde(default = "LinkName::default_name")]
    pub name: LinkName,
    /// The WIT namespace, e.g. `wasi`.
    pub wit_namespace: String,
    /// The WIT package, e.g. `keyvalue`.
    pub wit_package: String,
    /// The interfaces used.
    pub interfaces: Vec<String>,
    /// Resolved configuration for the source's end.
    #[serde(default)]
    pub source_config: BTreeMap<String, String>,
    /// Resolved configuration for the target's end.
    #[serde(default)]
    pub target_config: BTreeMap<String, String>,
    /// Secrets for the source's end, encrypted for the provider (opaque to this crate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "arbitrary", arbitrary(with = arbitrary_blob))]
    pub source_secrets: Option<Bytes>,
    /// Secrets for the target's end, encrypted for the provider (opaque to this crate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "arbitrary", arbitrary(with = arbitrary_blob))]
    pub target_secrets: Option<Bytes>,
    /// The public xkey of the host that sealed `source_secrets` / `target_secrets`, so the
    /// provider can open them with its own xkey. (A 1.x provider gets it from the host data
    /// of the host that started it.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets_sealed_by: Option<String>,
    /// The host asking, when a lattice host sends it. Several hosts may hold the same link
    /// (each runs the component); a provider removes a link when the **last** host holding
    /// it deletes it (see [`LinkDeleteRequest::host_id`]). 1.x hosts send none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_id: Option<HostId>,
}

#[cfg(feature = "arbitrary")]
fn arbitrary_blob(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<Option<Bytes>> {
    Ok(<Option<Vec<u8>> as arbitrary::Arbitrary<'_>>::arbitrary(u)?.map(Bytes::from))
}

impl LinkPutRequest {
    /// The put request for `link` of `component` (whose spec holds the link), with
    /// `source_config` and `target_config` already resolved by the host. For an incoming
    /// link the source is the provider and the target the component.
    #[must_use]
    pub fn new(
        component: &ComponentId,
        link: &LinkSpec,
        source_config: BTreeMap<String, String>,
        target_config: BTreeMap<String, String>,
    ) -> Self {
        Self {
            api_version: ApiVersion::CURRENT,
            source_id: link.source_id(component),
            target: link.target_id(component),
            name: link.name().clone(),
            wit_namespace: link.wit_namespace().to_owned(),
            wit_package: link.wit_package().to_owned(),
            interfaces: link.interfaces().to_vec(),
            source_config,
            target_config,
            source_secrets: None,
            target_secrets: None,
            secrets_sealed_by: None,
            host_id: None,
        }
    }

    /// Marks the request as sent by `host`.
    #[must_use]
    pub fn from_host(mut self, host: HostId) -> Self {
        self.host_id = Some(host);
        self
    }

    /// Attaches encrypted secret blobs for each end.
    #[must_use]
    pub fn with_secrets(mut self, source: Option<Bytes>, target: Option<Bytes>) -> Self {
        self.source_secrets = source;
        self.target_secrets = target;
        self
    }

    /// Says which host xkey (its public key) sealed the secret blobs.
    #[must_use]
    pub fn sealed_by(mut self, host_public_xkey: impl Into<String>) -> Self {
        self.secrets_sealed_by = Some(host_public_xkey.into());
        self
    }
}

impl WireMessage for LinkPutRequest {
    const NAME: &'static str = "LinkPutRequest";
}

/// Which generation of host sent a link message, which decides whether it expects an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LinkGeneration {
    /// A wasmCloud 1.x host: the body has no `api_version`, and the host published it without
    /// waiting — there is no one to answer.
    V1,
    /// A lattice host speaking the given version: it waits for a [`LinkResponse`].
    Versioned(ApiVersion),
}

impl LinkGeneration {
    /// Whether the sender waits for a [`LinkResponse`].
    #[must_use]
    pub fn expects_response(self) -> bool {
        matches!(self, Self::Versioned(_))
    }
}

/// A link message decoded by [`LinkPutRequest::decode_any`] or
/// [`LinkDeleteRequest::decode_any`], with the generation of its sender.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Received<T> {
    /// The message, in the current shape whatever the generation.
    pub message: T,
    /// Who sent it.
    pub generation: LinkGeneration,
}

impl<T> Received<T> {
    /// The same generation with the message turned into something else.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Received<U> {
        Received {
            message: f(self.message),
            generation: self.generation,
        }
    }
}

/// The rule for link messages of both generations: a body **with** `api_version` is a
/// versioned lattice message and must carry a supported version (else
/// [`DecodeError::UnsupportedVersion`], which the provider answers); a body **without** one
/// is a wasmCloud 1.x `InterfaceLinkDefinition`, which 1.x hosts publish on the same subjects
/// and never wait on. 1.x bodies are read with 1.x defaults (`name` is `default`, configs
/// empty) and carry the current `api_version` once decoded.
fn decode_either<T: serde::de::DeserializeOwned>(
    message: &'static str,
    bytes: &[u8],
) -> Result<Received<T>, DecodeError> {
    #[derive(Deserialize)]
    struct Probe {
        #[serde(default)]
        api_version: Option<serde::de::IgnoredAny>,
    }
    let probe: Probe = serde_json::from_slice(bytes)
        .map_err(|source| DecodeError::Malformed { message, source })?;
    if probe.api_version.is_some() {
        let message: T = decode_versioned(message, bytes)?;
        return Ok(Received {
            message,
            generation: LinkGeneration::Versioned(ApiVersion::CURRENT),
        });
    }
    // Insert the version the decoded message is expressed in, then decode the current shape.
    let mut value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|source| DecodeError::Malformed { message, source })?;
    if let Some(object) = value.as_object_mut() {
        object.insert(
            "api_version".to_owned(),
            serde_json::Value::String(ApiVersion::CURRENT.as_str().to_owned()),
        );
    }
    let decoded: T = serde_json::from_value(value)
        .map_err(|source| DecodeError::Malformed { message, source })?;
    Ok(Received {
        message: decoded,
        generation: LinkGeneration::V1,
    })
}

impl LinkPutRequest {
    /// Decodes a link put from either generation of host (see the rule on
    /// [`LinkGeneration`]): a v2alpha1 `LinkPutRequest`, or the `InterfaceLinkDefinition` a
    /// wasmCloud 1.x host publishes.
    ///
    /// ```
    /// use lattice_link::{LinkGeneration, LinkPutRequest};
    ///
    /// // What a 1.x host publishes: no `api_version`, secrets as byte arrays.
    /// let v1 = br#"{"source_id":"hello","target":"kv","wit_namespace":"wasi",
    ///     "wit_package":"keyvalue","interfaces":["store"],"source_config":{},
    ///     "target_config":{"bucket":"b1"},"source_secrets":null,"target_secrets":null}"#;
    /// let received = LinkPutRequest::decode_any(v1)?;
    /// assert_eq!(received.generation, LinkGeneration::V1);
    /// assert!(!received.generation.expects_response());
    /// assert_eq!(received.message.name, "default");
    /// assert_eq!(received.message.target_config["bucket"], "b1");
    /// # Ok::<(), lattice_spec::DecodeError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`DecodeError`] when the body is not a link put of either generation, or names a
    /// version this build does not speak.
    pub fn decode_any(bytes: &[u8]) -> Result<Received<Self>, DecodeError> {
        decode_either(Self::NAME, bytes)
    }
}

/// Asks a provider to remove one link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct LinkDeleteRequest {
    /// The API version of this message.
    pub api_version: ApiVersion,
    /// The link's source.
    pub source_id: WorkloadId,
    /// The link's target.
    pub target: WorkloadId,
    /// The link's name.
    #[serde(default = "LinkName::default_name")]
    pub name: LinkName,
    /// The WIT namespace.
    pub wit_namespace: String,
    /// The WIT package.
    pub wit_package: String,
    /// The interfaces the link covered.
    #[serde(default)]
    pub interfaces: Vec<String>,
    /// The host letting go of the link, when a lattice host sends it. A provider holds a link
    /// while any host that put it still holds it, so one host's delete (its component moved
    /// away, or its upgrade rolled back) does not take the link from the others. Without a
    /// host (a 1.x host, a tool), the delete removes the link outright.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_id: Option<HostId>,
}

impl LinkDeleteRequest {
    /// The delete request for `link` of `component` (whose spec holds the link).
    #[must_use]
    pub fn new(component: &ComponentId, link: &LinkSpec) -> Self {
        Self {
            api_version: ApiVersion::CURRENT,
            source_id: link.source_id(component),
            target: link.target_id(component),
            name: link.name().clone(),
            wit_namespace: link.wit_namespace().to_owned(),
            wit_package: link.wit_package().to_owned(),
            interfaces: link.interfaces().to_vec(),
            host_id: None,
        }
    }

    /// Marks the request as sent by `host`.
    #[must_use]
    pub fn from_host(mut self, host: HostId) -> Self {
        self.host_id = Some(host);
        self
    }
}

impl LinkDeleteRequest {
    /// Decodes a link delete from either generation of host (see [`LinkGeneration`]); a 1.x
    /// host publishes the whole `InterfaceLinkDefinition` of the link it removes.
    ///
    /// # Errors
    ///
    /// [`DecodeError`] when the body is not a link delete of either generation, or names a
    /// version this build does not speak.
    pub fn decode_any(bytes: &[u8]) -> Result<Received<Self>, DecodeError> {
        decode_either(Self::NAME, bytes)
    }
}

impl WireMessage for LinkDeleteRequest {
    const NAME: &'static str = "LinkDeleteRequest";
}

/// A provider's answer to a link put or delete.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct LinkResponse {
    /// The API version of this message.
    pub api_version: ApiVersion,
    /// What the provider did.
    pub result: LinkResult,
}

/// What a provider did with a link request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[serde(tag = "status", rename_all = "snake_case")]
#[non_exhaustive]
pub enum LinkResult {
    /// The link is in place (for a put) or gone (for a delete).
    Accepted,
    /// The provider refused; the kind and message are its own.
    Refused {
        /// What kind of failure.
        kind: LinkErrorKind,
        /// The provider's message, e.g. `address already in use: 0.0.0.0:8080`.
        message: String,
    },
    /// A result from a newer provider that this version does not know. Not a success.
    #[serde(other)]
    Unknown,
}

/// A provider's refusal of a link request, whole.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("provider refused the link ({kind}): {message}")]
pub struct LinkRefusal {
    /// What kind of failure.
    pub kind: LinkErrorKind,
    /// The provider's message.
    pub message: String,
}

impl LinkResponse {
    /// The link was accepted.
    #[must_use]
    pub fn accepted() -> Self {
        Self {
            api_version: ApiVersion::CURRENT,
            result: LinkResult::Accepted,
        }
    }

    /// The link was refused.
    ///
    /// ```
    /// use lattice_link::{LinkResponse, LinkResult};
    /// use lattice_spec::WireMessage;
    /// use lattice_status::LinkErrorKind;
    ///
    /// let refused = LinkResponse::refused(LinkErrorKind::ResourceUnavailable, "address already in use");
    /// let bytes = refused.encode()?;
    /// let decoded = LinkResponse::decode(&bytes)?;
    /// let refusal = decoded.into_result().unwrap_err();
    /// assert_eq!(refusal.kind, LinkErrorKind::ResourceUnavailable);
    /// assert_eq!(refusal.message, "address already in use");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn refused(kind: LinkErrorKind, message: impl Into<String>) -> Self {
        Self {
            api_version: ApiVersion::CURRENT,
            result: LinkResult::Refused {
                kind,
                message: message.into(),
            },
        }
    }

    /// Whether the provider accepted the request.
    #[must_use]
    pub fn is_accepted(&self) -> bool {
        matches!(self.result, LinkResult::Accepted)
    }

    /// `Ok` when accepted, the refusal otherwise.
    ///
    /// # Errors
    ///
    /// [`LinkRefusal`] carrying the provider's kind and message; a result this version does
    /// not know is a refusal of kind `Unknown`.
    pub fn into_result(self) -> Result<(), LinkRefusal> {
        match self.result {
            LinkResult::Accepted => Ok(()),
            LinkResult::Refused { kind, message } => Err(LinkRefusal { kind, message }),
            LinkResult::Unknown => Err(LinkRefusal {
                kind: LinkErrorKind::Unknown,
                message: "the provider answered with a result this version does not know".into(),
            }),
        }
    }
}

impl From<Result<(), LinkRefusal>> for LinkResponse {
    fn from(result: Result<(), LinkRefusal>) -> Self {
        match result {
            Ok(()) => Self::accepted(),
            Err(LinkRefusal { kind, message }) => Self::refused(kind, message),
        }
    }
}

impl WireMessage for LinkResponse {
    const NAME: &'static str = "LinkResponse";
}

impl fmt::Display for LinkResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Accepted => f.write_str("accepted"),
            Self::Refused { kind, message } => write!(f, "refused ({kind}): {message}"),
            Self::Unknown => f.write_str("unknown"),
        }
    }
}

/// A provider's answer on its `health` subject.
///
/// This keeps the wasmCloud 1.x shape (`{"healthy": bool, "message": string?}`) so a host can
/// read the health of providers built with older SDKs; `api_version` is therefore optional
/// here, unlike in the other messages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct HealthCheckResponse {
    /// The API version, when the provider speaks v2alpha1 (absent from 1.x providers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<ApiVersion>,
    /// Whether the provider is healthy.
    ///
    /// Absent means **unhealthy**, deliberately: that is how a wasmCloud 1.x host reads it
    /// (`#[serde(default)] pub healthy: bool` in `wasmcloud-core`'s `HealthCheckResponse`,
    /// `crates/core/src/rpc.rs` at wasmCloud v1.9.2), so a lattice host and a 1.x host agree
    /// on every reply, and a provider that answers `{}` has not said it is healthy. Every
    /// SDK a 1.x provider is built with writes the field.
    #[serde(default)]
    pub healthy: bool,
    /// Why not, or any detail the provider wants to report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl HealthCheckResponse {
    /// A healthy answer.
    #[must_use]
    pub fn healthy() -> Self {
        Self {
            api_version: Some(ApiVersion::CURRENT),
            healthy: true,
            message: None,
        }
    }

    /// An unhealthy answer with the reason.
    #[must_use]
    pub fn unhealthy(message: impl Into<String>) -> Self {
        Self {
            api_version: Some(ApiVersion::CURRENT),
            healthy: false,
            message: Some(message.into()),
        }
    }
}

#[cfg(test)]
mod health_tests {
    use super::*;

    #[test]
    fn a_health_reply_without_healthy_reads_as_unhealthy_as_in_1x() {
        let empty: HealthCheckResponse = serde_json::from_str("{}").unwrap();
        assert!(!empty.healthy);
        assert_eq!(empty.message, None);
        let with_message: HealthCheckResponse =
            serde_json::from_str(r#"{"message":"warming up"}"#).unwrap();
        assert!(!with_message.healthy);
        let healthy: HealthCheckResponse = serde_json::from_str(r#"{"healthy":true}"#).unwrap();
        assert!(healthy.healthy);
    }
}
