//! Applying a component spec: the acknowledgement, the 1.x fallback, and following the
//! component to `running` or `failed`.

use crate::client::{Client, encode};
use crate::error::{ApplyError, RequestError, WaitError};
use crate::events::{StatusEvent, decode_event};
use futures::StreamExt;
use lattice_ctl::v1::{self, V1ApplyPlan, V1Subject};
use lattice_ctl::{
    ApplyComponentSpecAck, ApplyComponentSpecRequest, ApplyOutcome, ComponentInventory, CtlSubject,
    EventFilter, LinkStatusEvent,
};
use lattice_spec::{ComponentId, ComponentSpec, HostId, Revision};
use lattice_status::{ComponentState, ComponentStatus, ReasonCode, StatusReason};
use serde::de::DeserializeOwned;
use std::time::Duration;
use tokio::time::Instant;
use tracing::Instrument;

/// How an apply reached the host.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Applied {
    /// The host speaks v2alpha1 and acknowledged the apply (accepted or unchanged; an outcome
    /// from a newer host that this version does not know is passed through too).
    V2Alpha1(ApplyComponentSpecAck),
    /// The host speaks only the wasmCloud 1.x control interface; the spec was applied with
    /// 1.x operations (config puts, link puts, scale with update). 1.x has no link replies
    /// and no rollback; `lost` lists what of the spec a 1.x host cannot honour.
    V1Fallback {
        /// What of the spec a 1.x host cannot honour.
        lost: Vec<&'static str>,
    },
}

impl Applied {
    /// Whether the apply fell back to the 1.x control interface.
    #[must_use]
    pub fn is_fallback(&self) -> bool {
        matches!(self, Self::V1Fallback { .. })
    }

    /// Whether the host already had exactly this spec.
    #[must_use]
    pub fn is_unchanged(&self) -> bool {
        matches!(self, Self::V2Alpha1(ack) if ack.outcome == ApplyOutcome::Unchanged)
    }
}

/// What an apply-and-wait saw on its way to `running`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WaitReport {
    /// How the apply reached the host.
    pub applied: Applied,
    /// The states the new revision went through, in order, as reported by events (and by the
    /// inventory when events were missed).
    pub transitions: Vec<ComponentState>,
    /// The link events seen for the new revision.
    pub links: Vec<LinkStatusEvent>,
    /// The final status.
    pub status: ComponentStatus,
    /// How many times the inventory was read because events may have been missed.
    pub inventory_checks: u32,
    /// Time from sending the apply to the final status.
    pub elapsed: Duration,
}

/// With no event for this long, the inventory is read in case events were missed.
const QUIET_RECHECK: Duration = Duration::from_secs(2);

impl Client {
    /// Applies `spec` on `host` and returns the host's acknowledgement — as soon as the host
    /// accepted it (the component is then `pending`), found it unchanged, or refused it.
    ///
    /// Against a host that only speaks the wasmCloud 1.x control interface (no responders on
    /// the v2alpha1 subject, an answer on the 1.x one), the spec is applied with 1.x operations
    /// and the result says so ([`Applied::V1Fallback`]).
    ///
    /// # Errors
    ///
    /// [`ApplyError`]: rejected (stale revision, conflict, invalid spec — with the host's
    /// rejection whole), timed out, no responders on either version, decode or transport.
    pub async fn apply(&self, host: &HostId, spec: &ComponentSpec) -> Result<Applied, ApplyError> {
        let span = tracing::info_span!("lattice.apply", host = %host, component = %spec.id(), revision = %spec.revision());
        async {
            let subject = CtlSubject::ApplyComponentSpec {
                lattice: self.lattice.clone(),
                host_id: host.clone(),
            };
            let request = ApplyComponentSpecRequest::new(spec.clone());
            match self
                .request::<_, ApplyComponentSpecAck>(subject.to_string(), &request)
                .await
            {
                Ok(ack) => match ack.outcome {
                    ApplyOutcome::Rejected(rejection) => Err(ApplyError::Rejected {
                        host: host.clone(),
                        component: spec.id().clone(),
                        revision: spec.revision(),
                        rejection,
                    }),
                    _ => Ok(Applied::V2Alpha1(ack)),
                },
                Err(error @ RequestError::NoResponders { .. }) => {
                    if self.speaks_v1(host).await {
                        tracing::info!("host speaks only the 1.x control interface; falling back");
                        self.apply_v1(host, spec).await
                    } else {
                        Err(error.into())
                    }
                }
                Err(error) => Err(error.into()),
            }
        }
        .instrument(span)
        .await
    }

