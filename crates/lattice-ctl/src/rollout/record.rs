//! The record of a rollout — its plan, where it is, what happened — and the operator
//! commands that steer it.
//!
//! The record is a wire document: the scheduler stores it in the lattice's rollout bucket
//! (key `apps.{app}.rollout`, see [`RolloutKey`](super::RolloutKey)) and carries it whole in
//! every [`RolloutStatusEvent`](super::RolloutStatusEvent); any tool reads it there.
//!
//! **Versioning.** A record says its `api_version` and decodes by the contract's rules
//! (unknown fields ignored, unknown enum values as `Unknown`, an unsupported version refused
//! with the versions this build speaks). Records stored before the field existed have the
//! v2alpha1 shape and no `api_version`: a missing `api_version` reads as `v2alpha1`, so a
//! rollout in a user's bucket stays readable (and recoverable) across the upgrade. Every
//! record written now carries it.

use super::{
    AppName,
    plan::{Plan, RolloutOptions, Strategy},
};
use lattice_spec::{
    ApiVersion, ComponentId, DecodeError, HostId, LinkName, ProviderId, Revision, WireMessage,
};
use lattice_status::{IllegalTransition, Lifecycle, RolloutState, StatusReason};
use schemars::JsonSchema;
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

lattice_status::wire_enum! {
    /// A command an operator sends to a running rollout.
    pub enum Control {
        /// Stop before the next step.
        Pause = "pause",
        /// Continue a paused rollout.
        Resume = "resume",
        /// Stop and roll back.
        Abort = "abort",
        /// Pass a gate that waits for promotion.
        Promote = "promote",
    }
}

/// Why a rollout failed: code × host × component × link, with the host's reason whole.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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
    /// The capability provider concerned, when a provider of the application failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<ProviderId>,
}

impl RolloutFailure {
    /// A failure of kind `code` explained by `message`, on no host in particular.
    #[must_use]
    pub fn new(code: FailureCode, message: impl Into<String>) -> Self {
        Self {
            code,
            host: None,
            component: None,
            link: None,
            message: message.into(),
            reason: None,
            provider: None,
        }
    }

    /// On `host`.
    #[must_use]
    pub fn on_host(mut self, host: HostId) -> Self {
        self.host = Some(host);
        self
    }

    /// Concerning `component`.
    #[must_use]
    pub fn component(mut self, component: ComponentId) -> Self {
        self.component = Some(component);
        self
    }

    /// Concerning the application's provider `provider`.
    #[must_use]
    pub fn provider(mut self, provider: ProviderId) -> Self {
        self.provider = Some(provider);
        self
    }

    /// Concerning the link `name` to `provider`.
    #[must_use]
    pub fn link(mut self, name: LinkName, provider: ProviderId) -> Self {
        self.link = Some((name, provider));
        self
    }

    /// With the host's status reason.
    #[must_use]
    pub fn reason(mut self, reason: StatusReason) -> Self {
        self.reason = Some(reason);
        self
    }
}

/// Hosts that failed the same way: one code, on one component or provider, in one phase.
///
/// A record lists every failed host once, grouped, so it stays small with thousands of hosts:
/// the message is the first host's (the others failed with the same code on the same
/// component or provider; the detail of their messages may differ).
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[non_exhaustive]
pub struct HostFailures {
    /// What kind of failure.
    pub code: FailureCode,
    /// The component concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<ComponentId>,
    /// The capability provider concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<ProviderId>,
    /// The first host's explanation.
    pub message: String,
    /// The hosts, in the order they failed.
    pub hosts: Vec<HostId>,
}

