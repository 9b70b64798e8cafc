//! Errors of the client, one per operation, each with a small `Copy` kind to `match` on.
//!
//! A refusal from a host travels inside the error whole: the [`CtlError`] of an error reply,
//! the [`Rejection`] of an acknowledgement, the [`StatusReason`] of a failed component.

use lattice_ctl::{CtlError, ErrorCode, Rejection};
use lattice_spec::{ComponentId, DecodeError, HostId, Revision};
use lattice_status::StatusReason;
use std::time::Duration;

/// What went wrong with a request, as a value to `match` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestErrorKind {
    /// Nobody answered within the timeout.
    TimedOut,
    /// Nobody listens on the subject: no such host, or it does not speak this version.
    NoResponders,
    /// The host answered with an error reply (its [`CtlError`] is attached).
    Host,
    /// The host does not speak the request's API version.
    VersionUnsupported,
    /// The reply could not be decoded.
    Decode,
    /// The NATS connection failed.
    Transport,
}

/// A control request that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// Nobody answered within the timeout.
    #[error("no reply on `{subject}` within {timeout:?}")]
    TimedOut {
        /// The request subject.
        subject: String,
        /// The timeout that passed.
        timeout: Duration,
    },
    /// Nobody listens on the subject.
    #[error(
        "no responders on `{subject}`: no such host in the lattice, or it does not speak this API version"
    )]
    NoResponders {
        /// The request subject.
        subject: String,
    },
    /// The host answered with an error reply.
    #[error("host error on `{subject}`: {error}")]
    Host {
        /// The request subject.
        subject: String,
        /// The host's error, whole.
        error: CtlError,
    },
    /// The reply could not be decoded.
    #[error("cannot decode the reply on `{subject}`")]
    Decode {
        /// The request subject.
        subject: String,
        /// Why.
        #[source]
        source: DecodeError,
    },
    /// The NATS connection failed.
    #[error("transport error on `{subject}`")]
    Transport {
        /// The request subject.
        subject: String,
        /// What async-nats said.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl RequestError {
    /// The kind of failure.
    #[must_use]
    pub fn kind(&self) -> RequestErrorKind {
        match self {
            Self::TimedOut { .. } => RequestErrorKind::TimedOut,
            Self::NoResponders { .. } => RequestErrorKind::NoResponders,
            Self::Host { error, .. } if error.code == ErrorCode::UnsupportedVersion => {
                RequestErrorKind::VersionUnsupported
            }
            Self::Host { .. } => RequestErrorKind::Host,
            Self::Decode { .. } => RequestErrorKind::Decode,
            Self::Transport { .. } => RequestErrorKind::Transport,
        }
    }

    /// The host's error reply, when there was one.
    #[must_use]
    pub fn host_error(&self) -> Option<&CtlError> {
        match self {
            Self::Host { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// What went wrong with an apply, as a value to `match` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApplyErrorKind {
    /// See [`RequestErrorKind::TimedOut`].
    TimedOut,
    /// No host answered on either the v2alpha1 or the 1.x subjects.
    NoResponders,
    /// The host refused the spec (stale revision, conflict, invalid spec, …).
    Rejected,
    /// A 1.x host refused one of the fallback operations.
    FallbackRefused,
    /// See [`RequestErrorKind::Host`].
    Host,
    /// See [`RequestErrorKind::VersionUnsupported`].
    VersionUnsupported,
    /// See [`RequestErrorKind::Decode`].
    Decode,
    /// See [`RequestErrorKind::Transport`].
    Transport,
}

/// An apply that failed before the host acknowledged it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// The request failed.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// The host refused the spec.
    #[error("host `{host}` rejected revision {revision} of `{component}`: {} ({})", rejection.message, rejection.code)]
    Rejected {
        /// The host.
        host: HostId,
        /// The component.
        component: ComponentId,
        /// The revision that was refused.
        revision: Revision,
        /// The host's rejection, whole (with field errors for an invalid spec).
        rejection: Rejection,
    },
    /// A 1.x host refused a fallback operation.
    #[error("1.x host `{host}` refused `{operation}`: {message}")]
    FallbackRefused {
        /// The host.
        host: HostId,
        /// The 1.x operation, e.g. `link.put`.
        operation: &'static str,
        /// The host's message.
        message: String,
    },
    /// A 1.x host still listed the component `waited` after the scale to zero that makes
    /// way for a new artifact (see `lattice_ctl::v1::V1ApplyPlan`); the new artifact was not
    /// sent.
    #[error(
        "1.x host `{host}` still runs `{component}` {waited:?} after being asked to stop it for a new artifact"
    )]
    FallbackStopTimedOut {
        /// The host.
        host: HostId,
        /// The component.
        component: ComponentId,
        /// How long the client waited.
        waited: Duration,
    },
}

