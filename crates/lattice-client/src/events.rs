//! A stream of status events, told apart by the CloudEvents `type` they carry.

use futures::{Stream, StreamExt};
use lattice_ctl::{
    ComponentStatusEvent, EventHeader, EventOrigin, EventType, LinkStatusEvent, ProviderStatusEvent,
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

    /// Reads a status event from its CloudEvent, whichever kind it is (for events read from
    /// somewhere else than [`Client::events`](crate::Client::events), a stream say).
    ///
    /// ```
    /// use lattice_client::StatusEvent;
    /// use lattice_ctl::{ComponentStatusEvent, EventOrigin};
    /// use lattice_spec::WireMessage;
    /// use lattice_status::{ComponentState, ComponentStatus};
    ///
    /// let origin = EventOrigin::new("default".parse()?, "host-a".parse()?, 1, 1_763_900_000_000);
    /// let event = ComponentStatusEvent::new(origin, "web".parse()?, 2.into(), None,
    ///     ComponentStatus::new(ComponentState::Pending));
    /// let decoded = StatusEvent::decode(&event.subject().to_string(), &event.encode()?)?;
    /// assert_eq!(decoded, StatusEvent::Component(event));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`EventError::UnknownType`] for an event of a kind this build does not read (a newer
    /// host's, or not a status event); [`EventError::Decode`] when the document is not a
    /// CloudEvent, is of an unsupported version, or its `data` is malformed.
    pub fn decode(subject: &str, bytes: &[u8]) -> Result<Self, EventError> {
        let decode_error = |source| EventError::Decode {
            subject: subject.to_owned(),
            source,
        };
        let header = EventHeader::decode(bytes).map_err(decode_error)?;
        Ok(match header.kind {
            EventType::ComponentStatus => {
                Self::Component(ComponentStatusEvent::decode(bytes).map_err(decode_error)?)
            }
            EventType::ProviderStatus => {
                Self::Provider(ProviderStatusEvent::decode(bytes).map_err(decode_error)?)
            }
            EventType::LinkStatus => {
                Self::Link(LinkStatusEvent::decode(bytes).map_err(decode_error)?)
            }
            _ => {
                return Err(EventError::UnknownType {
                    subject: subject.to_owned(),
                    event_type: header.event_type,
                });
            }
        })
    }
}

/// An event that arrived but could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// The event is of a kind this build does not read: a newer host's kind of event, or not
    /// a status event. Skipping it is safe; the inventory stays the source of truth.
    #[error(
        "the event on `{subject}` is of type `{event_type}`, which is not a status event this build reads"
    )]
    UnknownType {
        /// The subject.
        subject: String,
        /// The CloudEvents `type` it carried.
        event_type: String,
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
    /// The NATS server denied the subscription to this user (its `permissions`): no event
    /// will come; the stream ends after this error.
    #[error("cannot follow events on `{subject}`: {violation}")]
    PermissionDenied {
        /// The filter's subject.
        subject: String,
        /// What the server refused.
        violation: crate::PermissionViolation,
    },
}

/// What went wrong reading an event, as a value to `match` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventErrorKind {
    /// The event is of a type this build does not read; skipping it is safe.
    UnknownType,
    /// The body could not be decoded.
    Decode,
    /// The server denied the subscription; the stream ends.
    PermissionDenied,
}

impl EventError {
    /// The kind of failure.
    #[must_use]
    pub fn kind(&self) -> EventErrorKind {
        match self {
            Self::UnknownType { .. } => EventErrorKind::UnknownType,
            Self::Decode { .. } => EventErrorKind::Decode,
            Self::PermissionDenied { .. } => EventErrorKind::PermissionDenied,
        }
    }
}

/// Status events as they arrive; ends when the subscription ends (or, with a
/// [`PermissionWatch`](crate::PermissionWatch), after the server denied it).
pub struct EventStream {
    subscriber: async_nats::Subscriber,
    denied: Option<futures::future::BoxFuture<'static, EventError>>,
    ended: bool,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream")
            .field("subscriber", &self.subscriber)
            .field("watched", &self.denied.is_some())
            .finish()
    }
}

