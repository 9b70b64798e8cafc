//! Apply and delete a component spec, and the host's acknowledgement.

use crate::reply::{Reply, ReplyPayload};
use lattice_spec::{
    ApiVersion, ComponentId, ComponentSpec, ComponentSpecDraft, ContentDigest, DecodeError,
    FieldError, Revision, SpecErrors, WireMessage, decode_versioned,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Apply the whole desired state of one component on one host.
///
/// Declarative and idempotent: applying the same spec twice changes nothing (the host answers
/// [`ApplyOutcome::Unchanged`]), and an apply older than what the host runs is refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct ApplyComponentSpecRequest {
    /// The API version of this message.
    pub api_version: ApiVersion,
    /// The desired state.
    pub spec: ComponentSpec,
}

impl ApplyComponentSpecRequest {
    /// A request to apply `spec`.
    #[must_use]
    pub fn new(spec: ComponentSpec) -> Self {
        Self {
            api_version: ApiVersion::CURRENT,
            spec,
        }
    }

    /// Decodes a request the way a host should: a version problem first, and for an invalid
    /// spec **every** problem with its field path, so the host can reject it with a
    /// machine-readable list ([`ApplyOutcome::Rejected`] with [`RejectionCode::InvalidSpec`]).
    ///
    /// # Errors
    ///
    /// [`ApplyDecodeError`].
    pub fn decode_detailed(bytes: &[u8]) -> Result<Self, ApplyDecodeError> {
        #[derive(Deserialize)]
        struct Draft {
            api_version: ApiVersion,
            spec: ComponentSpecDraft,
        }
        let draft: Draft = decode_versioned(Self::NAME, bytes).map_err(ApplyDecodeError::Decode)?;
        match draft.spec.validate() {
            Ok(spec) => Ok(Self {
                api_version: draft.api_version,
                spec,
            }),
            Err(errors) => Err(ApplyDecodeError::InvalidSpec {
                component_id: ComponentId::new(draft.spec.id.clone()).ok(),
                revision: Revision(draft.spec.revision),
                errors,
            }),
        }
    }
}

impl WireMessage for ApplyComponentSpecRequest {
    const NAME: &'static str = "ApplyComponentSpecRequest";
}

/// Why an apply request could not be decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyDecodeError {
    /// Version or shape problem: answer with [`CtlError::from`](crate::CtlError).
    #[error(transparent)]
    Decode(DecodeError),
    /// The spec is well-formed JSON of the right version but invalid.
    #[error("{errors}")]
    InvalidSpec {
        /// The component id, when it was itself valid.
        component_id: Option<ComponentId>,
        /// The revision the request carried.
        revision: Revision,
        /// Every problem, by field path.
        errors: SpecErrors,
    },
}

/// Why an apply request could not be decoded, as a value to `match` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApplyDecodeErrorKind {
    /// See [`ApplyDecodeError::Decode`]; the decoding error's own kind.
    Decode(lattice_spec::DecodeErrorKind),
    /// See [`ApplyDecodeError::InvalidSpec`].
    InvalidSpec,
}

impl ApplyDecodeError {
    /// The kind of problem.
    #[must_use]
    pub fn kind(&self) -> ApplyDecodeErrorKind {
        match self {
            Self::Decode(e) => ApplyDecodeErrorKind::Decode(e.kind()),
            Self::InvalidSpec { .. } => ApplyDecodeErrorKind::InvalidSpec,
        }
    }

    /// The reply a host answers with: an `ok` rejection listing every field error for an
    /// invalid spec, an error reply (e.g. `unsupported_version` with the supported versions)
    /// otherwise.
    #[must_use]
    pub fn into_reply(self) -> ApplyComponentSpecReply {
        match (self.rejection(), self) {
            (Some(rejected), _) => Reply::ok(rejected),
            (None, Self::Decode(error)) => Reply::error(crate::CtlError::from(&error)),
            (None, other) => Reply::error(crate::CtlError::new(
                crate::ErrorCode::Malformed,
                other.to_string(),
            )),
        }
    }

    /// The acknowledgement a host answers an invalid spec with, or `None` for a decode error
    /// (which is answered with an error reply).
    #[must_use]
    pub fn rejection(&self) -> Option<ApplyComponentSpecAck> {
        match self {
            Self::Decode(_) => None,
            Self::InvalidSpec {
                component_id,
                revision,
                errors,
            } => Some(ApplyComponentSpecAck {
                component_id: component_id.clone(),
                revision: *revision,
                spec_digest: None,
                outcome: ApplyOutcome::Rejected(Rejection {
                    code: RejectionCode::InvalidSpec,
                    message: errors.to_string(),
                    errors: errors.errors().to_vec(),
                    current_revision: None,
                }),
            }),
        }
    }
}

