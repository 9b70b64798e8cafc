//! Strategies, options, guardrails and the plan a rollout computes before touching any host.

use crate::model::AppRevision;
use lattice_spec::{ComponentId, HostId, Revision, SpecDiff};
use serde::{Deserialize, Serialize};
use std::{collections::BTreeMap, fmt, num::NonZeroUsize, time::Duration};

/// How a new revision reaches its hosts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
    /// [`check_guardrails`]).
    BlueGreen {
        /// Release the old revision automatically after this long; `None` waits for promotion.
        #[serde(default, rename = "keep_old_for_ms", with = "opt_millis")]
        keep_old_for: Option<Duration>,
    },
}

/// One canary step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "PauseRepr", into = "PauseRepr")]
#[non_exhaustive]
pub enum Pause {
    /// No pause.
    None,
    /// Continue after this long.
    For(Duration),
    /// Wait for `promote`.
    UntilPromoted,
}

/// The wire form of a [`Pause`].
#[derive(Clone, Serialize, Deserialize)]
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct RolloutOptions {
    /// How long one host may take to run the new revision.
    #[serde(rename = "per_host_deadline_ms", with = "millis")]
    pub per_host_deadline: Duration,
    /// How long the whole rollout may take (pauses for promotion excluded).
    #[serde(rename = "progress_deadline_ms", with = "millis")]
    pub progress_deadline: Duration,
    /// How long a step's hosts must stay running before the next step.
    #[serde(rename = "min_healthy_ms", with = "millis")]
    pub min_healthy: Duration,
    /// How long one host may take to get back to the stable revision during a rollback (kept
    /// apart from `per_host_deadline`, so a deadline that failed the rollout does not also
    /// fail its way back).
    #[serde(rename = "rollback_per_host_deadline_ms", with = "millis")]
    pub rollback_per_host_deadline: Duration,
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
            failure_budget: 0,
            on_failure: OnFailure::Rollback,
        }
    }
}

/// What a failed rollout does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OnFailure {
    /// Apply the last stable revision everywhere the new one was applied (the default).
    #[default]
    Rollback,
    /// Leave every host as it is (roll forward only), for changes that cannot be undone.
    Freeze,
}

/// After a step: what must hold before the next one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Gate {
    /// Every host of the step stays running for the minimum healthy time.
    Healthy,
    /// Healthy, then a timed pause.
    #[serde(rename = "healthy_then_pause_ms", with = "millis")]
    HealthyThenPause(Duration),
    /// Healthy, then wait for promotion.
    HealthyThenPromotion,
}

/// One step of a plan: the hosts it upgrades and its gate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Step {
    /// Hosts upgraded in this step.
    pub hosts: Vec<HostId>,
    /// What must hold before the next step.
    pub gate: Gate,
}

/// The whole schedule and its way back, computed before any host is touched.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
    pub expected: Duration,
}

/// A strategy's refusal of a change it cannot make safely.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the {strategy} strategy cannot make this change safely: {explanation}")]
#[non_exhaustive]
pub struct GuardrailRefusal {
    /// The strategy.
    pub strategy: &'static str,
    /// The component concerned.
    pub component: ComponentId,
    /// Why, and what to do instead.
    pub explanation: String,
}

/// Link configuration keys that bind a host resource (a listen address, a port).
pub const HOST_RESOURCE_KEYS: &[&str] = &[
    "address",
    "addr",
    "listen",
    "listen_address",
    "bind",
    "port",
    "host_port",
];

impl Strategy {
    fn name(&self) -> &'static str {
        match self {
            Self::AllAtOnce => "all-at-once",
            Self::Rolling { .. } => "rolling",
            Self::Canary { .. } => "canary",
            Self::BlueGreen { .. } => "blue-green",
        }
    }
}

/// Refuses, before anything starts, a change `strategy` cannot make safely: blue-green keeps
/// old and new side by side, so a link whose provider configuration changes a value that binds
/// a host resource (a listen address, a port) would contend with itself.
///
/// # Errors
///
/// [`GuardrailRefusal`] naming the component, link and key, and what to do instead.
pub fn check_guardrails(
    strategy: &Strategy,
    from: Option<&AppRevision>,
    to: &AppRevision,
) -> Result<(), GuardrailRefusal> {
    let (Strategy::BlueGreen { .. }, Some(from)) = (strategy, from) else {
        return Ok(());
    };
    for placement in &to.components {
        let Some(old) = from.component(placement.spec.id()) else {
            continue;
        };
        let diff = SpecDiff::between(&old.spec, &placement.spec);
        for (was, now, fields) in diff.changed_links() {
            if !fields.target_config {
                continue;
            }
            for key in HOST_RESOURCE_KEYS {
                let (before, after) = (
                    was.target_config().values().get(*key),
                    now.target_config().values().get(*key),
                );
                if before.is_some() && before != after {
                    return Err(GuardrailRefusal {
                        strategy: strategy.name(),
                        component: placement.spec.id().clone(),
                        explanation: format!(
                            "link {} changes `{key}` from `{}` to `{}`, a host resource the old and new revisions would both hold; \
                             use the rolling strategy (which replaces the link in place) or keep `{key}` unchanged",
                            now.key(),
                            before.map_or("", String::as_str),
                            after.map_or("(unset)", String::as_str),
                        ),
                    });
                }
            }
        }
    }
    Ok(())
}

