//! Waiting for a component: following its events and reading the host's inventory until a
//! [`Condition`] holds ([`HostApi::wait_for`](crate::HostApi::wait_for), no timeout of its
//! own), and [`Client::apply_and_wait`], built on it with the caller's deadline.

use crate::apply::WaitReport;
use crate::client::Client;
use crate::conditions::{self, Condition};
use crate::error::{ApplyError, FollowError, RequestError, WaitError};
use crate::events::{StatusEvent, decode_event};
use futures::{FutureExt, StreamExt};
use lattice_ctl::{ComponentInventory, EventFilter};
use lattice_spec::{ComponentId, ComponentSpec, HostId};
use lattice_status::{ComponentState, ComponentStatus, ReasonCode, StatusReason};
use std::time::Duration;
use tokio::time::Instant;
use tracing::Instrument;

/// What a follower saw: an event of the component, or an inventory read.
pub(crate) enum Seen<'a> {
    Event(&'a StatusEvent),
    Inventory(Option<&'a ComponentInventory>),
}

/// The pause before reading again the inventory of a host that answered before and did not
/// answer now.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// Follows one component on one host: its status and link events, and its inventory entry
/// read again after each batch of events and after each quiet recheck interval.
pub(crate) struct Follower<'a> {
    client: &'a Client,
    host: &'a HostId,
    component: &'a ComponentId,
    /// `None` once the subscription ended: from then on the inventory is polled.
    events: Option<async_nats::Subscriber>,
}

impl<'a> Follower<'a> {
    /// Subscribes to the component's events on the host. Subscribing before the first
    /// inventory read (and, for an apply, before the apply) means no change is missed
    /// between the two: the read shows what happened before, an event what happens after.
    pub(crate) async fn subscribe(
        client: &'a Client,
        host: &'a HostId,
        component: &'a ComponentId,
    ) -> Result<Self, FollowError> {
        let subject = EventFilter::component(&client.lattice, component)
            .on_host(host)
            .to_string();
        let events = client
            .nats
            .subscribe(subject.clone())
            .await
            .map_err(|source| FollowError {
                host: host.clone(),
                component: component.clone(),
                source: RequestError::Subscribe { subject, source },
            })?;
        Ok(Self {
            client,
            host,
            component,
            events: Some(events),
        })
    }

