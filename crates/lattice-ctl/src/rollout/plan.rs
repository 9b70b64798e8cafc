//! A rollout's strategy, options and plan, as they are stored in its record and carried in
//! its events. Computing a plan (host selection, guardrails) is the scheduler's: see
//! `lattice_rollout::plan`.

use lattice_spec::{ComponentId, HostId, ProviderId, Revision};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use std::{borrow::Cow, collections::BTreeMap, fmt, num::NonZeroUsize, time::Duration};

/// How a new revision reaches its hosts.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Strategy {
    /// Every host at once.
    AllAtOnce,
    /// `max_parallel` hosts at a time, each batch healthy before the next.
    Rolling {
        /// Hosts upgraded at once.
        max_parallel: NonZeroUsize,
    },
    /// Growing shares of the hosts, each step followed by a health gate and a pause.
    Canary {
        /// The steps, in order; a last step to 100 % is added when missing.
        steps: Vec<CanaryStep>,
    },
    /// The new revision everywhere at once, with the old one kept as the immediate way back
    /// until it is released (promotion) or `keep_old_for` passed. Hosts swap in place, so
    /// "beside" is lattice-wide: old and new content are both stored and either can be
    /// applied in one step. Refuses changes that contend for a host resource (see
    /// `lattice_rollout::plan::check_guardrails`).
    BlueGreen {
        /// Release the old revision automatically after this long; `None` waits for promotion.
        #[serde(default, rename = "keep_old_for_ms", with = "opt_millis")]
        #[schemars(with = "Option<u64>")]
        #[cfg_attr(feature = "arbitrary", arbitrary(with = arbitrary_opt_millis))]
        keep_old_for: Option<Duration>,
    },
    /// A strategy of a newer scheduler that this version does not know: such a record can be
    /// read and shown, not planned or driven.
    #[serde(other, rename = "unknown")]
    Unknown,
}

/// One canary step.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[non_exhaustive]
pub struct CanaryStep {
    /// The share of hosts running the new revision after this step, 1 to 100.
    pub percent: u8,
    /// What happens after the step's health gate.
    pub pause: Pause,
}

impl CanaryStep {
    /// A step to `percent` % of the hosts followed by `pause`.
    #[must_use]
    pub fn new(percent: u8, pause: Pause) -> Self {
        Self {
            percent: percent.clamp(1, 100),
            pause,
        }
    }
}

