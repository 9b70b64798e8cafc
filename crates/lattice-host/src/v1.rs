//! The wasmCloud 1.x control interface of one host, served beside v2alpha1, and the 1.x host
//! events (CloudEvents on `wasmbus.evt.{lattice}.…`), so that `wash`, wadm and the 1.x
//! control-interface client see lattice hosts.
//!
//! - **Reads**: `host.ping` answers a 1.x `Host`, `host.get.{host}` a 1.x `HostInventory`
//!   listing each component whose revision serves (its serving spec as a
//!   `ComponentDescription`).
//! - **Component writes** become v2alpha1 applies through the same admission and upgrade
//!   sequence (`component.scale`, `component.update`), under the revision rule of
//!   [`lattice_ctl::v1`]: derived from the serving spec, applied at the most recently accepted
//!   revision + 1, nothing applied when nothing changes; a scale to 0 deletes.
//! - **Everything else** (providers, labels, host stop, and — with
//!   [`V1LatticeWide::Refuse`] — links and configuration) is answered `success: false` with
//!   what is not supported and why.
//! - **Events**: `host_started` and a `host_heartbeat` at start, a heartbeat every
//!   [`HostConfig::heartbeat_interval`](crate::HostConfig), `host_stopped` when the handle is
//!   dropped. Beside each, the v2alpha1 [`HostPresence`] on the host's own presence subject
//!   (alive at start and with every heartbeat, stopped when it stops), from which clients keep
//!   their host directory.

use crate::{
    config::V1LatticeWide,
    server::{encode_or, respond, start_apply},
    state::HostState,
    upgrade,
};
use bytes::Bytes;
use lattice_ctl::{
    ApplyOutcome, HostPresence, PresenceState,
    v1::{
        CloudEvent, ComponentDescription, CtlResponse, HOST_HEARTBEAT, HOST_STARTED, HOST_STOPPED,
        Host, HostInventory, HostStarted, HostStopped, ProviderDescription, ScaleComponentCommand,
        UpdateComponentCommand, V1_PREFIX, V1Base, V1EventSubject, V1Subject, same_intent,
        uptime_human,
    },
};
use lattice_spec::{ComponentId, ComponentSpec, Revision};
use lattice_status::ComponentState;
use serde::Serialize;
use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};
use tracing::Instrument;

/// The version 1.x peers see: a plain semantic version (wadm parses the heartbeat's `version`
/// as one).
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Subscribes to the 1.x subjects this host answers.
///
/// # Errors
///
/// When a subscription cannot be made.
pub(crate) async fn subscribe(
    state: &HostState,
) -> Result<Vec<async_nats::Subscriber>, async_nats::SubscribeError> {
    let (lattice, host_id) = (&state.config.lattice, &state.config.host_id);
    let mut subscriptions = Vec::new();
    for subject in V1Subject::host_subscriptions(lattice, host_id) {
        subscriptions.push(state.nats.subscribe(subject).await?);
    }
    if state.config.v1_lattice_wide == V1LatticeWide::Refuse {
        for wide in V1Subject::lattice_wide_subscriptions(lattice) {
            subscriptions.push(match wide.queue_group {
                Some(group) => state.nats.queue_subscribe(wide.subject, group).await?,
                None => state.nats.subscribe(wide.subject).await?,
            });
        }
    }
    Ok(subscriptions)
}

/// Whether `subject` is a 1.x control subject.
pub(crate) fn is_v1(subject: &str) -> bool {
    subject
        .strip_prefix(V1_PREFIX)
        .is_some_and(|rest| rest.starts_with('.'))
}

/// What a host answers on a 1.x subject when its own reply cannot be encoded (see
/// [`encode_or`]).
const UNENCODABLE_V1_REPLY: &[u8] =
    br#"{"success":false,"message":"the host could not encode its reply; see its log"}"#;

/// A 1.x reply as JSON (see [`encode_or`]).
fn encode<T: Serialize>(reply: &T) -> Bytes {
    encode_or(reply, UNENCODABLE_V1_REPLY)
}

