//! The rollout engine: runs a plan step by step, gates each step on health, honours
//! deadlines, the failure budget and operator controls, rolls back automatically, and stores
//! its progress as it goes so a restarted scheduler continues where it was.

use crate::model::{AppName, AppRevision, Placement, ProviderPlacement};
use crate::plan::{Gate, OnFailure, Plan, RolloutOptions, Strategy, plan};
use crate::record::{
    Control, FailureCode, HostFailures, HostProgress, MoveTo as _, RolloutFailure, RolloutRecord,
};
use crate::store::{RolloutStore, StoreError};
use futures::future::{BoxFuture, join_all};
use futures::{StreamExt as _, TryStreamExt as _};
use lattice_artifact::{
    ArtifactFetcher, ComponentValidator, DefaultFetcher, FetchErrorKind, WasmComponentValidator,
    verify_pin,
};
use lattice_client::{Client, Discover, WaitError};
use lattice_spec::{ComponentSpec, HostId, ProviderSpec, Revision, WireMessage};
use lattice_status::{ComponentState, ProviderState, ReasonCode, RolloutState};
use std::{collections::BTreeMap, sync::Arc, time::Duration};
use tokio::time::Instant;

/// Suspends the reconcilers that would fight a rollout, and recreates them for the revision
/// that results.
pub trait Reconcilers: Send + Sync + 'static {
    /// Called before the first host is touched.
    fn suspend<'a>(&'a self, app: &'a AppName) -> BoxFuture<'a, ()>;
    /// Called when the rollout is over, with the revision now desired.
    fn resume<'a>(&'a self, app: &'a AppName, revision: Revision) -> BoxFuture<'a, ()>;
}

/// For schedulers without reconcilers.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoReconcilers;

impl Reconcilers for NoReconcilers {
    fn suspend<'a>(&'a self, _: &'a AppName) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }

    fn resume<'a>(&'a self, _: &'a AppName, _: Revision) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }
}