impl HostFailures {
    /// Adds `host`'s `failure` to the group of `groups` with the same code, component and
    /// provider, or starts a new group.
    pub fn add(groups: &mut Vec<Self>, host: HostId, failure: &RolloutFailure) {
        let same = |g: &&mut Self| {
            g.code == failure.code
                && g.component == failure.component
                && g.provider == failure.provider
        };
        match groups.iter_mut().find(same) {
            Some(group) => group.hosts.push(host),
            None => groups.push(Self {
                code: failure.code,
                component: failure.component.clone(),
                provider: failure.provider.clone(),
                message: failure.message.clone(),
                hosts: vec![host],
            }),
        }
    }

    /// How many hosts `groups` lists.
    #[must_use]
    pub fn count(groups: &[Self]) -> usize {
        groups.iter().map(|g| g.hosts.len()).sum()
    }
}

/// A rollout as stored and as carried in its events: its plan, where it is, and what
/// happened.
///
/// ```
/// use lattice_ctl::rollout::RolloutRecord;
/// use lattice_spec::{DecodeErrorKind, WireMessage};
///
/// let stored = std::fs::read("../../schemas/examples/v2alpha1/rollout-record.json")?;
/// let record = RolloutRecord::decode(&stored)?;
/// assert_eq!(record.app.as_str(), "shop");
///
/// // A record stored before `api_version` existed reads as v2alpha1 …
/// let mut old: serde_json::Value = serde_json::from_slice(&stored)?;
/// old.as_object_mut().unwrap().remove("api_version");
/// assert!(RolloutRecord::decode(&serde_json::to_vec(&old)?).is_ok());
/// // … and one of a version this build does not speak is refused, naming the versions it does.
/// old["api_version"] = "v3".into();
/// let err = RolloutRecord::decode(&serde_json::to_vec(&old)?).unwrap_err();
/// assert_eq!(err.kind(), DecodeErrorKind::UnsupportedVersion);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[non_exhaustive]
pub struct RolloutRecord {
    /// The API version of this record. Absent in records stored before it was added, which
    /// read as `v2alpha1`.
    #[serde(default)]
    pub api_version: ApiVersion,
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
    /// Every host whose upgrade failed, grouped by why (`failure` is the one that failed the
    /// rollout). Absent in records written before it existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub host_failures: Vec<HostFailures>,
    /// Every host a rollback could not restore, grouped by why; the hosts it restored are
    /// `rolled_back` in `hosts`. Absent in records written before it existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rollback_failures: Vec<HostFailures>,
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
    /// A pending rollout of `plan`, started now.
    #[must_use]
    pub fn new(app: AppName, strategy: Strategy, options: RolloutOptions, plan: Plan) -> Self {
        let hosts = plan
            .targets
            .keys()
            .map(|h| (h.clone(), HostProgress::Pending))
            .collect();
        let now = now_ms();
        Self {
            api_version: ApiVersion::CURRENT,
            app,
            strategy,
            options,
            plan,
            state: RolloutState::Pending,
            next_step: 0,
            hosts,
            failure: None,
            host_failures: Vec::new(),
            rollback_failures: Vec::new(),
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

    /// Moves to `state` and stamps `updated_ms` with now. The move is made even when the
    /// state machine does not allow it (the record says what happened), and reported.
    ///
    /// # Errors
    ///
    /// [`IllegalTransition`] naming both states when the state machine does not allow the
    /// move; the record has moved all the same.
    pub fn set_state(
        &mut self,
        state: RolloutState,
    ) -> Result<(), IllegalTransition<RolloutState>> {
        let checked = if self.state == state {
            Ok(())
        } else {
            self.state.check_transition(state)
        };
        self.state = state;
        self.updated_ms = now_ms();
        checked
    }
}

impl WireMessage for RolloutRecord {
    const NAME: &'static str = "RolloutRecord";

    /// Decodes a stored record; one without `api_version` reads as `v2alpha1` (see the
    /// [module](self) documentation).
    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        lattice_spec::decode_versioned(Self::NAME, bytes)
    }
}

/// Milliseconds since the Unix epoch, now: the contract's one clock, re-exported here.
pub use crate::now_ms;
