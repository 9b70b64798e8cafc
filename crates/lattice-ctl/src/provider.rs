//! Apply and delete a provider spec, and the host's acknowledgement.
//!
//! The same discipline as components ([`crate::ApplyComponentSpecRequest`]): declarative and
//! idempotent (the same spec twice is [`ApplyOutcome::Unchanged`]), an older revision is
//! refused, an invalid spec is answered with every problem by field path, and the
//! acknowledgement leaves before any work starts — the provider's progress
//! (`pending` → `starting` → `running`, or `failed` with a reason) follows as
//! [`ProviderStatusEvent`](crate::ProviderStatusEvent)s and in the host's inventory.

use crate::reply::{Reply, ReplyPayload};
use crate::{ApplyOutcome, DeleteOutcome, Rejection, RejectionCode};
use lattice_spec::{
    ApiVersion, ContentDigest, DecodeError, ProviderId, ProviderSpec, ProviderSpecDraft, Revision,
    SpecErrors, WireMessage, decode_versioned,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Apply the whole desired state of one capability provider on one host: the host starts
/// (or upgrades) the provider as a supervised process.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct ApplyProviderSpecRequest {
    /// The API version of this message.
    pub api_version: ApiVersion,
    /// The desired state.
    pub spec: ProviderSpec,
}

impl ApplyProviderSpecRequest {
    /// A request to apply `spec`.
    #[must_use]
    pub fn new(spec: ProviderSpec) -> Self {
        Self {
            api_version: ApiVersion::CURRENT,
            spec,
        }
    }

    /// Decodes a request the way a host should: a version problem first, and for an invalid
    /// spec **every** problem with its field path.
    ///
    /// # Errors
    ///
    /// [`ApplyProviderDecodeError`].
    pub fn decode_detailed(bytes: &[u8]) -> Result<Self, ApplyProviderDecodeError> {
        #[derive(Deserialize)]
        struct Draft {
            api_version: ApiVersion,
            spec: ProviderSpecDraft,
        }
        let draft: Draft =
            decode_versioned(Self::NAME, bytes).map_err(ApplyProviderDecodeError::Decode)?;
        match draft.spec.validate() {
            Ok(spec) => Ok(Self {
                api_version: draft.api_version,
                spec,
            }),
            Err(errors) => Err(ApplyProviderDecodeError::InvalidSpec {
                provider_id: ProviderId::new(draft.spec.id.clone()).ok(),
                revision: Revision(draft.spec.revision),
                errors,
            }),
        }
    }
}

impl WireMessage for ApplyProviderSpecRequest {
    const NAME: &'static str = "ApplyProviderSpecRequest";
}

/// Why a provider apply request could not be decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyProviderDecodeError {
    /// Version or shape problem: answer with [`CtlError::from`](crate::CtlError).
    #[error(transparent)]
    Decode(DecodeError),
    /// The spec is well-formed JSON of the right version but invalid.
    #[error("{errors}")]
    InvalidSpec {
        /// The provider id, when it was itself valid.
        provider_id: Option<ProviderId>,
        /// The revision the request carried.
        revision: Revision,
        /// Every problem, by field path.
        errors: SpecErrors,
    },
}

/// Why a provider apply request could not be decoded, as a value to `match` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApplyProviderDecodeErrorKind {
    /// See [`ApplyProviderDecodeError::Decode`]; the decoding error's own kind.
    Decode(lattice_spec::DecodeErrorKind),
    /// See [`ApplyProviderDecodeError::InvalidSpec`].
    InvalidSpec,
}

impl ApplyProviderDecodeError {
    /// The kind of problem.
    #[must_use]
    pub fn kind(&self) -> ApplyProviderDecodeErrorKind {
        match self {
            Self::Decode(e) => ApplyProviderDecodeErrorKind::Decode(e.kind()),
            Self::InvalidSpec { .. } => ApplyProviderDecodeErrorKind::InvalidSpec,
        }
    }

