//! The upgrade sequence a host runs for an apply, and the delete.
//!
//! fetch → validate → instantiate → establish new links → pause → re-put changed links → swap
//! → resume → remove links that are gone → running. Every step before the swap can fail, and
//! every failure leaves the previous revision serving with its links as they were.
//!
//! **Deadlines.** Fetch, validate and instantiate each run under their bound
//! ([`HostDeadlines`](crate::HostDeadlines)) and give way at once to a newer apply of the
//! same component (`superseded`): nothing is touched yet, so either ends the apply with the
//! old revision serving and releases the apply lock. The drain — waiting for the
//! invocations in flight on the old revision once the gate is paused — happens **before**
//! the swap and before any changed link is touched, so a `drain_timeout` resumes the gate on
//! the old revision (the invocations it held are served by it, the one still running
//! finishes on it) and removes only the links this apply added. The swap never happens with
//! an invocation in flight: no invocation is answered by a dropped instance.

use crate::{
    config::{HostDeadlines, UnacknowledgedLinks, resolve},
    links::LinkOutcome,
    state::{ComponentSlot, HostState},
};
use futures::future::join_all;
use lattice_artifact::verify_pin;
use lattice_ctl::RevisionStatus;
use lattice_spec::{ComponentSpec, LinkSpec, SpecDiff};
use lattice_status::{
    ComponentState, ComponentStatus, LinkState, LinkStatus, ReasonCode, StatusReason,
};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};
use tracing::Instrument;

/// The links an upgrade touches, as the diff of the serving spec and the new one classifies
/// them: established before the pause, re-put during it, removed after the swap.
struct LinkPlan {
    added: Vec<LinkSpec>,
    changed: Vec<(LinkSpec, LinkSpec)>,
    removed: Vec<LinkSpec>,
}

impl LinkPlan {
    fn new(old: Option<&ComponentSpec>, new: &ComponentSpec) -> Self {
        let Some(old) = old else {
            return Self {
                added: new.links().to_vec(),
                changed: Vec::new(),
                removed: Vec::new(),
            };
        };
        let diff = SpecDiff::between(old, new);
        Self {
            added: diff.added_links().cloned().collect(),
            changed: diff
                .changed_links()
                .map(|(from, to, _)| (from.clone(), to.clone()))
                .collect(),
            removed: diff.removed_links().cloned().collect(),
        }
    }
}

/// Runs an accepted apply to `running` or `failed`.
pub(crate) async fn apply(
    state: Arc<HostState>,
    slot: Arc<ComponentSlot>,
    spec: Arc<ComponentSpec>,
) {
    let _serial = slot.apply_lock.lock().await;
    let revision = spec.revision();
    if !slot.is_desired(&spec) {
        let reason = StatusReason::new(
            ReasonCode::Superseded,
            "a newer apply arrived before this one started",
        );
        state
            .transition(&slot, revision, ComponentStatus::failed(reason))
            .await;
        return;
    }
    let span = tracing::info_span!("lattice.host.apply", component = %spec.id(), %revision);
    let outcome = Upgrade {
        state: &state,
        slot: &slot,
        spec: &spec,
    }
    .run()
    .instrument(span)
    .await;
    if let Err(reason) = outcome {
        let exports = slot.gate.active().map(|active| active.exports().to_vec());
        crate::wrpc::retain_exports(&slot, &exports.unwrap_or_default());
        tracing::info!(component = %spec.id(), %revision, %reason, "apply failed; the previous revision keeps serving");
        state
            .transition(&slot, revision, ComponentStatus::failed(reason))
            .await;
    }
}

/// The steps of an apply that run under a bound of their own, before any link is touched.
#[derive(Clone, Copy)]
enum Bounded {
    Fetch,
    Validate,
    Instantiate,
}

impl Bounded {
    fn bound(self, deadlines: &HostDeadlines) -> Duration {
        match self {
            Self::Fetch => deadlines.fetch,
            Self::Validate => deadlines.validate,
            Self::Instantiate => deadlines.instantiate,
        }
    }

    fn code(self) -> ReasonCode {
        match self {
            Self::Fetch => ReasonCode::FetchTimeout,
            Self::Validate => ReasonCode::ValidateTimeout,
            Self::Instantiate => ReasonCode::InstantiateTimeout,
        }
    }

    /// What the step does, and the setting that bounds it.
    fn what(self) -> (&'static str, &'static str) {
        match self {
            Self::Fetch => ("fetching the artifact", "HostDeadlines::fetch"),
            Self::Validate => ("validating the artifact", "HostDeadlines::validate"),
            Self::Instantiate => ("instantiating the component", "HostDeadlines::instantiate"),
        }
    }
}

