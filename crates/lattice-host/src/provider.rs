//! Capability providers as supervised child processes: apply and delete a [`ProviderSpec`],
//! start the executable the way a wasmCloud 1.x host does, poll its health, restart it with
//! backoff when it exits, and stop it gracefully.
//!
//! # Starting (as 1.x hosts start providers)
//!
//! The executable runs with **no arguments**, its environment **cleared** except `RUST_LOG`
//! and `OTEL_*`, stdout and stderr inherited from the host, and on stdin one line:
//! `base64(json(HostData)) + "\r\n"`, then EOF ([`lattice_link::HostData`]; wasmCloud
//! v1.9.2 `crates/host/src/wasmbus/providers/mod.rs`, `provider_command`). The host data
//! carries the lattice, the provider id as `provider_key`, this host's id, the NATS URL, the
//! provider's merged configuration, a fresh `instance_id` per process, and the seed of an xkey
//! generated for the provider (kept across restarts, as 1.x does:
//! `crates/host/src/wasmbus/mod.rs`, `handle_start_provider_task`). The process is killed if
//! the host drops it (`kill_on_drop`).
//!
//! The spec's secret references are resolved through
//! [`HostConfig::secrets_backend`](crate::HostConfig::secrets_backend) (entity: the provider id)
//! when a revision is applied — a missing, refused or unreachable secret fails that revision
//! with `secret_not_found`, `secret_denied` or `secrets_unavailable` and the running one is not
//! touched — and again at every start of a process; the values go in the host data's
//! `secrets` (stdin only, as 1.x hosts do), never on NATS, in the inventory, events or logs.
//! With [`HostConfig::link_secrets`](crate::HostConfig::link_secrets) set, the provider's xkey
//! is registered there, so link secrets are sealed to the key its process was handed.
//!
//! # Status
//!
//! `pending` (accepted) → `starting` (process spawned) → `running` once its health subject
//! `wasmbus.rpc.{lattice}.{provider}.health` answers `{"healthy": true}` — polled every
//! [`ProviderSupervision::start_poll_interval`] while starting, then every
//! [`ProviderSupervision::health_interval`]. `unhealthy` when it answers `healthy: false` or
//! misses [`ProviderSupervision::unhealthy_after`] polls in a row; `running` again when it
//! answers healthy. (1.x hosts first poll after 5 s, then every 30 s, and never act on the
//! answer: `crates/host/src/wasmbus/providers/mod.rs`, `check_health`.)
//!
//! # Restarts
//!
//! A process that exits (not asked to) is started again after a backoff that doubles from
//! [`ProviderSupervision::initial_backoff`] up to [`ProviderSupervision::max_backoff`], with a
//! fresh `instance_id` (status `starting` with reason `provider_exited`). If it exits within
//! [`ProviderSupervision::quick_exit_window`] of starting [`ProviderSupervision::max_quick_exits`]
//! times in a row, the host gives up: `failed` with `provider_exited`. A process that does not
//! answer healthy within [`ProviderSupervision::start_timeout`] of its first start is stopped
//! and `failed` with `health_check_failed`. (1.x restarts forever every 5 s with no backoff and
//! no event: `crates/host/src/wasmbus/providers/mod.rs`, `run_provider`.)
//!
//! # Stopping
//!
//! On delete and on host shutdown: a request on `wasmbus.rpc.{lattice}.{provider}.default.shutdown`
//! with body `{"host_id": "<this host>"}` (what 1.x SDKs honour), a wait of up to
//! [`ProviderSupervision::stop_timeout`] for the process to exit, then `SIGTERM` and the same
//! wait again, then `SIGKILL`. (1.x sends the request and then kills at once.)
//!
//! # A new revision
//!
//! Its executable and configuration are checked first (exists, is a file, is executable,
//! matches the digest pin, named configurations exist, secrets resolve) — a bad one fails that revision and the
//! running one is not touched. Then, while the running revision is `running` or `unhealthy`,
//! the upgrade **overlaps** them:
//!
//! 1. the new process starts beside the old one as a *candidate*, with the links of this
//!    host's components in its host data (so it serves its first call with them, as 1.x
//!    providers get theirs); its transitions are not published;
//! 2. it is judged **only** on its own health subject
//!    ([`lattice_link::instance_health_subject`], answered by lattice kit providers): the
//!    provider-id subject would be answered by the old process too — the subject overlap of
//!    two processes of one provider id (health, link puts, the wRPC queue group of the id);
//! 3. once healthy it becomes the provider's process (one `running` → `running` event), its
//!    links are put again, and the old process is stopped with SIGTERM, then SIGKILL — not
//!    with the shutdown request, which both processes would honour (the subject is keyed by
//!    provider id and host id only);
//! 4. a candidate that exits or answers unhealthy is stopped (SIGTERM) and the old process
//!    serves on, untouched; the event carries the failure as its reason.
//!
//! A candidate that runs but never answers its own subject (a provider built on the 1.x SDK,
//! or a broken one) cannot be told apart from the old process while both run: it is upgraded
//! by **replacement** instead — the old process is stopped, the new one started, and if it does
//! not become healthy the previous revision is started again. Replacement is also used when
//! nothing serves (the provider is failed or restarting).
//!
//! During the overlap both processes are in the provider id's wRPC queue group
//! (`wrpc-transport-nats` queue-subscribes the invocation subjects when given a group, and the
//! provider kit gives it the provider id), so each call is served by exactly one of them, never
//! by both. A call in flight on the old process when it is stopped is lost unless the provider
//! drains on SIGTERM: kit providers built on `lattice_provider::wrpc::serve_invocations` (as
//! the key-value provider of this workspace) leave the queue group without dropping a call
//! already routed to them and finish those in flight before they exit, within a bound below
//! [`ProviderSupervision::stop_timeout`].

use crate::state::HostState;
use lattice_ctl::{
    ApplyOutcome, EventSource, EventSubject, ProviderInventory, ProviderStatusEvent, Rejection,
    RejectionCode,
};
use lattice_link::{HealthCheckResponse, HostData, ProviderOperation, ProviderSubject};
use lattice_spec::{ContentDigest, ProviderId, ProviderSpec, WireMessage};
use lattice_status::{
    ComponentState, ComponentStatus, LinkState, LinkStatus, ProviderState, ProviderStatus,
    ReasonCode, StatusReason,
};
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Stdio,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

/// How a host supervises the provider processes it starts. Defaults: health every 30 s (as
/// 1.x) and every 250 ms while starting, 2 s health request timeout, unhealthy after 2 missed
/// polls, 30 s to become healthy, restarts after 500 ms doubling to 30 s, `failed` after 5
/// exits within 10 s of starting in a row, 5 s per stop step.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ProviderSupervision {
    /// How often a running provider's health is polled.
    pub health_interval: Duration,
    /// How often a starting provider's health is polled (the first poll is after this too).
    pub start_poll_interval: Duration,
    /// How long a health request waits for the answer.
    pub health_timeout: Duration,
    /// How many polls in a row without an answer make a running provider `unhealthy`.
    pub unhealthy_after: u32,
    /// How long a provider may take to answer healthy after it is first started.
    pub start_timeout: Duration,
    /// The first restart backoff; it doubles on every restart.
    pub initial_backoff: Duration,
    /// The longest restart backoff.
    pub max_backoff: Duration,
    /// An exit this soon after a start is a quick exit.
    pub quick_exit_window: Duration,
    /// How many quick exits in a row make the provider `failed`.
    pub max_quick_exits: u32,
    /// How long each stop step (shutdown request, then SIGTERM) waits for the process to exit.
    pub stop_timeout: Duration,
    /// The NATS URL handed to providers; when unset, the server this host is connected to.
    pub nats_url: Option<String>,
    /// The credentials handed to providers (host data `lattice_rpc_user_jwt` and
    /// `lattice_rpc_user_seed`, as a wasmCloud 1.x host hands its `--rpc-jwt`/`--rpc-seed`);
    /// when unset, providers connect without credentials.
    pub credentials: Option<ProviderCredentials>,
}

