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
    /// The request could not be encoded (see [`EncodeError`]).
    Encode,
    /// The NATS server denied the user the request's subject or its reply inbox (the user's
    /// `permissions`): sending again will not help. Reported only by a client given a
    /// [`PermissionWatch`](crate::PermissionWatch).
    PermissionDenied,
}

impl RequestErrorKind {
    /// Whether the same request may succeed if sent again: nobody answered in time, nobody
    /// listened yet (a host starting or restarting), or the connection failed. A host's error
    /// reply says itself whether it is retryable; see [`RequestError::is_retryable`].
    #[must_use]
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::TimedOut | Self::NoResponders | Self::Transport)
    }
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
        source: async_nats::RequestError,
    },
    /// The request could not be encoded; nothing was sent.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// Subscribing to the subject of the answers failed.
    #[error("cannot subscribe to `{subject}`")]
    Subscribe {
        /// The subject.
        subject: String,
        /// What async-nats said.
        #[source]
        source: async_nats::SubscribeError,
    },
    /// The NATS server denied the request (its subject, or the reply inbox) to this user;
    /// nothing reached a host.
    #[error("request on `{subject}` refused: {violation}")]
    PermissionDenied {
        /// The request subject.
        subject: String,
        /// What the server refused.
        violation: crate::PermissionViolation,
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
            Self::Transport { .. } | Self::Subscribe { .. } => RequestErrorKind::Transport,
            Self::Encode(_) => RequestErrorKind::Encode,
            Self::PermissionDenied { .. } => RequestErrorKind::PermissionDenied,
        }
    }

    /// Whether the same request may succeed if sent again: as the wire says for a host's
    /// error reply (its `retryable`), else by [`RequestErrorKind::is_retryable`].
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Host { error, .. } => error.retryable,
            _ => self.kind().is_retryable(),
        }
    }

    /// What the server refused, for a request it denied.
    #[must_use]
    pub fn permission_violation(&self) -> Option<&crate::PermissionViolation> {
        match self {
            Self::PermissionDenied { violation, .. } => Some(violation),
            _ => None,
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
///
/// A failed request keeps the request's own kind: `Request(RequestErrorKind::NoResponders)`
/// means no host answered on either the v2alpha1 or the 1.x subjects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApplyErrorKind {
    /// The request failed; see [`RequestErrorKind`].
    Request(RequestErrorKind),
    /// The host refused the spec (stale revision, conflict, invalid spec, …).
    Rejected,
    /// A 1.x host refused one of the fallback operations.
    FallbackRefused,
    /// A 1.x host did not stop the old artifact in time; the new one was not sent.
    FallbackStopTimedOut,
    /// The host speaks only the wasmCloud 1.x control interface and the client's 1.x fallback
    /// is off ([`Client::with_v1_fallback`](crate::Client::with_v1_fallback)).
    V1Only,
}

impl ApplyErrorKind {
    /// Whether the same apply may succeed if sent again: a retryable request failure, or a
    /// 1.x host that was still stopping the old artifact.
    #[must_use]
    pub fn is_retryable(self) -> bool {
        match self {
            Self::Request(kind) => kind.is_retryable(),
            Self::FallbackStopTimedOut => true,
            Self::Rejected | Self::FallbackRefused | Self::V1Only => false,
        }
    }
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
    /// The host answers only the wasmCloud 1.x control interface, and the client's 1.x
    /// fallback is off: nothing was sent to it.
    #[error(
        "host `{host}` speaks only the wasmCloud 1.x control interface and the 1.x fallback is off; enable it with `Client::with_v1_fallback(true)` to drive this host with 1.x operations"
    )]
    V1Only {
        /// The host.
        host: HostId,
    },
}

impl ApplyError {
    /// The kind of failure.
    #[must_use]
    pub fn kind(&self) -> ApplyErrorKind {
        match self {
            Self::Request(e) => ApplyErrorKind::Request(e.kind()),
            Self::Rejected { .. } => ApplyErrorKind::Rejected,
            Self::FallbackRefused { .. } => ApplyErrorKind::FallbackRefused,
            Self::FallbackStopTimedOut { .. } => ApplyErrorKind::FallbackStopTimedOut,
            Self::V1Only { .. } => ApplyErrorKind::V1Only,
        }
    }

