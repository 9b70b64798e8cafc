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
//!
//! A host that also speaks 1.x (the host kit does) uses the other half: the subjects to
//! subscribe to ([`V1Subject::host_subscriptions`]), a spec described in 1.x terms
//! ([`ComponentDescription::from_spec`]), 1.x component writes turned into specs
//! ([`ScaleComponentCommand::to_spec`], [`UpdateComponentCommand::to_spec`], under the
//! [revision rule](self#revision-rule)), and the CloudEvents a 1.x host publishes
//! ([`CloudEvent`], [`HOST_HEARTBEAT`]).
//!
//! # Revision rule
//!
//! A 1.x write derives a spec from the component's serving spec (when nothing serves yet, from
//! the most recently accepted spec, or from the command alone for a new component — see
//! [`V1Base`]) and replaces what the command carries. If the result has the content
//! and annotations of the most recently accepted spec ([`same_intent`]), nothing is applied;
//! otherwise it is applied at the most recently accepted revision + 1 (1 for a new component).
//! A scale to 0 deletes the component.

/// The label a lattice host adds to its 1.x `Host` answer: the control API versions it
/// speaks, comma-separated (`v1,v2alpha1`). A client that pings both versions knows from the
/// 1.x answer alone that the host is a lattice host — whichever answer arrives first.
pub const API_VERSIONS_LABEL: &str = "lattice.dev/api-versions";

mod event;
mod fallback;
mod subject;
mod translate;
mod types;

pub use event::{
    CloudEvent, EVENT_TYPE_PREFIX, HOST_HEARTBEAT, HOST_STARTED, HOST_STOPPED, HostHeartbeat,
    HostStarted, HostStopped, rfc3339,
};
pub use fallback::{DIGEST_ANNOTATION, FallbackConfig, REVISION_ANNOTATION, V1ApplyPlan};
pub use subject::{V1_EVENT_PREFIX, V1_PREFIX, V1EventSubject, V1Subject, V1Subscription};
pub use translate::{V1Base, V1SpecChange, same_intent, uptime_human};
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