/// A pause between steps: `none`, `until_promoted`, or `{for_ms: 30000}` (plain maps, so
/// YAML needs no tags).
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "PauseRepr", into = "PauseRepr")]
#[non_exhaustive]
pub enum Pause {
    /// No pause.
    None,
    /// Continue after this long.
    For(#[cfg_attr(feature = "arbitrary", arbitrary(with = arbitrary_millis))] Duration),
    /// Wait for `promote`.
    UntilPromoted,
}

/// The wire form of a [`Pause`].
#[derive(Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
enum PauseRepr {
    Word(String),
    For { for_ms: u64 },
}

impl TryFrom<PauseRepr> for Pause {
    type Error = String;
    fn try_from(repr: PauseRepr) -> Result<Self, String> {
        match repr {
            PauseRepr::Word(word) if word == "none" => Ok(Self::None),
            PauseRepr::Word(word) if word == "until_promoted" => Ok(Self::UntilPromoted),
            PauseRepr::Word(word) => Err(format!(
                "unknown pause `{word}`: use `none`, `until_promoted` or `{{for_ms: N}}`"
            )),
            PauseRepr::For { for_ms } => Ok(Self::For(Duration::from_millis(for_ms))),
        }
    }
}

impl From<Pause> for PauseRepr {
    fn from(pause: Pause) -> Self {
        match pause {
            Pause::None => Self::Word("none".to_owned()),
            Pause::UntilPromoted => Self::Word("until_promoted".to_owned()),
            Pause::For(d) => Self::For {
                for_ms: u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
            },
        }
    }
}

/// Deadlines, health and failure handling of a rollout.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
#[non_exhaustive]
pub struct RolloutOptions {
    /// How long one host may take to run the new revision.
    #[serde(rename = "per_host_deadline_ms", with = "millis")]
    #[schemars(with = "u64")]
    #[cfg_attr(feature = "arbitrary", arbitrary(with = arbitrary_millis))]
    pub per_host_deadline: Duration,
    /// How long the whole rollout may take (pauses for promotion excluded).
    #[serde(rename = "progress_deadline_ms", with = "millis")]
    #[schemars(with = "u64")]
    #[cfg_attr(feature = "arbitrary", arbitrary(with = arbitrary_millis))]
    pub progress_deadline: Duration,
    /// How long a step's hosts must stay running before the next step.
    #[serde(rename = "min_healthy_ms", with = "millis")]
    #[schemars(with = "u64")]
    #[cfg_attr(feature = "arbitrary", arbitrary(with = arbitrary_millis))]
    pub min_healthy: Duration,
    /// How long one host may take to get back to the stable revision during a rollback (kept
    /// apart from `per_host_deadline`, so a deadline that failed the rollout does not also
    /// fail its way back).
    #[serde(rename = "rollback_per_host_deadline_ms", with = "millis")]
    #[schemars(with = "u64")]
    #[cfg_attr(feature = "arbitrary", arbitrary(with = arbitrary_millis))]
    pub rollback_per_host_deadline: Duration,
    /// How many hosts a rollback restores at once (default 1,000): a bound of its own, larger
    /// than a rolling strategy's `max_parallel`, so putting the stable revision back is at
    /// least as fast as the rollout that failed. Absent in options written before it existed,
    /// which read as the default.
    #[serde(default = "default_rollback_max_parallel")]
    pub rollback_max_parallel: NonZeroUsize,
    /// How many hosts may fail before the rollout fails.
    pub failure_budget: usize,
    /// What to do when it fails.
    pub on_failure: OnFailure,
}

impl Default for RolloutOptions {
    fn default() -> Self {
        Self {
            per_host_deadline: Duration::from_secs(60),
            progress_deadline: Duration::from_secs(600),
            min_healthy: Duration::from_secs(5),
            rollback_per_host_deadline: Duration::from_secs(60),
            rollback_max_parallel: default_rollback_max_parallel(),
            failure_budget: 0,
            on_failure: OnFailure::Rollback,
        }
    }
}

/// The default of [`RolloutOptions::rollback_max_parallel`]: 1,000 hosts at once.
fn default_rollback_max_parallel() -> NonZeroUsize {
    NonZeroUsize::new(1_000).unwrap_or(NonZeroUsize::MIN)
}

/// What a failed rollout does.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OnFailure {
    /// Apply the last stable revision everywhere the new one was applied (the default).
    #[default]
    Rollback,
    /// Leave every host as it is (roll forward only), for changes that cannot be undone.
    Freeze,
    /// A failure handling of a newer scheduler that this version does not know.
    #[serde(other, rename = "unknown")]
    Unknown,
}

/// After a step: what must hold before the next one. On the wire `"healthy"`,
/// `"healthy_then_promotion"` or `{"healthy_then_pause_ms": N}`; any other word or object (a
/// newer scheduler's gate) reads as [`Gate::Unknown`].
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "GateRepr", into = "GateRepr")]
#[non_exhaustive]
pub enum Gate {
    /// Every host of the step stays running for the minimum healthy time.
    Healthy,
    /// Healthy, then a timed pause.
    HealthyThenPause(
        #[cfg_attr(feature = "arbitrary", arbitrary(with = arbitrary_millis))] Duration,
    ),
    /// Healthy, then wait for promotion.
    HealthyThenPromotion,
    /// A gate of a newer scheduler that this version does not know.
    Unknown,
}

/// The wire form of a [`Gate`]: a word, a timed pause, or anything else (unknown).
#[derive(Clone, Serialize, Deserialize)]
#[serde(untagged)]
enum GateRepr {
    Word(String),
    Pause { healthy_then_pause_ms: u64 },
    Other(serde_json::Value),
}

impl From<GateRepr> for Gate {
    fn from(repr: GateRepr) -> Self {
        match repr {
            GateRepr::Word(word) if word == "healthy" => Self::Healthy,
            GateRepr::Word(word) if word == "healthy_then_promotion" => Self::HealthyThenPromotion,
            GateRepr::Pause {
                healthy_then_pause_ms,
            } => Self::HealthyThenPause(Duration::from_millis(healthy_then_pause_ms)),
            GateRepr::Word(_) | GateRepr::Other(_) => Self::Unknown,
        }
    }
}