impl EventStream {
    pub(crate) fn new(subscriber: async_nats::Subscriber) -> Self {
        Self {
            subscriber,
            denied: None,
            ended: false,
        }
    }

    /// The stream ends with [`EventError::PermissionDenied`] when `watch` records a denial of
    /// `subject` after `mark`.
    pub(crate) fn watched(
        mut self,
        watch: crate::PermissionWatch,
        mark: usize,
        subject: String,
    ) -> Self {
        self.denied = Some(Box::pin(async move {
            let violation = watch
                .matching(mark, |v| {
                    v.operation == crate::PermissionOperation::Subscribe && v.subject == subject
                })
                .await;
            EventError::PermissionDenied { subject, violation }
        }));
        self
    }
}

pub(crate) fn decode_event(message: &async_nats::Message) -> Result<StatusEvent, EventError> {
    StatusEvent::decode(message.subject.as_str(), &message.payload)
}

impl Stream for EventStream {
    type Item = Result<StatusEvent, EventError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        if let Some(denied) = self.denied.as_mut()
            && let Poll::Ready(error) = denied.as_mut().poll(cx)
        {
            self.denied = None;
            self.ended = true;
            return Poll::Ready(Some(Err(error)));
        }
        self.subscriber
            .poll_next_unpin(cx)
            .map(|message| message.map(|m| decode_event(&m)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Client;
    use lattice_ctl::{EventFilter, RolloutStatusEvent, RolloutSubject};
    use lattice_spec::{LatticeName, LinkDraft, Revision};
    use lattice_status::{
        ComponentState, ComponentStatus, LinkState, LinkStatus, ProviderState, ProviderStatus,
    };
    use lattice_test_support::NatsServer;
    use std::time::Duration;

    const BOUND: Duration = Duration::from_secs(10);

    async fn within<F: std::future::Future>(future: F) -> F::Output {
        tokio::time::timeout(BOUND, future)
            .await
            .expect("within the test's bound")
    }

    /// What wadm does with `wasmbus.evt.*.>`, on a real server: a JetStream stream on that
    /// subject (wadm's `wasmbus_events`, whose second wildcard token wadm takes as the
    /// lattice) and a plain subscription (wadm's lattice observer). Our events reach neither,
    /// while our own subscriptions get every one of them, decoded.
    #[tokio::test(flavor = "current_thread")]
    async fn events_never_reach_a_wadm_style_subscription_and_reach_ours() {
        let server = tokio::task::spawn_blocking(NatsServer::start)
            .await
            .unwrap()
            .unwrap();
        let nats = within(async_nats::connect(server.url())).await.unwrap();
        let jetstream = async_nats::jetstream::new(nats.clone());
        let wadm_stream = within(
            jetstream.create_stream(async_nats::jetstream::stream::Config {
                name: "wasmbus_events".into(),
                subjects: vec!["wasmbus.evt.*.>".into()],
                storage: async_nats::jetstream::stream::StorageType::Memory,
                ..Default::default()
            }),
        )
        .await
        .unwrap();

        // One connection subscribes and publishes: the server sees every subscription
        // before the first event, and delivers to each subscriber in publishing order.
        let lattice: LatticeName = "default".parse().unwrap();
        let client = Client::new(nats.clone(), lattice.clone());
        let mut ours = within(client.events(&EventFilter::all(&lattice)))
            .await
            .unwrap();
        let mut rollouts = within(nats.subscribe(RolloutSubject::every_app(&lattice)))
            .await
            .unwrap();
        let mut wadm_observer = within(nats.subscribe("wasmbus.evt.*.>")).await.unwrap();

        let origin = |sequence| {
            EventOrigin::new(
                lattice.clone(),
                "host-a".parse().unwrap(),
                sequence,
                1_763_900_000_000 + sequence,
            )
        };
        let component = ComponentStatusEvent::new(
            origin(1),
            "web".parse().unwrap(),
            Revision(2),
            Some(ComponentState::Pending),
            ComponentStatus::new(ComponentState::Fetching),
        );
        let provider = ProviderStatusEvent::new(
            origin(2),
            "kv".parse().unwrap(),
            None,
            ProviderStatus::new(ProviderState::Running),
        );
        let rollout = RolloutStatusEvent::new(
            lattice.clone(),
            "shop".parse().unwrap(),
            1_763_900_000_003,
            serde_json::json!({"state": "progressing"}),
        );
        let link_spec = lattice_spec::ComponentSpecDraft::new("web", "ghcr.io/acme/web:2")
            .link(LinkDraft::new("kv", "wasi", "keyvalue", ["store"]))
            .validate()
            .unwrap();
        let link = LinkStatusEvent::new(
            origin(4),
            "web".parse().unwrap(),
            Revision(2),
            &link_spec.links()[0],
            Some(LinkState::Pending),
            LinkStatus::new(LinkState::Established),
        );
        for (subject, payload) in [
            (component.subject().to_string(), component.encode()),
            (provider.subject().to_string(), provider.encode()),
            (rollout.subject().to_string(), rollout.encode()),
            (link.subject().to_string(), link.encode()),
        ] {
            within(nats.publish(subject, payload.unwrap()))
                .await
                .unwrap();
        }
        // A control: what the first v2alpha1 hosts published, which wadm read as lattice
        // `v2alpha1`; then a 1.x event, acknowledged by the stream — everything published
        // before it has been stored if it was going to be.
        let legacy = "wasmbus.evt.v2alpha1.default.component.status.host-a.web";
        within(nats.publish(legacy, "{}".into())).await.unwrap();
        within(async {
            jetstream
                .publish("wasmbus.evt.default.component_scaled", "{}".into())
                .await
                .unwrap()
                .await
                .unwrap()
        })
        .await;

        for expected in [
            StatusEvent::Component(component),
            StatusEvent::Provider(provider),
            StatusEvent::Link(link),
        ] {
            let event = within(ours.next()).await.unwrap().unwrap();
            assert_eq!(event, expected, "the rollout event is not a status event");
        }
        let message = within(rollouts.next()).await.unwrap();
        assert_eq!(
            RolloutStatusEvent::<serde_json::Value>::decode(&message.payload).unwrap(),
            rollout
        );

        let first = within(wadm_observer.next()).await.unwrap();
        assert_eq!(first.subject.as_str(), legacy, "none of ours came first");
        let second = within(wadm_observer.next()).await.unwrap();
        assert_eq!(
            second.subject.as_str(),
            "wasmbus.evt.default.component_scaled"
        );

        let mut wadm_stream = wadm_stream;
        let info = within(wadm_stream.info()).await.unwrap();
        assert_eq!(info.state.messages, 2, "only the control and the 1.x event");
        let stored = within(wadm_stream.get_raw_message(1)).await.unwrap();
        assert_eq!(stored.subject.as_str(), legacy);
        // wadm's subject transform takes the third token as the lattice.
        assert_eq!(stored.subject.split('.').nth(2), Some("v2alpha1"));
    }

    #[test]
    fn an_unknown_kind_is_a_typed_error_and_garbage_a_decode_error() {
        let newer = br#"{"specversion":"1.0","id":"1","source":"h1","type":"dev.lattice.v2alpha1.host_draining","data":{}}"#;
        let err = StatusEvent::decode("s", newer).unwrap_err();
        assert!(
            matches!(&err, EventError::UnknownType { event_type, .. } if event_type == "dev.lattice.v2alpha1.host_draining"),
            "{err}"
        );
        let rollout = RolloutStatusEvent::new(
            "default".parse().unwrap(),
            "shop".parse().unwrap(),
            1,
            serde_json::json!({}),
        );
        assert!(matches!(
            StatusEvent::decode("s", &rollout.encode().unwrap()),
            Err(EventError::UnknownType { .. })
        ));
        for garbage in [&b"not json"[..], br#"{"api_version":"v2alpha1"}"#] {
            assert!(matches!(
                StatusEvent::decode("s", garbage),
                Err(EventError::Decode { .. })
            ));
        }
    }
}