/// Why a rollout could not start or continue.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RolloutError {
    /// The store failed, or another rollout is in progress.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The plan could not be made (no host, or a guardrail refused the change).
    #[error(transparent)]
    Plan(#[from] crate::plan::PlanError),
    /// A spec is invalid.
    #[error(transparent)]
    Spec(#[from] lattice_spec::SpecErrors),
    /// Host discovery failed.
    #[error("cannot discover hosts")]
    Discover(#[source] lattice_client::DiscoverError),
    /// There is no rollout of the application to continue.
    #[error("no rollout of `{app}` is in progress")]
    NoRollout {
        /// The application.
        app: AppName,
    },
    /// There is no stable revision before the current one to undo to.
    #[error("`{app}` has no revision before {current:?} to undo to")]
    NoEarlierRevision {
        /// The application.
        app: AppName,
        /// The current stable revision, if any.
        current: Option<Revision>,
    },
    /// The revision to undo to is not in the stored history (it may have left the bounded
    /// history).
    #[error("revision {revision} of `{app}` is not in the stored history")]
    NotStored {
        /// The application.
        app: AppName,
        /// The revision.
        revision: Revision,
    },
    /// The subscription to a rollout's events could not be made (the connection is closed
    /// or the subject is not permitted).
    #[error("cannot subscribe to the rollout's events")]
    Subscribe(#[source] async_nats::SubscribeError),
    /// A named configuration a component uses could not be pinned (it does not exist, is
    /// not a JSON object of strings, or the bucket cannot be reached); no host was touched.
    #[error("cannot pin configuration `{name}` of `{component}`")]
    Config {
        /// The component.
        component: lattice_spec::ComponentId,
        /// The configuration.
        name: lattice_spec::ConfigName,
        /// Why.
        #[source]
        source: lattice_client::ConfigBucketError,
    },
    /// A named configuration a provider uses could not be pinned; no host was touched.
    #[error("cannot pin configuration `{name}` of provider `{provider}`")]
    ProviderConfig {
        /// The provider.
        provider: lattice_spec::ProviderId,
        /// The configuration.
        name: lattice_spec::ConfigName,
        /// Why.
        #[source]
        source: lattice_client::ConfigBucketError,
    },
    /// Pre-flight refused a component before any host was touched.
    #[error("pre-flight refused `{component}`")]
    Preflight {
        /// The component.
        component: lattice_spec::ComponentId,
        /// Why: the artifact cannot be fetched or does not match its pin, is not a component,
        /// or imports an interface none of its links provides.
        #[source]
        source: PreflightError,
    },
}

/// Why pre-flight refused an artifact.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PreflightError {
    /// The artifact could not be fetched, or does not match its digest pin.
    #[error(transparent)]
    Fetch(#[from] lattice_artifact::FetchError),
    /// The artifact is not a valid component, or imports an interface no link provides.
    #[error(transparent)]
    Validation(#[from] lattice_artifact::ValidationError),
}

/// Why pre-flight refused an artifact, as a value to `match` on: the fetcher's or the
/// validator's own kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PreflightErrorKind {
    /// See [`PreflightError::Fetch`].
    Fetch(lattice_artifact::FetchErrorKind),
    /// See [`PreflightError::Validation`].
    Validation(lattice_artifact::ValidationErrorKind),
}

impl PreflightError {
    /// The kind of failure.
    #[must_use]
    pub fn kind(&self) -> PreflightErrorKind {
        match self {
            Self::Fetch(e) => PreflightErrorKind::Fetch(e.kind()),
            Self::Validation(e) => PreflightErrorKind::Validation(e.kind()),
        }
    }
}

/// What went wrong starting or continuing a rollout, as a value to `match` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RolloutErrorKind {
    /// The store failed; see [`StoreErrorKind`](crate::StoreErrorKind).
    Store(crate::StoreErrorKind),
    /// No plan could be made: no host matches, or a guardrail refused the change.
    Plan,
    /// A spec is invalid.
    Spec,
    /// Host discovery failed; see [`DiscoverErrorKind`](lattice_client::DiscoverErrorKind).
    Discover(lattice_client::DiscoverErrorKind),
    /// There is nothing to continue or undo to.
    Nothing,
    /// Pre-flight refused an artifact.
    Preflight,
    /// A subscription could not be made.
    Subscribe,
    /// A named configuration could not be pinned; see
    /// [`ConfigBucketErrorKind`](lattice_client::ConfigBucketErrorKind).
    Config(lattice_client::ConfigBucketErrorKind),
}

impl RolloutErrorKind {
    /// Whether the same call may succeed if made again (a store timeout, a lost race, a
    /// discovery that could not be sent).
    #[must_use]
    pub fn is_retryable(self) -> bool {
        match self {
            Self::Store(kind) => kind.is_retryable(),
            Self::Discover(kind) => kind.is_retryable(),
            Self::Subscribe => true,
            Self::Config(kind) => kind == lattice_client::ConfigBucketErrorKind::Unavailable,
            Self::Plan | Self::Spec | Self::Nothing | Self::Preflight => false,
        }
    }
}

impl RolloutError {
    /// The kind of failure.
    #[must_use]
    pub fn kind(&self) -> RolloutErrorKind {
        match self {
            Self::Store(e) => RolloutErrorKind::Store(e.kind()),
            Self::Plan(_) => RolloutErrorKind::Plan,
            Self::Spec(_) => RolloutErrorKind::Spec,
            Self::Discover(e) => RolloutErrorKind::Discover(e.kind()),
            Self::NoRollout { .. } | Self::NoEarlierRevision { .. } | Self::NotStored { .. } => {
                RolloutErrorKind::Nothing
            }
            Self::Preflight { .. } => RolloutErrorKind::Preflight,
            Self::Subscribe(_) => RolloutErrorKind::Subscribe,
            Self::Config { source, .. } | Self::ProviderConfig { source, .. } => {
                RolloutErrorKind::Config(source.kind())
            }
        }
    }

    /// Whether the same call may succeed if made again; see
    /// [`RolloutErrorKind::is_retryable`].
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        self.kind().is_retryable()
    }
}

/// Runs rollouts of applications in one lattice.
#[derive(Clone)]
pub struct Scheduler {
    client: Client,
    store: RolloutStore,
    reconcilers: Arc<dyn Reconcilers>,
    discover: Discover,
    preflight: Option<(Arc<dyn ArtifactFetcher>, Arc<dyn ComponentValidator>)>,
    pinning: crate::pinning::ConfigPinning,
}

impl Scheduler {
    /// A scheduler driving hosts through `client`, storing state in `store`. A lattice with
    /// wasmCloud 1.x hosts needs a client with the 1.x fallback on
    /// ([`Client::with_v1_fallback`]); without it, such a host fails its step.
    #[must_use]
    pub fn new(client: Client, store: RolloutStore) -> Self {
        Self {
            client,
            store,
            reconcilers: Arc::new(NoReconcilers),
            discover: Discover::live(),
            preflight: Some((
                Arc::new(DefaultFetcher::new()),
                Arc::new(WasmComponentValidator::new()),
            )),
            pinning: crate::pinning::ConfigPinning::default(),
        }
    }

    /// Rolls specs out as written, without pinning their named configurations (see
    /// [`crate::pinning`]): hosts then read each name's value as it is when they apply, a
    /// rotated value is no change to roll out, and a rollback does not restore old content.
    #[must_use]
    pub fn without_config_pinning(mut self) -> Self {
        self.pinning.off = true;
        self
    }

    /// Pre-flight checks artifacts with `fetcher` and `validator` before any host is touched
    /// (default: local files from the working directory, OCI registries anonymously, and the
    /// wasmparser validator). Artifacts the fetcher does not support, or cannot reach or is
    /// not allowed to pull (the hosts may have the network and the credentials), are left to
    /// the hosts.
    #[must_use]
    pub fn with_preflight(
        mut self,
        fetcher: Arc<dyn ArtifactFetcher>,
        validator: Arc<dyn ComponentValidator>,
    ) -> Self {
        self.preflight = Some((fetcher, validator));
        self
    }

    /// Skips the artifact pre-flight (specs are still validated).
    #[must_use]
    pub fn without_preflight(mut self) -> Self {
        self.preflight = None;
        self
    }

    /// Fetches every new artifact and validates it as a component whose imports its links
    /// cover, before any host is touched.
    async fn check_artifacts(&self, revision: &AppRevision) -> Result<(), RolloutError> {
        let Some((fetcher, validator)) = &self.preflight else {
            return Ok(());
        };
        for placement in &revision.components {
            let spec = &placement.spec;
            let refuse = |source: PreflightError| RolloutError::Preflight {
                component: spec.id().clone(),
                source,
            };
            let bytes = match fetcher.fetch(spec.artifact()).await {
                Ok(bytes) => bytes,
                // What the scheduler cannot reach, the hosts may (their own network, their
                // registry credentials): left to them. What it did fetch, it checks.
                Err(e)
                    if matches!(
                        e.kind(),
                        FetchErrorKind::Unsupported
                            | FetchErrorKind::Unauthorized
                            | FetchErrorKind::Unreachable
                            | FetchErrorKind::TimedOut
                    ) =>
                {
                    tracing::info!(component = %spec.id(), error = %e, "pre-flight cannot fetch this artifact; the hosts will check it");
                    continue;
                }
                Err(e) => return Err(refuse(e.into())),
            };
            if let Some(pin) = spec.digest_pin() {
                verify_pin(&bytes, pin).map_err(|e| refuse(e.into()))?;
            }
            validator
                .validate(&bytes, spec)
                .map_err(|e| refuse(e.into()))?;
        }
        Ok(())
    }

    /// Uses `reconcilers` to suspend and recreate reconcilers around each rollout.
    #[must_use]
    pub fn with_reconcilers(mut self, reconcilers: Arc<dyn Reconcilers>) -> Self {
        self.reconcilers = reconcilers;
        self
    }

    /// Discovers hosts with `discover` (default [`Discover::live`]: every host the host
    /// directory lists as live, returned as soon as they answered; for example, expecting a
    /// known number of hosts instead).
    #[must_use]
    pub fn with_discovery(mut self, discover: Discover) -> Self {
        self.discover = discover;
        self
    }

    /// The client it drives hosts (and publishes events) through.
    #[must_use]
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The store.
    #[must_use]
    pub fn store(&self) -> &RolloutStore {
        &self.store
    }

    /// Stamps the rollout's progress with now, stores it and publishes it as a status event
    /// (best effort: the store is the source of truth).
    async fn save(&self, record: &mut RolloutRecord) -> Result<(), StoreError> {
        record.updated_ms = crate::record::now_ms();
        self.store.save(record).await?;
        let event = lattice_ctl::RolloutStatusEvent::new(
            self.client.lattice().clone(),
            record.app.clone(),
            record.updated_ms,
            record.clone(),
        );
        match event.encode() {
            Ok(payload) => {
                let subject = event.subject().to_string();
                if let Err(error) = self.client.nats().publish(subject, payload).await {
                    tracing::warn!(%error, "cannot publish a rollout status event");
                }
            }
            Err(error) => tracing::error!(%error, "cannot encode a rollout status event"),
        }
        Ok(())
    }

    async fn hosts(&self) -> Result<Vec<(HostId, BTreeMap<String, String>)>, RolloutError> {
        // Every live host the directory lists must answer: one that does not is reported
        // (`DiscoverError::Unanswered`), never silently left out of the plan.
        let summaries = self
            .client
            .discover(self.discover)
            .await
            .and_then(lattice_client::Discovery::into_complete)
            .map_err(RolloutError::Discover)?;
        Ok(summaries
            .into_iter()
            .map(|s| (s.host_id, s.labels))
            .collect())
    }

    /// Computes the plan of rolling `components` out as the next revision of `app`, without
    /// touching anything (a dry run).
    ///
    /// # Errors
    ///
    /// [`RolloutError`]: invalid specs, no matching host, a guardrail refusal, or the store.
    pub async fn plan(
        &self,
        app: &AppName,
        components: Vec<Placement>,
        strategy: &Strategy,
        options: &RolloutOptions,
    ) -> Result<Plan, RolloutError> {
        self.plan_with_providers(app, components, Vec::new(), strategy, options)
            .await
    }

    /// As [`Scheduler::plan`], for an application with capability providers: each host's
    /// providers are applied, and running, before its components.
    ///
    /// # Errors
    ///
    /// As [`Scheduler::plan`].
    pub async fn plan_with_providers(
        &self,
        app: &AppName,
        components: Vec<Placement>,
        providers: Vec<ProviderPlacement>,
        strategy: &Strategy,
        options: &RolloutOptions,
    ) -> Result<Plan, RolloutError> {
        let (stable, next) = self.revisions(app, components, providers).await?;
        let plan = plan(
            stable.as_ref(),
            &next,
            &self.hosts().await?,
            strategy,
            options,
        )?;
        self.check_artifacts(&next).await?;
        Ok(plan)
    }

    async fn revisions(
        &self,
        app: &AppName,
        components: Vec<Placement>,
        providers: Vec<ProviderPlacement>,
    ) -> Result<(Option<AppRevision>, AppRevision), RolloutError> {
        let stable = match self.store.stable(app).await? {
            Some(revision) => self.store.revision(app, revision).await?,
            None => None,
        };
        // Named configurations are pinned to their content now, so the stored revision holds
        // what it runs with and a rollback restores it.
        let components = self.pinning.pin(&self.client, components).await?;
        let providers = self.pinning.pin_providers(&self.client, providers).await?;
        let next = AppRevision::new(
            app.clone(),
            self.store.next_revision(app).await?,
            components,
        )?
        .with_providers(providers)?;
        Ok((stable, next))
    }

    /// Starts a rollout of `components` as the next revision of `app` and runs it to the end.
    /// Everything that can refuse it (invalid specs, guardrails, a rollout already in
    /// progress) does so before any host is touched.
    ///
    /// # Errors
    ///
    /// [`RolloutError`] when it cannot start; a rollout that starts and fails is not an error:
    /// the returned record says `rolled_back` or `failed`, with the reason.
    pub async fn rollout(
        &self,
        app: &AppName,
        components: Vec<Placement>,
        strategy: Strategy,
        options: RolloutOptions,
    ) -> Result<RolloutRecord, RolloutError> {
        self.rollout_with_providers(app, components, Vec::new(), strategy, options)
            .await
    }

    /// As [`Scheduler::rollout`], for an application with capability providers (a manifest's
    /// `providers`). On each host the step applies the providers first and waits for each to
    /// be running at the new revision, then applies the components; what the stable revision
    /// had and this one drops is removed after, components before providers. A rollback
    /// restores both in the same safe order: the stable revision's providers running again,
    /// then its components, then providers new in the failed revision deleted.
    ///
    /// # Errors
    ///
    /// As [`Scheduler::rollout`].
    pub async fn rollout_with_providers(
        &self,
        app: &AppName,
        components: Vec<Placement>,
        providers: Vec<ProviderPlacement>,
        strategy: Strategy,
        options: RolloutOptions,
    ) -> Result<RolloutRecord, RolloutError> {
        let (stable, next) = self.revisions(app, components, providers).await?;
        let plan = plan(
            stable.as_ref(),
            &next,
            &self.hosts().await?,
            &strategy,
            &options,
        )?;
        self.check_artifacts(&next).await?;
        let record = RolloutRecord::new(app.clone(), strategy, options, plan);
        self.store.begin(&record).await?;
        self.store.put_revision(&next).await?;
        self.store.set_desired(app, next.revision).await?;
        self.reconcilers.suspend(app).await;
        Ok(self.drive(record).await?)
    }

    /// Rolls `app` back to stored revision `to` (by default the revision that was stable
    /// before the current stable one) as a new revision, with `strategy`.
    ///
    /// # Errors
    ///
    /// [`RolloutError::NoEarlierRevision`] when no stable revision precedes the current one,
    /// [`RolloutError::NotStored`] when the revision is not stored (it may have left the
    /// bounded history), or any error of [`Scheduler::rollout`].
    pub async fn undo(
        &self,
        app: &AppName,
        to: Option<Revision>,
        strategy: Strategy,
        options: RolloutOptions,
    ) -> Result<RolloutRecord, RolloutError> {
        let to = match to {
            Some(to) => to,
            None => {
                let current = self.store.stable(app).await?;
                // The newest revision that was stable before the current stable one.
                let history = self.store.stable_history(app).await?;
                history
                    .into_iter()
                    .rev()
                    .find(|r| Some(*r) < current)
                    .ok_or_else(|| RolloutError::NoEarlierRevision {
                        app: app.clone(),
                        current,
                    })?
            }
        };
        let revision =
            self.store
                .revision(app, to)
                .await?
                .ok_or_else(|| RolloutError::NotStored {
                    app: app.clone(),
                    revision: to,
                })?;
        self.rollout_with_providers(
            app,
            revision.components,
            revision.providers,
            strategy,
            options,
        )
        .await
    }

    /// Continues the rollout of `app` stored by a scheduler that stopped mid-way: it finishes
    /// the plan, or finishes rolling back, from what was stored.
    ///
    /// # Errors
    ///
    /// [`RolloutError::NoRollout`] when no rollout of `app` is in progress.
    pub async fn recover(&self, app: &AppName) -> Result<RolloutRecord, RolloutError> {
        match self.store.rollout(app).await? {
            Some((record, _)) if !record.is_finished() => Ok(self.drive(record).await?),
            _ => Err(RolloutError::NoRollout { app: app.clone() }),
        }
    }

    async fn drive(&self, mut record: RolloutRecord) -> Result<RolloutRecord, StoreError> {
        let target = self
            .store
            .revision(&record.app, record.plan.to)
            .await?
            .ok_or_else(|| StoreError::MissingRevision {
                app: record.app.clone(),
                revision: record.plan.to,
            })?;
        if record.state == RolloutState::RollingBack {
            return self.roll_back(record).await;
        }
        if record.state == RolloutState::Pending {
            record.move_to(RolloutState::Progressing);
            self.save(&mut record).await?;
        }
        let deadline = Instant::now() + record.options.progress_deadline;
        while record.next_step < record.plan.steps.len() {
            match self.store.control(&record.app).await? {
                Some((Control::Abort, _)) => return self.fail(record, aborted()).await,
                Some((Control::Pause, revision)) if revision > record.control_seen => {
                    record.control_seen = revision;
                    if !self.hold(&mut record).await? {
                        return self.fail(record, aborted()).await;
                    }
                }
                _ => {}
            }
            let step = record.plan.steps[record.next_step].clone();
            for host in &step.hosts {
                record.hosts.insert(host.clone(), HostProgress::Applying);
            }
            self.save(&mut record).await?;
            let remaining = deadline.saturating_duration_since(Instant::now());
            let applies = step
                .hosts
                .iter()
                .map(|host| self.apply_host(&target, &record.plan, host, &record.options));
            let results = tokio::time::timeout(remaining, join_all(applies)).await;
            let Ok(results) = results else {
                return self
                    .fail(
                        record,
                        failure(
                            FailureCode::Deadline,
                            None,
                            "the rollout's progress deadline passed",
                        ),
                    )
                    .await;
            };
            let mut first_failure = None;
            for (host, result) in step.hosts.iter().zip(results) {
                let progress = if result.is_ok() {
                    HostProgress::Running
                } else {
                    HostProgress::Failed
                };
                record.hosts.insert(host.clone(), progress);
                if let Err(failure) = result {
                    HostFailures::add(&mut record.host_failures, host.clone(), &failure);
                    first_failure.get_or_insert(failure);
                }
            }
            self.save(&mut record).await?;
            let failed = record
                .hosts
                .values()
                .filter(|p| **p == HostProgress::Failed)
                .count();
            if failed > record.options.failure_budget
                && let Some(failure) = first_failure
            {
                return self.fail(record, failure).await;
            }
            if let Err(failure) = self
                .health_gate(&target, &record.plan, &step.hosts, &record.options)
                .await
            {
                return self.fail(record, failure).await;
            }
            match step.gate {
                Gate::Healthy => {}
                Gate::HealthyThenPause(pause) => tokio::time::sleep(pause).await,
                // A gate of a newer scheduler (recovered by this one) waits for an operator:
                // the safe reading of a condition this version cannot check.
                _ => {
                    if !self.hold(&mut record).await? {
                        return self.fail(record, aborted()).await;
                    }
                }
            }
            record.next_step += 1;
            self.save(&mut record).await?;
        }
        record.move_to(RolloutState::Succeeded);
        self.save(&mut record).await?;
        self.store.set_stable(&record.app, record.plan.to).await?;
        self.reconcilers.resume(&record.app, record.plan.to).await;
        Ok(record)
    }

    /// Holds the rollout `paused` until an operator resumes or promotes it (`true`) or aborts
    /// it (`false`). Commands are read from the store after the last one this rollout acted
    /// on, so one sent while no scheduler was running still counts.
    async fn hold(&self, record: &mut RolloutRecord) -> Result<bool, StoreError> {
        record.move_to(RolloutState::Paused);
        self.save(record).await?;
        loop {
            let (control, revision) = self
                .store
                .next_control(&record.app, record.control_seen)
                .await?;
            record.control_seen = revision;
            match control {
                Control::Resume | Control::Promote => break,
                Control::Abort => return Ok(false),
                _ => {}
            }
        }
        record.move_to(RolloutState::Progressing);
        self.save(record).await?;
        Ok(true)
    }

    /// Applies every provider of `target` placed on `host` and follows it to running, then
    /// every component, then removes what the plan removes from the host (components before
    /// providers).
    async fn apply_host(
        &self,
        target: &AppRevision,
        plan: &Plan,
        host: &HostId,
        options: &RolloutOptions,
    ) -> Result<(), RolloutFailure> {
        for spec in providers_on(target, plan, host) {
            self.apply_provider_and_wait(host, spec, options.per_host_deadline)
                .await?;
        }
        self.apply_components(target, plan, host, options).await?;
        if let Some(removal) = plan.removals.get(host) {
            for component in &removal.components {
                self.client.delete(host, component).await.map_err(|e| {
                    RolloutFailure::new(
                        FailureCode::Host,
                        format!("cannot remove `{component}`, which the new revision drops: {e}"),
                    )
                    .on_host(host.clone())
                    .component(component.clone())
                })?;
            }
            for provider in &removal.providers {
                self.client
                    .delete_provider(host, provider)
                    .await
                    .map_err(|e| {
                        RolloutFailure::new(
                            FailureCode::Host,
                            format!(
                                "cannot remove provider `{provider}`, which the new revision drops: {e}"
                            ),
                        )
                        .on_host(host.clone())
                        .provider(provider.clone())
                    })?;
            }
        }
        Ok(())
    }

    /// Applies a provider spec on `host` and waits until the host runs it at the spec's
    /// revision (healthy), failing early when the host reports that revision failed.
    async fn apply_provider_and_wait(
        &self,
        host: &HostId,
        spec: &ProviderSpec,
        deadline: Duration,
    ) -> Result<(), RolloutFailure> {
        let fail = |code: FailureCode, message: String| {
            RolloutFailure::new(code, message)
                .on_host(host.clone())
                .provider(spec.id().clone())
        };
        let api = self.client.host(host);
        let revision = spec.revision();
        let waited = tokio::time::timeout(deadline, async {
            let ack = api.apply_provider(spec).await.map_err(|e| {
                fail(
                    FailureCode::Host,
                    format!("cannot apply provider `{}`: {e}", spec.id()),
                )
            })?;
            if let lattice_ctl::ApplyOutcome::Rejected(rejection) = &ack.outcome {
                return Err(fail(
                    FailureCode::Host,
                    format!(
                        "the host rejected provider `{}` revision {revision}: {}",
                        spec.id(),
                        rejection.message
                    ),
                ));
            }
            let entry = api
                .wait_for_provider(spec.id(), |p| {
                    p.is_some_and(|p| provider_running(p, revision) || provider_failed(p, revision))
                })
                .await
                .map_err(|e| {
                    fail(
                        FailureCode::Host,
                        format!("cannot follow provider `{}`: {e}", spec.id()),
                    )
                })?;
            match entry {
                Some(entry) if provider_running(&entry, revision) => Ok(()),
                entry => {
                    let reason = entry.and_then(|e| e.status.reason);
                    let code = match reason.as_ref().map(|r| r.code) {
                        Some(ReasonCode::FetchFailed) => FailureCode::Artifact,
                        _ => FailureCode::Host,
                    };
                    let message = format!(
                        "provider `{}` revision {revision} did not start: {}",
                        spec.id(),
                        reason
                            .as_ref()
                            .map_or("no reason given", |r| r.message.as_str())
                    );
                    let mut failure = fail(code, message);
                    if let Some(reason) = reason {
                        failure = failure.reason(reason);
                    }
                    Err(failure)
                }
            }
        })
        .await;
        match waited {
            Ok(result) => result,
            Err(_) => Err(fail(
                FailureCode::Deadline,
                format!(
                    "provider `{}` was not running revision {revision} within {deadline:?}",
                    spec.id()
                ),
            )),
        }
    }

    /// Applies every component of `target` placed on `host` and follows it to running.
    async fn apply_components(
        &self,
        target: &AppRevision,
        plan: &Plan,
        host: &HostId,
        options: &RolloutOptions,
    ) -> Result<(), RolloutFailure> {
        for spec in specs_on(target, plan, host) {
            // A host that cannot be reached right now (reconnecting to a restarted NATS
            // server, or restarted itself and back without the component) is asked again
            // until the per-host deadline: applying the same spec twice changes nothing.
            let deadline = Instant::now() + options.per_host_deadline;
            loop {
                let remaining = deadline.saturating_duration_since(Instant::now());
                match self.client.apply_and_wait(host, spec, remaining).await {
                    Ok(_) => break,
                    Err(error)
                        if error.is_retryable()
                            && deadline.saturating_duration_since(Instant::now())
                                > READ_AGAIN_AFTER =>
                    {
                        tracing::debug!(%host, component = %spec.id(), %error, "applying again");
                        tokio::time::sleep(READ_AGAIN_AFTER).await;
                    }
                    Err(error) => return Err(host_failure(host, spec, &error)),
                }
            }
        }
        Ok(())
    }

    /// Each host of the step must still run the new revision after the minimum healthy time.
    /// A read that fails retryably (no responders while the host reconnects to a restarted
    /// NATS server, a timeout) is made again until `per_host_deadline` passes: it says
    /// nothing of the host's health yet.
    async fn health_gate(
        &self,
        target: &AppRevision,
        plan: &Plan,
        hosts: &[HostId],
        options: &RolloutOptions,
    ) -> Result<(), RolloutFailure> {
        tokio::time::sleep(options.min_healthy).await;
        // The step's hosts are read concurrently (a step is at most `max_parallel` hosts, as
        // many as were just applied at once); the first unhealthy host fails the gate.
        futures::stream::iter(hosts.iter().map(Ok))
            .try_for_each_concurrent(None, |host| self.gate_host(target, plan, host, options))
            .await
    }

    /// The health gate on one host: every provider and component of `target` placed there
    /// runs the target's revision.
    async fn gate_host(
        &self,
        target: &AppRevision,
        plan: &Plan,
        host: &HostId,
        options: &RolloutOptions,
    ) -> Result<(), RolloutFailure> {
        let unhealthy = |message: String| {
            RolloutFailure::new(FailureCode::HealthGate, message).on_host(host.clone())
        };
        let not_running = |what: String, revision| {
            unhealthy(format!(
                "{what} is not running revision {revision} after {:?}",
                options.min_healthy
            ))
        };
        for spec in providers_on(target, plan, host) {
            let api = self.client.host(host);
            let entry = read_patiently(options.per_host_deadline, || api.provider(spec.id()))
                .await
                .map_err(|e| {
                    unhealthy(format!("cannot read the inventory: {e}")).provider(spec.id().clone())
                })?;
            if !entry.is_some_and(|p| provider_running(&p, spec.revision())) {
                return Err(
                    not_running(format!("provider `{}`", spec.id()), spec.revision())
                        .provider(spec.id().clone()),
                );
            }
        }
        for spec in specs_on(target, plan, host) {
            // Read from whichever inventory the host speaks (1.x hosts included).
            let serving = read_patiently(options.per_host_deadline, || {
                self.client.serving_revision(host, spec.id())
            })
            .await
            .map_err(|e| {
                unhealthy(format!("cannot read the inventory: {e}")).component(spec.id().clone())
            })?;
            let healthy = serving.is_some_and(|(revision, state)| {
                revision == spec.revision() && state == ComponentState::Running
            });
            if !healthy {
                return Err(not_running(format!("`{}`", spec.id()), spec.revision())
                    .component(spec.id().clone()));
            }
        }
        Ok(())
    }

    async fn fail(
        &self,
        mut record: RolloutRecord,
        failure: RolloutFailure,
    ) -> Result<RolloutRecord, StoreError> {
        tracing::warn!(app = %record.app, code = %failure.code, message = %failure.message, "rollout failed");
        // A host the health gate failed is listed with the hosts whose upgrade failed.
        if let Some(host) = &failure.host
            && !record.host_failures.iter().any(|g| g.hosts.contains(host))
        {
            HostFailures::add(&mut record.host_failures, host.clone(), &failure);
        }
        record.failure = Some(failure);
        match record.options.on_failure {
            OnFailure::Freeze => {
                record.move_to(RolloutState::Failed);
                self.save(&mut record).await?;
                self.reconcilers.resume(&record.app, record.plan.to).await;
                Ok(record)
            }
            _ => {
                record.move_to(RolloutState::RollingBack);
                self.save(&mut record).await?;
                self.roll_back(record).await
            }
        }
    }

    /// Applies the last stable revision (content, configuration and links) as a new revision
    /// to every host the rollout touched, and makes it the desired revision.
    async fn roll_back(&self, mut record: RolloutRecord) -> Result<RolloutRecord, StoreError> {
        let app = record.app.clone();
        let stable = match record.plan.from {
            Some(from) => self.store.revision(&app, from).await?,
            None => None,
        };
        let touched: Vec<HostId> = record
            .hosts
            .iter()
            .filter(|(_, p)| **p != HostProgress::Pending && **p != HostProgress::RolledBack)
            .map(|(h, _)| h.clone())
            .collect();
        let restored = match (&stable, record.rollback_revision) {
            (Some(_), Some(revision)) => self.store.revision(&app, revision).await?,
            (Some(stable), None) => {
                let revision = self.store.next_revision(&app).await?;
                let restored =
                    stable
                        .restored_as(revision)
                        .map_err(|source| StoreError::Invalid {
                            app: app.clone(),
                            revision: stable.revision,
                            source,
                        })?;
                self.store.put_revision(&restored).await?;
                record.rollback_revision = Some(revision);
                self.save(&mut record).await?;
                Some(restored)
            }
            (None, _) => None,
        };
        // A recovered rollback tries every host not restored yet again: the failures of an
        // earlier attempt are its own.
        record.rollback_failures.clear();
        let plan = record.plan.clone();
        let deadline = record.options.rollback_per_host_deadline;
        let bound = record.options.rollback_max_parallel.get();
        // Hosts are restored `bound` at a time, each within its deadline, so a host that does
        // not answer holds one slot for at most that long and never the others.
        let mut restores = futures::stream::iter(touched)
            .map(|host| {
                let (plan, restored) = (&plan, restored.as_ref());
                async move {
                    // A host that fails only for a transient reason (a request timed out under
                    // load, a host reconnecting) is tried again, within its deadline.
                    let mut last: Option<RolloutFailure> = None;
                    let attempts = async {
                        let mut pause = Duration::from_millis(100);
                        loop {
                            match self.restore_host(&host, plan, restored, deadline).await {
                                Ok(()) => return Ok(()),
                                Err((failure, true)) => {
                                    tracing::debug!(host = %host, message = %failure.message, "rollback tries a host again");
                                    last = Some(failure);
                                    tokio::time::sleep(pause).await;
                                    pause = (pause * 2).min(Duration::from_secs(2));
                                }
                                Err((failure, false)) => return Err(failure),
                            }
                        }
                    };
                    let result = match tokio::time::timeout(deadline, attempts).await {
                        Ok(result) => result,
                        Err(_) => Err(match last {
                            Some(mut failure) => {
                                failure.message = format!(
                                    "not back on the stable revision within {deadline:?}: {}",
                                    failure.message
                                );
                                failure
                            }
                            None => RolloutFailure::new(
                                FailureCode::Deadline,
                                format!("not back on the stable revision within {deadline:?}"),
                            )
                            .on_host(host.clone()),
                        }),
                    };
                    (host, result)
                }
            })
            .buffer_unordered(bound);
        // Progress is stored in batches, not after each host: after every `bound` hosts, and
        // every `ROLLBACK_SAVE_EVERY` while hosts are still out (so the record shows the hosts
        // restored while one is slow). A scheduler that stops in between restores the unsaved
        // hosts again when recovered (the same spec applied again changes nothing on a host).
        let mut all_back = true;
        let mut unsaved = 0_usize;
        let mut ticks = tokio::time::interval(ROLLBACK_SAVE_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.reset();
        loop {
            let finished = tokio::select! {
                finished = restores.next() => finished,
                _ = ticks.tick() => {
                    if unsaved > 0 {
                        self.save(&mut record).await?;
                        unsaved = 0;
                    }
                    continue;
                }
            };
            let Some((host, result)) = finished else {
                break;
            };
            match result {
                Ok(()) => {
                    record.hosts.insert(host, HostProgress::RolledBack);
                }
                Err(failure) => {
                    tracing::warn!(host = %host, code = %failure.code, message = %failure.message, "rollback cannot restore a host");
                    all_back = false;
                    HostFailures::add(&mut record.rollback_failures, host, &failure);
                }
            }
            unsaved += 1;
            if unsaved >= bound {
                self.save(&mut record).await?;
                unsaved = 0;
                ticks.reset();
            }
        }
        drop(restores);
        let aborted = record
            .failure
            .as_ref()
            .is_some_and(|f| f.code == FailureCode::Aborted);
        record.move_to(match (all_back, aborted) {
            (false, _) => RolloutState::Failed,
            (true, true) => RolloutState::Aborted,
            (true, false) => RolloutState::RolledBack,
        });
        if let Some(restored) = &restored {
            self.store.set_desired(&app, restored.revision).await?;
            self.store.set_stable(&app, restored.revision).await?;
        }
        self.save(&mut record).await?;
        let desired = restored.as_ref().map_or(record.plan.to, |r| r.revision);
        self.reconcilers.resume(&app, desired).await;
        Ok(record)
    }

    /// Puts `host` back on `restored` (the stable revision as a new revision): the providers
    /// the failed revision changed or removed there running again, then the components it
    /// removed or changed, then what it added deleted. With no stable revision, what the
    /// failed revision placed on the host is removed. Every part is tried; the first failure
    /// is returned, with whether every failure was transient (a timeout, no responders, a
    /// lost connection), so trying the host again may succeed.
    async fn restore_host(
        &self,
        host: &HostId,
        plan: &Plan,
        restored: Option<&AppRevision>,
        deadline: Duration,
    ) -> Result<(), (RolloutFailure, bool)> {
        let mut first: Option<RolloutFailure> = None;
        let mut transient = true;
        let mut note = |result: Result<(), RolloutFailure>, retryable: bool| {
            if let Err(failure) = result {
                transient &= retryable;
                first.get_or_insert(failure);
            }
        };
        let request_failed = |what: String| {
            move |e: lattice_client::RequestError| {
                let retryable = e.kind().is_retryable();
                (
                    RolloutFailure::new(FailureCode::Host, format!("{what}: {e}"))
                        .on_host(host.clone()),
                    retryable,
                )
            }
        };
        let delete = async |component: &lattice_spec::ComponentId| {
            self.client
                .delete(host, component)
                .await
                .map(drop)
                .map_err(request_failed(format!(
                    "cannot delete `{component}`, new in the failed revision"
                )))
                .map_err(|(f, r)| (f.component(component.clone()), r))
        };
        let delete_provider = async |provider: &lattice_spec::ProviderId| {
            self.client
                .delete_provider(host, provider)
                .await
                .map(drop)
                .map_err(request_failed(format!(
                    "cannot delete provider `{provider}`, new in the failed revision"
                )))
                .map_err(|(f, r)| (f.provider(provider.clone()), r))
        };
        let split = |result: Result<(), (RolloutFailure, bool)>| match result {
            Ok(()) => (Ok(()), true),
            Err((failure, retryable)) => (Err(failure), retryable),
        };
        let new_providers = plan.providers.get(host);
        let Some(restored) = restored else {
            // No stable revision: the components, then the providers, are removed.
            for component in plan.targets.get(host).into_iter().flatten() {
                let (result, retryable) = split(delete(component).await);
                note(result, retryable);
            }
            for provider in new_providers.into_iter().flatten() {
                let (result, retryable) = split(delete_provider(provider).await);
                note(result, retryable);
            }
            return match first {
                Some(failure) => Err((failure, transient)),
                None => Ok(()),
            };
        };
        let removal = plan.removals.get(host);
        // Providers first: the stable revision's providers on this host (the ones the failed
        // revision changed, or removed) running again before the components that link to
        // them are restored.
        let providers = new_providers
            .into_iter()
            .flatten()
            .chain(removal.into_iter().flat_map(|r| &r.providers));
        for provider in providers {
            if let Some(placement) = restored.provider(provider) {
                note(
                    self.apply_provider_and_wait(host, &placement.spec, deadline)
                        .await,
                    false,
                );
            }
        }
        // Components the failed revision removed from this host come back, and the ones it
        // changed go back.
        let components = removal
            .into_iter()
            .flat_map(|r| &r.components)
            .chain(plan.targets.get(host).into_iter().flatten());
        for component in components {
            let (result, retryable) = match restored.component(component) {
                Some(placement) => {
                    match self
                        .client
                        .apply_and_wait(host, &placement.spec, deadline)
                        .await
                    {
                        Ok(_) => (Ok(()), true),
                        Err(e) => (
                            Err(host_failure(host, &placement.spec, &e)),
                            e.kind().is_retryable(),
                        ),
                    }
                }
                // New in the failed revision: not part of the stable one.
                None => split(delete(component).await),
            };
            note(result, retryable);
        }
        // Providers new in the failed revision go last, after the components that could link
        // to them.
        for provider in new_providers.into_iter().flatten() {
            if restored.provider(provider).is_none() {
                let (result, retryable) = split(delete_provider(provider).await);
                note(result, retryable);
            }
        }
        match first {
            Some(failure) => Err((failure, transient)),
            None => Ok(()),
        }
    }
}

/// How often, at least, a rollback stores its progress while hosts finish.
const ROLLBACK_SAVE_EVERY: Duration = Duration::from_millis(500);

/// The subject a rollout's status events are published on
/// ([`lattice_ctl::RolloutSubject`]: `wasmbus.status.v2alpha1.{lattice}.rollout.{app}`), each a
/// [`lattice_ctl::RolloutStatusEvent`] carrying the whole [`RolloutRecord`].
#[must_use]
pub fn event_subject(lattice: &lattice_spec::LatticeName, app: &AppName) -> String {
    lattice_ctl::RolloutSubject::new(lattice.clone(), app.clone()).to_string()
}

/// The specs of `revision` that the plan placed on `host`.
fn specs_on<'a>(revision: &'a AppRevision, plan: &Plan, host: &HostId) -> Vec<&'a ComponentSpec> {
    let placed = plan
        .targets
        .get(host)
        .map(Vec::as_slice)
        .unwrap_or_default();
    revision
        .components
        .iter()
        .map(|p| &p.spec)
        .filter(|spec| placed.contains(spec.id()))
        .collect()
}

