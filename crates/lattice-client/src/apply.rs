//! Applying a component spec: the acknowledgement, and the opt-in 1.x fallback.

use crate::client::{Client, encode};
use crate::error::{ApplyError, RequestError};
use lattice_ctl::v1::{self, V1ApplyPlan, V1Subject};
use lattice_ctl::{
    ApplyComponentSpecAck, ApplyComponentSpecRequest, ApplyOutcome, CtlSubject, LinkStatusEvent,
};
use lattice_spec::{ComponentId, ComponentSpec, HostId, Revision};
use lattice_status::{ComponentState, ComponentStatus};
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
    /// The states the new revision went through, in order, as reported by events and by the
    /// inventory reads they trigger.
    pub transitions: Vec<ComponentState>,
    /// The link events seen for the new revision.
    pub links: Vec<LinkStatusEvent>,
    /// The final status.
    pub status: ComponentStatus,
    /// How many times the host's inventory was read: once at the start, once after each
    /// batch of the component's status events, and after each quiet
    /// [recheck interval](Client::with_recheck_interval).
    pub inventory_checks: u32,
    /// Time from sending the apply to the final status.
    pub elapsed: Duration,
}

impl Client {
    /// Applies `spec` on `host` and returns the host's acknowledgement — as soon as the host
    /// accepted it (the component is then `pending`), found it unchanged, or refused it.
    ///
    /// Against a host that only speaks the wasmCloud 1.x control interface (no responders on
    /// the v2alpha1 subject, an answer on the 1.x one), the spec is applied with 1.x operations
    /// and the result says so ([`Applied::V1Fallback`]) — when the client's 1.x fallback is
    /// on ([`Client::with_v1_fallback`]); otherwise nothing is sent and the apply fails with
    /// [`ApplyError::V1Only`].
    ///
    /// # Errors
    ///
    /// [`ApplyError`]: rejected (stale revision, conflict, invalid spec — with the host's
    /// rejection whole), timed out, no responders on either version, a 1.x-only host with the
    /// fallback off, a refused fallback operation, decode or transport.
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
                    if !self.speaks_v1(host).await {
                        return Err(error.into());
                    }
                    if !self.v1_fallback {
                        return Err(ApplyError::V1Only { host: host.clone() });
                    }
                    tracing::info!("host speaks only the 1.x control interface; falling back");
                    self.apply_v1(host, spec).await
                }
                Err(error) => Err(error.into()),
            }
        }
        .instrument(span)
        .await
    }

    /// The revision of `component` that `host` serves and its state, from whichever
    /// inventory the host speaks: the v2alpha1 one, or — when no one answers it — the 1.x one,
    /// where presence means running and the revision is the one the 1.x fallback annotated
    /// (`None` when the component is absent or carries no revision). The 1.x inventory is read
    /// only with the 1.x fallback on ([`Client::with_v1_fallback`]).
    ///
    /// # Errors
    ///
    /// [`ApplyError`] when neither inventory can be read, or [`ApplyError::V1Only`] for a
    /// 1.x-only host with the fallback off.
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
                if !self.v1_fallback {
                    return Err(ApplyError::V1Only { host: host.clone() });
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

    pub(crate) async fn v1_inventory(
        &self,
        host: &HostId,
    ) -> Result<v1::HostInventory, ApplyError> {
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
                encode(&config.values).map_err(RequestError::from)?,
            )
            .await?;
        }
        for link in &plan.links {
            let subject = V1Subject::LinkPut {
                lattice: lattice.clone(),
            };
            self.v1_request::<serde::de::IgnoredAny>(
                host,
                "link.put",
                subject,
                encode(link).map_err(RequestError::from)?,
            )
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
            self.v1_request::<serde::de::IgnoredAny>(
                host,
                "link.del",
                subject,
                encode(stale).map_err(RequestError::from)?,
            )
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
        self.v1_request::<serde::de::IgnoredAny>(
            host,
            "component.scale",
            subject,
            encode(command).map_err(RequestError::from)?,
        )
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