/// Answers one 1.x request.
pub(crate) async fn handle(state: Arc<HostState>, message: async_nats::Message) {
    let span = tracing::info_span!("lattice.host.v1_request", subject = %message.subject);
    lattice_nats::trace::set_parent(&span, message.headers.as_ref());
    async {
        let reply = match message.subject.as_str().parse::<V1Subject>() {
            Ok(V1Subject::HostPing { .. }) => encode(&CtlResponse::ok(host(&state))),
            Ok(V1Subject::HostInventory { .. }) => encode(&CtlResponse::ok(inventory(&state))),
            Ok(V1Subject::ScaleComponent { .. }) => {
                encode(&scale_component(&state, &message.payload).await)
            }
            Ok(V1Subject::UpdateComponent { .. }) => {
                encode(&update_component(&state, &message.payload).await)
            }
            Ok(other) => encode(&CtlResponse::<()>::error(unsupported(&other))),
            Err(error) => encode(&CtlResponse::<()>::error(format!(
                "this host does not serve `{}`: {error}",
                message.subject
            ))),
        };
        respond(&state, &message, reply).await;
    }
    .instrument(span)
    .await;
}

/// Why this host does not perform `operation`.
fn unsupported(operation: &V1Subject) -> String {
    let name = operation.operation();
    let why = match operation {
        V1Subject::LinkPut { .. } | V1Subject::LinkDelete { .. } | V1Subject::LinkGet { .. } => {
            "a lattice host keeps no lattice-wide link table: links are part of each component's \
             spec (apply a v2alpha1 component spec that has the link)"
        }
        V1Subject::ConfigPut { .. }
        | V1Subject::ConfigGet { .. }
        | V1Subject::ConfigDelete { .. } => {
            "lattice hosts only read named configuration; the scheduler writes it to the \
             configuration store the hosts read"
        }
        V1Subject::ProviderStart { .. } | V1Subject::ProviderStop { .. } => {
            "a lattice host starts and stops providers from v2alpha1 provider specs \
             (`wasmbus.ctl.v2alpha1.{lattice}.provider.apply.{host}` / `provider.delete`), which \
             it supervises; apply a provider spec"
        }
        V1Subject::LabelPut { .. } | V1Subject::LabelDelete { .. } => {
            "a lattice host's labels are fixed in its configuration"
        }
        V1Subject::HostStop { .. } => {
            "a lattice host is stopped by the process that embeds it, not over the control \
             interface"
        }
        _ => "this host does not implement it",
    };
    format!("`{name}` is not supported by this lattice host: {why}")
}

/// The host as a 1.x ping reply.
fn host(state: &HostState) -> Host {
    let summary = state.summary();
    let mut host = Host::default();
    host.id = summary.host_id.to_string();
    host.friendly_name = summary.friendly_name;
    host.labels = summary.labels;
    host.labels.insert(
        lattice_ctl::v1::API_VERSIONS_LABEL.to_owned(),
        summary.api_versions.join(","),
    );
    host.lattice = summary.lattice.to_string();
    host.uptime_human = Some(uptime_human(Duration::from_secs(summary.uptime_seconds)));
    host.uptime_seconds = summary.uptime_seconds;
    host.version = Some(VERSION.to_owned());
    host
}

/// The host's 1.x inventory: each component whose revision serves, described by its serving
/// spec (1.x has no status: presence means running), and the providers.
pub(crate) fn inventory(state: &HostState) -> HostInventory {
    let current = state.inventory();
    let summary = state.summary();
    let mut inventory = HostInventory::default();
    inventory.components = current
        .components
        .iter()
        .filter_map(|component| {
            let slot = state.slot(&component.component_id)?;
            let record = slot.record();
            let (status, spec) = record.serving.as_ref()?;
            status
                .status
                .state
                .is_serving()
                .then(|| ComponentDescription::from_spec(spec))
        })
        .collect();
    inventory.providers = current
        .providers
        .iter()
        .map(|provider| {
            let mut description = ProviderDescription::default();
            description.id = provider.provider_id.to_string();
            description.image_ref = provider.artifact.as_ref().map(ToString::to_string);
            description.revision = provider
                .revision
                .and_then(|r| i32::try_from(r.0).ok())
                .unwrap_or_default();
            description.annotations =
                (!provider.annotations.is_empty()).then(|| provider.annotations.clone());
            description
        })
        .collect();
    inventory.host_id = summary.host_id.to_string();
    inventory.friendly_name = summary.friendly_name;
    inventory.labels = summary.labels;
    inventory.version = VERSION.to_owned();
    inventory.uptime_human = uptime_human(Duration::from_secs(summary.uptime_seconds));
    inventory.uptime_seconds = summary.uptime_seconds;
    inventory
}