/// The provider specs of `revision` that the plan placed on `host`, in manifest order.
fn providers_on<'a>(
    revision: &'a AppRevision,
    plan: &Plan,
    host: &HostId,
) -> Vec<&'a ProviderSpec> {
    let placed = plan
        .providers
        .get(host)
        .map(Vec::as_slice)
        .unwrap_or_default();
    revision
        .providers
        .iter()
        .map(|p| &p.spec)
        .filter(|spec| placed.contains(spec.id()))
        .collect()
}

/// The host runs the provider at `revision`, healthy.
fn provider_running(entry: &lattice_ctl::ProviderInventory, revision: Revision) -> bool {
    entry.revision == Some(revision) && entry.status.state == ProviderState::Running
}

/// The host reports that `revision` of the provider failed: it is `failed` at that revision,
/// or it keeps an older revision serving with a reason about this one (the host's reasons for
/// a revision that did not start begin `revision N:`).
fn provider_failed(entry: &lattice_ctl::ProviderInventory, revision: Revision) -> bool {
    let about_revision = entry
        .status
        .reason
        .as_ref()
        .is_some_and(|r| r.message.starts_with(&format!("revision {revision}:")));
    (entry.status.state == ProviderState::Failed && entry.revision == Some(revision))
        || (entry.revision != Some(revision) && about_revision)
}