/// A NATS user JWT and its nkey seed, handed to supervised providers in host data so they can
/// reach a server that requires authentication. This is the only way wasmCloud 1.x host data
/// carries credentials: a provider (ours or a 1.x one) signs the server's challenge with the
/// seed. Read them from a credentials file with [`ProviderCredentials::from_creds`].
///
/// `Debug` shows the JWT's length only and never the seed.
#[derive(Clone, PartialEq, Eq)]
pub struct ProviderCredentials {
    jwt: String,
    seed: String,
}

impl std::fmt::Debug for ProviderCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderCredentials")
            .field("jwt", &format_args!("<{} bytes>", self.jwt.len()))
            .field("seed", &format_args!("<redacted>"))
            .finish()
    }
}

/// A credentials file that does not hold a user JWT and an nkey seed.
#[derive(Debug, thiserror::Error)]
#[error("not a NATS credentials file: {what}")]
pub struct InvalidCredentials {
    what: &'static str,
}

impl ProviderCredentials {
    /// A user JWT and the user's nkey seed (`SU…`).
    pub fn new(jwt: impl Into<String>, seed: impl Into<String>) -> Self {
        Self {
            jwt: jwt.into(),
            seed: seed.into(),
        }
    }

    /// Reads the contents of a NATS credentials file (as `nsc generate creds` writes it): the
    /// user JWT and the nkey seed, each between its `-----BEGIN …-----` and `------END …------`
    /// lines (the first non-empty line inside each block counts, as nats-server's clients
    /// read it).
    ///
    /// # Errors
    ///
    /// [`InvalidCredentials`] when either block is missing or the seed is not a user seed.
    pub fn from_creds(contents: &str) -> Result<Self, InvalidCredentials> {
        // async-nats parses this format too but does not export the parser.
        let block = |marker: &str| {
            let mut lines = contents.lines().map(str::trim);
            lines.find(|line| line.starts_with("-----BEGIN") && line.contains(marker))?;
            lines
                .take_while(|line| !line.starts_with("------END") && !line.starts_with("-----END"))
                .find(|line| !line.is_empty())
                .map(str::to_owned)
        };
        let jwt = block("JWT").ok_or(InvalidCredentials {
            what: "no user JWT block",
        })?;
        let seed = block("SEED").ok_or(InvalidCredentials {
            what: "no nkey seed block",
        })?;
        if !seed.starts_with("SU") {
            return Err(InvalidCredentials {
                what: "the seed is not a user seed (SU…)",
            });
        }
        Ok(Self { jwt, seed })
    }

    /// The user JWT.
    pub fn jwt(&self) -> &str {
        &self.jwt
    }
}

impl Default for ProviderSupervision {
    fn default() -> Self {
        Self {
            health_interval: Duration::from_secs(30),
            start_poll_interval: Duration::from_millis(250),
            health_timeout: Duration::from_secs(2),
            unhealthy_after: 2,
            start_timeout: Duration::from_secs(30),
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            quick_exit_window: Duration::from_secs(10),
            max_quick_exits: 5,
            stop_timeout: Duration::from_secs(5),
            nats_url: None,
            credentials: None,
        }
    }
}

impl ProviderSupervision {
    /// Sets how often a running provider's health is polled.
    #[must_use]
    pub fn health_interval(mut self, interval: Duration) -> Self {
        self.health_interval = interval;
        self
    }

    /// Sets how often a starting provider's health is polled.
    #[must_use]
    pub fn start_poll_interval(mut self, interval: Duration) -> Self {
        self.start_poll_interval = interval;
        self
    }

    /// Sets how long a health request waits.
    #[must_use]
    pub fn health_timeout(mut self, timeout: Duration) -> Self {
        self.health_timeout = timeout;
        self
    }

