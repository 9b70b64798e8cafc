//! The stored progress of a rollout: enough to continue or roll back after a restart.

use crate::model::AppName;
use crate::plan::{Plan, RolloutOptions, Strategy};
use lattice_spec::{ComponentId, HostId, LinkName, ProviderId, Revision};
use lattice_status::{Lifecycle, RolloutState, StatusReason};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

lattice_status::wire_enum! {
    /// Where one host is in a rollout.
    pub enum HostProgress {
        /// Not touched yet.
        Pending = "pending",
        /// The new revision is being applied.
        Applying = "applying",
        /// Running the new revision.
        Running = "running",
        /// The new revision failed here; the previous one keeps serving.
        Failed = "failed",
        /// Back on the stable revision.
        RolledBack = "rolled_back",
    }
}

lattice_status::wire_enum! {
    /// What made a rollout fail.
    pub enum FailureCode {
        /// A host could not fetch the artifact.
        Artifact = "artifact",
        /// The artifact is not a valid component, or its imports are not covered.
        Validation = "validation",
        /// A provider refused a link.
        LinkRefused = "link_refused",
        /// A host left `running` during the health gate.
        HealthGate = "health_gate",
        /// A per-host or whole-rollout deadline passed.
        Deadline = "deadline",
        /// A host rejected the apply or could not be reached.
        Host = "host",
        /// An operator aborted the rollout.
        Aborted = "aborted",
    }
}

/// Why a rollout failed: code × host × component × link, with the host's reason whole.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RolloutFailure {
    /// What kind of failure.
    pub code: FailureCode,
    /// The host it happened on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<HostId>,
    /// The component concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<ComponentId>,
    /// The link concerned (name and provider).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<(LinkName, ProviderId)>,
    /// A human-readable explanation; for a host failure, the host's reason.
    pub message: String,
    /// The host's status reason, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<StatusReason>,
}

/// A control command an operator sends to a running rollout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Control {
    /// Stop before the next step.
    Pause,
    /// Continue a paused rollout.
    Resume,
    /// Stop and roll back.
    Abort,
    /// Pass a gate that waits for promotion.
    Promote,
}

/// A rollout as stored: its plan, where it is, and what happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RolloutRecord {
    /// The application.
    pub app: AppName,
    /// The strategy.
    pub strategy: Strategy,
    /// Deadlines and failure handling.
    pub options: RolloutOptions,
    /// The plan, computed before any host was touched.
    pub plan: Plan,
    /// The rollout's state.
    pub state: RolloutState,
    /// The next step to run (equal to the number of steps when all ran).
    pub next_step: usize,
    /// Per-host progress.
    pub hosts: BTreeMap<HostId, HostProgress>,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<RolloutFailure>,
    /// The revision a rollback applied, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_revision: Option<Revision>,
    /// The store revision of the last operator command this rollout acted on, so a command
    /// sent while no scheduler was running is still acted on after a restart.
    #[serde(default)]
    pub control_seen: u64,
    /// When it started, in milliseconds since the Unix epoch.
    pub started_ms: u64,
    /// When it last changed.
    pub updated_ms: u64,
}

impl RolloutRecord {
    /// A pending rollout of `plan`.
    #[must_use]
    pub fn new(app: AppName, strategy: Strategy, options: RolloutOptions, plan: Plan) -> Self {
        let hosts = plan
            .targets
            .keys()
            .map(|h| (h.clone(), HostProgress::Pending))
            .collect();
        let now = now_ms();
        Self {
            app,
            strategy,
            options,
            plan,
            state: RolloutState::Pending,
            next_step: 0,
            hosts,
            failure: None,
            rollback_revision: None,
            control_seen: 0,
            started_ms: now,
            updated_ms: now,
        }
    }

    /// Whether the rollout is over.
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.state.is_terminal()
    }

    /// Moves to `state`, logging a transition the state machine does not allow.
    pub(crate) fn set_state(&mut self, state: RolloutState) {
        if self.state != state
            && let Err(illegal) = self.state.check_transition(state)
        {
            tracing::warn!(app = %self.app, %illegal, "rollout transition outside the state machine");
        }
        self.state = state;
        self.updated_ms = now_ms();
    }
}

pub(crate) use lattice_ctl::now_ms;
