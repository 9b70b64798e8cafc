//! What a host knows: its components, their revisions and links, and the status events it
//! publishes on every transition.
//!
//! Locks here are `std` mutexes held for a few field updates and never across an `.await`;
//! the only async lock is each component's apply lock, which serialises applies of one
//! component and is never touched by the invocation path.

use crate::{
    config::{ConfigStore, HostConfig},
    gate::InvocationGate,
    links::LinkRequests,
    runtime::{ComponentRuntime, ExportedFunction},
};
use lattice_artifact::{ArtifactFetcher, ComponentValidator};
use lattice_ctl::{
    ApplyOutcome, ComponentInventory, ComponentStatusEvent, EventOrigin, EventSource, EventSubject,
    HostInventory, HostSummary, LinkInventory, LinkStatusEvent, Rejection, RejectionCode,
    RevisionStatus,
};
use lattice_spec::{ComponentId, ComponentSpec, LinkKey, LinkSpec, Revision, WireMessage};
use lattice_status::{ComponentState, ComponentStatus, Lifecycle, LinkState, LinkStatus};
use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, MutexGuard, RwLock, atomic::AtomicU64, atomic::Ordering},
    time::{Duration, Instant},
};

/// Everything one host knows and uses.
pub(crate) struct HostState {
    pub(crate) config: HostConfig,
    pub(crate) nats: async_nats::Client,
    pub(crate) fetcher: Arc<dyn ArtifactFetcher>,
    pub(crate) validator: Arc<dyn ComponentValidator>,
    pub(crate) runtime: Arc<dyn ComponentRuntime>,
    pub(crate) configs: Arc<dyn ConfigStore>,
    pub(crate) links: LinkRequests,
    sequence: AtomicU64,
    started: Instant,
    components: RwLock<BTreeMap<ComponentId, Arc<ComponentSlot>>>,
    /// The host's own tasks (request handlers, applies, deletes), so a shutdown can wait for
    /// them and cancel what outlasts its grace period.
    pub(crate) tasks: tokio_util::task::TaskTracker,
    pub(crate) cancel: tokio_util::sync::CancellationToken,
    /// The providers this host supervises.
    pub(crate) providers: crate::provider::Providers,
}

/// One component on the host.
pub(crate) struct ComponentSlot {
    pub(crate) id: ComponentId,
    /// Serialises applies and deletes of this component.
    pub(crate) apply_lock: tokio::sync::Mutex<()>,
    record: Mutex<ComponentRecord>,
    pub(crate) gate: Arc<InvocationGate>,
    /// The tasks serving the component's exported functions over wRPC.
    exports: Mutex<BTreeMap<ExportedFunction, tokio::task::JoinHandle<()>>>,
    /// How long invocations were paused by the last upgrade.
    pub(crate) last_pause: Mutex<Option<Duration>>,
    /// Counts the applies accepted for this component, so an apply still preparing learns at
    /// once that a newer one replaced it (see [`ComponentSlot::superseded`]).
    pub(crate) accepted: tokio::sync::watch::Sender<u64>,
}

/// The inventory entry of a component, with the specs behind it.
pub(crate) struct ComponentRecord {
    pub(crate) desired: RevisionStatus,
    pub(crate) desired_spec: Arc<ComponentSpec>,
    pub(crate) serving: Option<(RevisionStatus, Arc<ComponentSpec>)>,
    pub(crate) links: BTreeMap<LinkKey, LinkInventory>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind; keep serving.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl ComponentSlot {
    pub(crate) fn record(&self) -> MutexGuard<'_, ComponentRecord> {
        lock(&self.record)
    }

    /// Whether `spec` is still the most recently accepted apply.
    pub(crate) fn is_desired(&self, spec: &ComponentSpec) -> bool {
        let record = self.record();
        record.desired.revision == spec.revision() && record.desired.spec_digest == spec.digest()
    }