    /// Applies `spec` on `host` and follows the new revision until it is `running`, it
    /// `failed`, or `deadline` passed.
    ///
    /// Events are subscribed to *before* the apply is sent, so no transition is missed
    /// between the two. When the host's event sequence has a gap, or nothing arrived for a
    /// while, the host's inventory is read: it is the source of truth.
    ///
    /// # Errors
    ///
    /// [`WaitError::Failed`] with the host's reason (the previous revision keeps serving),
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
            let until = started + deadline;
            let filter = EventFilter::component(&self.lattice, spec.id()).on_host(host);
            let mut events =
                self.nats
                    .subscribe(filter.to_string())
                    .await
                    .map_err(|e| WaitError::Follow {
                        host: host.clone(),
                        component: spec.id().clone(),
                        source: RequestError::Subscribe {
                            subject: filter.to_string(),
                            source: e,
                        },
                    })?;
            let applied = self.apply(host, spec).await?;
            let mut follow = Follow::new(self, host, spec, applied, started, deadline);
            if follow.report.applied.is_fallback() {
                return follow.wait_v1(until).await;
            }
            if follow.report.applied.is_unchanged()
                && let Some(done) = follow.check_inventory().await?
            {
                return done;
            }
            let mut last_sequence: Option<u64> = None;
            loop {
                let quiet = (Instant::now() + QUIET_RECHECK).min(until);
                match tokio::time::timeout_at(quiet, events.next()).await {
                    Ok(Some(message)) => {
                        let Ok(event) = decode_event(&message) else {
                            continue;
                        };
                        let sequence = event.origin().sequence;
                        let gap = last_sequence.is_some_and(|last| sequence > last + 1);
                        last_sequence =
                            Some(last_sequence.map_or(sequence, |last| last.max(sequence)));
                        if let Some(done) = follow.on_event(event) {
                            return done;
                        }
                        if gap && let Some(done) = follow.check_inventory().await? {
                            return done;
                        }
                    }
                    Ok(None) => break,
                    Err(_) => {
                        if let Some(done) = follow.check_inventory().await? {
                            return done;
                        }
                        if Instant::now() >= until {
                            break;
                        }
                    }
                }
            }
            Err(follow.deadline_exceeded())
        }
        .instrument(span)
        .await
    }

    /// The revision of `component` that `host` serves and its state, from whichever
    /// inventory the host speaks: the v2alpha1 one, or — when no one answers it — the 1.x one,
    /// where presence means running and the revision is the one the 1.x fallback annotated
    /// (`None` when the component is absent or carries no revision).
    ///
    /// # Errors
    ///
    /// [`ApplyError`] when neither inventory can be read.
    pub async fn serving_revision(
        &self,
        host: &HostId,
        component: &ComponentId,
    ) -> Result<Option<(Revision, ComponentState)>, ApplyError> {
        match self.inventory(host).await {
            Ok(inventory) => Ok(inventory
                .component(component)
                .and_then(|c| c.serving.as_ref())
                .map(|s| (s.revision, s.status.state))),
            Err(error @ RequestError::NoResponders { .. }) => {
                if !self.speaks_v1(host).await {
                    return Err(error.into());
                }
                let inventory = self.v1_inventory(host).await?;
                Ok(inventory
                    .component(component.as_str())
                    .and_then(|c| c.annotations.as_ref())
                    .and_then(|a| a.get(v1::REVISION_ANNOTATION))
                    .and_then(|r| r.parse().ok())
                    .map(|r| (Revision(r), ComponentState::Running)))
            }
            Err(error) => Err(error.into()),
        }
    }

    async fn speaks_v1(&self, host: &HostId) -> bool {
        self.v1_inventory(host).await.is_ok()
    }

    async fn v1_inventory(&self, host: &HostId) -> Result<v1::HostInventory, ApplyError> {
        let subject = V1Subject::HostInventory {
            lattice: self.lattice.clone(),
            host_id: host.clone(),
        };
        let inventory: Option<v1::HostInventory> = self
            .v1_request(host, "host.get", subject, bytes::Bytes::new())
            .await?;
        Ok(inventory.unwrap_or_default())
    }

    async fn v1_request<T: DeserializeOwned>(
        &self,
        host: &HostId,
        operation: &'static str,
        subject: V1Subject,
        payload: bytes::Bytes,
    ) -> Result<Option<T>, ApplyError> {
        let subject = subject.to_string();
        let message = self.raw_request(&subject, payload).await?;
        let response: v1::CtlResponse<T> =
            serde_json::from_slice(&message.payload).map_err(|e| RequestError::Decode {
                subject: subject.clone(),
                source: lattice_spec::DecodeError::Malformed {
                    message: "1.x CtlResponse",
                    source: e,
                },
            })?;
        response
            .into_result()
            .map_err(|message| ApplyError::FallbackRefused {
                host: host.clone(),
                operation,
                message,
            })
    }

    async fn apply_v1(&self, host: &HostId, spec: &ComponentSpec) -> Result<Applied, ApplyError> {
        let plan = V1ApplyPlan::new(spec, host, None);
        let lattice = self.lattice.clone();
        // 1.x links are lattice-wide: what the lattice holds for this component is the
        // "previous" that decides which links go.
        let existing: Vec<v1::Link> = self
            .v1_request(
                host,
                "link.get",
                V1Subject::LinkGet {
                    lattice: lattice.clone(),
                },
                bytes::Bytes::new(),
            )
            .await?
            .unwrap_or_default();
        let stale = plan.stale_among(&existing);

        for config in &plan.configs {
            let subject = V1Subject::ConfigPut {
                lattice: lattice.clone(),
                name: config.name.clone(),
            };
            self.v1_request::<serde::de::IgnoredAny>(
                host,
                "config.put",
                subject,
                encode(&config.values),
            )
            .await?;
        }
        for link in &plan.links {
            let subject = V1Subject::LinkPut {
                lattice: lattice.clone(),
            };
            self.v1_request::<serde::de::IgnoredAny>(host, "link.put", subject, encode(link))
                .await?;
        }
        // A 1.x host does not replace code in place (see `V1ApplyPlan`): a new artifact
        // stops the old one first.
        let running = self.v1_inventory(host).await?;
        if let Some(stop) = plan.stop_first(&running) {
            self.v1_scale(host, &stop).await?;
            self.v1_wait_stopped(host, spec.id()).await?;
        }
        self.v1_scale(host, &plan.scale).await?;
        for stale in plan.stale_links.iter().chain(&stale) {
            let subject = V1Subject::LinkDelete {
                lattice: lattice.clone(),
            };
            self.v1_request::<serde::de::IgnoredAny>(host, "link.del", subject, encode(stale))
                .await?;
        }
        Ok(Applied::V1Fallback { lost: plan.lost })
    }
}