    /// Reads the inventory until `condition` holds for the component's entry, and returns
    /// that entry (`None`: the host does not have the component). `seen` is told of every
    /// event and every read; when it answers `true` to an event, that event settles the wait
    /// without another read (the host publishes a status after making it so), and `None` is
    /// returned.
    pub(crate) async fn until(
        &mut self,
        condition: &impl Condition,
        seen: &mut impl FnMut(Seen<'_>) -> bool,
    ) -> Result<Option<ComponentInventory>, FollowError> {
        let mut answered = false;
        loop {
            let inventory = match self.client.inventory(self.host).await {
                Ok(inventory) => {
                    answered = true;
                    inventory
                }
                // A host that answered this follow before and does not now is briefly out of
                // reach (its connection, or ours, failing over to another server of a
                // cluster): read again; the caller bounds the wait. The first read still
                // fails at once (no such host, a host without this interface).
                Err(source) if answered && source.is_retryable() => {
                    tracing::debug!(host = %self.host, error = %source, "inventory read failed; reading again");
                    tokio::time::sleep(self.client.recheck_interval.min(RETRY_PAUSE)).await;
                    continue;
                }
                Err(source) => {
                    return Err(FollowError {
                        host: self.host.clone(),
                        component: self.component.clone(),
                        source,
                    });
                }
            };
            // Events that arrived during the read may be older or newer than what it shows:
            // when there were any, the entry is read again rather than waiting for another.
            let (arrived, settled) = self.drain(seen);
            if settled {
                return Ok(None);
            }
            let entry = inventory.component(self.component);
            seen(Seen::Inventory(entry));
            if condition.matches(entry) {
                return Ok(entry.cloned());
            }
            if arrived == 0 && self.next_change(seen).await {
                return Ok(None);
            }
        }
    }

    /// Tells `seen` of the events already received, and says how many there were and
    /// whether one settled the wait.
    fn drain(&mut self, seen: &mut impl FnMut(Seen<'_>) -> bool) -> (usize, bool) {
        let Some(events) = &mut self.events else {
            return (0, false);
        };
        let (mut arrived, mut settled) = (0, false);
        while let Some(Some(message)) = events.next().now_or_never() {
            arrived += 1;
            if let Ok(event) = decode_event(&message) {
                settled |= seen(Seen::Event(&event));
            }
        }
        (arrived, settled)
    }

    /// Returns after an event of the component, or after the recheck interval without one;
    /// `true` when the event settled the wait.
    async fn next_change(&mut self, seen: &mut impl FnMut(Seen<'_>) -> bool) -> bool {
        let interval = self.client.recheck_interval;
        let Some(events) = &mut self.events else {
            // The subscription ended (the connection is closing): poll the inventory.
            tokio::time::sleep(interval).await;
            return false;
        };
        match tokio::time::timeout(interval, events.next()).await {
            Err(_) => false,
            Ok(None) => {
                self.events = None;
                false
            }
            // Any event of the component (its status, a link's, or a kind a newer host
            // publishes) may change its entry: unless it settles the wait, read it again.
            Ok(Some(message)) => {
                decode_event(&message).is_ok_and(|event| seen(Seen::Event(&event)))
            }
        }
    }
}

impl Client {
    /// Applies `spec` on `host` and follows the new revision until it is `running`, it
    /// `failed`, or `deadline` passed — sugar for [`Client::apply`] then
    /// [`HostApi::wait_for`](crate::HostApi::wait_for) with [`conditions::is_settled`] under
    /// a timeout, which also reports the transitions and link events it saw.
    ///
    /// Events are subscribed to *before* the apply is sent, so no transition is missed
    /// between the two. A 1.x host the fallback applied to (see
    /// [`Client::with_v1_fallback`]) publishes no status: its 1.x inventory is read until it
    /// runs the new artifact at the new scale.
    ///
    /// # Errors
    ///
    /// [`WaitError::Failed`] with the host's reason (the previous revision keeps serving; a
    /// revision applied after this one is [`ReasonCode::Superseded`]),
    /// [`WaitError::DeadlineExceeded`], [`WaitError::Apply`] or [`WaitError::Follow`].
    pub async fn apply_and_wait(
        &self,
        host: &HostId,
        spec: &ComponentSpec,
        deadline: Duration,
    ) -> Result<WaitReport, WaitError> {
        let span = tracing::info_span!("lattice.apply_and_wait", host = %host, component = %spec.id(), revision = %spec.revision());
        async {
            let started = Instant::now();
            let mut follower = Follower::subscribe(self, host, spec.id()).await?;
            let applied = self.apply(host, spec).await?;
            let mut report = WaitReport {
                applied,
                transitions: Vec::new(),
                links: Vec::new(),
                status: ComponentStatus::new(ComponentState::Pending),
                inventory_checks: 0,
                elapsed: Duration::ZERO,
            };
            let remaining = deadline.saturating_sub(started.elapsed());
            let ended = if report.applied.is_fallback() {
                drop(follower);
                match tokio::time::timeout(remaining, self.wait_v1(host, spec, &mut report)).await {
                    Ok(Ok(())) => Ended::Settled,
                    Ok(Err(error)) => Ended::Apply(error),
                    Err(_) => Ended::Deadline,
                }
            } else {
                let revision = spec.revision();
                // A status event of the new revision in a settled state settles the wait: the
                // host publishes it once the revision is so, and a read after it would only
                // say it again (one inventory read per host instead of one per event).
                let mut seen = |seen: Seen<'_>| match seen {
                    Seen::Event(StatusEvent::Component(event)) if event.revision == revision => {
                        record(&mut report, event.status.clone());
                        matches!(
                            event.status.state,
                            ComponentState::Running
                                | ComponentState::Failed
                                | ComponentState::Stopped
                        )
                    }
                    Seen::Event(StatusEvent::Link(event)) if event.revision == revision => {
                        report.links.push(event.clone());
                        false
                    }
                    Seen::Inventory(entry) => {
                        report.inventory_checks += 1;
                        if let Some(entry) = entry {
                            settle_from_inventory(&mut report, entry, revision);
                        }
                        false
                    }
                    Seen::Event(_) => false,
                };
                let settled = conditions::is_settled(revision);
                match tokio::time::timeout(remaining, follower.until(&settled, &mut seen)).await {
                    Ok(Ok(_)) => Ended::Settled,
                    Ok(Err(error)) => Ended::Follow(error),
                    Err(_) => Ended::Deadline,
                }
            };
            report.elapsed = started.elapsed();
            match ended {
                Ended::Settled if report.status.state == ComponentState::Running => Ok(report),
                Ended::Settled => Err(WaitError::Failed {
                    host: host.clone(),
                    component: spec.id().clone(),
                    revision: spec.revision(),
                    reason: report.status.reason.clone().unwrap_or_else(|| {
                        StatusReason::new(
                            ReasonCode::Unknown,
                            format!("the revision is {}", report.status.state),
                        )
                    }),
                }),
                Ended::Apply(error) => Err(error.into()),
                Ended::Follow(error) => Err(error.into()),
                Ended::Deadline => Err(WaitError::DeadlineExceeded {
                    host: host.clone(),
                    component: spec.id().clone(),
                    revision: spec.revision(),
                    deadline,
                    last_state: report.status.state.to_string(),
                }),
            }
        }
        .instrument(span)
        .await
    }

    /// 1.x hosts publish no status: reads their inventory until the component runs the new
    /// artifact at the new scale (and, when the host kept the annotations the fallback sends,
    /// at the new revision), backing off between reads. The caller bounds it.
    async fn wait_v1(
        &self,
        host: &HostId,
        spec: &ComponentSpec,
        report: &mut WaitReport,
    ) -> Result<(), ApplyError> {
        let mut pause = Duration::from_millis(20);
        loop {
            report.inventory_checks += 1;
            let inventory = self.v1_inventory(host).await?;
            let running = inventory.component(spec.id().as_str()).is_some_and(|c| {
                let revision = c
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(lattice_ctl::v1::REVISION_ANNOTATION));
                c.image_ref == spec.artifact().as_str()
                    && c.max_instances == spec.scale().get()
                    && revision.is_none_or(|r| *r == spec.revision().to_string())
            });
            if running {
                record(report, ComponentStatus::new(ComponentState::Running));
                return Ok(());
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }
}

/// How a wait of [`Client::apply_and_wait`] ended.
enum Ended {
    /// The new revision settled; the report's status says how.
    Settled,
    Apply(ApplyError),
    Follow(FollowError),
    Deadline,
}

/// Records a status of the new revision.
fn record(report: &mut WaitReport, status: ComponentStatus) {
    if report.transitions.last() != Some(&status.state) {
        report.transitions.push(status.state);
    }
    report.status = status;
}

/// Records what an inventory entry says of the new revision: its status, or that a later
/// revision superseded it. A read can be older than the events already seen, so a state they
/// already reported is not recorded again, unless it settles the wait.
fn settle_from_inventory(
    report: &mut WaitReport,
    entry: &ComponentInventory,
    revision: lattice_spec::Revision,
) {
    let status = if entry.desired.revision == revision {
        entry.desired.status.clone()
    } else if entry.desired.revision > revision {
        ComponentStatus::failed(StatusReason::new(
            ReasonCode::Superseded,
            format!(
                "revision {} was applied after revision {revision}",
                entry.desired.revision
            ),
        ))
    } else {
        return;
    };
    if conditions::is_settled(revision).matches(Some(entry))
        || !report.transitions.contains(&status.state)
    {
        record(report, status);
    }
}