lattice_status::wire_enum! {
    /// Why a host refused an apply or delete it understood.
    pub enum RejectionCode {
        /// The revision is older than the one the host has.
        StaleRevision = "stale_revision",
        /// The revision equals the one the host has, with different content.
        RevisionConflict = "revision_conflict",
        /// The spec is invalid; `errors` lists every problem by field path.
        InvalidSpec = "invalid_spec",
        /// The host cannot fetch this kind of artifact.
        UnsupportedArtifact = "unsupported_artifact",
        /// The component is not on this host.
        NotFound = "not_found",
    }
}

/// A host's refusal of a request it understood.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct Rejection {
    /// Why.
    pub code: RejectionCode,
    /// A human-readable explanation.
    pub message: String,
    /// For an invalid spec, every problem by field path.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// The revision the host has, when that explains the refusal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_revision: Option<Revision>,
}

impl Rejection {
    /// A rejection with `code` and `message`.
    #[must_use]
    pub fn new(code: RejectionCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            errors: Vec::new(),
            current_revision: None,
        }
    }

    /// Names the revision the host has.
    #[must_use]
    pub fn with_current_revision(mut self, revision: Revision) -> Self {
        self.current_revision = Some(revision);
        self
    }
}

/// What a host did with an apply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[serde(tag = "outcome", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ApplyOutcome {
    /// Accepted: the component is `pending` and status events follow.
    Accepted,
    /// The host already has exactly this spec; nothing was restarted.
    Unchanged,
    /// Refused, with a machine-readable code.
    Rejected(Rejection),
    /// An outcome from a newer host that this version does not know.
    #[serde(other)]
    Unknown,
}

/// A host's acknowledgement of an apply: sent as soon as the request is accepted, refused or
/// found unchanged, before any work starts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct ApplyComponentSpecAck {
    /// The component; absent only when the request's id was itself invalid.
    pub component_id: Option<ComponentId>,
    /// The revision the request carried.
    pub revision: Revision,
    /// The canonical digest of the applied spec, when it was valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_digest: Option<ContentDigest>,
    /// What the host did.
    #[serde(flatten)]
    pub outcome: ApplyOutcome,
}

impl ApplyComponentSpecAck {
    /// An acknowledgement of `spec` with `outcome`.
    #[must_use]
    pub fn new(spec: &ComponentSpec, outcome: ApplyOutcome) -> Self {
        Self {
            component_id: Some(spec.id().clone()),
            revision: spec.revision(),
            spec_digest: Some(spec.digest()),
            outcome,
        }
    }
}

impl ReplyPayload for ApplyComponentSpecAck {
    const REPLY_NAME: &'static str = "ApplyComponentSpecReply";
}

/// The reply to an [`ApplyComponentSpecRequest`].
pub type ApplyComponentSpecReply = Reply<ApplyComponentSpecAck>;

/// Stop a component on one host and remove its links.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct DeleteComponentSpecRequest {
    /// The API version of this message.
    pub api_version: ApiVersion,
    /// The component to delete.
    pub component_id: ComponentId,
    /// When set, the host refuses the delete if it has a newer revision (a stale delete).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<Revision>,
}

impl DeleteComponentSpecRequest {
    /// A request to delete `component_id`, whatever its revision.
    #[must_use]
    pub fn new(component_id: ComponentId) -> Self {
        Self {
            api_version: ApiVersion::CURRENT,
            component_id,
            revision: None,
        }
    }

    /// Only delete if the host's revision is not newer than `revision`.
    #[must_use]
    pub fn at_revision(mut self, revision: Revision) -> Self {
        self.revision = Some(revision);
        self
    }
}

impl WireMessage for DeleteComponentSpecRequest {
    const NAME: &'static str = "DeleteComponentSpecRequest";
}

/// What a host did with a delete.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[serde(tag = "outcome", rename_all = "snake_case")]
#[non_exhaustive]
pub enum DeleteOutcome {
    /// Accepted: the component is `stopping` and status events follow.
    Accepted,
    /// The host does not have the component; nothing to do.
    NotFound,
    /// Refused, with a machine-readable code.
    Rejected(Rejection),
    /// An outcome from a newer host that this version does not know.
    #[serde(other)]
    Unknown,
}

/// A host's acknowledgement of a delete.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct DeleteComponentSpecAck {
    /// The component.
    pub component_id: ComponentId,
    /// What the host did.
    #[serde(flatten)]
    pub outcome: DeleteOutcome,
}

impl DeleteComponentSpecAck {
    /// An acknowledgement of deleting `component_id` with `outcome`.
    #[must_use]
    pub fn new(component_id: ComponentId, outcome: DeleteOutcome) -> Self {
        Self {
            component_id,
            outcome,
        }
    }
}

impl ReplyPayload for DeleteComponentSpecAck {
    const REPLY_NAME: &'static str = "DeleteComponentSpecReply";
}

/// The reply to a [`DeleteComponentSpecRequest`].
pub type DeleteComponentSpecReply = Reply<DeleteComponentSpecAck>;