impl Client {
    async fn v1_scale(
        &self,
        host: &HostId,
        command: &v1::ScaleComponentCommand,
    ) -> Result<(), ApplyError> {
        let subject = V1Subject::ScaleComponent {
            lattice: self.lattice.clone(),
            host_id: host.clone(),
        };
        self.v1_request::<serde::de::IgnoredAny>(host, "component.scale", subject, encode(command))
            .await?;
        Ok(())
    }

    /// Reads the 1.x host's inventory, backing off between reads, until it no longer lists
    /// `component`; the client's request timeout bounds the wait (a 1.x host stops a
    /// component by aborting its task).
    async fn v1_wait_stopped(
        &self,
        host: &HostId,
        component: &ComponentId,
    ) -> Result<(), ApplyError> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(5);
        loop {
            let inventory = self.v1_inventory(host).await?;
            if inventory.component(component.as_str()).is_none() {
                return Ok(());
            }
            if started.elapsed() + pause >= self.timeout {
                return Err(ApplyError::FallbackStopTimedOut {
                    host: host.clone(),
                    component: component.clone(),
                    waited: self.timeout,
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(200));
        }
    }
}

/// The state of one apply-and-wait.
struct Follow<'a> {
    client: &'a Client,
    host: &'a HostId,
    spec: &'a ComponentSpec,
    deadline: Duration,
    started: Instant,
    report: WaitReport,
}

