//! 1.x message shapes. Field order and serde attributes follow the 1.x crate, so what these
//! types encode is what a 1.x tool expects byte for byte.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The 1.x reply envelope: `{"success": bool, "message": string, "response": T}`, with
/// `response` omitted when there is none.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct CtlResponse<T> {
    /// Whether the operation succeeded.
    pub success: bool,
    /// Why it failed, or an informational message. (1.x always sends it; decoding here is
    /// lenient and defaults it.)
    #[serde(default)]
    pub message: String,
    /// The payload, if the operation has one.
    // A missing `Option` field decodes as `None` without `#[serde(default)]`, which would put
    // a `T: Default` bound on the type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<T>,
}

impl<T> CtlResponse<T> {
    /// A success carrying `response`.
    #[must_use]
    pub fn ok(response: T) -> Self {
        Self {
            success: true,
            message: String::new(),
            response: Some(response),
        }
    }

    /// A failure with `message`.
    #[must_use]
    pub fn error(message: impl Into<String>) -> Self {
        Self {
            success: false,
            message: message.into(),
            response: None,
        }
    }

    /// A success without payload, with an informational `message` (what 1.x hosts answer to
    /// writes).
    #[must_use]
    pub fn success(message: impl Into<String>) -> Self {
        Self {
            success: true,
            message: message.into(),
            response: None,
        }
    }

    /// The payload on success, the message on failure.
    ///
    /// # Errors
    ///
    /// The host's message when `success` is false.
    pub fn into_result(self) -> Result<Option<T>, String> {
        if self.success {
            Ok(self.response)
        } else {
            Err(self.message)
        }
    }
}

/// A 1.x host's answer to a ping.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct Host {
    /// NATS address used for RPC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpc_host: Option<String>,
    /// NATS address used for the control interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ctl_host: Option<String>,
    /// Human-friendly name.
    #[serde(default)]
    pub friendly_name: String,
    /// The host id (an nkey public key).
    #[serde(default)]
    pub id: String,
    /// JetStream domain, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub js_domain: Option<String>,
    /// Labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The lattice.
    #[serde(default)]
    pub lattice: String,
    /// Uptime, human-readable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime_human: Option<String>,
    /// Uptime in seconds.
    #[serde(default)]
    pub uptime_seconds: u64,
    /// Host software version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// A 1.x host's inventory. `components` and `providers` are required keys; older hosts send
/// `actors`, which is accepted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[schemars(transform = components_or_actors)]
#[non_exhaustive]
pub struct HostInventory {
    /// Components on the host. Presence is the only status 1.x has.
    #[serde(alias = "actors")]
    pub components: Vec<ComponentDescription>,
    /// Providers on the host.
    pub providers: Vec<ProviderDescription>,
    /// The host id.
    #[serde(default)]
    pub host_id: String,
    /// Human-friendly name.
    #[serde(default)]
    pub friendly_name: String,
    /// Labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Host software version.
    #[serde(default)]
    pub version: String,
    /// Uptime, human-readable.
    #[serde(default)]
    pub uptime_human: String,
    /// Uptime in seconds.
    #[serde(default)]
    pub uptime_seconds: u64,
}

/// The derived schema requires `components`; 1.x accepts `actors` in its place.
fn components_or_actors(schema: &mut schemars::Schema) {
    if let Some(required) = schema.get_mut("required").and_then(|r| r.as_array_mut()) {
        required.retain(|name| name != "components");
    }
    let components = schema
        .get("properties")
        .and_then(|p| p.get("components"))
        .cloned();
    if let (Some(components), Some(properties)) = (
        components,
        schema.get_mut("properties").and_then(|p| p.as_object_mut()),
    ) {
        properties.insert("actors".into(), components);
    }
    schema.insert(
        "anyOf".into(),
        serde_json::json!([{ "required": ["components"] }, { "required": ["actors"] }]),
    );
}

impl HostInventory {
    /// The component with `id`, if the host runs it.
    #[must_use]
    pub fn component(&self, id: &str) -> Option<&ComponentDescription> {
        self.components.iter().find(|c| c.id == id)
    }
}

/// A component in a 1.x inventory.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct ComponentDescription {
    /// The component id.
    #[serde(default)]
    pub id: String,
    /// The image reference it runs.
    #[serde(default)]
    pub image_ref: String,
    /// Name from its embedded claims.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Revision from its embedded claims.
    #[serde(default)]
    pub revision: i32,
    /// Maximum concurrent instances.
    #[serde(default)]
    pub max_instances: u32,
    /// Resource limits (1.x always writes this key, `null` when unset).
    #[serde(default)]
    pub limits: Option<BTreeMap<String, String>>,
}

/// A provider in a 1.x inventory.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct ProviderDescription {
    /// The provider id.
    #[serde(default)]
    pub id: String,
    /// The image reference it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_ref: Option<String>,
    /// Name from its embedded claims.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Revision from its embedded claims.
    #[serde(default)]
    pub revision: i32,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// Scale a component on one 1.x host (0 stops it); with `allow_update` it also moves the
/// component to `component_ref`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct ScaleComponentCommand {
    /// The image reference.
    #[serde(default)]
    pub component_ref: String,
    /// The component id (required).
    pub component_id: String,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Maximum concurrent instances, on the wire as `count`.
    #[serde(default, alias = "count", rename = "count")]
    pub max_instances: u32,
    /// Resource limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component_limits: Option<BTreeMap<String, String>>,
    /// The host addressed.
    #[serde(default)]
    pub host_id: String,
    /// Named configurations, merged left to right.
    #[serde(default)]
    pub config: Vec<String>,
    /// Whether the command may also change the running image reference.
    #[serde(default)]
    pub allow_update: bool,
}

/// Replace a component's code on one 1.x host.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct UpdateComponentCommand {
    /// The component id.
    #[serde(default)]
    pub component_id: String,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// The host addressed.
    #[serde(default)]
    pub host_id: String,
    /// The new image reference.
    #[serde(default)]
    pub new_component_ref: String,
}

fn default_link_name() -> String {
    "default".to_owned()
}

/// A 1.x link: configuration is referenced by *name*; the values live in the config store.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct Link {
    /// The component using the link.
    pub source_id: String,
    /// The provider (or component) serving it.
    pub target: String,
    /// The link's name; `default` when absent.
    #[serde(default = "default_link_name")]
    pub name: String,
    /// The WIT namespace.
    pub wit_namespace: String,
    /// The WIT package.
    pub wit_package: String,
    /// The interfaces.
    pub interfaces: Vec<String>,
    /// Named configurations for the component's end.
    #[serde(default)]
    pub source_config: Vec<String>,
    /// Named configurations for the provider's end.
    #[serde(default)]
    pub target_config: Vec<String>,
}

/// Remove a 1.x link.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct DeleteLinkRequest {
    /// The component using the link.
    pub source_id: String,
    /// The link's name; `default` when absent.
    #[serde(default = "default_link_name")]
    pub name: String,
    /// The WIT namespace.
    pub wit_namespace: String,
    /// The WIT package.
    pub wit_package: String,
}