    /// Whether the same apply may succeed if sent again; see [`ApplyErrorKind::is_retryable`]
    /// (a host's error reply says itself).
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Request(e) => e.is_retryable(),
            _ => self.kind().is_retryable(),
        }
    }
}

/// What went wrong while applying and following a component, as a value to `match` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitErrorKind {
    /// The apply itself failed.
    Apply(ApplyErrorKind),
    /// The component reached `failed`; the host's reason is attached.
    Failed,
    /// The deadline passed before the component was running.
    DeadlineExceeded,
    /// Following the component failed (subscription or inventory request).
    Follow(RequestErrorKind),
}

impl WaitErrorKind {
    /// Whether applying and waiting again may succeed: a retryable apply or follow failure.
    /// A failed revision or a passed deadline is an answer, not a transient failure.
    #[must_use]
    pub fn is_retryable(self) -> bool {
        match self {
            Self::Apply(kind) => kind.is_retryable(),
            Self::Follow(kind) => kind.is_retryable(),
            Self::Failed | Self::DeadlineExceeded => false,
        }
    }
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
            Self::Apply(e) => WaitErrorKind::Apply(e.kind()),
            Self::Failed { .. } => WaitErrorKind::Failed,
            Self::DeadlineExceeded { .. } => WaitErrorKind::DeadlineExceeded,
            Self::Follow { source, .. } => WaitErrorKind::Follow(source.kind()),
        }
    }

    /// Whether applying and waiting again may succeed; see [`WaitErrorKind::is_retryable`].
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Apply(e) => e.is_retryable(),
            Self::Follow { source, .. } => source.is_retryable(),
            _ => self.kind().is_retryable(),
        }
    }
}

/// Following a component on a host failed: its events could not be subscribed to, or its
/// inventory could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot follow `{component}` on host `{host}`")]
#[non_exhaustive]
pub struct FollowError {
    /// The host.
    pub host: HostId,
    /// The component.
    pub component: ComponentId,
    /// Why.
    #[source]
    pub source: RequestError,
}

impl FollowError {
    /// The kind of failure: the failed request's.
    #[must_use]
    pub fn kind(&self) -> RequestErrorKind {
        self.source.kind()
    }

    /// Whether following again may succeed; see [`RequestError::is_retryable`].
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        self.source.is_retryable()
    }
}

impl From<FollowError> for WaitError {
    fn from(error: FollowError) -> Self {
        Self::Follow {
            host: error.host,
            component: error.component,
            source: error.source,
        }
    }
}

/// A message that could not be encoded as JSON: a bug in its type's `Serialize` (the
/// contract's messages are plain data with string map keys), reported instead of sent.
#[derive(Debug, thiserror::Error)]
#[error("cannot encode a `{what}` as JSON")]
#[non_exhaustive]
pub struct EncodeError {
    /// The Rust type of the message.
    pub what: &'static str,
    /// What serde_json said.
    #[source]
    pub source: serde_json::Error,
}

/// Encodes `message` as JSON.
pub(crate) fn encode<M: serde::Serialize>(message: &M) -> Result<bytes::Bytes, EncodeError> {
    serde_json::to_vec(message)
        .map(bytes::Bytes::from)
        .map_err(|source| EncodeError {
            what: std::any::type_name::<M>(),
            source,
        })
}

/// Host discovery failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoverError {
    /// The inbox for the answers could not be subscribed.
    #[error("cannot subscribe to the discovery inbox")]
    Subscribe(#[source] async_nats::SubscribeError),
    /// The ping could not be sent.
    #[error("cannot send the discovery ping on `{subject}`")]
    Publish {
        /// The ping subject.
        subject: String,
        /// What async-nats said.
        #[source]
        source: async_nats::PublishError,
    },
    /// The ping could not be encoded; nothing was sent.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// Hosts the directory lists as live did not answer within the window (returned by
    /// [`Discovery::into_complete`](crate::Discovery::into_complete), for callers that must
    /// not go on without them, such as a rollout planning its hosts).
    #[error(
        "{} host(s) the host directory lists as live did not answer discovery within {window:?}: {}; \
         a host that was killed leaves the directory after {} missed heartbeats",
        hosts.len(),
        hosts.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
        crate::directory::STALE_AFTER_HEARTBEATS
    )]
    Unanswered {
        /// The hosts that did not answer.
        hosts: Vec<lattice_spec::HostId>,
        /// How long discovery waited for them.
        window: std::time::Duration,
    },
}

