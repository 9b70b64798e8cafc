//! The subset of the wasmCloud 1.x control interface that a client needs to fall back to a
//! 1.x host, and that 1.x tools read.
//!
//! Shapes and subjects match what the published 1.x control-interface crate (3.0.1, used by
//! `wash` and wadm) puts on the wire: field names, field order, which keys are omitted when
//! empty, `count` for the instance count, `actors` accepted for `components`. They are checked
//! against documents that crate produced (`tests/fixtures/v1/`).
//!
//! Identifiers here are plain strings, as in 1.x: these types describe what a 1.x peer sends,
//! which this workspace's stricter identifier rules do not govern.

mod fallback;
mod subject;
mod types;

pub use fallback::{DIGEST_ANNOTATION, FallbackConfig, REVISION_ANNOTATION, V1ApplyPlan};
pub use subject::{V1_PREFIX, V1Subject};
pub use types::{
    ComponentDescription, CtlResponse, DeleteLinkRequest, Host, HostInventory, Link,
    ProviderDescription, ScaleComponentCommand, UpdateComponentCommand,
};

use crate::schema::{MessageSchema, v1_document};

pub(crate) fn catalog() -> Vec<MessageSchema> {
    vec![
        v1_document::<CtlResponse<Host>>("V1HostReply", "host-reply"),
        v1_document::<CtlResponse<HostInventory>>("V1HostInventoryReply", "host-inventory-reply"),
        v1_document::<CtlResponse<()>>("V1Reply", "reply"),
        v1_document::<ScaleComponentCommand>("V1ScaleComponentCommand", "scale-component-command"),
        v1_document::<UpdateComponentCommand>(
            "V1UpdateComponentCommand",
            "update-component-command",
        ),
        v1_document::<Link>("V1Link", "link"),
        v1_document::<DeleteLinkRequest>("V1DeleteLinkRequest", "delete-link-request"),
        v1_document::<std::collections::BTreeMap<String, String>>("V1Config", "config"),
    ]
}
