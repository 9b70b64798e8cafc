//! Guardrails and the plan a rollout computes before touching any host.
//!
//! The strategy, options and plan types are the wire contract's
//! ([`lattice_ctl::rollout::plan`]), because they are part of the stored record; they are
//! re-exported here so their paths stay.

use crate::model::AppRevision;
pub use lattice_ctl::rollout::plan::{
    CanaryStep, Gate, OnFailure, Pause, Plan, Removal, RolloutOptions, Step, Strategy,
};
use lattice_spec::{ComponentId, HostId, ProviderId, SpecDiff};
use std::{collections::BTreeMap, time::Duration};

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
/// Providers come first: on each host, the step applies the providers `to` places there and
/// waits for each to be running before it applies the host's components (all of a host's
/// providers before all of its components, so a component linked to a provider of the
/// application finds it running). What `from` placed on a host and `to` does not is removed
/// in reverse: components first, then providers ([`Plan::removals`]). A host that only loses
/// something is part of the schedule too.
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
    let mut providers: BTreeMap<HostId, Vec<ProviderId>> = BTreeMap::new();
    for placement in &to.providers {
        for host in placement.hosts.select(hosts) {
            providers
                .entry(host)
                .or_default()
                .push(placement.spec.id().clone());
        }
    }
    if targets.is_empty() {
        return Err(PlanError::NoHosts);
    }
    let mut removals: BTreeMap<HostId, Removal> = BTreeMap::new();
    if let Some(from) = from {
        for placement in &from.components {
            for host in placement.hosts.select(hosts) {
                if !targets
                    .get(&host)
                    .is_some_and(|c| c.contains(placement.spec.id()))
                {
                    let removal = removals.entry(host).or_default();
                    removal.components.push(placement.spec.id().clone());
                }
            }
        }
        for placement in &from.providers {
            for host in placement.hosts.select(hosts) {
                if !providers
                    .get(&host)
                    .is_some_and(|p| p.contains(placement.spec.id()))
                {
                    let removal = removals.entry(host).or_default();
                    removal.providers.push(placement.spec.id().clone());
                }
            }
        }
    }
    let mut order: Vec<HostId> = targets.keys().cloned().collect();
    order.extend(providers.keys().cloned());
    order.extend(removals.keys().cloned());
    order.sort();
    order.dedup();
    let steps = match strategy {
        Strategy::AllAtOnce => vec![Step::new(order, Gate::Healthy)],
        Strategy::BlueGreen { keep_old_for } => vec![Step::new(
            order,
            keep_old_for.map_or(Gate::HealthyThenPromotion, Gate::HealthyThenPause),
        )],
        Strategy::Rolling { max_parallel } => order
            .chunks(max_parallel.get())
            .map(|hosts| Step::new(hosts.to_vec(), Gate::Healthy))
            .collect(),
        Strategy::Canary { steps } => canary_steps(&order, steps),
        _ => return Err(PlanError::UnknownStrategy),
    };
    let gates: Duration = steps
        .iter()
        .map(|step| match step.gate {
            Gate::HealthyThenPause(pause) => options.min_healthy + pause,
            _ => options.min_healthy,
        })
        .sum();
    // An upgrade is bounded by provider round trips, not downloads: budget a second a step.
    let expected = gates + Duration::from_secs(1) * u32::try_from(steps.len()).unwrap_or(u32::MAX);
    Ok(Plan::new(
        to.revision,
        from.map(|f| f.revision),
        targets,
        steps,
        options.on_failure,
        expected,
    )
    .with_providers(providers)
    .with_removals(removals))
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
            _ => Gate::HealthyThenPromotion,
        };
        plan.push(Step::new(order[done..until].to_vec(), gate));
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
    /// The strategy is one this version does not know (a newer scheduler's).
    #[error(
        "the strategy is not one this version knows; use all_at_once, rolling, canary or blue_green"
    )]
    UnknownStrategy,
}

/// Why a plan cannot be made, as a value to `match` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PlanErrorKind {
    /// See [`PlanError::NoHosts`].
    NoHosts,
    /// See [`PlanError::Guardrail`].
    Guardrail,
    /// See [`PlanError::UnknownStrategy`].
    UnknownStrategy,
}

impl PlanError {
    /// The kind of problem.
    #[must_use]
    pub fn kind(&self) -> PlanErrorKind {
        match self {
            Self::NoHosts => PlanErrorKind::NoHosts,
            Self::Guardrail(_) => PlanErrorKind::Guardrail,
            Self::UnknownStrategy => PlanErrorKind::UnknownStrategy,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AppName, HostSelector, Placement};
    use lattice_spec::{ComponentSpecDraft, LinkDraft, Revision};
    use std::num::NonZeroUsize;

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
    fn providers_are_placed_per_host_and_what_a_revision_drops_is_removed() {
        use crate::model::ProviderPlacement;
        use lattice_spec::ProviderSpecDraft;
        let provider = |id: &str| {
            ProviderPlacement::new(
                ProviderSpecDraft::new(id, "file:///opt/kv")
                    .validate()
                    .unwrap(),
                HostSelector::All,
            )
        };
        let with = |n: u64, providers: Vec<ProviderPlacement>| {
            revision(n, "a").with_providers(providers).unwrap()
        };
        let from = with(1, vec![provider("kv"), provider("old")]);
        let to = with(2, vec![provider("kv"), provider("new")]);
        assert_eq!(to.providers[0].spec.revision(), Revision(2), "re-stamped");
        let computed = plan(
            Some(&from),
            &to,
            &hosts(2),
            &Strategy::AllAtOnce,
            &RolloutOptions::default(),
        )
        .unwrap();
        for host in hosts(2).into_iter().map(|(h, _)| h) {
            let ids: Vec<&str> = computed.providers[&host]
                .iter()
                .map(|p| p.as_str())
                .collect();
            assert_eq!(ids, ["kv", "new"]);
            let removal = &computed.removals[&host];
            assert!(removal.components.is_empty());
            assert_eq!(removal.providers, ["old".parse::<ProviderId>().unwrap()]);
        }
        let text = computed.to_string();
        assert!(
            text.contains("on host-1: provider(s) [kv, new] running before its components"),
            "{text}"
        );
        assert!(
            text.contains("on host-2: remove provider(s) [old]\n"),
            "{text}"
        );
        // A host that only loses something is still in the schedule.
        let only_on_1 = AppRevision::new(
            AppName::new("shop").unwrap(),
            Revision(3),
            vec![Placement::new(
                from.components[0].spec.clone(),
                HostSelector::Hosts(vec![HostId::new("host-1").unwrap()]),
            )],
        )
        .unwrap();
        let computed = plan(
            Some(&from),
            &only_on_1,
            &hosts(2),
            &Strategy::AllAtOnce,
            &RolloutOptions::default(),
        )
        .unwrap();
        assert_eq!(computed.steps[0].hosts.len(), 2);
        let host_2 = &computed.removals[&HostId::new("host-2").unwrap()];
        assert_eq!(host_2.components, ["web".parse::<ComponentId>().unwrap()]);
        assert_eq!(host_2.providers.len(), 2);
        assert!(
            computed
                .to_string()
                .contains("on host-2: remove component(s) [web], then provider(s) [kv, old]"),
            "{computed}"
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