    /// The reply a host answers with: an `ok` rejection listing every field error for an
    /// invalid spec, an error reply (e.g. `unsupported_version`) otherwise.
    #[must_use]
    pub fn into_reply(self) -> ApplyProviderSpecReply {
        match self {
            Self::Decode(error) => Reply::error(crate::CtlError::from(&error)),
            Self::InvalidSpec {
                provider_id,
                revision,
                errors,
            } => Reply::ok(ApplyProviderSpecAck {
                provider_id,
                revision,
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

/// A host's acknowledgement of a provider apply: sent as soon as the request is accepted,
/// refused or found unchanged, before the provider is started.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct ApplyProviderSpecAck {
    /// The provider; absent only when the request's id was itself invalid.
    pub provider_id: Option<ProviderId>,
    /// The revision the request carried.
    pub revision: Revision,
    /// The canonical digest of the applied spec, when it was valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_digest: Option<ContentDigest>,
    /// What the host did (`accepted`: the provider is `pending` and status events follow).
    #[serde(flatten)]
    pub outcome: ApplyOutcome,
}

impl ApplyProviderSpecAck {
    /// An acknowledgement of `spec` with `outcome`.
    #[must_use]
    pub fn new(spec: &ProviderSpec, outcome: ApplyOutcome) -> Self {
        Self {
            provider_id: Some(spec.id().clone()),
            revision: spec.revision(),
            spec_digest: Some(spec.digest()),
            outcome,
        }
    }
}

impl ReplyPayload for ApplyProviderSpecAck {
    const REPLY_NAME: &'static str = "ApplyProviderSpecReply";
}

/// The reply to an [`ApplyProviderSpecRequest`].
pub type ApplyProviderSpecReply = Reply<ApplyProviderSpecAck>;

/// Stop a provider on one host: the host asks it to shut down, then terminates the process.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct DeleteProviderSpecRequest {
    /// The API version of this message.
    pub api_version: ApiVersion,
    /// The provider to delete.
    pub provider_id: ProviderId,
    /// When set, the host refuses the delete if it has a newer revision (a stale delete).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<Revision>,
}

impl DeleteProviderSpecRequest {
    /// A request to delete `provider_id`, whatever its revision.
    #[must_use]
    pub fn new(provider_id: ProviderId) -> Self {
        Self {
            api_version: ApiVersion::CURRENT,
            provider_id,
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

impl WireMessage for DeleteProviderSpecRequest {
    const NAME: &'static str = "DeleteProviderSpecRequest";
}

/// A host's acknowledgement of a provider delete.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct DeleteProviderSpecAck {
    /// The provider.
    pub provider_id: ProviderId,
    /// What the host did (`accepted`: the provider is `stopping` and status events follow).
    #[serde(flatten)]
    pub outcome: DeleteOutcome,
}

impl DeleteProviderSpecAck {
    /// An acknowledgement of deleting `provider_id` with `outcome`.
    #[must_use]
    pub fn new(provider_id: ProviderId, outcome: DeleteOutcome) -> Self {
        Self {
            provider_id,
            outcome,
        }
    }
}

impl ReplyPayload for DeleteProviderSpecAck {
    const REPLY_NAME: &'static str = "DeleteProviderSpecReply";
}

/// The reply to a [`DeleteProviderSpecRequest`].
pub type DeleteProviderSpecReply = Reply<DeleteProviderSpecAck>;

#[cfg(test)]
mod tests {
    use super::*;
    use lattice_spec::SpecErrorCode;

    #[test]
    fn an_invalid_provider_spec_is_rejected_with_every_field_error() {
        let bytes = br#"{"api_version":"v2alpha1","spec":{"id":"kv","revision":2,"artifact":"","config":{"names":["Bad Name"]}}}"#;
        let error = ApplyProviderSpecRequest::decode_detailed(bytes).unwrap_err();
        assert_eq!(error.kind(), ApplyProviderDecodeErrorKind::InvalidSpec);
        let ack = error.into_reply().into_result().unwrap();
        assert_eq!(ack.provider_id.as_ref().map(|p| p.as_str()), Some("kv"));
        let ApplyOutcome::Rejected(rejection) = ack.outcome else {
            panic!("not rejected: {ack:?}")
        };
        assert_eq!(rejection.code, RejectionCode::InvalidSpec);
        let paths: Vec<_> = rejection.errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["artifact", "config.names[0]"]);
        assert!(
            rejection
                .errors
                .iter()
                .all(|e| e.code != SpecErrorCode::Unknown)
        );
    }

    #[test]
    fn a_version_problem_is_an_error_reply() {
        let bytes = br#"{"api_version":"v9","spec":{"id":"kv","revision":1,"artifact":"/x"}}"#;
        let error = ApplyProviderSpecRequest::decode_detailed(bytes).unwrap_err();
        assert!(matches!(
            error.kind(),
            ApplyProviderDecodeErrorKind::Decode(_)
        ));
        assert!(error.into_reply().into_result().is_err());
    }
}
