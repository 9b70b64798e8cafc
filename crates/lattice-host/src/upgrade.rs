//! The upgrade sequence a host runs for an apply, and the delete.
//!
//! fetch → validate → instantiate → establish new links → pause → re-put changed links → swap
//! → resume → remove links that are gone → running. Every step before the swap can fail, and
//! every failure leaves the previous revision serving with its links as they were.

use crate::{
    config::{UnacknowledgedLinks, resolve},
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
use std::{sync::Arc, time::Instant};
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

    async fn run(&self) -> Result<(), StatusReason> {
        let (state, slot, spec) = (self.state, self.slot, self.spec);

        // 2. Fetch. Nothing is touched yet: a failure leaves everything as it was.
        self.step(ComponentState::Fetching).await;
        let bytes = state
            .fetcher
            .fetch(spec.artifact())
            .await
            .map_err(|e| StatusReason::from(&e))?;
        if let Some(pin) = spec.digest_pin() {
            verify_pin(&bytes, pin)
                .map_err(|e| StatusReason::from(&e.for_artifact(spec.artifact().as_str())))?;
        }

        // 3. Validate as a real component whose imports its links cover; then prepare it, so
        //    compilation is done before anything pauses.
        self.step(ComponentState::Validating).await;
        let validator = state.validator.clone();
        let (check_bytes, check_spec) = (bytes.clone(), spec.clone());
        let validated =
            tokio::task::spawn_blocking(move || validator.validate(&check_bytes, &check_spec))
                .await
                .map_err(|e| {
                    StatusReason::new(ReasonCode::Internal, format!("validation task failed: {e}"))
                })?
                .map_err(|e| StatusReason::from(&e))?;
        let config = resolve(state.configs.as_ref(), spec.config()).map_err(|missing| {
            StatusReason::new(
                ReasonCode::StartFailed,
                format!("configuration `{missing}` does not exist"),
            )
        })?;
        let secrets =
            crate::secrets::resolve_component(state.config.secrets_backend.as_ref(), spec).await?;
        let instance = state
            .runtime
            .instantiate_with_secrets(spec, &validated, bytes, &config, &secrets)
            .await
            .map_err(|e| StatusReason::new(e.kind().reason_code(), e.to_string()))?;

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

        // 5. Pause: invocations keep arriving and are held.
        self.step(ComponentState::Upgrading).await;
        let paused_at = Instant::now();
        slot.gate.pause().await;

        // 6. Changed links: each is deleted and put again with its new configuration. Links
        //    are independent of one another, so they are re-put concurrently: the pause lasts
        //    about one delete-and-put round trip, not one per link.
        let results = join_all(plan.changed.iter().zip(prepared).map(
            |((from, to), prepared)| async move {
                let _ = state.links.delete(spec.id(), from).await;
                self.pending(to).await;
                let outcome = match prepared {
                    Some(put) => state.links.send_put(put).await,
                    None => LinkOutcome::Established,
                };
                self.settle(to, outcome).await
            },
        ))
        .await;
        if let Some(reason) = results.iter().find_map(|r| r.as_ref().err()).cloned() {
            // Put every changed link back to its old configuration, resume on the old
            // revision, and remove the links this apply added.
            join_all(
                plan.changed
                    .iter()
                    .zip(&results)
                    .map(|((from, to), result)| async move {
                        if result.is_ok() {
                            let _ = state.links.delete(spec.id(), to).await;
                        }
                        self.restore(from).await;
                    }),
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
        for link in &plan.removed {
            let _ = state.links.delete(spec.id(), link).await;
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

    /// Puts the old configuration of a link back (best effort) and reports it.
    async fn restore(&self, link: &LinkSpec) {
        let state = self.state;
        let serving = self
            .slot
            .serving_spec()
            .map_or(self.spec.revision(), |s| s.revision());
        let status = match state
            .links
            .put(self.spec.id(), link, state.configs.as_ref())
            .await
        {
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

    /// Removes links this apply added, after a failure.
    async fn remove_links(&self, links: &[&LinkSpec]) {
        for link in links {
            let _ = self.state.links.delete(self.spec.id(), link).await;
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
    for link in spec.links() {
        let _ = state.links.delete(spec.id(), link).await;
    }
    state
        .transition(
            &slot,
            spec.revision(),
            ComponentStatus::new(ComponentState::Stopped),
        )
        .await;
    state.remove(&slot.id);
}