fn aborted() -> RolloutFailure {
    failure(FailureCode::Aborted, None, "aborted by an operator")
}

fn failure(code: FailureCode, host: Option<HostId>, message: &str) -> RolloutFailure {
    let failure = RolloutFailure::new(code, message);
    match host {
        Some(host) => failure.on_host(host),
        None => failure,
    }
}

fn host_failure(host: &HostId, spec: &ComponentSpec, error: &WaitError) -> RolloutFailure {
    let (code, reason, link) = match error {
        WaitError::Failed { reason, .. } => {
            let code = match reason.code {
                ReasonCode::FetchFailed | ReasonCode::FetchTimeout => FailureCode::Artifact,
                ReasonCode::InvalidArtifact
                | ReasonCode::UnsatisfiedImports
                | ReasonCode::ValidateTimeout => FailureCode::Validation,
                ReasonCode::LinkRefused | ReasonCode::LinkUnacknowledged => {
                    FailureCode::LinkRefused
                }
                ReasonCode::DeadlineExceeded
                | ReasonCode::InstantiateTimeout
                | ReasonCode::DrainTimeout => FailureCode::Deadline,
                _ => FailureCode::Host,
            };
            let link = match (&reason.link_name, &reason.provider_id) {
                (Some(name), Some(provider)) => name.parse().ok().zip(provider.parse().ok()),
                _ => None,
            };
            (code, Some(reason.clone()), link)
        }
        WaitError::DeadlineExceeded { .. } => (FailureCode::Deadline, None, None),
        _ => (FailureCode::Host, None, None),
    };
    let mut failure = RolloutFailure::new(code, error.to_string())
        .on_host(host.clone())
        .component(spec.id().clone());
    if let Some((name, provider)) = link {
        failure = failure.link(name, provider);
    }
    if let Some(reason) = reason {
        failure = failure.reason(reason);
    }
    failure
}