/// Computes the plan of rolling `to` out over `hosts` (id and labels), from the stable
/// revision `from`.
///
/// # Errors
///
/// [`PlanError`] when no host matches, or a guardrail refuses the change.
pub fn plan(
    from: Option<&AppRevision>,
    to: &AppRevision,
    hosts: &[(HostId, BTreeMap<String, String>)],
    strategy: &Strategy,
    options: &RolloutOptions,
) -> Result<Plan, PlanError> {
    check_guardrails(strategy, from, to)?;
    let mut targets: BTreeMap<HostId, Vec<ComponentId>> = BTreeMap::new();
    for placement in &to.components {
        for host in placement.hosts.select(hosts) {
            targets
                .entry(host)
                .or_default()
                .push(placement.spec.id().clone());
        }
    }
    if targets.is_empty() {
        return Err(PlanError::NoHosts);
    }
    let order: Vec<HostId> = targets.keys().cloned().collect();
    let steps = match strategy {
        Strategy::AllAtOnce => vec![Step {
            hosts: order,
            gate: Gate::Healthy,
        }],
        Strategy::BlueGreen { keep_old_for } => vec![Step {
            hosts: order,
            gate: keep_old_for.map_or(Gate::HealthyThenPromotion, Gate::HealthyThenPause),
        }],
        Strategy::Rolling { max_parallel } => order
            .chunks(max_parallel.get())
            .map(|hosts| Step {
                hosts: hosts.to_vec(),
                gate: Gate::Healthy,
            })
            .collect(),
        Strategy::Canary { steps } => canary_steps(&order, steps),
    };
    let gates: Duration = steps
        .iter()
        .map(|step| match step.gate {
            Gate::HealthyThenPause(pause) => options.min_healthy + pause,
            Gate::Healthy | Gate::HealthyThenPromotion => options.min_healthy,
        })
        .sum();
    // An upgrade is bounded by provider round trips, not downloads: budget a second a step.
    let expected = gates + Duration::from_secs(1) * u32::try_from(steps.len()).unwrap_or(u32::MAX);
    Ok(Plan {
        to: to.revision,
        from: from.map(|f| f.revision),
        targets,
        steps,
        rollback: options.on_failure,
        expected,
    })
}

fn canary_steps(order: &[HostId], steps: &[CanaryStep]) -> Vec<Step> {
    let total = order.len();
    let mut plan = Vec::new();
    let mut done = 0;
    let mut shares: Vec<CanaryStep> = steps.to_vec();
    if shares.last().is_none_or(|s| s.percent < 100) {
        shares.push(CanaryStep::new(100, Pause::None));
    }
    for step in shares {
        let until = (total * usize::from(step.percent))
            .div_ceil(100)
            .clamp(1, total);
        if until <= done {
            continue;
        }
        let gate = match step.pause {
            Pause::None => Gate::Healthy,
            Pause::For(pause) => Gate::HealthyThenPause(pause),
            Pause::UntilPromoted => Gate::HealthyThenPromotion,
        };
        plan.push(Step {
            hosts: order[done..until].to_vec(),
            gate,
        });
        done = until;
    }
    plan
}

