//! Permission violations, reported as errors instead of timeouts: see [`PermissionWatch`].

use std::{
    fmt,
    sync::{Arc, Mutex, PoisonError},
};
use tokio::sync::Notify;

/// What the server refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PermissionOperation {
    /// Publishing to the subject (a request's subject, or an event's).
    Publish,
    /// Subscribing to the subject (an event filter, a reply inbox).
    Subscribe,
    /// Publishing with the subject as reply subject (an inbox the user may not publish to).
    Reply,
}

impl fmt::Display for PermissionOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Publish => "publish to",
            Self::Subscribe => "subscribe to",
            Self::Reply => "publish with reply subject",
        })
    }
}

/// One permission violation the server reported.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct PermissionViolation {
    /// What was refused.
    pub operation: PermissionOperation,
    /// The subject refused.
    pub subject: String,
    /// The queue group of a refused queue subscription.
    pub queue: Option<String>,
}

impl fmt::Display for PermissionViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the NATS server denied {} `{}`",
            self.operation, self.subject
        )?;
        match &self.queue {
            Some(queue) => write!(f, " (queue `{queue}`)"),
            None => Ok(()),
        }
    }
}

impl PermissionViolation {
    /// A violation refusing `operation` on `subject`.
    #[must_use]
    pub fn new(operation: PermissionOperation, subject: impl Into<String>) -> Self {
        Self {
            operation,
            subject: subject.into(),
            queue: None,
        }
    }

    /// Reads the text of a server's `-ERR` (as async-nats hands it over, without quotes):
    /// `Permissions Violation for Publish to "SUBJECT"`, `… for Subscription to "SUBJECT"`
    /// (`using queue "QUEUE"`), `… for Publish with Reply of "SUBJECT"`. Anything else is
    /// `None`.
    ///
    /// ```
    /// use lattice_client::{PermissionOperation, PermissionViolation};
    ///
    /// let v = PermissionViolation::parse(r#"Permissions Violation for Publish to "wasmbus.ctl.v2alpha1.b.host.ping""#).unwrap();
    /// assert_eq!(v.operation, PermissionOperation::Publish);
    /// assert_eq!(v.subject, "wasmbus.ctl.v2alpha1.b.host.ping");
    /// assert_eq!(PermissionViolation::parse("Maximum Payload Violation"), None);
    /// ```
    #[must_use]
    pub fn parse(server_error: &str) -> Option<Self> {
        let text = server_error.trim().trim_matches('\'');
        let rest = strip_prefix_ignore_case(text, "permissions violation for ")?;
        let (operation, rest) =
            if let Some(rest) = strip_prefix_ignore_case(rest, "publish with reply of ") {
                (PermissionOperation::Reply, rest)
            } else if let Some(rest) = strip_prefix_ignore_case(rest, "publish to ") {
                (PermissionOperation::Publish, rest)
            } else if let Some(rest) = strip_prefix_ignore_case(rest, "subscription to ") {
                (PermissionOperation::Subscribe, rest)
            } else {
                return None;
            };
        let (subject, rest) = quoted(rest)?;
        let queue = strip_prefix_ignore_case(rest.trim_start(), "using queue ")
            .and_then(quoted)
            .map(|(queue, _)| queue.to_owned());
        Some(Self {
            operation,
            subject: subject.to_owned(),
            queue,
        })
    }

    /// The violation an async-nats connection event reports, if it is one.
    #[must_use]
    pub fn from_event(event: &async_nats::Event) -> Option<Self> {
        match event {
            async_nats::Event::ServerError(async_nats::ServerError::Other(text)) => {
                Self::parse(text)
            }
            _ => None,
        }
    }

    /// Whether this violation refused a request on `subject` whose replies come to inboxes
    /// under `inbox_prefix`: the subject itself, or the reply inbox.
    pub(crate) fn concerns_request(&self, subject: &str, inbox_prefix: &str) -> bool {
        match self.operation {
            PermissionOperation::Publish => self.subject == subject,
            PermissionOperation::Subscribe | PermissionOperation::Reply => {
                self.subject.starts_with(inbox_prefix)
            }
        }
    }
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// `"…"` at the start of `text`: the quoted part and what follows.
fn quoted(text: &str) -> Option<(&str, &str)> {
    let inner = text.strip_prefix('"')?;
    let end = inner.find('"')?;
    Some((&inner[..end], &inner[end + 1..]))
}

/// Records the permission violations a NATS server reports on one connection. Cloning is
/// cheap: clones share what was recorded.
///
/// A NATS server that denies a publish or a subscription (the user's `permissions` block, see
/// the README's "Authenticated isolation") does not fail the operation: it drops the message
/// or the subscription and sends `-ERR 'Permissions Violation for Publish to "…"'` to the
/// connection, which async-nats hands to the connection's event callback only. A denied
/// request therefore looks like a timeout and a denied subscription like silence.
///
/// A [`PermissionWatch`] installed on the connect options records those reports; a
/// [`Client`](crate::Client) given the watch ([`Client::with_permission_watch`](crate::Client::with_permission_watch))
/// fails a request the server denied at once with
/// [`RequestError::PermissionDenied`](crate::RequestError::PermissionDenied) (kind
/// [`RequestErrorKind::PermissionDenied`](crate::RequestErrorKind::PermissionDenied)) naming
/// the subject, and ends an event stream whose subscription was denied with
/// [`EventError::PermissionDenied`](crate::EventError::PermissionDenied). Tools that do more
/// than the client does (JetStream buckets) can race their work against
/// [`PermissionWatch::next_violation`].
///
/// ```no_run
/// use lattice_client::{Client, PermissionWatch};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let watch = PermissionWatch::new();
/// let options = watch.install(async_nats::ConnectOptions::with_user_and_password(
///     "alice".into(),
///     "secret".into(),
/// ));
/// let nats = options.connect("nats://127.0.0.1:4222").await?;
/// let client = Client::new(nats, "a".parse()?).with_permission_watch(watch);
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct PermissionWatch {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    seen: Mutex<Vec<PermissionViolation>>,
    changed: Notify,
}

impl fmt::Debug for PermissionWatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PermissionWatch")
            .field("violations", &self.mark())
            .finish()
    }
}

