//! A stream of status events, decoded by the subject they arrive on.

use futures::{Stream, StreamExt};
use lattice_ctl::{
    ComponentStatusEvent, EventOrigin, EventSource, EventSubject, LinkStatusEvent,
    ProviderStatusEvent,
};
use lattice_spec::{DecodeError, WireMessage};
use std::{
    pin::Pin,
    task::{Context, Poll},
};

/// One status event of any kind.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StatusEvent {
    /// A component revision changed status.
    Component(ComponentStatusEvent),
    /// A provider changed status.
    Provider(ProviderStatusEvent),
    /// A link changed status.
    Link(LinkStatusEvent),
}

impl StatusEvent {
    /// Where and when the event happened.
    #[must_use]
    pub fn origin(&self) -> &EventOrigin {
        match self {
            Self::Component(e) => &e.origin,
            Self::Provider(e) => &e.origin,
            Self::Link(e) => &e.origin,
        }
    }
}

/// An event that arrived but could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// The subject is not an event subject of this version.
    #[error("`{subject}` is not a v2alpha1 event subject")]
    Subject {
        /// The subject.
        subject: String,
    },
    /// The body could not be decoded.
    #[error("cannot decode the event on `{subject}`")]
    Decode {
        /// The subject.
        subject: String,
        /// Why.
        #[source]
        source: DecodeError,
    },
}

/// Status events as they arrive; ends when the subscription ends.
#[derive(Debug)]
pub struct EventStream {
    subscriber: async_nats::Subscriber,
}

impl EventStream {
    pub(crate) fn new(subscriber: async_nats::Subscriber) -> Self {
        Self { subscriber }
    }
}

pub(crate) fn decode_event(message: &async_nats::Message) -> Result<StatusEvent, EventError> {
    let subject = message.subject.as_str();
    let parsed: EventSubject = subject.parse().map_err(|_| EventError::Subject {
        subject: subject.to_owned(),
    })?;
    let decode_error = |source| EventError::Decode {
        subject: subject.to_owned(),
        source,
    };
    Ok(match parsed.source {
        EventSource::Component(_) => StatusEvent::Component(
            ComponentStatusEvent::decode(&message.payload).map_err(decode_error)?,
        ),
        EventSource::Provider(_) => StatusEvent::Provider(
            ProviderStatusEvent::decode(&message.payload).map_err(decode_error)?,
        ),
        EventSource::Link(_) => {
            StatusEvent::Link(LinkStatusEvent::decode(&message.payload).map_err(decode_error)?)
        }
        _ => {
            return Err(EventError::Subject {
                subject: subject.to_owned(),
            });
        }
    })
}

impl Stream for EventStream {
    type Item = Result<StatusEvent, EventError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.subscriber
            .poll_next_unpin(cx)
            .map(|message| message.map(|m| decode_event(&m)))
    }
}