    /// Sets how long a provider may take to become healthy.
    #[must_use]
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// Sets the restart backoff: the first one and the longest.
    #[must_use]
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max;
        self
    }

    /// Sets when the host gives up: `count` exits in a row, each within `window` of its start.
    #[must_use]
    pub fn quick_exits(mut self, count: u32, window: Duration) -> Self {
        self.max_quick_exits = count.max(1);
        self.quick_exit_window = window;
        self
    }

    /// Sets how long each stop step waits.
    #[must_use]
    pub fn stop_timeout(mut self, timeout: Duration) -> Self {
        self.stop_timeout = timeout;
        self
    }

    /// Sets the NATS URL handed to providers.
    #[must_use]
    pub fn nats_url(mut self, url: impl Into<String>) -> Self {
        self.nats_url = Some(url.into());
        self
    }

    /// Sets the credentials handed to providers.
    #[must_use]
    pub fn credentials(mut self, credentials: ProviderCredentials) -> Self {
        self.credentials = Some(credentials);
        self
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Every provider on the host.
#[derive(Default)]
pub(crate) struct Providers {
    slots: Mutex<BTreeMap<ProviderId, Arc<ProviderSlot>>>,
}

/// One provider on the host.
pub(crate) struct ProviderSlot {
    id: ProviderId,
    apply_lock: tokio::sync::Mutex<()>,
    record: Mutex<ProviderRecord>,
    instance: Mutex<Option<Instance>>,
    /// The provider's xkey: generated once, handed to every process of it (as 1.x does).
    xkey: nkeys::XKey,
}

struct ProviderRecord {
    desired: Arc<ProviderSpec>,
    desired_digest: ContentDigest,
    desired_failed: bool,
    serving: Option<Arc<ProviderSpec>>,
    status: ProviderStatus,
    restarts: u32,
}

/// A running supervisor of one revision's process.
struct Instance {
    run: Arc<Run>,
    task: tokio::task::JoinHandle<()>,
}

/// What a supervisor shares with the rest of the host.
struct Run {
    stop: CancellationToken,
    /// Set while the process is an upgrade's candidate beside the serving one: its
    /// transitions are not the provider's (not published, components not told) until it is
    /// promoted.
    candidate: std::sync::atomic::AtomicBool,
    /// Set when stopping must not send the shutdown request, which every process of the
    /// provider id on this host would honour (the other one of an upgrade's pair): SIGTERM
    /// first.
    quiet: std::sync::atomic::AtomicBool,
    /// Whether a process of this run ever answered its own instance health subject.
    instance_answered: std::sync::atomic::AtomicBool,
    /// The current process id (0: none).
    pid: std::sync::atomic::AtomicU32,
    /// This process's own status (the provider's, once it is not a candidate).
    status: Mutex<ProviderStatus>,
}

impl Run {
    fn new(candidate: bool) -> Arc<Self> {
        Arc::new(Self {
            stop: CancellationToken::new(),
            candidate: candidate.into(),
            quiet: candidate.into(),
            instance_answered: false.into(),
            pid: 0.into(),
            status: Mutex::new(ProviderStatus::new(ProviderState::Pending)),
        })
    }

    fn is_candidate(&self) -> bool {
        self.candidate.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn state(&self) -> ProviderState {
        lock(&self.status).state
    }

    /// Records the process's status; publishes it as the provider's unless a candidate.
    async fn report(&self, state: &HostState, slot: &ProviderSlot, status: ProviderStatus) {
        *lock(&self.status) = status.clone();
        if self.is_candidate() {
            tracing::debug!(provider = %slot.id, state = %status.state, "upgrade candidate");
        } else {
            set_status(state, slot, status).await;
        }
    }
}

impl Providers {
    fn get(&self, id: &ProviderId) -> Option<Arc<ProviderSlot>> {
        lock(&self.slots).get(id).cloned()
    }

    pub(crate) fn inventory(&self) -> Vec<ProviderInventory> {
        lock(&self.slots)
            .values()
            .map(|slot| {
                let record = slot.record();
                let spec = record.serving.as_ref().unwrap_or(&record.desired);
                let mut entry = ProviderInventory::new(slot.id.clone(), record.status.clone());
                entry.artifact = Some(spec.artifact().clone());
                entry.annotations = spec.annotations().clone();
                entry.revision = Some(spec.revision());
                entry.spec_digest = Some(spec.digest());
                entry.restarts = record.restarts;
                entry
            })
            .collect()
    }

    /// The process id of the provider's current process, if one runs.
    pub(crate) fn pid(&self, id: &ProviderId) -> Option<u32> {
        let slot = self.get(id)?;
        let instance = lock(&slot.instance);
        let pid = instance
            .as_ref()?
            .run
            .pid
            .load(std::sync::atomic::Ordering::SeqCst);
        (pid != 0).then_some(pid)
    }

    /// Decides what to do with an apply; an accepted one is recorded before the reply.
    fn admit(&self, spec: &Arc<ProviderSpec>) -> (Option<Arc<ProviderSlot>>, ApplyOutcome) {
        let digest = spec.digest();
        let mut slots = lock(&self.slots);
        let Some(slot) = slots.get(spec.id()).cloned() else {
            let slot = Arc::new(ProviderSlot {
                id: spec.id().clone(),
                apply_lock: tokio::sync::Mutex::new(()),
                record: Mutex::new(ProviderRecord {
                    desired: spec.clone(),
                    desired_digest: digest,
                    desired_failed: false,
                    serving: None,
                    status: ProviderStatus::new(ProviderState::Pending),
                    restarts: 0,
                }),
                instance: Mutex::new(None),
                xkey: nkeys::XKey::new(),
            });
            slots.insert(spec.id().clone(), slot.clone());
            return (Some(slot), ApplyOutcome::Accepted);
        };
        drop(slots);
        let mut record = slot.record();
        let current = record.desired.revision();
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
        if spec.revision() == current {
            if record.desired_digest != digest {
                let rejection = Rejection::new(
                    RejectionCode::RevisionConflict,
                    format!(
                        "revision {current} is already applied on this host with different \
                         content; use a new revision"
                    ),
                )
                .with_current_revision(current);
                return (None, ApplyOutcome::Rejected(rejection));
            }
            if !record.desired_failed && record.status.state != ProviderState::Failed {
                return (None, ApplyOutcome::Unchanged);
            }
        }
        record.desired = spec.clone();
        record.desired_digest = digest;
        record.desired_failed = false;
        drop(record);
        (Some(slot), ApplyOutcome::Accepted)
    }
}

impl ProviderSlot {
    fn record(&self) -> MutexGuard<'_, ProviderRecord> {
        lock(&self.record)
    }

    fn is_desired(&self, spec: &ProviderSpec) -> bool {
        let record = self.record();
        record.desired.revision() == spec.revision()
    }
}

/// Handles an apply: answers at once, then starts (or replaces) the process on its own task.
pub(crate) async fn apply(state: &Arc<HostState>, message: &async_nats::Message) {
    use lattice_ctl::{ApplyProviderSpecAck, ApplyProviderSpecReply, ApplyProviderSpecRequest};
    let request = match ApplyProviderSpecRequest::decode_detailed(&message.payload) {
        Ok(request) => request,
        Err(error) => {
            return crate::server::respond(
                state,
                message,
                crate::server::encode(&error.into_reply()),
            )
            .await;
        }
    };
    let spec = Arc::new(request.spec);
    // File references name the executable; OCI references name a provider archive, pulled
    // when the revision starts (`resolve_executable`).
    let (slot, outcome) = state.providers.admit(&spec);
    let ack = ApplyProviderSpecAck::new(&spec, outcome);
    crate::server::respond(
        state,
        message,
        crate::server::encode(&ApplyProviderSpecReply::ok(ack)),
    )
    .await;
    let Some(slot) = slot else { return };
    let status = slot.record().status.clone();
    if status.state == ProviderState::Pending {
        publish(state, &slot, None, status).await;
    }
    let state = state.clone();
    // Not tracked by the host's task tracker: a provider's supervisor lives as long as the
    // provider, and the host's shutdown stops it explicitly (`stop_all`).
    tokio::spawn(async move { run_apply(state, slot, spec).await });
}

/// Handles a delete: answers at once, then stops the process.
pub(crate) async fn delete(state: &Arc<HostState>, message: &async_nats::Message) {
    use lattice_ctl::{
        CtlError, DeleteOutcome, DeleteProviderSpecAck, DeleteProviderSpecReply,
        DeleteProviderSpecRequest,
    };
    let reply = match DeleteProviderSpecRequest::decode(&message.payload) {
        Err(e) => DeleteProviderSpecReply::error(CtlError::from(&e)),
        Ok(request) => match state.providers.get(&request.provider_id) {
            None => DeleteProviderSpecReply::ok(DeleteProviderSpecAck::new(
                request.provider_id,
                DeleteOutcome::NotFound,
            )),
            Some(slot) => {
                let current = slot.record().desired.revision();
                match request.revision.filter(|r| *r < current) {
                    Some(revision) => {
                        let rejection = Rejection::new(
                            RejectionCode::StaleRevision,
                            format!(
                                "delete at revision {revision}, but revision {current} was \
                                 applied since"
                            ),
                        )
                        .with_current_revision(current);
                        DeleteProviderSpecReply::ok(DeleteProviderSpecAck::new(
                            request.provider_id,
                            DeleteOutcome::Rejected(rejection),
                        ))
                    }
                    None => {
                        let state = state.clone();
                        tokio::spawn(async move { run_delete(state, slot).await });
                        DeleteProviderSpecReply::ok(DeleteProviderSpecAck::new(
                            request.provider_id,
                            DeleteOutcome::Accepted,
                        ))
                    }
                }
            }
        },
    };
    crate::server::respond(state, message, crate::server::encode(&reply)).await;
}

async fn run_delete(state: Arc<HostState>, slot: Arc<ProviderSlot>) {
    let _guard = slot.apply_lock.lock().await;
    let previous = slot.record().status.state;
    set_status(&state, &slot, ProviderStatus::new(ProviderState::Stopping)).await;
    stop_instance(&slot).await;
    lock(&state.providers.slots).remove(&slot.id);
    let status = ProviderStatus::new(ProviderState::Stopped);
    slot.record().status = status.clone();
    let _ = previous;
    publish(&state, &slot, Some(ProviderState::Stopping), status).await;
}

/// Tells every provider's supervisor to stop (without waiting): used when the host is
/// dropped; each process still gets its shutdown request, SIGTERM, then SIGKILL.
pub(crate) fn cancel_all(state: &HostState) {
    for slot in lock(&state.providers.slots).values() {
        if let Some(instance) = lock(&slot.instance).as_ref() {
            instance.run.stop.cancel();
        }
    }
}

/// Stops every provider (host shutdown): each gets its shutdown request, SIGTERM, then
/// SIGKILL, concurrently, each bounded by twice the stop timeout.
pub(crate) async fn stop_all(state: &HostState) {
    let slots: Vec<_> = lock(&state.providers.slots).values().cloned().collect();
    futures::future::join_all(slots.iter().map(|slot| stop_instance(slot))).await;
}

async fn stop_instance(slot: &ProviderSlot) {
    let instance = lock(&slot.instance).take();
    if let Some(instance) = instance {
        instance.run.stop.cancel();
        if let Err(error) = instance.task.await
            && error.is_panic()
        {
            tracing::warn!(provider = %slot.id, %error, "a provider supervisor panicked");
        }
    }
}

async fn run_apply(state: Arc<HostState>, slot: Arc<ProviderSlot>, spec: Arc<ProviderSpec>) {
    let _guard = slot.apply_lock.lock().await;
    if !slot.is_desired(&spec) {
        return; // a newer apply came in while this one waited
    }
    // 1. The executable, checked before the running revision is touched.
    let checked = match resolve_executable(&state, &spec).await {
        Ok(exe) => check_config(&state, &spec).await.map(|()| exe),
        Err(reason) => Err(reason),
    };
    let exe = match checked {
        Ok(exe) => exe,
        Err(reason) => return fail_revision(&state, &slot, &spec, reason).await,
    };
    // 2. A revision that runs is upgraded with overlap: the new process starts beside it and
    //    replaces it once healthy.
    let serving = matches!(
        slot.record().status.state,
        ProviderState::Running | ProviderState::Unhealthy
    ) && lock(&slot.instance).is_some();
    if serving {
        return upgrade(&state, &slot, spec, exe).await;
    }
    // 3. Otherwise (nothing runs, or it is failed or restarting): replace it.
    replace(&state, &slot, spec, exe).await;
}

/// Stops the current process (if any), starts `spec` and waits for its health; if it does not
/// become healthy, the previous revision is started again.
async fn replace(
    state: &Arc<HostState>,
    slot: &Arc<ProviderSlot>,
    spec: Arc<ProviderSpec>,
    exe: PathBuf,
) {
    let (state, slot) = (state.clone(), slot.clone());
    let previous = slot.record().serving.clone();
    stop_instance(&slot).await;
    match start_instance(&state, &slot, spec.clone(), exe).await {
        Ok(()) => {}
        Err(reason) => {
            fail_revision(&state, &slot, &spec, reason).await;
            // 3. The previous revision serves again.
            if let Some(previous) = previous
                && let Ok(exe) = resolve_executable(&state, &previous).await
            {
                tracing::warn!(provider = %slot.id, revision = %previous.revision(), "starting the previous revision again");
                let _ = start_instance(&state, &slot, previous, exe).await;
            }
        }
    }
}

/// Starts `spec` beside the serving revision as a candidate; once the candidate answers
/// healthy on its own instance subject it becomes the serving process, its links are put,
/// and the old process is stopped (SIGTERM: the shutdown request would stop both). A
/// candidate that fails is stopped and the old process is not touched.
async fn upgrade(
    state: &Arc<HostState>,
    slot: &Arc<ProviderSlot>,
    spec: Arc<ProviderSpec>,
    exe: PathBuf,
) {
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let run = Run::new(true);
    let task = tokio::spawn(supervise(
        state.clone(),
        slot.clone(),
        spec.clone(),
        exe,
        run.clone(),
        ready_tx,
    ));
    let outcome = ready_rx.await.unwrap_or_else(|_| {
        Err(StatusReason::new(
            ReasonCode::Internal,
            "the provider's supervisor ended before the provider was ready",
        ))
    });
    if let Err(reason) = outcome {
        let _ = task.await;
        let alive_but_unjudged = reason.code == ReasonCode::HealthCheckFailed
            && !run
                .instance_answered
                .load(std::sync::atomic::Ordering::SeqCst);
        if alive_but_unjudged {
            // It ran but never answered on its own subject: a provider built without the
            // lattice kit (1.x SDK) cannot be told apart from the serving process while both
            // run, so it is upgraded by replacement instead.
            tracing::warn!(provider = %slot.id, revision = %spec.revision(), "the new revision does not answer its instance health subject; upgrading by replacement");
            let exe = match resolve_executable(state, &spec).await {
                Ok(exe) => exe,
                Err(reason) => return fail_revision(state, slot, &spec, reason).await,
            };
            return replace(state, slot, spec, exe).await;
        }
        return fail_revision(state, slot, &spec, reason).await;
    }
    // Promote: the candidate is the provider now.
    let old = lock(&slot.instance).replace(Instance {
        run: run.clone(),
        task,
    });
    {
        let mut record = slot.record();
        record.serving = Some(spec.clone());
        record.restarts = 0;
    }
    run.candidate
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let status = lock(&run.status).clone();
    set_status(state, slot, status).await;
    reput_links(state, &slot.id).await;
    if let Some(old) = old {
        old.run
            .quiet
            .store(true, std::sync::atomic::Ordering::SeqCst);
        old.run.stop.cancel();
        let _ = old.task.await;
    }
    run.quiet.store(false, std::sync::atomic::Ordering::SeqCst);
    tracing::info!(provider = %slot.id, revision = %spec.revision(), "provider upgraded");
}

/// Records that `spec`'s revision failed. If another revision still serves, the provider's
/// state is unchanged and the event carries the failure as its reason; otherwise the
/// provider is `failed`.
async fn fail_revision(
    state: &HostState,
    slot: &ProviderSlot,
    spec: &ProviderSpec,
    reason: StatusReason,
) {
    let reason = reason.with_provider(&slot.id);
    let serving_other = {
        let mut record = slot.record();
        record.desired_failed = true;
        record
            .serving
            .as_ref()
            .is_some_and(|s| s.revision() != spec.revision())
            && lock(&slot.instance).is_some()
    };
    tracing::warn!(provider = %slot.id, revision = %spec.revision(), reason = %reason.message, "provider revision failed");
    let status = if serving_other {
        let state = slot.record().status.state;
        ProviderStatus::new(state).with_reason(reason)
    } else {
        ProviderStatus::failed(reason)
    };
    set_status(state, slot, status).await;
}

/// The spec's configuration and secret references must resolve (secrets through
/// [`HostConfig::secrets_backend`](crate::HostConfig::secrets_backend), for the provider id):
/// both are checked before anything is touched, never started without.
async fn check_config(state: &HostState, spec: &ProviderSpec) -> Result<(), StatusReason> {
    if let Err(e) = crate::config::resolve(state.configs.as_ref(), spec.config()).await {
        return Err(StatusReason::new(
            ReasonCode::StartFailed,
            format!(
                "revision {}: the named configuration {} cannot be resolved: {}",
                spec.revision(),
                spec.config()
                    .names()
                    .iter()
                    .map(|name| format!("`{name}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                crate::config::explain(&e)
            ),
        ));
    }
    crate::secrets::resolve_provider(state.config.secrets_backend.as_ref(), spec)
        .await
        .map_err(|(_, reason)| reason)?;
    Ok(())
}

/// The executable to start for `spec`: a file reference names it; an OCI reference names a
/// provider archive (`.par`), pulled with the host's fetcher (its registry settings) and
/// read for this machine's target, whose binary is extracted to a content-addressed path.
async fn resolve_executable(
    state: &HostState,
    spec: &ProviderSpec,
) -> Result<PathBuf, StatusReason> {
    if spec.artifact().as_file().is_some() {
        return check_executable(spec);
    }
    let revision = spec.revision();
    let in_revision = |mut reason: StatusReason| {
        reason.message = format!("revision {revision}: {}", reason.message);
        reason
    };
    let archive = state
        .fetcher
        .fetch_provider_archive(spec.artifact())
        .await
        .map_err(|error| {
            let mut reason = StatusReason::from(&error);
            // The manifest exists but carries no provider archive (a component, say): the
            // artifact is wrong, not the registry.
            if error.kind() == lattice_artifact::FetchErrorKind::InvalidManifest {
                reason.code = ReasonCode::InvalidArtifact;
            }
            in_revision(reason)
        })?;
    if let Some(pin) = spec.digest_pin() {
        lattice_artifact::verify_pin(&archive, pin).map_err(|error| {
            in_revision(StatusReason::from(
                &error.for_artifact(spec.artifact().as_str()),
            ))
        })?;
    }
    let artifact = spec.artifact().to_string();
    tokio::task::spawn_blocking(move || extract_provider_binary(&archive, &artifact))
        .await
        .map_err(|e| {
            StatusReason::new(
                ReasonCode::Internal,
                format!("extracting the provider binary panicked: {e}"),
            )
        })?
        .map_err(in_revision)
}

/// The directory extracted provider binaries are kept in, one file per binary digest.
fn provider_cache_dir() -> PathBuf {
    std::env::temp_dir().join("lattice-providers")
}

/// Reads `archive` for this machine's target and writes the binary to
/// `{temp}/lattice-providers/sha256-{hex}` (mode 0755) unless it is there already. The path is
/// keyed by the binary's digest, and written to a temporary file renamed into place, so an
/// upgrade never rewrites an executable that is running.
fn extract_provider_binary(archive: &[u8], artifact: &str) -> Result<PathBuf, StatusReason> {
    let target = lattice_artifact::current_target();
    let binary = lattice_artifact::provider_archive_binary(archive, &target).map_err(|error| {
        StatusReason::new(
            ReasonCode::InvalidArtifact,
            format!("`{artifact}`: {error}"),
        )
    })?;
    let dir = provider_cache_dir();
    let digest = ContentDigest::sha256_of(&binary);
    let path = dir.join(digest.as_str().replace(':', "-"));
    if path.is_file() {
        return Ok(path); // complete: files only appear here by rename
    }
    let failed = |action: &str, e: std::io::Error| {
        StatusReason::new(
            ReasonCode::StartFailed,
            format!(
                "cannot {action} the provider binary of `{artifact}` under {}: {e}",
                dir.display()
            ),
        )
    };
    std::fs::create_dir_all(&dir).map_err(|e| failed("create a directory for", e))?;
    let temp = dir.join(format!(
        ".{}.{}.{}.tmp",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("binary"),
        std::process::id(),
        uuid_like()
    ));
    let written = (|| {
        std::fs::write(&temp, &binary)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&temp, std::fs::Permissions::from_mode(0o755))?;
        }
        std::fs::rename(&temp, &path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(failed("write", e));
    }
    Ok(path)
}

fn check_executable(spec: &ProviderSpec) -> Result<PathBuf, StatusReason> {
    let path = spec
        .artifact()
        .as_file()
        .map(Path::to_path_buf)
        .ok_or_else(|| {
            StatusReason::new(
                ReasonCode::FetchFailed,
                "not a file reference (OCI references name provider archives)",
            )
        })?;
    let not_executable = |message: String| {
        StatusReason::new(
            ReasonCode::ProviderNotExecutable,
            format!("revision {}: {message}", spec.revision()),
        )
    };
    let metadata = std::fs::metadata(&path).map_err(|e| {
        StatusReason::new(
            ReasonCode::FetchFailed,
            format!(
                "revision {}: the provider executable `{}` cannot be read ({e}); install it \
                 there or fix the spec's `artifact`",
                spec.revision(),
                path.display()
            ),
        )
    })?;
    if !metadata.is_file() {
        return Err(not_executable(format!(
            "`{}` is not a file; name the provider's executable",
            path.display()
        )));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if metadata.permissions().mode() & 0o111 == 0 {
            return Err(not_executable(format!(
                "`{}` is not executable; `chmod +x` it",
                path.display()
            )));
        }
    }
    if let Some(pin) = spec.digest_pin() {
        let bytes = std::fs::read(&path).map_err(|e| {
            StatusReason::new(
                ReasonCode::FetchFailed,
                format!("cannot read `{}`: {e}", path.display()),
            )
        })?;
        let actual = ContentDigest::sha256_of(&bytes);
        if &actual != pin {
            return Err(StatusReason::new(
                ReasonCode::InvalidArtifact,
                format!(
                    "revision {}: `{}` has digest {actual}, not the pinned {pin}",
                    spec.revision(),
                    path.display()
                ),
            ));
        }
    }
    Ok(path)
}

/// Starts a supervisor for `spec` and waits until its process first answers healthy (`Ok`) or
/// the revision fails (`Err`, the supervisor has ended).
async fn start_instance(
    state: &Arc<HostState>,
    slot: &Arc<ProviderSlot>,
    spec: Arc<ProviderSpec>,
    exe: PathBuf,
) -> Result<(), StatusReason> {
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let run = Run::new(false);
    {
        let mut record = slot.record();
        record.serving = Some(spec.clone());
        record.restarts = 0;
    }
    let task = tokio::spawn(supervise(
        state.clone(),
        slot.clone(),
        spec,
        exe,
        run.clone(),
        ready_tx,
    ));
    *lock(&slot.instance) = Some(Instance { run, task });
    let outcome = ready_rx.await.unwrap_or_else(|_| {
        Err(StatusReason::new(
            ReasonCode::Internal,
            "the provider's supervisor ended before the provider was ready",
        ))
    });
    if outcome.is_err() {
        // The supervisor has ended; forget it.
        let instance = lock(&slot.instance).take();
        if let Some(instance) = instance {
            let _ = instance.task.await;
        }
        slot.record().serving = None;
    }
    outcome
}

enum Health {
    Healthy,
    Unhealthy(String),
    NoAnswer(String),
}

/// Asks the process's own health subject; a process that does not answer it (a 1.x provider:
/// no responders) is asked on the provider id's, where any process of the provider answers.
async fn poll_health(
    state: &HostState,
    id: &ProviderId,
    instance: &str,
    timeout: Duration,
    run: &Run,
) -> Health {
    let own = lattice_link::instance_health_subject(&state.config.lattice, id, instance);
    let request = || {
        async_nats::Request::new()
            .payload(bytes::Bytes::new())
            .timeout(Some(timeout))
    };
    let answer = match state.nats.send_request(own, request()).await {
        // A candidate is judged by its own answer only: on the provider id's subject the
        // serving process would answer for it.
        Err(e) if e.kind() == async_nats::RequestErrorKind::NoResponders && !run.is_candidate() => {
            let shared = ProviderSubject::new(
                state.config.lattice.clone(),
                id.clone(),
                ProviderOperation::Health,
            )
            .to_string();
            state.nats.send_request(shared, request()).await
        }
        answer => {
            if answer.is_ok() {
                run.instance_answered
                    .store(true, std::sync::atomic::Ordering::SeqCst);
            }
            answer
        }
    };
    match answer {
        Ok(reply) => match serde_json::from_slice::<HealthCheckResponse>(&reply.payload) {
            Ok(response) if response.healthy => Health::Healthy,
            Ok(response) => Health::Unhealthy(
                response
                    .message
                    .unwrap_or_else(|| "the provider answered unhealthy".to_owned()),
            ),
            Err(e) => Health::NoAnswer(format!("its health answer is not JSON health: {e}")),
        },
        Err(e) => Health::NoAnswer(match e.kind() {
            async_nats::RequestErrorKind::TimedOut => {
                format!("no health answer within {timeout:?}")
            }
            async_nats::RequestErrorKind::NoResponders => {
                "nothing answers its health subject".to_owned()
            }
            _ => format!("health request failed: {e}"),
        }),
    }
}

fn nats_url(state: &HostState) -> String {
    if let Some(url) = &state.config.providers.nats_url {
        return url.clone();
    }
    let info = state.nats.server_info();
    let host = match info.host.as_str() {
        "" | "0.0.0.0" | "::" => "127.0.0.1",
        host => host,
    };
    format!("nats://{host}:{}", info.port)
}

async fn host_data(
    state: &HostState,
    slot: &ProviderSlot,
    spec: &ProviderSpec,
) -> Result<HostData, (crate::SecretErrorKind, StatusReason)> {
    // Its own secrets, resolved again for every process (a value changed in the backend
    // reaches the next start); they travel on stdin only.
    let secrets =
        crate::secrets::resolve_provider(state.config.secrets_backend.as_ref(), spec).await?;
    let mut data = HostData::new(
        state.config.host_id.to_string(),
        state.config.lattice.to_string(),
        slot.id.to_string(),
        nats_url(state),
    );
    data.instance_id = uuid_like();
    if let Some(credentials) = &state.config.providers.credentials {
        data.lattice_rpc_user_jwt = credentials.jwt.clone();
        data.lattice_rpc_user_seed = credentials.seed.clone();
    }
    data.provider_xkey_private_key = slot.xkey.seed().unwrap_or_default();
    data.host_xkey_public_key = match &state.config.link_secrets {
        Some(link_secrets) => {
            // Link secrets for this provider are sealed to the key its process holds.
            link_secrets.register_supervised(&slot.id, &slot.xkey);
            link_secrets.host_public_key()
        }
        None => String::new(),
    };
    data.secrets = secrets;
    if data.host_xkey_public_key.is_empty() {
        // No secrets backend: a 1.x SDK still needs both keys or neither; send neither.
        data.provider_xkey_private_key.clear();
    }
    data.link_definitions = link_definitions(state, &slot.id).await;
    data.default_rpc_timeout_ms =
        Some(u64::try_from(state.config.link_reply_timeout.as_millis()).unwrap_or(u64::MAX));
    // Named configurations merged left to right, then inline values (checked to resolve
    // before the first start; a configuration deleted since is left out of a restart).
    data.config = match crate::config::resolve(state.configs.as_ref(), spec.config()).await {
        Ok(config) => config,
        Err(e) => {
            tracing::warn!(provider = %slot.id, error = %crate::config::explain(&e), "a named configuration cannot be read; starting with the rest");
            let mut config = BTreeMap::new();
            for name in spec.config().names() {
                if let Ok(values) = state.configs.get(name, spec.config().pin(name)).await {
                    config.extend(values);
                }
            }
            config.extend(spec.config().values().clone());
            config
        }
    };
    Ok(data)
}

/// The links of this host's serving components that name `provider`, as 1.x hosts hand
/// them over at start, so a new process (a restart, an upgrade's candidate) has them before
/// it serves its first call. Links with secret references are left to the link requests sent
/// once it is running (their secrets are sealed per request).
async fn link_definitions(
    state: &HostState,
    provider: &ProviderId,
) -> Vec<lattice_link::HostLinkDefinition> {
    let mut definitions = Vec::new();
    for slot in state.slots() {
        let Some(spec) = slot.serving_spec() else {
            continue;
        };
        for link in spec.links().iter().filter(|l| {
            l.provider().as_ref() == Some(provider)
                && l.source_secrets().is_empty()
                && l.target_secrets().is_empty()
        }) {
            let (Ok(source_config), Ok(target_config)) = (
                crate::config::resolve(state.configs.as_ref(), link.source_config()).await,
                crate::config::resolve(state.configs.as_ref(), link.target_config()).await,
            ) else {
                continue;
            };
            let mut definition = lattice_link::HostLinkDefinition::default();
            definition.source_id = link.source_id(spec.id()).to_string();
            definition.target = link.target_id(spec.id()).to_string();
            definition.name = link.name().to_string();
            definition.wit_namespace = link.wit_namespace().to_owned();
            definition.wit_package = link.wit_package().to_owned();
            definition.interfaces = link.interfaces().to_vec();
            definition.source_config = source_config;
            definition.target_config = target_config;
            definitions.push(definition);
        }
    }
    definitions
}

/// A fresh, unique instance id (1.x uses a v4 UUID; any unique string does).
fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{nanos:x}-{:x}-{:x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

async fn spawn_process(exe: &Path, data: &HostData) -> std::io::Result<tokio::process::Child> {
    let mut command = tokio::process::Command::new(exe);
    command.env_clear();
    for (key, value) in std::env::vars_os() {
        let name = key.to_string_lossy();
        if name == "RUST_LOG" || name.starts_with("OTEL_") {
            command.env(&key, value);
        }
    }
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let mut child = command.spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        // A process that exits at once closes its stdin: that is seen as its exit, not here.
        if let Err(error) = stdin.write_all(&data.to_stdin_line()).await {
            tracing::debug!(%error, "cannot write the host data to the provider's stdin");
        }
        let _ = stdin.shutdown().await;
    }
    Ok(child)
}

/// Runs one revision's process: start, health, restarts, stop.
async fn supervise(
    state: Arc<HostState>,
    slot: Arc<ProviderSlot>,
    spec: Arc<ProviderSpec>,
    exe: PathBuf,
    run: Arc<Run>,
    ready: tokio::sync::oneshot::Sender<Result<(), StatusReason>>,
) {
    let stop = run.stop.clone();
    let policy = state.config.providers.clone();
    let mut ready = Some(ready);
    let first_start = Instant::now();
    let mut quick_exits = 0u32;
    let mut backoff = policy.initial_backoff;
    let mut restart_reason: Option<StatusReason> = None;
    loop {
        let starting = match restart_reason.take() {
            Some(reason) => ProviderStatus::new(ProviderState::Starting).with_reason(reason),
            None => ProviderStatus::new(ProviderState::Starting),
        };
        run.report(&state, &slot, starting).await;
        let data = match host_data(&state, &slot, &spec).await {
            Ok(data) => data,
            // The first start: the apply waiting for it keeps the previous revision.
            Err((_, reason)) if ready.is_some() => {
                return give_up(&state, &slot, &run, &mut ready, reason).await;
            }
            // A restart: a backend that is down may come back (retried with the backoff, as
            // a quick exit); a secret that is gone or refused stays so until someone acts.
            Err((kind, reason)) => {
                quick_exits += 1;
                tracing::warn!(provider = %slot.id, revision = %spec.revision(), reason = %reason.message, "the provider's secrets cannot be resolved for a restart");
                if !kind.is_retryable() || quick_exits >= policy.max_quick_exits {
                    return give_up(&state, &slot, &run, &mut ready, reason).await;
                }
                restart_reason = Some(reason.with_provider(&slot.id));
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(policy.max_backoff);
                continue;
            }
        };
        let mut child = match spawn_process(&exe, &data).await {
            Ok(child) => child,
            Err(e) => {
                let reason = StatusReason::new(
                    ReasonCode::ProviderNotExecutable,
                    format!(
                        "revision {}: cannot execute `{}`: {e}; is it an executable for this \
                         platform?",
                        spec.revision(),
                        exe.display()
                    ),
                );
                return give_up(&state, &slot, &run, &mut ready, reason).await;
            }
        };
        run.pid
            .store(child.id().unwrap_or(0), std::sync::atomic::Ordering::SeqCst);
        tracing::info!(provider = %slot.id, revision = %spec.revision(), pid = ?child.id(), instance = %data.instance_id, "provider process started");
        let started = Instant::now();
        let mut misses = 0u32;
        let mut next_poll = tokio::time::Instant::now() + policy.start_poll_interval;
        let exit = loop {
            tokio::select! {
                () = stop.cancelled() => {
                    graceful_stop(&state, &slot, &run, &mut child, &policy).await;
                    return;
                }
                exit = child.wait() => break exit,
                () = tokio::time::sleep_until(next_poll) => {
                    let current = run.state();
                    let running = matches!(current, ProviderState::Running | ProviderState::Unhealthy);
                    next_poll = tokio::time::Instant::now()
                        + if running { policy.health_interval } else { policy.start_poll_interval };
                    match poll_health(&state, &slot.id, &data.instance_id, policy.health_timeout, &run).await {
                        Health::Healthy => {
                            misses = 0;
                            if current != ProviderState::Running {
                                run.report(&state, &slot, ProviderStatus::new(ProviderState::Running)).await;
                                if let Some(ready) = ready.take() {
                                    let _ = ready.send(Ok(()));
                                }
                                if !run.is_candidate() {
                                    let (state, id) = (state.clone(), slot.id.clone());
                                    tokio::spawn(async move { reput_links(&state, &id).await });
                                }
                            }
                        }
                        Health::Unhealthy(message) => {
                            misses = 0;
                            let reason = StatusReason::new(ReasonCode::HealthCheckFailed, message);
                            if running || ready.is_none() {
                                set_unhealthy(&state, &slot, &run, reason).await;
                            } else if first_start.elapsed() >= policy.start_timeout {
                                graceful_stop(&state, &slot, &run, &mut child, &policy).await;
                                return give_up(&state, &slot, &run, &mut ready, not_healthy_in_time(&spec, &policy, &reason.message)).await;
                            }
                        }
                        Health::NoAnswer(why) => {
                            misses += 1;
                            if running && misses >= policy.unhealthy_after.max(1) {
                                let reason = StatusReason::new(
                                    ReasonCode::HealthCheckFailed,
                                    format!("the provider stopped answering health checks: {why}"),
                                );
                                set_unhealthy(&state, &slot, &run, reason).await;
                            } else if ready.is_some() && first_start.elapsed() >= policy.start_timeout {
                                graceful_stop(&state, &slot, &run, &mut child, &policy).await;
                                return give_up(&state, &slot, &run, &mut ready, not_healthy_in_time(&spec, &policy, &why)).await;
                            }
                        }
                    }
                }
            }
        };
        run.pid.store(0, std::sync::atomic::Ordering::SeqCst);
        let exit = match exit {
            Ok(status) => status.to_string(),
            Err(e) => format!("cannot wait for it: {e}"),
        };
        if started.elapsed() < policy.quick_exit_window {
            quick_exits += 1;
        } else {
            quick_exits = 1;
            backoff = policy.initial_backoff;
        }
        tracing::warn!(provider = %slot.id, revision = %spec.revision(), %exit, quick_exits, "provider process exited");
        if quick_exits >= policy.max_quick_exits {
            let reason = StatusReason::new(
                ReasonCode::ProviderExited,
                format!(
                    "revision {} exited {quick_exits} times in a row within {:?} of starting \
                     (last: {exit}); fix the provider (its output is in the host's stderr) and \
                     apply a new revision",
                    spec.revision(),
                    policy.quick_exit_window
                ),
            );
            return give_up(&state, &slot, &run, &mut ready, reason).await;
        }
        if !run.is_candidate() {
            slot.record().restarts += 1;
        }
        restart_reason = Some(
            StatusReason::new(
                ReasonCode::ProviderExited,
                format!("the provider process exited ({exit}); restarted after {backoff:?}"),
            )
            .with_provider(&slot.id),
        );
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(policy.max_backoff);
    }
}

fn not_healthy_in_time(
    spec: &ProviderSpec,
    policy: &ProviderSupervision,
    last: &str,
) -> StatusReason {
    StatusReason::new(
        ReasonCode::HealthCheckFailed,
        format!(
            "revision {} did not answer healthy within {:?} of starting (last: {last}); check \
             that it serves `wasmbus.rpc.{{lattice}}.{{provider}}.health` and reads the host \
             data on stdin",
            spec.revision(),
            policy.start_timeout
        ),
    )
}

/// The revision cannot run: tell whoever waits for it to start, or mark the provider failed.
async fn give_up(
    state: &HostState,
    slot: &ProviderSlot,
    run: &Run,
    ready: &mut Option<tokio::sync::oneshot::Sender<Result<(), StatusReason>>>,
    reason: StatusReason,
) {
    let reason = reason.with_provider(&slot.id);
    match ready.take() {
        // The apply waiting for it decides (and may start the previous revision again).
        Some(ready) => {
            let _ = ready.send(Err(reason));
        }
        None => {
            run.report(state, slot, ProviderStatus::failed(reason))
                .await
        }
    }
}

async fn set_unhealthy(state: &HostState, slot: &ProviderSlot, run: &Run, reason: StatusReason) {
    let current = lock(&run.status).clone();
    if current.state == ProviderState::Unhealthy && current.reason.as_ref() == Some(&reason) {
        return;
    }
    run.report(
        state,
        slot,
        ProviderStatus::new(ProviderState::Unhealthy).with_reason(reason.with_provider(&slot.id)),
    )
    .await;
}

trait WithProvider {
    fn with_provider(self, id: &ProviderId) -> Self;
}

impl WithProvider for StatusReason {
    fn with_provider(mut self, id: &ProviderId) -> Self {
        self.provider_id = Some(id.to_string());
        self
    }
}

/// Moves the provider to `status`, publishes the transition, and tells the components linked
/// to it.
async fn set_status(state: &HostState, slot: &ProviderSlot, status: ProviderStatus) {
    let previous = {
        let mut record = slot.record();
        std::mem::replace(&mut record.status, status.clone()).state
    };
    publish(state, slot, Some(previous), status.clone()).await;
    components_follow(state, &slot.id, &status).await;
}

async fn publish(
    state: &HostState,
    slot: &ProviderSlot,
    previous: Option<ProviderState>,
    status: ProviderStatus,
) {
    let event = ProviderStatusEvent::new(state.next_origin(), slot.id.clone(), previous, status);
    let subject = EventSubject {
        lattice: state.config.lattice.clone(),
        host_id: state.config.host_id.clone(),
        source: EventSource::Provider(slot.id.clone()),
    };
    state.publish(subject, event.encode()).await;
}

/// A component whose serving revision links to the provider is `unhealthy` (reason
/// `provider_unhealthy`, naming the provider) while the provider is not `running`, and
/// `running` again when it is.
async fn components_follow(state: &HostState, provider: &ProviderId, status: &ProviderStatus) {
    for slot in state.slots() {
        let Some((revision, current, reason)) = ({
            let record = slot.record();
            record.serving.as_ref().and_then(|(serving, spec)| {
                // `transition` records the status on the desired entry when it is the
                // serving revision.
                let status = if record.desired.revision == serving.revision {
                    &record.desired.status
                } else {
                    &serving.status
                };
                spec.links()
                    .iter()
                    .any(|l| l.provider().as_ref() == Some(provider))
                    .then(|| (serving.revision, status.state, status.reason.clone()))
            })
        }) else {
            continue;
        };
        let ours = reason.as_ref().is_some_and(|r| {
            r.code == ReasonCode::ProviderUnhealthy
                && r.provider_id.as_deref() == Some(provider.as_str())
        });
        match status.state {
            ProviderState::Running if current == ComponentState::Unhealthy && ours => {
                state
                    .transition(
                        &slot,
                        revision,
                        ComponentStatus::new(ComponentState::Running),
                    )
                    .await;
            }
            ProviderState::Unhealthy
            | ProviderState::Starting
            | ProviderState::Failed
            | ProviderState::Stopping
                if current == ComponentState::Running =>
            {
                let why = status
                    .reason
                    .as_ref()
                    .map(|r| format!(": {}", r.message))
                    .unwrap_or_default();
                let reason = StatusReason::new(
                    ReasonCode::ProviderUnhealthy,
                    format!("linked provider `{provider}` is {}{why}", status.state),
                )
                .with_provider(provider);
                state
                    .transition(
                        &slot,
                        revision,
                        ComponentStatus::new(ComponentState::Unhealthy).with_reason(reason),
                    )
                    .await;
            }
            _ => {}
        }
    }
}

/// Puts the links of every component on this host that uses `provider` again: a provider
/// process that (re)started has none of them (1.x hosts hand them over in the host data;
/// this host sends them as link requests, which both kinds of provider receive).
///
/// Each component's apply lock is held meanwhile: an upgrade in progress (whose link request
/// may have died with the old process) ends first, so the links put are those of the
/// revision that serves after it — not the one it replaced, which would leave the provider
/// with the old configuration and the new revision's link `unacknowledged` for good.
async fn reput_links(state: &HostState, provider: &ProviderId) {
    for slot in state.slots() {
        let _serial = slot.apply_lock.lock().await;
        let Some((revision, spec)) = slot
            .record()
            .serving
            .as_ref()
            .map(|(s, spec)| (s.revision, spec.clone()))
        else {
            continue;
        };
        for link in spec
            .links()
            .iter()
            .filter(|l| l.provider().as_ref() == Some(provider))
        {
            let status = match state
                .links
                .put(&slot.id, link, state.configs.as_ref())
                .await
            {
                crate::links::LinkOutcome::Established => LinkStatus::new(LinkState::Established),
                crate::links::LinkOutcome::Unacknowledged => {
                    LinkStatus::new(LinkState::Unacknowledged)
                }
                crate::links::LinkOutcome::Refused(refusal) => {
                    LinkStatus::failed(StatusReason::link_refused(
                        provider.as_str(),
                        link.name().as_str(),
                        refusal.kind,
                        refusal.message,
                    ))
                }
            };
            state.link_status(&slot, revision, link, status).await;
        }
    }
}

/// Asks the process to shut down, then SIGTERM, then SIGKILL, each step bounded.
async fn stop_process(
    state: &HostState,
    slot: &ProviderSlot,
    child: &mut tokio::process::Child,
    policy: &ProviderSupervision,
    quiet: bool,
) {
    if !quiet {
        ask_to_shut_down(state, slot, policy).await;
        if tokio::time::timeout(policy.stop_timeout, child.wait())
            .await
            .is_ok()
        {
            return;
        }
    }
    #[cfg(unix)]
    if let Some(pid) = child
        .id()
        .and_then(|pid| i32::try_from(pid).ok())
        .and_then(rustix::process::Pid::from_raw)
    {
        if !quiet {
            tracing::warn!(provider = %slot.id, "the provider did not stop when asked; sending SIGTERM");
        }
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        if tokio::time::timeout(policy.stop_timeout, child.wait())
            .await
            .is_ok()
        {
            return;
        }
    }
    tracing::warn!(provider = %slot.id, "the provider did not stop; killing it");
    let _ = child.kill().await;
}

/// The 1.x shutdown request, with this host's id.
async fn ask_to_shut_down(state: &HostState, slot: &ProviderSlot, policy: &ProviderSupervision) {
    let subject = ProviderSubject::new(
        state.config.lattice.clone(),
        slot.id.clone(),
        ProviderOperation::Shutdown,
    )
    .to_string();
    let body = serde_json::json!({ "host_id": state.config.host_id.as_str() }).to_string();
    let request = async_nats::Request::new()
        .payload(body.into())
        .timeout(Some(policy.stop_timeout));
    if let Err(error) = state.nats.send_request(subject, request).await {
        tracing::debug!(provider = %slot.id, %error, "the provider did not answer its shutdown request");
    }
}

/// [`stop_process`] and forget its process id.
async fn graceful_stop(
    state: &HostState,
    slot: &ProviderSlot,
    run: &Run,
    child: &mut tokio::process::Child,
    policy: &ProviderSupervision,
) {
    let quiet = run.quiet.load(std::sync::atomic::Ordering::SeqCst);
    stop_process(state, slot, child, policy, quiet).await;
    run.pid.store(0, std::sync::atomic::Ordering::SeqCst);
}

#[cfg(test)]
mod credentials_tests {
    use super::*;

    fn creds_file(jwt: &str, seed: &str) -> String {
        format!(
            "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
             ************************* IMPORTANT *************************\n\
             NKEY Seed printed below can be used to sign and prove identity.\n\n\
             -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n"
        )
    }

    #[test]
    fn a_creds_file_gives_its_jwt_and_seed() {
        let user = nkeys::KeyPair::new_user();
        let seed = user.seed().unwrap();
        let credentials = ProviderCredentials::from_creds(&creds_file("eyJ.a.b", &seed)).unwrap();
        assert_eq!(
            credentials,
            ProviderCredentials::new("eyJ.a.b", seed.clone())
        );
        assert_eq!(credentials.jwt(), "eyJ.a.b");
        let debug = format!("{credentials:?}");
        assert!(!debug.contains(&seed) && !debug.contains("eyJ"), "{debug}");
    }

    #[test]
    fn a_file_without_both_blocks_or_with_another_seed_is_refused() {
        let user_seed = nkeys::KeyPair::new_user().seed().unwrap();
        let account_seed = nkeys::KeyPair::new_account().seed().unwrap();
        let jwt_only = "-----BEGIN NATS USER JWT-----\neyJ.a.b\n------END NATS USER JWT------\n";
        for (contents, what) in [
            ("not a creds file", "no user JWT block"),
            (jwt_only, "no nkey seed block"),
            (&creds_file("eyJ.a.b", &account_seed), "not a user seed"),
        ] {
            let error = ProviderCredentials::from_creds(contents).unwrap_err();
            assert!(error.to_string().contains(what), "{error}");
        }
        assert!(ProviderCredentials::from_creds(&creds_file("eyJ.a.b", &user_seed)).is_ok());
    }
}