impl<'a> Follow<'a> {
    fn new(
        client: &'a Client,
        host: &'a HostId,
        spec: &'a ComponentSpec,
        applied: Applied,
        started: Instant,
        deadline: Duration,
    ) -> Self {
        let report = WaitReport {
            applied,
            transitions: Vec::new(),
            links: Vec::new(),
            status: ComponentStatus::new(ComponentState::Pending),
            inventory_checks: 0,
            elapsed: Duration::ZERO,
        };
        Self {
            client,
            host,
            spec,
            deadline,
            started,
            report,
        }
    }

    fn record(&mut self, status: ComponentStatus) {
        if self.report.transitions.last() != Some(&status.state) {
            self.report.transitions.push(status.state);
        }
        self.report.status = status;
    }

    /// Settles the wait when the status is final for this revision.
    fn settle(&mut self) -> Option<Result<WaitReport, WaitError>> {
        self.report.elapsed = self.started.elapsed();
        match self.report.status.state {
            ComponentState::Running => Some(Ok(self.report.clone())),
            ComponentState::Failed | ComponentState::Stopped => Some(Err(WaitError::Failed {
                host: self.host.clone(),
                component: self.spec.id().clone(),
                revision: self.spec.revision(),
                reason: self.report.status.reason.clone().unwrap_or_else(|| {
                    StatusReason::new(
                        ReasonCode::Unknown,
                        format!("the revision is {}", self.report.status.state),
                    )
                }),
            })),
            _ => None,
        }
    }

    fn on_event(&mut self, event: StatusEvent) -> Option<Result<WaitReport, WaitError>> {
        match event {
            StatusEvent::Component(event) if event.revision == self.spec.revision() => {
                self.record(event.status);
                self.settle()
            }
            StatusEvent::Link(event) if event.revision == self.spec.revision() => {
                self.report.links.push(event);
                None
            }
            _ => None,
        }
    }

    /// Reads the inventory; settles the wait if it shows a final status for this revision.
    async fn check_inventory(
        &mut self,
    ) -> Result<Option<Result<WaitReport, WaitError>>, WaitError> {
        self.report.inventory_checks += 1;
        let inventory =
            self.client
                .inventory(self.host)
                .await
                .map_err(|source| WaitError::Follow {
                    host: self.host.clone(),
                    component: self.spec.id().clone(),
                    source,
                })?;
        let Some(entry) = inventory.component(self.spec.id()) else {
            return Ok(None);
        };
        Ok(self.settle_from_inventory(entry))
    }

    fn settle_from_inventory(
        &mut self,
        entry: &ComponentInventory,
    ) -> Option<Result<WaitReport, WaitError>> {
        let revision = self.spec.revision();
        if entry.desired.revision == revision {
            self.record(entry.desired.status.clone());
            return self.settle();
        }
        if entry.desired.revision > revision {
            self.record(ComponentStatus::failed(StatusReason::new(
                ReasonCode::Superseded,
                format!(
                    "revision {} was applied after revision {revision}",
                    entry.desired.revision
                ),
            )));
            return self.settle();
        }
        None
    }

    /// 1.x hosts publish no status: read their inventory until the component runs the new
    /// artifact at the new scale (and, when the host kept the annotations the fallback sends,
    /// at the new revision), backing off between reads, until the deadline.
    async fn wait_v1(mut self, until: Instant) -> Result<WaitReport, WaitError> {
        let mut pause = Duration::from_millis(20);
        loop {
            self.report.inventory_checks += 1;
            let inventory = self
                .client
                .v1_inventory(self.host)
                .await
                .map_err(WaitError::Apply)?;
            let running = inventory
                .component(self.spec.id().as_str())
                .is_some_and(|c| {
                    let revision = c
                        .annotations
                        .as_ref()
                        .and_then(|a| a.get(lattice_ctl::v1::REVISION_ANNOTATION));
                    c.image_ref == self.spec.artifact().as_str()
                        && c.max_instances == self.spec.scale().get()
                        && revision.is_none_or(|r| *r == self.spec.revision().to_string())
                });
            if running {
                self.record(ComponentStatus::new(ComponentState::Running));
                self.report.elapsed = self.started.elapsed();
                return Ok(self.report);
            }
            if Instant::now() + pause >= until {
                return Err(self.deadline_exceeded());
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }

    fn deadline_exceeded(&self) -> WaitError {
        WaitError::DeadlineExceeded {
            host: self.host.clone(),
            component: self.spec.id().clone(),
            revision: self.spec.revision(),
            deadline: self.deadline,
            last_state: self.report.status.state.to_string(),
        }
    }
}