/// A plan that cannot be made.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// No host matches any component's placement.
    #[error(
        "no host matches the application's placement; check host labels with `lattice get hosts`"
    )]
    NoHosts,
    /// A guardrail refused the change.
    #[error(transparent)]
    Guardrail(#[from] GuardrailRefusal),
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
            };
            writeln!(
                f,
                "  step {}: {} host(s) [{}] -> {gate}",
                i + 1,
                step.hosts.len(),
                hosts.join(", ")
            )?;
        }
        let back = match (self.rollback, self.from) {
            (OnFailure::Freeze, _) => "freeze: hosts stay as they are".to_owned(),
            (OnFailure::Rollback, Some(from)) => format!(
                "apply stable revision {from} to every host already touched (code, configuration, links)"
            ),
            (OnFailure::Rollback, None) => {
                "delete the components from every host already touched".to_owned()
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AppName, HostSelector, Placement};
    use lattice_spec::{ComponentSpecDraft, LinkDraft};

    fn hosts(n: usize) -> Vec<(HostId, BTreeMap<String, String>)> {
        (1..=n)
            .map(|i| (HostId::new(format!("host-{i}")).unwrap(), BTreeMap::new()))
            .collect()
    }

    fn revision(n: u64, address: &str) -> AppRevision {
        let spec = ComponentSpecDraft::new("web", "ghcr.io/acme/web:1")
            .link(
                LinkDraft::new("http", "wasi", "http", ["incoming-handler"])
                    .target_config_value("address", address),
            )
            .validate()
            .unwrap();
        AppRevision::new(
            AppName::new("shop").unwrap(),
            Revision(n),
            vec![Placement::new(spec, HostSelector::All)],
        )
        .unwrap()
    }

    #[test]
    fn canary_steps_grow_to_every_host_with_their_gates() {
        let strategy = Strategy::Canary {
            steps: vec![
                CanaryStep::new(20, Pause::UntilPromoted),
                CanaryStep::new(50, Pause::For(Duration::from_secs(3))),
            ],
        };
        let plan = plan(
            Some(&revision(1, "a")),
            &revision(2, "a"),
            &hosts(5),
            &strategy,
            &RolloutOptions::default(),
        )
        .unwrap();
        let sizes: Vec<usize> = plan.steps.iter().map(|s| s.hosts.len()).collect();
        assert_eq!(sizes, [1, 2, 2]);
        assert_eq!(plan.steps[0].gate, Gate::HealthyThenPromotion);
        assert_eq!(
            plan.steps[1].gate,
            Gate::HealthyThenPause(Duration::from_secs(3))
        );
        assert_eq!(plan.steps[2].gate, Gate::Healthy);
        let all: Vec<_> = plan.steps.iter().flat_map(|s| s.hosts.clone()).collect();
        assert_eq!(all.len(), 5, "every host exactly once");
        assert_eq!(plan.from, Some(Revision(1)));
        let text = plan.to_string();
        assert!(
            text.contains("step 1: 1 host(s) [host-1] -> healthy, then wait for promotion"),
            "{text}"
        );
        assert!(text.contains("apply stable revision 1"), "{text}");
    }

    #[test]
    fn rolling_batches_respect_max_parallel() {
        let strategy = Strategy::Rolling {
            max_parallel: NonZeroUsize::new(2).unwrap(),
        };
        let plan = plan(
            None,
            &revision(1, "a"),
            &hosts(5),
            &strategy,
            &RolloutOptions::default(),
        )
        .unwrap();
        let sizes: Vec<usize> = plan.steps.iter().map(|s| s.hosts.len()).collect();
        assert_eq!(sizes, [2, 2, 1]);
        assert!(plan.expected >= RolloutOptions::default().min_healthy * 3);
    }

    #[test]
    fn blue_green_refuses_a_changed_listen_address_before_anything_starts() {
        let strategy = Strategy::BlueGreen { keep_old_for: None };
        let err = plan(
            Some(&revision(1, "0.0.0.0:8080")),
            &revision(2, "0.0.0.0:9090"),
            &hosts(5),
            &strategy,
            &RolloutOptions::default(),
        )
        .unwrap_err();
        let PlanError::Guardrail(refusal) = err else {
            panic!("{err}")
        };
        assert_eq!(refusal.component, "web");
        assert!(
            refusal
                .explanation
                .contains("`address` from `0.0.0.0:8080` to `0.0.0.0:9090`"),
            "{refusal}"
        );
        assert!(
            refusal.to_string().contains("use the rolling strategy"),
            "{refusal}"
        );
        // The same change is fine rolling, and blue-green is fine when the address stays.
        let rolling = Strategy::Rolling {
            max_parallel: NonZeroUsize::new(1).unwrap(),
        };
        assert!(
            plan(
                Some(&revision(1, "0.0.0.0:8080")),
                &revision(2, "0.0.0.0:9090"),
                &hosts(5),
                &rolling,
                &RolloutOptions::default()
            )
            .is_ok()
        );
        assert!(
            plan(
                Some(&revision(1, "0.0.0.0:8080")),
                &revision(2, "0.0.0.0:8080"),
                &hosts(5),
                &strategy,
                &RolloutOptions::default()
            )
            .is_ok()
        );
    }

    #[test]
    fn no_matching_host_is_a_plan_error() {
        let spec = ComponentSpecDraft::new("web", "ghcr.io/acme/web:1")
            .validate()
            .unwrap();
        let placement = Placement::new(
            spec,
            HostSelector::Labels(BTreeMap::from([("zone".into(), "mars".into())])),
        );
        let to =
            AppRevision::new(AppName::new("shop").unwrap(), Revision(1), vec![placement]).unwrap();
        assert_eq!(
            plan(
                None,
                &to,
                &hosts(3),
                &Strategy::AllAtOnce,
                &RolloutOptions::default()
            ),
            Err(PlanError::NoHosts)
        );
    }
}