impl PermissionWatch {
    /// A watch that has recorded nothing.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// `options` with an event callback that records violations (logged at warn level;
    /// every other connection event at debug level). It replaces an event callback set before; a caller
    /// with its own callback calls [`PermissionWatch::observe`] from it instead.
    #[must_use]
    pub fn install(&self, options: async_nats::ConnectOptions) -> async_nats::ConnectOptions {
        let watch = self.clone();
        options.event_callback(move |event| {
            watch.observe(&event);
            async {}
        })
    }

    /// Records `event` if it reports a violation; returns the violation.
    pub fn observe(&self, event: &async_nats::Event) -> Option<PermissionViolation> {
        let Some(violation) = PermissionViolation::from_event(event) else {
            tracing::debug!(%event, "NATS connection event");
            return None;
        };
        tracing::warn!(%violation, "NATS permission violation");
        self.record(violation.clone());
        Some(violation)
    }

    /// Records a violation (what [`PermissionWatch::observe`] does with one it reads).
    pub fn record(&self, violation: PermissionViolation) {
        self.inner
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(violation);
        self.inner.changed.notify_waiters();
    }

    /// Every violation recorded so far, oldest first.
    #[must_use]
    pub fn violations(&self) -> Vec<PermissionViolation> {
        self.inner
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many violations were recorded so far: a mark for
    /// [`PermissionWatch::next_violation`] and [`PermissionWatch::matching`].
    #[must_use]
    pub fn mark(&self) -> usize {
        self.inner
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// The first violation recorded after `mark` (possibly already recorded); waits for one.
    pub async fn next_violation(&self, mark: usize) -> PermissionViolation {
        self.matching(mark, |_| true).await
    }

    /// The first violation recorded after `mark` for which `accept` holds; waits for one.
    pub async fn matching(
        &self,
        mark: usize,
        accept: impl Fn(&PermissionViolation) -> bool,
    ) -> PermissionViolation {
        loop {
            let changed = self.inner.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if let Some(found) = self.find(mark, &accept) {
                return found;
            }
            changed.await;
        }
    }

    /// The first violation recorded after `mark` for which `accept` holds, without waiting.
    #[must_use]
    pub fn find(
        &self,
        mark: usize,
        accept: impl Fn(&PermissionViolation) -> bool,
    ) -> Option<PermissionViolation> {
        self.inner
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .skip(mark)
            .find(|v| accept(v))
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shape_of_violation_the_server_sends_is_read() {
        let publish =
            PermissionViolation::parse(r#"'Permissions Violation for Publish to "a.b.c"'"#)
                .unwrap();
        assert_eq!(
            publish,
            PermissionViolation::new(PermissionOperation::Publish, "a.b.c")
        );
        let subscribe = PermissionViolation::parse(
            r#"Permissions Violation for Subscription to "x.>" using queue "q1""#,
        )
        .unwrap();
        assert_eq!(subscribe.operation, PermissionOperation::Subscribe);
        assert_eq!(subscribe.subject, "x.>");
        assert_eq!(subscribe.queue.as_deref(), Some("q1"));
        let reply = PermissionViolation::parse(
            r#"Permissions Violation for Publish with Reply of "_INBOX.x""#,
        )
        .unwrap();
        assert_eq!(reply.operation, PermissionOperation::Reply);
        assert_eq!(
            reply.to_string(),
            "the NATS server denied publish with reply subject `_INBOX.x`"
        );
        for other in [
            "Authorization Violation",
            "Permissions Violation for Publish to",
            "Permissions Violation for Dancing to \"x\"",
            "",
        ] {
            assert_eq!(PermissionViolation::parse(other), None, "{other}");
        }
    }

    #[tokio::test]
    async fn a_waiter_gets_the_violation_recorded_after_its_mark() {
        let watch = PermissionWatch::new();
        watch.record(PermissionViolation::new(
            PermissionOperation::Publish,
            "old",
        ));
        let mark = watch.mark();
        let waiter = {
            let watch = watch.clone();
            tokio::spawn(async move { watch.matching(mark, |v| v.subject == "b").await })
        };
        watch.record(PermissionViolation::new(PermissionOperation::Publish, "a"));
        watch.record(PermissionViolation::new(
            PermissionOperation::Subscribe,
            "b",
        ));
        let found = tokio::time::timeout(std::time::Duration::from_secs(10), waiter)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.subject, "b");
        assert_eq!(watch.violations().len(), 3);
        assert_eq!(watch.find(mark, |v| v.subject == "old"), None);
    }
}