/// What went wrong with a discovery, as a value to `match` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DiscoverErrorKind {
    /// The NATS connection failed.
    Transport,
    /// The ping could not be encoded.
    Encode,
    /// Hosts the directory lists as live did not answer; see [`DiscoverError::Unanswered`].
    Unanswered,
}

impl DiscoverErrorKind {
    /// Whether discovering again may succeed: a transport failure may be transient, and a
    /// host that did not answer may answer next time (or leave the directory).
    #[must_use]
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Transport | Self::Unanswered)
    }
}

impl DiscoverError {
    /// The kind of failure.
    #[must_use]
    pub fn kind(&self) -> DiscoverErrorKind {
        match self {
            Self::Subscribe(_) | Self::Publish { .. } => DiscoverErrorKind::Transport,
            Self::Encode(_) => DiscoverErrorKind::Encode,
            Self::Unanswered { .. } => DiscoverErrorKind::Unanswered,
        }
    }
}

/// The host directory could not be read (discovery then goes on without it; see
/// [`Discovery::directory`](crate::Discovery)).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DirectoryError {
    /// The directory stream could not be found or created (no JetStream, or no permission).
    #[error("cannot open or create the host directory stream `{stream}`")]
    Stream {
        /// The stream's name.
        stream: String,
        /// What async-nats said.
        #[source]
        source: async_nats::jetstream::context::CreateStreamError,
    },
    /// The consumer reading the stream could not be created.
    #[error("cannot read the host directory stream `{stream}`")]
    Consumer {
        /// The stream's name.
        stream: String,
        /// What async-nats said.
        #[source]
        source: async_nats::jetstream::stream::ConsumerError,
    },
    /// The consumer's messages could not be requested.
    #[error("cannot read the host directory stream `{stream}`")]
    Messages {
        /// The stream's name.
        stream: String,
        /// What async-nats said.
        #[source]
        source: async_nats::jetstream::consumer::StreamError,
    },
    /// Reading the stream failed part way.
    #[error("cannot read the host directory stream `{stream}`")]
    Read {
        /// The stream's name.
        stream: String,
        /// What async-nats said.
        #[source]
        source: async_nats::jetstream::consumer::pull::OrderedError,
    },
}

/// What went wrong reading the host directory, as a value to `match` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DirectoryErrorKind {
    /// The server has no JetStream.
    Unavailable,
    /// JetStream refused (for example: no permission to create or read the stream).
    Refused,
    /// The NATS connection failed or timed out.
    Transport,
    /// Discovery did not get the directory within
    /// [`DIRECTORY_PATIENCE`](crate::DIRECTORY_PATIENCE) of the last answer.
    TimedOut,
}

/// What went wrong subscribing to events.
#[derive(Debug, thiserror::Error)]
#[error("cannot subscribe to `{subject}`")]
#[non_exhaustive]
pub struct SubscribeError {
    /// The subject.
    pub subject: String,
    /// What async-nats said.
    #[source]
    pub source: async_nats::SubscribeError,
}

/// What went wrong subscribing to events, as a value to `match` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubscribeErrorKind {
    /// The filter's subject is not one the server accepts.
    InvalidSubject,
    /// The NATS connection failed.
    Transport,
}

impl SubscribeErrorKind {
    /// Whether subscribing again may succeed.
    #[must_use]
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Transport)
    }
}

impl SubscribeError {
    /// The kind of failure.
    #[must_use]
    pub fn kind(&self) -> SubscribeErrorKind {
        match self.source.kind() {
            async_nats::SubscribeErrorKind::InvalidSubject => SubscribeErrorKind::InvalidSubject,
            _ => SubscribeErrorKind::Transport,
        }
    }
}

#[cfg(test)]
mod encode_tests {
    use super::*;

    /// A message whose `Serialize` fails, as a buggy one would.
    struct Unencodable;

    impl serde::Serialize for Unencodable {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("broken"))
        }
    }

    #[test]
    fn a_message_that_cannot_be_encoded_is_a_typed_error_not_a_panic() {
        let error = RequestError::from(encode(&Unencodable).unwrap_err());
        assert_eq!(error.kind(), RequestErrorKind::Encode);
        assert!(!error.is_retryable());
        assert!(error.to_string().contains("Unencodable"), "{error}");
        assert_eq!(
            std::error::Error::source(&error).map(ToString::to_string),
            Some("broken".to_owned())
        );
    }
}
