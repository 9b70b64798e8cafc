//! The component spec model of the lattice wire contract.
//!
//! This crate owns what a component *should* be: validated identifiers ([`ComponentId`],
//! [`HostId`], [`LatticeName`], …), artifact references ([`ArtifactRef`]), the
//! [`ComponentSpec`] with its links, configuration and secret references, validation that
//! reports every problem by field path ([`ComponentSpecDraft::validate`]), a canonical digest
//! ([`ComponentSpec::digest`]) and a diff between two specs ([`SpecDiff`]). For spec documents
//! written by hand, [`SpecDocument::decode`] also names every field the spec does not have.
//!
//! It also owns the API version every top-level message carries and the decoding rule that
//! goes with it ([`WireMessage`], [`ApiVersion`]).
//!
//! No I/O, no async runtime, no NATS: any host, scheduler or tool can depend on it.

mod artifact;
pub mod configdata;
mod diff;
mod digest;
mod document;
mod draft;
mod error;
pub mod id;
mod provider;
mod spec;
mod version;

pub use artifact::{ArtifactError, ArtifactErrorKind, ArtifactRef, ContentDigest};
pub use diff::{Change, LinkChange, LinkFieldChanges, SpecDiff};
pub use document::{
    DocumentFormat, DocumentProblem, DocumentProblemKind, SpecDocument, SpecDocumentError,
    SpecDocumentErrorKind,
};
pub use draft::{ComponentSpecDraft, ConfigDraft, LinkDraft, SecretRefDraft, is_wit_identifier};
pub use error::{FieldError, SpecErrorCode, SpecErrors};
pub use id::{
    ComponentId, ConfigName, HostId, IdError, IdErrorKind, LatticeName, LinkName, ProviderId,
    Revision, WorkloadId,
};
pub use provider::{ProviderSpec, ProviderSpecDraft};
pub use spec::{
    ComponentSpec, ConfigSpec, LinkDirection, LinkKey, LinkPeer, LinkSpec, LinkTargetKind,
    SecretRef,
};
pub use version::{ApiVersion, DecodeError, DecodeErrorKind, WireMessage, decode_versioned};

#[cfg(feature = "arbitrary")]
mod arbitrary_impls;