struct Upgrade<'a> {
    state: &'a HostState,
    slot: &'a ComponentSlot,
    spec: &'a ComponentSpec,
}

impl Upgrade<'_> {
    async fn step(&self, state: ComponentState) {
        self.state
            .transition(self.slot, self.spec.revision(), ComponentStatus::new(state))
            .await;
    }

    /// Runs `work` under `step`'s bound, giving way at once to a newer apply of the
    /// component. Dropping `work` at either is safe: nothing it did is visible yet (a
    /// validation on a blocking thread runs to its end there, unobserved).
    async fn bounded<T>(
        &self,
        step: Bounded,
        work: impl Future<Output = Result<T, StatusReason>>,
    ) -> Result<T, StatusReason> {
        let bound = step.bound(&self.state.config.deadlines);
        let (doing, setting) = step.what();
        tokio::select! {
            biased;
            () = self.slot.superseded(self.spec) => Err(StatusReason::new(
                ReasonCode::Superseded,
                format!("a newer apply was accepted while {doing}"),
            )),
            outcome = tokio::time::timeout(bound, work) => outcome.unwrap_or_else(|_| {
                Err(StatusReason::new(
                    step.code(),
                    format!(
                        "{doing} `{}` took longer than {bound:?} ({setting})",
                        self.spec.artifact()
                    ),
                ))
            }),
        }
    }

    async fn run(&self) -> Result<(), StatusReason> {
        let (state, slot, spec) = (self.state, self.slot, self.spec);

        // 2. Fetch. Nothing is touched yet: a failure leaves everything as it was.
        self.step(ComponentState::Fetching).await;
        let bytes = self
            .bounded(Bounded::Fetch, async {
                state
                    .fetcher
                    .fetch(spec.artifact())
                    .await
                    .map_err(|e| StatusReason::from(&e))
            })
            .await?;
        if let Some(pin) = spec.digest_pin() {
            verify_pin(&bytes, pin)
                .map_err(|e| StatusReason::from(&e.for_artifact(spec.artifact().as_str())))?;
        }

        // 3. Validate as a real component whose imports its links cover; then prepare it, so
        //    compilation is done before anything pauses.
        self.step(ComponentState::Validating).await;
        let validator = state.validator.clone();
        let (check_bytes, check_spec) = (bytes.clone(), spec.clone());
        let validated = self
            .bounded(Bounded::Validate, async {
                tokio::task::spawn_blocking(move || validator.validate(&check_bytes, &check_spec))
                    .await
                    .map_err(|e| {
                        StatusReason::new(
                            ReasonCode::Internal,
                            format!("validation task failed: {e}"),
                        )
                    })?
                    .map_err(|e| StatusReason::from(&e))
            })
            .await?;
        // Configuration and secrets are each bounded by their NATS request timeouts (typed
        // `unavailable` failures), not by a host deadline of their own.
        let config = resolve(state.configs.as_ref(), spec.config())
            .await
            .map_err(|e| crate::config::reason(&e))?;
        let secrets =
            crate::secrets::resolve_component(state.config.secrets_backend.as_ref(), spec).await?;
        let instance = self
            .bounded(Bounded::Instantiate, async {
                state
                    .runtime
                    .instantiate_with_secrets(spec, &validated, bytes, &config, &secrets)
                    .await
                    .map_err(|e| StatusReason::new(e.kind().reason_code(), e.to_string()))
            })
            .await?;

        // Last point where giving way to a newer apply costs nothing: no link touched yet.
        if !slot.is_desired(spec) {
            return Err(StatusReason::new(
                ReasonCode::Superseded,
                "a newer apply was accepted while this one was being prepared",
            ));
        }
        let old = slot.serving_spec();
        let plan = LinkPlan::new(old.as_deref(), spec);

        // 4. New links first, while the old revision serves undisturbed.
        if !plan.added.is_empty() {
            self.step(ComponentState::Linking).await;
        }
        let mut added = Vec::new();
        for link in &plan.added {
            match self.put(link).await {
                Ok(()) => added.push(link),
                Err(reason) => {
                    self.remove_links(&added).await;
                    self.forget(link);
                    return Err(reason);
                }
            }
        }

        // Subscribe to what the new revision exports before it can be swapped in, so no
        // invocation of a new function arrives before anyone listens.
        crate::wrpc::serve_exports(&state.nats, &state.config.lattice, slot, instance.exports())
            .await;

        let Some(old) = old.as_deref() else {
            // A first revision: nothing to pause or swap out.
            slot.gate.swap(instance);
            self.finish().await;
            return Ok(());
        };

        // Everything the changed links need (configuration, sealed secrets) is resolved before
        // the pause: a missing one fails the upgrade with nothing touched.
        let mut prepared = Vec::with_capacity(plan.changed.len());
        for (_, to) in &plan.changed {
            match state
                .links
                .prepare_put(spec.id(), to, state.configs.as_ref())
                .await
            {
                Ok(put) => prepared.push(put),
                Err(refusal) => {
                    let reason = self.settle(to, LinkOutcome::Refused(refusal)).await;
                    self.remove_links(&added).await;
                    return reason;
                }
            }
        }

        // 5. Pause: invocations keep arriving and are held. The drain — until the ones in
        //    flight finished — is bounded; it comes before the swap and before any changed
        //    link is touched, so when it times out the old revision resumes as it was.
        self.step(ComponentState::Upgrading).await;
        let paused_at = Instant::now();
        let drain = state.config.deadlines.drain;
        if tokio::time::timeout(drain, slot.gate.pause())
            .await
            .is_err()
        {
            slot.gate.resume();
            self.remove_links(&added).await;
            return Err(StatusReason::new(
                ReasonCode::DrainTimeout,
                format!(
                    "invocations in flight on revision {} did not finish within {drain:?} \
                     (HostDeadlines::drain); revision {} was not swapped in",
                    old.revision(),
                    spec.revision()
                ),
            ));
        }

        // 6. Changed links: each is replaced (the old one deleted, the new one put). Links
        //    are independent of one another, so they are replaced concurrently, and each
        //    replacement is bounded by one reply timeout as a whole (see
        //    `LinkRequests::replace`): with silent providers the pause lasts about one reply
        //    timeout, not one per link, nor two.
        let results = join_all(plan.changed.iter().zip(prepared).map(
            |((from, to), prepared)| async move {
                self.pending(to).await;
                let outcome = state.links.replace(spec.id(), from, prepared).await;
                self.settle(to, outcome).await
            },
        ))
        .await;
        if let Some(reason) = results.iter().find_map(|r| r.as_ref().err()).cloned() {
            // Put every changed link back to its old configuration (replacing whatever the
            // provider kept of the new one), resume on the old revision, and remove the
            // links this apply added.
            join_all(
                plan.changed
                    .iter()
                    .map(|(from, to)| async move { self.restore(to, from).await }),
            )
            .await;
            slot.gate.resume();
            self.remove_links(&added).await;
            return Err(reason);
        }

        // 7. Swap, resume, then retire what the new revision no longer uses.
        slot.gate.swap(instance);
        slot.gate.resume();
        *slot.last_pause.lock().unwrap_or_else(|e| e.into_inner()) = Some(paused_at.elapsed());
        self.finish().await;
        state.retire(slot, old.revision()).await;
        // After the swap and outside the pause; each delete's answer is awaited (together,
        // so their bounds overlap) only so that the apply lock is held until the deletes
        // have reached their provider: a following apply's put of the same link cannot
        // overtake a delete still falling back to the lattice-wide subject.
        let removed: Vec<&LinkSpec> = plan.removed.iter().collect();
        state.links.delete_all(spec.id(), &removed).await;
        for link in removed {
            self.forget(link);
        }
        Ok(())
    }

    /// Records the new revision as the serving one and reports it running.
    async fn finish(&self) {
        // Built from this apply's own spec: a newer apply may already be the desired one.
        let serving = RevisionStatus::new(
            self.spec.revision(),
            self.spec.digest(),
            self.spec.artifact().clone(),
            ComponentStatus::new(ComponentState::Running),
        );
        self.slot.record().serving = Some((serving, Arc::new(self.spec.clone())));
        let exports = self
            .slot
            .gate
            .active()
            .map(|active| active.exports().to_vec());
        crate::wrpc::retain_exports(self.slot, &exports.unwrap_or_default());
        self.step(ComponentState::Running).await;
    }

    /// Puts a link and reports its status; an error is the reason the apply fails.
    async fn put(&self, link: &LinkSpec) -> Result<(), StatusReason> {
        self.pending(link).await;
        let outcome = self
            .state
            .links
            .put(self.spec.id(), link, self.state.configs.as_ref())
            .await;
        self.settle(link, outcome).await
    }

    async fn pending(&self, link: &LinkSpec) {
        self.state
            .link_status(
                self.slot,
                self.spec.revision(),
                link,
                LinkStatus::new(LinkState::Pending),
            )
            .await;
    }

    /// Records what became of a link put and whether the upgrade goes on.
    async fn settle(&self, link: &LinkSpec, outcome: LinkOutcome) -> Result<(), StatusReason> {
        let (state, revision) = (self.state, self.spec.revision());
        match outcome {
            LinkOutcome::Established => {
                state
                    .link_status(
                        self.slot,
                        revision,
                        link,
                        LinkStatus::new(LinkState::Established),
                    )
                    .await;
                Ok(())
            }
            LinkOutcome::Refused(refusal) => {
                let reason = StatusReason::link_refused(
                    link.peer().id(),
                    link.name().as_str(),
                    refusal.kind,
                    refusal.message,
                );
                state
                    .link_status(
                        self.slot,
                        revision,
                        link,
                        LinkStatus::failed(reason.clone()),
                    )
                    .await;
                Err(reason)
            }
            LinkOutcome::Unacknowledged => {
                let reason = StatusReason::new(
                    ReasonCode::LinkUnacknowledged,
                    format!(
                        "provider `{}` did not answer within {:?}",
                        link.peer().id(),
                        state.config.link_reply_timeout
                    ),
                )
                .with_link(link.peer().id(), link.name().as_str());
                let status = LinkStatus::new(LinkState::Unacknowledged).with_reason(reason.clone());
                state.link_status(self.slot, revision, link, status).await;
                match state.config.unacknowledged_links {
                    UnacknowledgedLinks::Fail => Err(reason),
                    _ => Ok(()),
                }
            }
        }
    }

    /// Puts the old configuration of a link back in place of the new one (best effort) and
    /// reports it.
    async fn restore(&self, new: &LinkSpec, link: &LinkSpec) {
        let state = self.state;
        let serving = self
            .slot
            .serving_spec()
            .map_or(self.spec.revision(), |s| s.revision());
        let outcome = match state
            .links
            .prepare_put(self.spec.id(), link, state.configs.as_ref())
            .await
        {
            Ok(prepared) => state.links.replace(self.spec.id(), new, prepared).await,
            Err(refusal) => LinkOutcome::Refused(refusal),
        };
        let status = match outcome {
            LinkOutcome::Established => LinkStatus::new(LinkState::Established),
            LinkOutcome::Unacknowledged => LinkStatus::new(LinkState::Unacknowledged),
            LinkOutcome::Refused(refusal) => LinkStatus::failed(StatusReason::link_refused(
                link.peer().id(),
                link.name().as_str(),
                refusal.kind,
                refusal.message,
            )),
        };
        state.link_status(self.slot, serving, link, status).await;
    }

    /// Removes links this apply added, after a failure (concurrently: their bounds overlap).
    async fn remove_links(&self, links: &[&LinkSpec]) {
        self.state.links.delete_all(self.spec.id(), links).await;
        for link in links {
            self.forget(link);
        }
    }

    fn forget(&self, link: &LinkSpec) {
        self.state.forget_link(self.slot, link);
    }
}