impl ApplyError {
    /// The kind of failure.
    #[must_use]
    pub fn kind(&self) -> ApplyErrorKind {
        match self {
            Self::Request(e) => match e.kind() {
                RequestErrorKind::TimedOut => ApplyErrorKind::TimedOut,
                RequestErrorKind::NoResponders => ApplyErrorKind::NoResponders,
                RequestErrorKind::Host => ApplyErrorKind::Host,
                RequestErrorKind::VersionUnsupported => ApplyErrorKind::VersionUnsupported,
                RequestErrorKind::Decode => ApplyErrorKind::Decode,
                RequestErrorKind::Transport => ApplyErrorKind::Transport,
            },
            Self::Rejected { .. } => ApplyErrorKind::Rejected,
            Self::FallbackRefused { .. } => ApplyErrorKind::FallbackRefused,
            Self::FallbackStopTimedOut { .. } => ApplyErrorKind::TimedOut,
        }
    }
}

/// What went wrong while applying and following a component, as a value to `match` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitErrorKind {
    /// The apply itself failed; see [`ApplyErrorKind`].
    Apply,
    /// The component reached `failed`; the host's reason is attached.
    Failed,
    /// The deadline passed before the component was running.
    DeadlineExceeded,
    /// Following the component failed (subscription or inventory request).
    Follow,
}

/// An apply-and-wait that did not end with the component running.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WaitError {
    /// The apply failed.
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// The new revision failed; the previous one, if any, keeps serving.
    #[error("revision {revision} of `{component}` failed on host `{host}`: {reason}")]
    Failed {
        /// The host.
        host: HostId,
        /// The component.
        component: ComponentId,
        /// The revision that failed.
        revision: Revision,
        /// The host's reason, whole (for a refused link: provider, link, kind and message).
        reason: StatusReason,
    },
    /// The deadline passed.
    #[error(
        "revision {revision} of `{component}` on host `{host}` was not running after {deadline:?} (last state: {last_state})"
    )]
    DeadlineExceeded {
        /// The host.
        host: HostId,
        /// The component.
        component: ComponentId,
        /// The revision.
        revision: Revision,
        /// The deadline.
        deadline: Duration,
        /// The last state seen.
        last_state: String,
    },
    /// Following the component failed.
    #[error("cannot follow `{component}` on host `{host}`")]
    Follow {
        /// The host.
        host: HostId,
        /// The component.
        component: ComponentId,
        /// Why.
        #[source]
        source: RequestError,
    },
}

impl WaitError {
    /// The kind of failure.
    #[must_use]
    pub fn kind(&self) -> WaitErrorKind {
        match self {
            Self::Apply(_) => WaitErrorKind::Apply,
            Self::Failed { .. } => WaitErrorKind::Failed,
            Self::DeadlineExceeded { .. } => WaitErrorKind::DeadlineExceeded,
            Self::Follow { .. } => WaitErrorKind::Follow,
        }
    }
}

/// Host discovery failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoverError {
    /// The ping could not be sent or the inbox not subscribed.
    #[error("cannot discover hosts")]
    Transport(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// What went wrong subscribing to events.
#[derive(Debug, thiserror::Error)]
#[error("cannot subscribe to `{subject}`")]
pub struct SubscribeError {
    /// The subject.
    pub subject: String,
    /// What async-nats said.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}
