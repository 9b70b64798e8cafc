//! The host directory: which hosts the lattice has, kept from the hosts' presence messages,
//! so that discovery knows whom to wait for instead of waiting a fixed window.
//!
//! Every lattice host publishes a [`HostPresence`] on its own subject
//! (`wasmbus.status.v2alpha1.{lattice}.host.{host_id}`) when it starts, with every heartbeat
//! and when it stops. A host only publishes — it writes no lattice-wide state. The *client*
//! creates (if missing) a JetStream stream `LATTICE_HOSTS_{lattice}` on those subjects that
//! keeps the last message per host, in memory, for [`DIRECTORY_MAX_AGE`]; any client, even a
//! fresh short-lived process such as the CLI, reads the whole directory in one ordered
//! consumer pass (one small message per host).
//!
//! A host the directory lists is *expected* when its last presence says alive and is not
//! older than [`STALE_AFTER_HEARTBEATS`] of its heartbeat intervals plus [`STALE_SLACK`] (a
//! host killed without stopping is expected until then, and reported as unanswered; a host
//! that stopped gracefully is not expected at once). A host whose interval is 0 (presence at
//! start only) stays expected until the stream drops it after [`DIRECTORY_MAX_AGE`].
//!
//! Ages are measured from the server's timestamp of the stream message against this
//! process's clock: a clock skew of a few seconds between the two is absorbed by the slack.

use crate::error::{DirectoryError, DirectoryErrorKind};
use async_nats::jetstream::{
    self,
    consumer::{DeliverPolicy, pull::OrderedConfig},
    stream::{Config, DiscardPolicy, StorageType},
};
use futures::StreamExt;
use lattice_ctl::{HostPresence, PresenceState, PresenceSubject};
use lattice_spec::{HostId, LatticeName, WireMessage};
use std::time::{Duration, SystemTime};

/// How long the directory stream keeps a host's last presence: ten minutes, longer than any
/// sensible heartbeat interval times [`STALE_AFTER_HEARTBEATS`].
pub const DIRECTORY_MAX_AGE: Duration = Duration::from_secs(600);

/// How many heartbeat intervals a host may miss before the directory stops expecting it.
pub const STALE_AFTER_HEARTBEATS: u32 = 3;

/// Added to the staleness bound, for clock skew and a loaded host's late heartbeat.
pub const STALE_SLACK: Duration = Duration::from_secs(10);

/// The name of the directory stream of `lattice`: `LATTICE_HOSTS_{lattice}`.
#[must_use]
pub fn stream_name(lattice: &LatticeName) -> String {
    format!("LATTICE_HOSTS_{lattice}")
}

/// One host the directory knows, from its last presence.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct KnownHost {
    /// The host.
    pub host_id: HostId,
    /// What its last presence said.
    pub state: PresenceState,
    /// Its heartbeat interval (zero: it publishes its presence only at start and stop).
    pub heartbeat_interval: Duration,
    /// How long ago (server timestamp against this process's clock) it published it.
    pub age: Duration,
}

impl KnownHost {
    /// A host in `state`, just seen, publishing its presence only at start and stop (set the
    /// public fields for the rest).
    #[must_use]
    pub fn new(host_id: HostId, state: PresenceState) -> Self {
        Self {
            host_id,
            state,
            heartbeat_interval: Duration::ZERO,
            age: Duration::ZERO,
        }
    }

    /// Whether discovery should wait for this host: its last presence says alive and is not
    /// stale (see the [module documentation](self)).
    #[must_use]
    pub fn is_expected(&self) -> bool {
        self.state == PresenceState::Alive
            && (self.heartbeat_interval.is_zero()
                || self.age <= self.heartbeat_interval * STALE_AFTER_HEARTBEATS + STALE_SLACK)
    }
}

/// The stream's configuration.
fn config(lattice: &LatticeName) -> Config {
    Config {
        name: stream_name(lattice),
        description: Some(format!(
            "The last presence of each host of the lattice `{lattice}` (created by lattice-client)."
        )),
        subjects: vec![PresenceSubject::every_host(lattice)],
        max_messages_per_subject: 1,
        max_age: DIRECTORY_MAX_AGE,
        storage: StorageType::Memory,
        discard: DiscardPolicy::Old,
        ..Default::default()
    }
}

/// Reads the directory of `lattice`, creating its stream first if it does not exist (then it
/// is empty: hosts appear with their next presence).
pub(crate) async fn read(
    nats: &async_nats::Client,
    lattice: &LatticeName,
) -> Result<Vec<KnownHost>, DirectoryError> {
    let context = jetstream::new(nats.clone());
    let stream = context
        .get_or_create_stream(config(lattice))
        .await
        .map_err(|source| DirectoryError::Stream {
            stream: stream_name(lattice),
            source,
        })?;
    let messages = stream.cached_info().state.messages;
    if messages == 0 {
        return Ok(Vec::new());
    }
    let consumer = stream
        .create_consumer(OrderedConfig {
            deliver_policy: DeliverPolicy::LastPerSubject,
            filter_subject: PresenceSubject::every_host(lattice),
            ..Default::default()
        })
        .await
        .map_err(|source| DirectoryError::Consumer {
            stream: stream_name(lattice),
            source,
        })?;
    let mut delivered = consumer
        .messages()
        .await
        .map_err(|source| DirectoryError::Messages {
            stream: stream_name(lattice),
            source,
        })?;
    let now = SystemTime::now();
    let mut hosts = Vec::with_capacity(usize::try_from(messages).unwrap_or(0));
    while let Some(message) = delivered.next().await {
        let message = message.map_err(|source| DirectoryError::Read {
            stream: stream_name(lattice),
            source,
        })?;
        let Ok(info) = message.info() else {
            continue;
        };
        let (pending, published) = (info.pending, info.published);
        match HostPresence::decode(&message.payload) {
            Ok(presence) => {
                let published = SystemTime::UNIX_EPOCH
                    + Duration::from_nanos(
                        u64::try_from(published.unix_timestamp_nanos()).unwrap_or(0),
                    );
                hosts.push(KnownHost {
                    host_id: presence.host_id,
                    state: presence.state,
                    heartbeat_interval: Duration::from_millis(presence.heartbeat_interval_ms),
                    age: now.duration_since(published).unwrap_or_default(),
                });
            }
            Err(error) => {
                tracing::warn!(%error, subject = %message.subject, "skipping an undecodable host presence");
            }
        }
        if pending == 0 {
            break;
        }
    }
    Ok(hosts)
}

impl DirectoryError {
    /// The kind of failure.
    #[must_use]
    pub fn kind(&self) -> DirectoryErrorKind {
        match self {
            Self::Stream { source, .. } => match source.kind() {
                jetstream::context::CreateStreamErrorKind::JetStreamUnavailable => {
                    DirectoryErrorKind::Unavailable
                }
                jetstream::context::CreateStreamErrorKind::JetStream(_) => {
                    DirectoryErrorKind::Refused
                }
                _ => DirectoryErrorKind::Transport,
            },
            Self::Consumer { .. } | Self::Messages { .. } | Self::Read { .. } => {
                DirectoryErrorKind::Transport
            }
        }
    }
}