/// The time a rollout has been waiting, for status displays.
#[must_use]
pub fn elapsed(record: &RolloutRecord) -> Duration {
    Duration::from_millis(record.updated_ms.saturating_sub(record.started_ms))
}

/// How long a patient read waits before it asks again.
const READ_AGAIN_AFTER: Duration = Duration::from_millis(100);

/// Calls `read` until it succeeds, fails with an error that is not retryable, or `bound` has
/// passed (then with its last error). A host reconnecting to NATS after a server restart
/// answers "no responders" for a moment: a read that fails so is no verdict on the host.
async fn read_patiently<T, E, F>(bound: Duration, mut read: impl FnMut() -> F) -> Result<T, E>
where
    F: std::future::Future<Output = Result<T, E>>,
    E: Retryable,
{
    let deadline = Instant::now() + bound;
    loop {
        match read().await {
            Err(e) if e.is_retryable() && Instant::now() + READ_AGAIN_AFTER < deadline => {
                tracing::debug!("a read failed retryably; reading again");
                tokio::time::sleep(READ_AGAIN_AFTER).await;
            }
            done => return done,
        }
    }
}

/// An error that says whether the same request may succeed if made again.
trait Retryable {
    fn is_retryable(&self) -> bool;
}

impl Retryable for lattice_client::RequestError {
    fn is_retryable(&self) -> bool {
        lattice_client::RequestError::is_retryable(self)
    }
}

impl Retryable for lattice_client::ApplyError {
    fn is_retryable(&self) -> bool {
        lattice_client::ApplyError::is_retryable(self)
    }
}