/// Runs a delete on its own task, in a span that continues the current one (the request's).
pub(crate) fn spawn_delete(state: Arc<HostState>, slot: Arc<ComponentSlot>) {
    let span = tracing::info_span!("lattice.host.delete", component = %slot.id);
    state.spawn(delete(state.clone(), slot).instrument(span));
}

/// Stops a component and removes its links.
async fn delete(state: Arc<HostState>, slot: Arc<ComponentSlot>) {
    let _serial = slot.apply_lock.lock().await;
    let Some(spec) = slot.serving_spec() else {
        let revision = slot.record().desired.revision;
        state
            .transition(
                &slot,
                revision,
                ComponentStatus::new(ComponentState::Stopping),
            )
            .await;
        state
            .transition(
                &slot,
                revision,
                ComponentStatus::new(ComponentState::Stopped),
            )
            .await;
        state.remove(&slot.id);
        return;
    };
    state
        .transition(
            &slot,
            spec.revision(),
            ComponentStatus::new(ComponentState::Stopping),
        )
        .await;
    slot.gate.pause().await;
    slot.gate.clear();
    slot.gate.resume();
    slot.stop_serving();
    let links: Vec<&LinkSpec> = spec.links().iter().collect();
    state.links.delete_all(spec.id(), &links).await;
    state
        .transition(
            &slot,
            spec.revision(),
            ComponentStatus::new(ComponentState::Stopped),
        )
        .await;
    state.remove(&slot.id);
}