impl From<Gate> for GateRepr {
    fn from(gate: Gate) -> Self {
        let word = |w: &str| Self::Word(w.to_owned());
        match gate {
            Gate::Healthy => word("healthy"),
            Gate::HealthyThenPromotion => word("healthy_then_promotion"),
            Gate::HealthyThenPause(pause) => Self::Pause {
                healthy_then_pause_ms: u64::try_from(pause.as_millis()).unwrap_or(u64::MAX),
            },
            Gate::Unknown => word("unknown"),
        }
    }
}

/// The schema of a [`Gate`]: its known forms (and `unknown`).
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)] // only its schema is used
enum GateSchema {
    Word(GateWord),
    Pause { healthy_then_pause_ms: u64 },
}

#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)] // only its schema is used
enum GateWord {
    Healthy,
    HealthyThenPromotion,
    Unknown,
}

impl JsonSchema for Gate {
    fn schema_name() -> Cow<'static, str> {
        "Gate".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let mut schema = GateSchema::json_schema(generator);
        schema.insert(
            "description".into(),
            "After a step: `healthy`, `healthy_then_promotion`, or `{\"healthy_then_pause_ms\": N}`."
                .into(),
        );
        schema
    }
}

/// One step of a plan: the hosts it upgrades and its gate.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[non_exhaustive]
pub struct Step {
    /// Hosts upgraded in this step.
    pub hosts: Vec<HostId>,
    /// What must hold before the next step.
    pub gate: Gate,
}

impl Step {
    /// A step upgrading `hosts`, then waiting for `gate`.
    #[must_use]
    pub fn new(hosts: Vec<HostId>, gate: Gate) -> Self {
        Self { hosts, gate }
    }
}

/// The whole schedule and its way back, computed before any host is touched.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[non_exhaustive]
pub struct Plan {
    /// The revision rolled out.
    pub to: Revision,
    /// The stable revision it starts from (and returns to on failure), if any.
    pub from: Option<Revision>,
    /// Every host the new revision targets, with its components.
    pub targets: BTreeMap<HostId, Vec<ComponentId>>,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// On failure: every host already touched gets `from` again (content, configuration and
    /// links), as a new revision. Without `from`, touched hosts have the components deleted.
    pub rollback: OnFailure,
    /// The expected duration, without waits for promotion.
    #[serde(rename = "expected_ms", with = "millis")]
    #[schemars(with = "u64")]
    #[cfg_attr(feature = "arbitrary", arbitrary(with = arbitrary_millis))]
    pub expected: Duration,
    /// The providers the new revision places on each host. A host's step applies them, and
    /// waits for each to be running, before its components.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub providers: BTreeMap<HostId, Vec<ProviderId>>,
    /// What the stable revision placed on a host and the new one does not: removed in the
    /// host's step after the new components run, components first, then providers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub removals: BTreeMap<HostId, Removal>,
}

/// What a plan removes from one host: components and providers the stable revision placed
/// there and the new revision does not.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[non_exhaustive]
pub struct Removal {
    /// Components deleted (before the providers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<ComponentId>,
    /// Providers deleted (after the components).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<ProviderId>,
}

impl Removal {
    /// Nothing removed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.components.is_empty() && self.providers.is_empty()
    }
}

impl Plan {
    /// The plan of rolling `to` out from `from` in `steps` over `targets`, returning to
    /// `from` as `rollback` says, expected to take `expected`.
    #[must_use]
    pub fn new(
        to: Revision,
        from: Option<Revision>,
        targets: BTreeMap<HostId, Vec<ComponentId>>,
        steps: Vec<Step>,
        rollback: OnFailure,
        expected: Duration,
    ) -> Self {
        Self {
            to,
            from,
            targets,
            steps,
            rollback,
            expected,
            providers: BTreeMap::new(),
            removals: BTreeMap::new(),
        }
    }

