//! Control interface v2alpha1 of the lattice wire contract.
//!
//! This crate owns every control operation's request and reply, the [`Reply`] envelope and
//! its typed [`CtlError`], the status events and a scheduler's rollout events with the
//! CloudEvents envelope they travel in ([`cloudevent`]), a rollout's record and operator
//! commands ([`rollout`]), the subjects they travel on
//! ([`CtlSubject`], [`EventSubject`], [`EventFilter`], [`RolloutSubject`]), the catalogue of
//! top-level messages with their JSON Schemas ([`schema::catalog`]), and — in [`v1`] — the
//! subset of the wasmCloud 1.x control interface a client falls back to when a host does not
//! speak v2alpha1.
//!
//! | operation | subject | request | reply payload |
//! |---|---|---|---|
//! | discover hosts | `…{lattice}.host.ping` | [`HostPingRequest`] | [`HostSummary`] (one per host) |
//! | inventory | `…{lattice}.host.inventory.{host}` | [`HostInventoryRequest`] | [`HostInventory`] |
//! | apply | `…{lattice}.component.apply.{host}` | [`ApplyComponentSpecRequest`] | [`ApplyComponentSpecAck`] |
//! | delete | `…{lattice}.component.delete.{host}` | [`DeleteComponentSpecRequest`] | [`DeleteComponentSpecAck`] |
//! | apply provider | `…{lattice}.provider.apply.{host}` | [`ApplyProviderSpecRequest`] | [`ApplyProviderSpecAck`] |
//! | delete provider | `…{lattice}.provider.delete.{host}` | [`DeleteProviderSpecRequest`] | [`DeleteProviderSpecAck`] |
//!
//! No I/O and no async runtime: a host in any framework can serve these messages.
//!
//! ```
//! use lattice_ctl::{ApplyComponentSpecReply, ApplyComponentSpecRequest, ApplyOutcome, ApplyComponentSpecAck};
//! use lattice_spec::{ComponentSpecDraft, WireMessage};
//!
//! // Client side: build and encode a request.
//! let spec = ComponentSpecDraft::new("web", "ghcr.io/acme/web:2.0.0").revision(2).validate()?;
//! let bytes = ApplyComponentSpecRequest::new(spec).encode()?;
//!
//! // Host side: decode with every spec problem listed, then acknowledge.
//! let request = ApplyComponentSpecRequest::decode_detailed(&bytes)?;
//! let reply = ApplyComponentSpecReply::ok(ApplyComponentSpecAck::new(&request.spec, ApplyOutcome::Accepted));
//! assert!(matches!(reply.into_result()?.outcome, ApplyOutcome::Accepted));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod apply;
pub mod cloudevent;
mod event;
mod host;
mod presence;
mod provider;
mod reply;
pub mod rollout;
pub mod schema;
mod subject;
pub mod v1;

pub use apply::{
    ApplyComponentSpecAck, ApplyComponentSpecReply, ApplyComponentSpecRequest, ApplyDecodeError,
    ApplyDecodeErrorKind, ApplyOutcome, DeleteComponentSpecAck, DeleteComponentSpecReply,
    DeleteComponentSpecRequest, DeleteOutcome, Rejection, RejectionCode,
};
pub use cloudevent::{EventHeader, EventType};
pub use event::{ComponentStatusEvent, EventOrigin, LinkStatusEvent, ProviderStatusEvent, now_ms};
pub use host::{
    ComponentInventory, HostInventory, HostInventoryReply, HostInventoryRequest, HostPingRequest,
    HostSummary, HostSummaryReply, LinkInventory, ProviderInventory, RevisionStatus,
};
pub use presence::{HostPresence, PresenceState, PresenceSubject};
pub use provider::{
    ApplyProviderDecodeError, ApplyProviderDecodeErrorKind, ApplyProviderSpecAck,
    ApplyProviderSpecReply, ApplyProviderSpecRequest, DeleteProviderSpecAck,
    DeleteProviderSpecReply, DeleteProviderSpecRequest,
};
pub use reply::{CtlError, ErrorCode, Reply, ReplyBody, ReplyPayload};
pub use rollout::{AppName, RolloutRecord, RolloutStatusEvent};
pub use subject::{
    CTL_PREFIX, CtlSubject, EVENT_PREFIX, EventFilter, EventSource, EventSubject, RolloutSubject,
    SubjectError, SubjectErrorKind,
};