    pub(crate) fn served_exports(
        &self,
    ) -> MutexGuard<'_, BTreeMap<ExportedFunction, tokio::task::JoinHandle<()>>> {
        lock(&self.exports)
    }

    /// Stops serving every export.
    pub(crate) fn stop_serving(&self) {
        for (_, task) in std::mem::take(&mut *self.served_exports()) {
            task.abort();
        }
    }

    pub(crate) fn serving_spec(&self) -> Option<Arc<ComponentSpec>> {
        self.record().serving.as_ref().map(|(_, spec)| spec.clone())
    }

    /// Resolves once `spec` is no longer the most recently accepted apply (never, while it
    /// is).
    pub(crate) async fn superseded(&self, spec: &ComponentSpec) {
        let mut accepted = self.accepted.subscribe();
        // Subscribed before looking: an admit after the look wakes `changed`.
        while self.is_desired(spec) {
            if accepted.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

impl HostState {
    /// Runs `task` on its own tokio task, tracked (a shutdown waits for it) and cancelled
    /// at its next await when the host is dropped or its shutdown's grace period ends.
    pub(crate) fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        let cancel = self.cancel.clone();
        self.tasks.spawn(async move {
            tokio::select! {
                () = cancel.cancelled() => {}
                () = task => {}
            }
        });
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        config: HostConfig,
        nats: async_nats::Client,
        fetcher: Arc<dyn ArtifactFetcher>,
        validator: Arc<dyn ComponentValidator>,
        runtime: Arc<dyn ComponentRuntime>,
        configs: Arc<dyn ConfigStore>,
    ) -> Self {
        let links = LinkRequests {
            nats: nats.clone(),
            lattice: config.lattice.clone(),
            host: config.host_id.clone(),
            timeout: config.link_reply_timeout,
            secrets: config.link_secrets.clone(),
        };
        Self {
            config,
            nats,
            fetcher,
            validator,
            runtime,
            configs,
            links,
            sequence: AtomicU64::new(0),
            started: Instant::now(),
            components: RwLock::new(BTreeMap::new()),
            tasks: tokio_util::task::TaskTracker::new(),
            cancel: tokio_util::sync::CancellationToken::new(),
            providers: crate::provider::Providers::default(),
        }
    }

    /// Every component slot (for the provider supervisor's component hooks).
    pub(crate) fn slots(&self) -> Vec<Arc<ComponentSlot>> {
        self.components
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    pub(crate) fn slot(&self, id: &ComponentId) -> Option<Arc<ComponentSlot>> {
        self.components
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }

    pub(crate) fn remove(&self, id: &ComponentId) {
        self.components
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }

    /// Decides what to do with an apply and, when it is accepted, records the new revision
    /// as `pending` *before* the acknowledgement is sent.
    pub(crate) fn admit(
        &self,
        spec: &Arc<ComponentSpec>,
    ) -> (Option<Arc<ComponentSlot>>, ApplyOutcome) {
        let digest = spec.digest();
        let desired = RevisionStatus::new(
            spec.revision(),
            digest.clone(),
            spec.artifact().clone(),
            ComponentStatus::new(ComponentState::Pending),
        );
        let mut components = self.components.write().unwrap_or_else(|e| e.into_inner());
        let Some(slot) = components.get(spec.id()).cloned() else {
            let slot = Arc::new(ComponentSlot {
                id: spec.id().clone(),
                apply_lock: tokio::sync::Mutex::new(()),
                record: Mutex::new(ComponentRecord {
                    desired,
                    desired_spec: spec.clone(),
                    serving: None,
                    links: BTreeMap::new(),
                }),
                gate: Arc::new(InvocationGate::default()),
                exports: Mutex::new(BTreeMap::new()),
                last_pause: Mutex::new(None),
                accepted: tokio::sync::watch::channel(0).0,
            });
            components.insert(spec.id().clone(), slot.clone());
            return (Some(slot), ApplyOutcome::Accepted);
        };
        drop(components);
        let mut record = slot.record();
        let current = record.desired.revision.max(
            record
                .serving
                .as_ref()
                .map_or(Revision(0), |(s, _)| s.revision),
        );
        if spec.revision() < current {
            let rejection = Rejection::new(
                RejectionCode::StaleRevision,
                format!(
                    "revision {} is older than revision {current} on this host",
                    spec.revision()
                ),
            )
            .with_current_revision(current);
            return (None, ApplyOutcome::Rejected(rejection));
        }
        if spec.revision() == record.desired.revision {
            if record.desired.spec_digest != digest {
                let rejection = Rejection::new(
                    RejectionCode::RevisionConflict,
                    format!("revision {} is already applied on this host with different content; use a new revision", spec.revision()),
                )
                .with_current_revision(current);
                return (None, ApplyOutcome::Rejected(rejection));
            }
            // The same spec again: nothing to do unless its last attempt failed.
            if record.desired.status.state != ComponentState::Failed {
                return (None, ApplyOutcome::Unchanged);
            }
        }
        record.desired = desired;
        record.desired_spec = spec.clone();
        drop(record);
        slot.accepted.send_modify(|accepted| *accepted += 1);
        (Some(slot), ApplyOutcome::Accepted)
    }

    pub(crate) fn next_origin(&self) -> EventOrigin {
        let sequence = self.sequence.fetch_add(1, Ordering::SeqCst) + 1;
        EventOrigin::new(
            self.config.lattice.clone(),
            self.config.host_id.clone(),
            sequence,
            lattice_ctl::now_ms(),
        )
    }

    /// Moves `revision` of the component to `status` and publishes the transition.
    pub(crate) async fn transition(
        &self,
        slot: &ComponentSlot,
        revision: Revision,
        status: ComponentStatus,
    ) {
        let previous = {
            let mut record = slot.record();
            let entry = if record.desired.revision == revision {
                Some(&mut record.desired)
            } else {
                record
                    .serving
                    .as_mut()
                    .map(|(serving, _)| serving)
                    .filter(|s| s.revision == revision)
            };
            entry.map(|entry| {
                let previous = entry.status.state;
                if previous != status.state
                    && let Err(illegal) = previous.check_transition(status.state)
                {
                    tracing::warn!(component = %slot.id, %revision, %illegal, "status transition outside the state machine");
                }
                entry.status = status.clone();
                previous
            })
        };
        let event = ComponentStatusEvent::new(
            self.next_origin(),
            slot.id.clone(),
            revision,
            previous,
            status,
        );
        let subject = EventSubject {
            lattice: self.config.lattice.clone(),
            host_id: self.config.host_id.clone(),
            source: EventSource::Component(slot.id.clone()),
        };
        self.publish(subject, event.encode()).await;
    }

    /// Publishes that a replaced revision stopped (it is no longer in the record: the new
    /// revision took its place at the swap).
    pub(crate) async fn retire(&self, slot: &ComponentSlot, revision: Revision) {
        let steps = [
            (ComponentState::Running, ComponentState::Stopping),
            (ComponentState::Stopping, ComponentState::Stopped),
        ];
        for (previous, state) in steps {
            let event = ComponentStatusEvent::new(
                self.next_origin(),
                slot.id.clone(),
                revision,
                Some(previous),
                ComponentStatus::new(state),
            );
            self.publish(self.component_subject(&slot.id), event.encode())
                .await;
        }
    }

    pub(crate) fn component_subject(&self, id: &ComponentId) -> EventSubject {
        EventSubject {
            lattice: self.config.lattice.clone(),
            host_id: self.config.host_id.clone(),
            source: EventSource::Component(id.clone()),
        }
    }

    /// Records a link's status and publishes the transition.
    pub(crate) async fn link_status(
        &self,
        slot: &ComponentSlot,
        revision: Revision,
        link: &LinkSpec,
        status: LinkStatus,
    ) {
        let previous = {
            let mut record = slot.record();
            let entry = record.links.entry(link.key()).or_insert_with(|| {
                LinkInventory::new(&slot.id, link, LinkStatus::new(LinkState::Pending))
            });
            let previous = entry.status.state;
            *entry = LinkInventory::new(&slot.id, link, status.clone());
            previous
        };
        let event = LinkStatusEvent::new(
            self.next_origin(),
            slot.id.clone(),
            revision,
            link,
            Some(previous),
            status,
        );
        let subject = EventSubject {
            lattice: self.config.lattice.clone(),
            host_id: self.config.host_id.clone(),
            source: EventSource::Link(slot.id.clone()),
        };
        self.publish(subject, event.encode()).await;
    }

    pub(crate) fn forget_link(&self, slot: &ComponentSlot, link: &LinkSpec) {
        slot.record().links.remove(&link.key());
    }

    pub(crate) async fn publish(
        &self,
        subject: EventSubject,
        payload: Result<bytes::Bytes, serde_json::Error>,
    ) {
        match payload {
            Ok(payload) => {
                if let Err(error) = self.nats.publish(subject.to_string(), payload).await {
                    tracing::warn!(%error, %subject, "cannot publish a status event");
                }
            }
            Err(error) => tracing::error!(%error, "cannot encode a status event"),
        }
    }

    /// Stops serving invocations of every component (on shutdown).
    pub(crate) fn stop_all(&self) {
        for slot in self
            .components
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
        {
            slot.stop_serving();
        }
    }

    pub(crate) fn summary(&self) -> HostSummary {
        let mut summary =
            HostSummary::new(self.config.host_id.clone(), self.config.lattice.clone());
        summary.friendly_name = self.config.friendly_name.clone();
        summary.labels = self.config.labels.clone();
        summary.version = concat!("lattice-host ", env!("CARGO_PKG_VERSION")).to_owned();
        summary.uptime_seconds = self.started.elapsed().as_secs();
        // The host kit also answers the wasmCloud 1.x control interface (see `v1`).
        summary.api_versions.insert(0, "v1".to_owned());
        summary
    }

    pub(crate) fn inventory(&self) -> HostInventory {
        let mut inventory =
            HostInventory::new(self.config.host_id.clone(), self.config.lattice.clone());
        inventory.labels = self.config.labels.clone();
        inventory.event_sequence = self.sequence.load(Ordering::SeqCst);
        let components = self.components.read().unwrap_or_else(|e| e.into_inner());
        inventory.components = components
            .values()
            .map(|slot| {
                let record = slot.record();
                let scale = record
                    .serving
                    .as_ref()
                    .map_or(record.desired_spec.scale(), |(_, s)| s.scale())
                    .get();
                let mut entry =
                    ComponentInventory::new(slot.id.clone(), record.desired.clone(), scale);
                entry.serving = record.serving.as_ref().map(|(status, _)| status.clone());
                entry.links = record.links.values().cloned().collect();
                entry
            })
            .collect();
        inventory.providers = self.providers.inventory();
        inventory
    }
}