/// What the host has of a component: the serving spec, the most recently accepted spec and
/// whether that one failed.
struct Current {
    serving: Option<Arc<ComponentSpec>>,
    desired: Option<(Arc<ComponentSpec>, bool)>,
}

impl Current {
    fn of(state: &HostState, id: &ComponentId) -> Self {
        let Some(slot) = state.slot(id) else {
            return Self {
                serving: None,
                desired: None,
            };
        };
        let record = slot.record();
        Self {
            serving: record.serving.as_ref().map(|(_, spec)| spec.clone()),
            desired: Some((
                record.desired_spec.clone(),
                record.desired.status.state == ComponentState::Failed,
            )),
        }
    }

    /// What a 1.x scale is derived from: the serving spec, else the most recently accepted
    /// one (so a first apply still in flight keeps its links), else nothing.
    fn base(&self) -> V1Base<'_> {
        match (&self.serving, &self.desired) {
            (Some(serving), _) => V1Base::Serving(serving),
            (None, Some((desired, _))) => V1Base::Accepted(desired),
            (None, None) => V1Base::New,
        }
    }

    /// The revision a 1.x write is applied at: the most recently accepted one + 1.
    fn next_revision(&self) -> Revision {
        self.desired
            .as_ref()
            .map_or(Revision(1), |(spec, _)| spec.revision().next())
    }

    /// Whether `spec` asks for what was most recently accepted (and did not fail).
    fn already_desired(&self, spec: &ComponentSpec) -> bool {
        self.desired
            .as_ref()
            .is_some_and(|(desired, failed)| !failed && same_intent(desired, spec))
    }
}

fn decode<T: serde::de::DeserializeOwned>(payload: &[u8], what: &str) -> Result<T, String> {
    serde_json::from_slice(payload).map_err(|e| format!("cannot decode the {what}: {e}"))
}

async fn scale_component(state: &Arc<HostState>, payload: &[u8]) -> CtlResponse<()> {
    let command: ScaleComponentCommand = match decode(payload, "scale command") {
        Ok(command) => command,
        Err(message) => return CtlResponse::error(message),
    };
    let id: ComponentId = match command.component_id.parse() {
        Ok(id) => id,
        Err(error) => return CtlResponse::error(format!("invalid component id: {error}")),
    };
    if command.max_instances == 0 {
        return match state.slot(&id) {
            Some(slot) => {
                upgrade::spawn_delete(state.clone(), slot);
                CtlResponse::success(format!("component {id} is stopping"))
            }
            None => CtlResponse::success(format!("component {id} is not on this host")),
        };
    }
    let current = Current::of(state, &id);
    let change = match command.to_spec(current.base(), current.next_revision()) {
        Ok(change) => change,
        Err(errors) => return CtlResponse::error(format!("invalid scale command: {errors}")),
    };
    let mut message = change.notes.join(" ");
    if current.already_desired(&change.spec) {
        return CtlResponse::success(message);
    }
    match apply(state, change.spec).await {
        Ok(revision) => {
            if message.is_empty() {
                message = format!("component {id} applied as revision {revision}");
            }
            CtlResponse::success(message)
        }
        Err(refusal) => CtlResponse::error(refusal),
    }
}

async fn update_component(state: &Arc<HostState>, payload: &[u8]) -> CtlResponse<()> {
    let command: UpdateComponentCommand = match decode(payload, "update command") {
        Ok(command) => command,
        Err(message) => return CtlResponse::error(message),
    };
    let id: ComponentId = match command.component_id.parse() {
        Ok(id) => id,
        Err(error) => return CtlResponse::error(format!("invalid component id: {error}")),
    };
    let current = Current::of(state, &id);
    let Some(serving) = current.serving.as_deref() else {
        return CtlResponse::error(format!("component {id} not found"));
    };
    let new_ref = &command.new_component_ref;
    if serving.artifact().to_string() == *new_ref {
        return CtlResponse::success(format!("component {id} already updated to {new_ref}"));
    }
    let spec = match command.to_spec(serving, current.next_revision()) {
        Ok(spec) => spec,
        Err(errors) => return CtlResponse::error(format!("invalid update command: {errors}")),
    };
    if current.already_desired(&spec) {
        return CtlResponse::success(format!("component {id} is already updating to {new_ref}"));
    }
    let from = serving.artifact().to_string();
    match apply(state, spec).await {
        Ok(revision) => CtlResponse::success(format!(
            "component {id} updating from {from} to {new_ref} as revision {revision}"
        )),
        Err(refusal) => CtlResponse::error(refusal),
    }
}