    /// The same plan, applying `providers` on each host before its components.
    #[must_use]
    pub fn with_providers(mut self, providers: BTreeMap<HostId, Vec<ProviderId>>) -> Self {
        self.providers = providers;
        self
    }

    /// The same plan, removing `removals` from each host after its new components run.
    #[must_use]
    pub fn with_removals(mut self, removals: BTreeMap<HostId, Removal>) -> Self {
        self.removals = removals;
        self
    }
}

impl Strategy {
    /// The strategy's name in messages: `all-at-once`, `rolling`, `canary`, `blue-green`.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::AllAtOnce => "all-at-once",
            Self::Rolling { .. } => "rolling",
            Self::Canary { .. } => "canary",
            Self::BlueGreen { .. } => "blue-green",
            Self::Unknown => "unknown",
        }
    }
}

impl JsonSchema for Pause {
    fn schema_name() -> Cow<'static, str> {
        "Pause".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let mut schema = PauseRepr::json_schema(generator);
        schema.insert(
            "description".into(),
            "A pause between steps: `none`, `until_promoted`, or `{\"for_ms\": N}`.".into(),
        );
        schema
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.from {
            Some(from) => writeln!(
                f,
                "rollout of revision {} (from stable revision {from})",
                self.to
            )?,
            None => writeln!(f, "rollout of revision {} (first revision)", self.to)?,
        }
        for (i, step) in self.steps.iter().enumerate() {
            let hosts: Vec<&str> = step.hosts.iter().map(HostId::as_str).collect();
            let gate = match step.gate {
                Gate::Healthy => "healthy".to_owned(),
                Gate::HealthyThenPause(pause) => format!("healthy, then pause {pause:?}"),
                Gate::HealthyThenPromotion => "healthy, then wait for promotion".to_owned(),
                Gate::Unknown => "a gate this version does not know".to_owned(),
            };
            writeln!(
                f,
                "  step {}: {} host(s) [{}] -> {gate}",
                i + 1,
                step.hosts.len(),
                hosts.join(", ")
            )?;
        }
        for (host, providers) in &self.providers {
            let ids: Vec<&str> = providers.iter().map(ProviderId::as_str).collect();
            writeln!(
                f,
                "  on {host}: provider(s) [{}] running before its components",
                ids.join(", ")
            )?;
        }
        for (host, removal) in self.removals.iter().filter(|(_, r)| !r.is_empty()) {
            let components: Vec<&str> =
                removal.components.iter().map(ComponentId::as_str).collect();
            let providers: Vec<&str> = removal.providers.iter().map(ProviderId::as_str).collect();
            let parts: Vec<String> = [("component(s)", &components), ("provider(s)", &providers)]
                .into_iter()
                .filter(|(_, ids)| !ids.is_empty())
                .map(|(what, ids)| format!("{what} [{}]", ids.join(", ")))
                .collect();
            writeln!(f, "  on {host}: remove {}", parts.join(", then "))?;
        }
        let back = match (self.rollback, self.from) {
            (OnFailure::Freeze, _) => "freeze: hosts stay as they are".to_owned(),
            (OnFailure::Rollback, Some(from)) => format!(
                "apply stable revision {from} to every host already touched (code, configuration, links)"
            ),
            (OnFailure::Rollback, None) => {
                "delete the components from every host already touched".to_owned()
            }
            (OnFailure::Unknown, _) => "a failure handling this version does not know".to_owned(),
        };
        writeln!(f, "  on failure: {back}")?;
        write!(
            f,
            "  expected: {:?} (without waits for promotion)",
            self.expected
        )
    }
}

mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

mod opt_millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub(super) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Option::<u64>::deserialize(d).map(|ms| ms.map(Duration::from_millis))
    }
}

/// A duration of whole milliseconds, as the wire carries it.
#[cfg(feature = "arbitrary")]
fn arbitrary_millis(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<Duration> {
    Ok(Duration::from_millis(u.arbitrary()?))
}

#[cfg(feature = "arbitrary")]
fn arbitrary_opt_millis(
    u: &mut arbitrary::Unstructured<'_>,
) -> arbitrary::Result<Option<Duration>> {
    Ok(if u.arbitrary()? {
        Some(arbitrary_millis(u)?)
    } else {
        None
    })
}