/// Admits `spec` as a v2alpha1 apply would be and starts its upgrade.
async fn apply(state: &Arc<HostState>, spec: ComponentSpec) -> Result<Revision, String> {
    let spec = Arc::new(spec);
    let revision = spec.revision();
    let (slot, outcome) = state.admit(&spec);
    match outcome {
        ApplyOutcome::Accepted | ApplyOutcome::Unchanged => {
            if let Some(slot) = slot {
                start_apply(state, slot, spec).await;
            }
            Ok(revision)
        }
        ApplyOutcome::Rejected(rejection) => Err(rejection.message),
        other => Err(format!("the apply was not accepted: {other:?}")),
    }
}

/// Publishes `host_started` and a first heartbeat, then a heartbeat every interval.
pub(crate) fn spawn_heartbeat(state: Arc<HostState>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let config = &state.config;
        let started =
            HostStarted::new(config.friendly_name.clone(), config.labels.clone(), VERSION);
        publish_presence(&state, PresenceState::Alive).await;
        publish_event(&state, HOST_STARTED, &started).await;
        publish_event(&state, HOST_HEARTBEAT, &inventory(&state)).await;
        let interval = config.heartbeat_interval;
        if interval.is_zero() {
            return;
        }
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            publish_presence(&state, PresenceState::Alive).await;
            publish_event(&state, HOST_HEARTBEAT, &inventory(&state)).await;
        }
    })
}

/// Publishes `host_stopped` (best effort: on the runtime the host was dropped in, if any).
pub(crate) fn publish_stopped(state: &Arc<HostState>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let state = state.clone();
    runtime.spawn(async move {
        publish_presence(&state, PresenceState::Stopped).await;
        let stopped = HostStopped::new(state.config.labels.clone());
        publish_event(&state, HOST_STOPPED, &stopped).await;
        // The handle is gone: make sure the event leaves before this last task ends.
        let _ = tokio::time::timeout(Duration::from_secs(1), state.nats.flush()).await;
    });
}

/// Publishes the host's v2alpha1 presence on its own subject (see [`HostPresence`]): at start
/// and with every heartbeat `Alive`, when it stops `Stopped`. Only a publish: a client keeps
/// the directory.
pub(crate) async fn publish_presence(state: &HostState, presence: PresenceState) {
    let interval_ms =
        u64::try_from(state.config.heartbeat_interval.as_millis()).unwrap_or(u64::MAX);
    let message = HostPresence::new(
        state.config.host_id.clone(),
        state.config.lattice.clone(),
        presence,
        interval_ms,
    );
    let subject = message.subject().to_string();
    match lattice_spec::WireMessage::encode(&message) {
        Ok(payload) => {
            if let Err(error) = state.nats.publish(subject.clone(), payload).await {
                tracing::warn!(%error, %subject, "cannot publish the host's presence");
            }
        }
        Err(error) => tracing::error!(%error, %subject, "cannot encode the host's presence"),
    }
}

async fn publish_event<T: Serialize>(state: &HostState, event: &str, data: &T) {
    // A NUID from the connection's generator (the last token of a fresh inbox): unique
    // across hosts and restarts, as CloudEvents ids must be per source.
    let inbox = state.nats.new_inbox();
    let id = inbox.rsplit('.').next().unwrap_or(&inbox).to_owned();
    let envelope = CloudEvent::new(
        state.config.host_id.to_string(),
        event,
        id,
        SystemTime::now(),
        data,
    );
    let subject = V1EventSubject::new(state.config.lattice.clone(), event);
    match serde_json::to_vec(&envelope) {
        Ok(payload) => {
            if let Err(error) = state
                .nats
                .publish(subject.to_string(), Bytes::from(payload))
                .await
            {
                tracing::warn!(%error, %subject, "cannot publish a 1.x event");
            }
        }
        Err(error) => tracing::error!(%error, %subject, "cannot encode a 1.x event"),
    }
}

#[cfg(test)]
mod encode_tests {
    use super::*;

    struct Unencodable;

    impl Serialize for Unencodable {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("broken"))
        }
    }

    #[test]
    fn a_1x_reply_that_cannot_be_encoded_is_answered_with_a_1x_failure() {
        let response: CtlResponse<()> =
            serde_json::from_slice(&encode(&Unencodable)).expect("the fallback is a 1.x reply");
        let message = response.into_result().unwrap_err();
        assert!(message.contains("could not encode"), "{message}");
    }
}
