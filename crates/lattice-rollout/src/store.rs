//! Durable scheduler state in a JetStream key-value bucket owned by the scheduler (hosts never
//! write it): every application revision with a bounded history, the desired and last stable
//! revision, the rollout in progress and the operator's control commands.
//!
//! Keys (bucket `LATTICE_ROLLOUTS_{lattice}`):
//! `apps.{app}.revisions.{n}` (zero-padded), `apps.{app}.desired`, `apps.{app}.stable`,
//! `apps.{app}.rollout`, `apps.{app}.control`.

use crate::model::{AppName, AppRevision};
use crate::record::{Control, RolloutRecord};
use async_nats::jetstream::{self, kv};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use lattice_ctl::rollout::RolloutKey;
use lattice_nats::KvError;
use lattice_spec::WireMessage;
use lattice_spec::{LatticeName, Revision};
use lattice_status::RolloutState;
use serde::{Serialize, de::DeserializeOwned};

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Another rollout of the application is in progress.
    #[error(
        "a rollout of `{app}` to revision {revision} is already {state}; wait for it, or `lattice rollout abort`"
    )]
    Conflict {
        /// The application.
        app: AppName,
        /// The revision being rolled out.
        revision: Revision,
        /// Its state.
        state: RolloutState,
    },
    /// Someone else wrote the entry between our read and our write: the compare-and-swap was
    /// lost (JetStream answered `wrong last revision` or `already exists`).
    #[error("`{key}` of `{app}` was written by another scheduler first")]
    Changed {
        /// The application.
        app: AppName,
        /// The key.
        key: String,
        /// What JetStream answered.
        #[source]
        source: KvError,
    },
    /// A JetStream key-value operation failed: a timeout, JetStream unavailable, the
    /// connection lost. Whether the write happened is unknown after a timeout.
    #[error("jetstream key-value: cannot {operation} `{key}`")]
    JetStream {
        /// What was attempted, e.g. `read` or `create`.
        operation: &'static str,
        /// The key (or the bucket, for opening it).
        key: String,
        /// What async-nats said.
        #[source]
        source: KvError,
    },
    /// The watch of the operator's commands ended (the connection closed).
    #[error("the watch of `{key}` ended")]
    WatchEnded {
        /// The key.
        key: String,
    },
    /// A revision the rollout record names is not in the stored history.
    #[error("revision {revision} of `{app}` is not stored")]
    MissingRevision {
        /// The application.
        app: AppName,
        /// The revision.
        revision: Revision,
    },
    /// A stored revision no longer validates (written by an older scheduler with other
    /// rules).
    #[error("stored revision {revision} of `{app}` is not valid")]
    Invalid {
        /// The application.
        app: AppName,
        /// The revision.
        revision: Revision,
        /// Every problem.
        #[source]
        source: lattice_spec::SpecErrors,
    },
    /// A value could not be encoded for storing (a bug in its type's `Serialize`); nothing
    /// was written.
    #[error("`{key}` cannot be encoded for storing")]
    Encode {
        /// The key.
        key: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// A stored value could not be decoded.
    #[error("stored `{key}` cannot be decoded")]
    Decode {
        /// The key.
        key: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// A stored rollout record could not be decoded: malformed, or of an API version this
    /// build does not speak (written by a newer scheduler).
    #[error("stored rollout record `{key}` cannot be decoded")]
    Record {
        /// The key.
        key: String,
        /// Why, with the versions this build speaks when the version is the problem.
        #[source]
        source: lattice_spec::DecodeError,
    },
}

/// What went wrong in the store, as a value to `match` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// Another rollout of the application is in progress ([`StoreError::Conflict`]).
    Conflict,
    /// A compare-and-swap was lost to another writer ([`StoreError::Changed`]).
    Changed,
    /// JetStream did not answer in time; the operation may or may not have happened.
    TimedOut,
    /// JetStream failed otherwise (not enabled, no permission, connection lost), or a watch
    /// ended.
    JetStream,
    /// A stored revision is missing.
    Missing,
    /// A stored value could not be decoded, or no longer validates.
    Decode,
    /// A value could not be encoded for storing.
    Encode,
}

impl StoreErrorKind {
    /// Whether the same operation may succeed if tried again: after a timeout, or after a
    /// lost compare-and-swap (the retry reads what the other writer wrote).
    #[must_use]
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::TimedOut | Self::Changed)
    }
}

impl StoreError {
    /// The kind of failure.
    #[must_use]
    pub fn kind(&self) -> StoreErrorKind {
        match self {
            Self::Conflict { .. } => StoreErrorKind::Conflict,
            Self::Changed { .. } => StoreErrorKind::Changed,
            Self::JetStream { source, .. } if source.is_timeout() => StoreErrorKind::TimedOut,
            Self::JetStream { .. } | Self::WatchEnded { .. } => StoreErrorKind::JetStream,
            Self::MissingRevision { .. } => StoreErrorKind::Missing,
            Self::Decode { .. } | Self::Record { .. } | Self::Invalid { .. } => {
                StoreErrorKind::Decode
            }
            Self::Encode { .. } => StoreErrorKind::Encode,
        }
    }

    /// Whether the same operation may succeed if tried again; see
    /// [`StoreErrorKind::is_retryable`].
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        self.kind().is_retryable()
    }
}

/// A JetStream failure of `operation` on `key`.
fn failed<E: Into<KvError>>(operation: &'static str, key: &str) -> impl FnOnce(E) -> StoreError {
    move |source| StoreError::JetStream {
        operation,
        key: key.to_owned(),
        source: source.into(),
    }
}

/// How long a store read or write that found JetStream briefly unavailable (no stream
/// leader while a cluster elects one; for writes, a timeout too) is tried again.
pub(crate) const TRANSIENT_RETRY: std::time::Duration = std::time::Duration::from_secs(20);

/// The scheduler's bucket.
#[derive(Clone, Debug)]
pub struct RolloutStore {
    kv: kv::Store,
    history: usize,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Pointer {
    revision: Revision,
}

impl RolloutStore {
    /// Opens (creating if needed) the bucket of `lattice`, keeping `history` revisions per
    /// application (the desired and stable ones are always kept).
    ///
    /// # Errors
    ///
    /// [`StoreError::JetStream`] when the bucket cannot be looked up, or is missing and cannot
    /// be created.
    pub async fn open(
        nats: async_nats::Client,
        lattice: &LatticeName,
        history: usize,
    ) -> Result<Self, StoreError> {
        Self::open_with(jetstream::new(nats), lattice, history).await
    }

    /// As [`RolloutStore::open`], through the caller's JetStream `context` (its domain or API
    /// prefix, and its request timeout).
    ///
    /// # Errors
    ///
    /// As [`RolloutStore::open`].
    pub async fn open_with(
        context: jetstream::Context,
        lattice: &LatticeName,
        history: usize,
    ) -> Result<Self, StoreError> {
        Self::open_replicated(context, lattice, history, 1).await
    }

    /// As [`RolloutStore::open_with`], creating a missing bucket with `replicas` copies of
    /// its data (JetStream's `num_replicas`; 3 on a three-server cluster, so the scheduler's
    /// state outlives a lost server). A bucket that exists is opened as it is, whatever its
    /// replica count. `replicas` of 0 is taken as 1.
    ///
    /// ```no_run
    /// use lattice_rollout::RolloutStore;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let nats = async_nats::connect(["nats://127.0.0.1:4222", "nats://127.0.0.1:4223"].as_slice()).await?;
    /// let context = async_nats::jetstream::new(nats);
    /// let store = RolloutStore::open_replicated(context, &"default".parse()?, 10, 3).await?;
    /// # let _ = store;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`RolloutStore::open`]; creating an R3 bucket on a server that is not part of a
    /// cluster of at least three fails with [`StoreError::JetStream`].
    pub async fn open_replicated(
        context: jetstream::Context,
        lattice: &LatticeName,
        history: usize,
        replicas: usize,
    ) -> Result<Self, StoreError> {
        let bucket = lattice_ctl::rollout::bucket(lattice);
        let kv = match context.get_key_value(&bucket).await {
            Ok(kv) => kv,
            // Only a bucket JetStream says is missing is created: a lookup that timed out or
            // was refused is reported, not papered over by a create.
            Err(e) if bucket_not_found(&e) => lattice_nats::create_key_value_ready(
                &context,
                kv::Config {
                    bucket: bucket.clone(),
                    history: 5,
                    description: "lattice rollouts: owned by the scheduler".into(),
                    num_replicas: replicas.max(1),
                    ..Default::default()
                },
            )
            .await
            .map_err(failed("create the bucket", &bucket))?,
            Err(e) => return Err(failed("look up the bucket", &bucket)(e)),
        };
        Ok(Self {
            kv,
            history: history.max(2),
        })
    }

    async fn read<T: DeserializeOwned>(&self, key: String) -> Result<Option<(T, u64)>, StoreError> {
        let Some((bytes, revision)) = self.read_bytes(&key).await? else {
            return Ok(None);
        };
        let value =
            serde_json::from_slice(&bytes).map_err(|source| StoreError::Decode { key, source })?;
        Ok(Some((value, revision)))
    }

    /// The value of `key` and its store revision; `None` when missing or deleted. A read
    /// that finds no stream leader (a cluster electing one) is tried again for up to
    /// [`TRANSIENT_RETRY`]; a timeout is reported at once.
    async fn read_bytes(&self, key: &str) -> Result<Option<(Bytes, u64)>, StoreError> {
        let deadline = tokio::time::Instant::now() + TRANSIENT_RETRY;
        let mut pause = std::time::Duration::from_millis(50);
        let entry = loop {
            match self.kv.entry(key).await {
                Ok(entry) => break entry,
                Err(error) => {
                    let error = KvError::from(error);
                    if !error.is_unavailable() || tokio::time::Instant::now() + pause >= deadline {
                        return Err(failed("read", key)(error));
                    }
                    tracing::debug!(%key, %error, "jetstream unavailable; reading again");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(std::time::Duration::from_secs(1));
                }
            }
        };
        let Some(entry) = entry else {
            return Ok(None);
        };
        if entry.value.is_empty() {
            return Ok(None);
        }
        Ok(Some((entry.value, entry.revision)))
    }

    fn encode<T: Serialize>(key: &str, value: &T) -> Result<Bytes, StoreError> {
        serde_json::to_vec(value)
            .map(Bytes::from)
            .map_err(|source| StoreError::Encode {
                key: key.to_owned(),
                source,
            })
    }

    /// Stores a new application revision.
    ///
    /// # Errors
    ///
    /// [`StoreError::JetStream`], or [`StoreError::Changed`] if that revision already exists.
    pub async fn put_revision(&self, revision: &AppRevision) -> Result<(), StoreError> {
        let key = RolloutKey::Revision(revision.app.clone(), revision.revision).to_string();
        self.kv
            .create(&key, Self::encode(&key, revision)?)
            .await
            .map_err(|e| Self::swap_failed(&revision.app, &key, "create", e.into()))?;
        self.prune(&revision.app).await
    }

    /// Revision `n` of `app`.
    ///
    /// # Errors
    ///
    /// [`StoreError`] on a JetStream or decode failure.
    pub async fn revision(
        &self,
        app: &AppName,
        n: Revision,
    ) -> Result<Option<AppRevision>, StoreError> {
        Ok(self
            .read(RolloutKey::Revision(app.clone(), n).to_string())
            .await?
            .map(|(r, _)| r))
    }

    /// Every stored revision number of `app`, ascending.
    ///
    /// # Errors
    ///
    /// [`StoreError::JetStream`].
    pub async fn revisions(&self, app: &AppName) -> Result<Vec<Revision>, StoreError> {
        let prefix = RolloutKey::revisions_of(app);
        // A listing only reads: one that timed out or found no stream leader (a cluster
        // placing or electing it) is made again, for up to TRANSIENT_RETRY.
        let deadline = tokio::time::Instant::now() + TRANSIENT_RETRY;
        let mut pause = std::time::Duration::from_millis(50);
        let keys: Vec<String> = loop {
            let listed = match self.kv.keys().await {
                Ok(keys) => keys.try_collect().await.map_err(KvError::from),
                Err(error) => Err(KvError::from(error)),
            };
            match listed {
                Ok(keys) => break keys,
                Err(error)
                    if (error.is_timeout() || error.is_unavailable())
                        && tokio::time::Instant::now() + pause < deadline =>
                {
                    tracing::debug!(%prefix, %error, "listing the keys failed; listing again");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(std::time::Duration::from_secs(1));
                }
                Err(error) => return Err(failed("list the keys", &prefix)(error)),
            }
        };
        let mut revisions: Vec<Revision> = keys
            .iter()
            .filter_map(|k| k.strip_prefix(&prefix)?.parse::<u64>().ok().map(Revision))
            .collect();
        revisions.sort();
        Ok(revisions)
    }

    /// The next free revision number of `app`.
    ///
    /// # Errors
    ///
    /// [`StoreError::JetStream`].
    pub async fn next_revision(&self, app: &AppName) -> Result<Revision, StoreError> {
        Ok(self
            .revisions(app)
            .await?
            .last()
            .map_or(Revision(1), |r| r.next()))
    }

    async fn prune(&self, app: &AppName) -> Result<(), StoreError> {
        let keep = [self.desired(app).await?, self.stable(app).await?];
        let revisions = self.revisions(app).await?;
        let excess = revisions.len().saturating_sub(self.history);
        for old in revisions
            .into_iter()
            .take(excess)
            .filter(|r| !keep.contains(&Some(*r)))
        {
            let key = RolloutKey::Revision(app.clone(), old).to_string();
            self.kv.purge(&key).await.map_err(failed("purge", &key))?;
        }
        Ok(())
    }

    /// The desired revision of `app`.
    ///
    /// # Errors
    ///
    /// [`StoreError`] on a JetStream or decode failure.
    pub async fn desired(&self, app: &AppName) -> Result<Option<Revision>, StoreError> {
        Ok(self
            .read::<Pointer>(RolloutKey::Desired(app.clone()).to_string())
            .await?
            .map(|(p, _)| p.revision))
    }

    /// The last stable revision of `app` (one whose rollout succeeded everywhere).
    ///
    /// # Errors
    ///
    /// [`StoreError`] on a JetStream or decode failure.
    pub async fn stable(&self, app: &AppName) -> Result<Option<Revision>, StoreError> {
        Ok(self
            .read::<Pointer>(RolloutKey::Stable(app.clone()).to_string())
            .await?
            .map(|(p, _)| p.revision))
    }

    /// The revisions that were stable, oldest first (the bucket keeps the last few).
    ///
    /// # Errors
    ///
    /// [`StoreError`] on a JetStream or decode failure.
    pub async fn stable_history(&self, app: &AppName) -> Result<Vec<Revision>, StoreError> {
        let key = RolloutKey::Stable(app.clone()).to_string();
        let mut history = self
            .kv
            .history(&key)
            .await
            .map_err(failed("read the history of", &key))?;
        let mut revisions = Vec::new();
        while let Some(entry) = history.next().await {
            let entry = entry.map_err(failed("read the history of", &key))?;
            if let Ok(pointer) = serde_json::from_slice::<Pointer>(&entry.value) {
                revisions.push(pointer.revision);
            }
        }
        Ok(revisions)
    }

    pub(crate) async fn set_desired(
        &self,
        app: &AppName,
        revision: Revision,
    ) -> Result<(), StoreError> {
        self.put(
            RolloutKey::Desired(app.clone()).to_string(),
            &Pointer { revision },
        )
        .await
    }

    pub(crate) async fn set_stable(
        &self,
        app: &AppName,
        revision: Revision,
    ) -> Result<(), StoreError> {
        self.put(
            RolloutKey::Stable(app.clone()).to_string(),
            &Pointer { revision },
        )
        .await
    }

    /// Writes `value` whole (last writer wins, so trying again is safe), riding out a
    /// JetStream that is briefly unavailable: a write that times out, or finds no stream
    /// leader while a cluster elects one after losing a server, is tried again for up to
    /// [`TRANSIENT_RETRY`]. Without it a scheduler stopped mid-rollout at the first lost
    /// server, leaving its hosts half way until someone ran `recover`.
    async fn put<T: Serialize>(&self, key: String, value: &T) -> Result<(), StoreError> {
        let bytes = Self::encode(&key, value)?;
        let deadline = tokio::time::Instant::now() + TRANSIENT_RETRY;
        let mut pause = std::time::Duration::from_millis(50);
        loop {
            match self.kv.put(&key, bytes.clone()).await {
                Ok(_) => return Ok(()),
                Err(error) => {
                    let error = KvError::from(error);
                    let transient = error.is_timeout() || error.is_unavailable();
                    if !transient || tokio::time::Instant::now() + pause >= deadline {
                        return Err(failed("write", &key)(error));
                    }
                    tracing::debug!(%key, %error, "jetstream unavailable; writing again");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(std::time::Duration::from_secs(1));
                }
            }
        }
    }

    /// The rollout of `app` (the current one, or the last one), with its store revision.
    ///
    /// # Errors
    ///
    /// [`StoreError`] on a JetStream or decode failure.
    pub async fn rollout(&self, app: &AppName) -> Result<Option<(RolloutRecord, u64)>, StoreError> {
        let key = RolloutKey::Record(app.clone()).to_string();
        let Some((bytes, revision)) = self.read_bytes(&key).await? else {
            return Ok(None);
        };
        // The contract's decoding: version checked, a record stored without `api_version`
        // read as v2alpha1.
        let record =
            RolloutRecord::decode(&bytes).map_err(|source| StoreError::Record { key, source })?;
        Ok(Some((record, revision)))
    }

    /// Records a new rollout, unless one is in progress: two rollouts of one application are
    /// never interleaved.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] when a rollout is in progress — read before our write, or
    /// written by another scheduler between our read and our write (it won the race) —,
    /// [`StoreError::Changed`] when the record changed under us and no rollout is in progress
    /// now, or [`StoreError::JetStream`] (a timeout among them: the record may or may not
    /// have been written).
    pub async fn begin(&self, record: &RolloutRecord) -> Result<u64, StoreError> {
        let app = &record.app;
        let key = RolloutKey::Record(app.clone()).to_string();
        let written = match self.rollout(app).await? {
            Some((current, _)) if !current.is_finished() => {
                return Err(Self::conflict(&current));
            }
            Some((_, revision)) => self
                .kv
                .update(&key, Self::encode(&key, record)?, revision)
                .await
                .map_err(|e| Self::swap_failed(app, &key, "update", e.into())),
            None => self
                .kv
                .create(&key, Self::encode(&key, record)?)
                .await
                .map_err(|e| Self::swap_failed(app, &key, "create", e.into())),
        };
        if let Err(error) = written {
            // A lost compare-and-swap is another scheduler's rollout starting at the same
            // moment: refused the same way as one read before the write (naming it, and not
            // retryable), not as a store failure.
            if error.kind() == StoreErrorKind::Changed
                && let Some((winner, _)) = self.rollout(app).await?
                && !winner.is_finished()
            {
                tracing::debug!(%app, "lost the race to begin a rollout to another scheduler");
                return Err(Self::conflict(&winner));
            }
            return Err(error);
        }
        // Clear stale control commands of an earlier rollout.
        let control = RolloutKey::Control(app.clone()).to_string();
        self.kv
            .purge(&control)
            .await
            .map_err(failed("purge", &control))?;
        Ok(self.rollout(&record.app).await?.map_or(0, |(_, r)| r))
    }

    /// Saves the progress of a rollout.
    ///
    /// # Errors
    ///
    /// [`StoreError::JetStream`].
    pub async fn save(&self, record: &RolloutRecord) -> Result<(), StoreError> {
        self.put(RolloutKey::Record(record.app.clone()).to_string(), record)
            .await
    }

    /// Sends an operator command to the rollout of `app`.
    ///
    /// # Errors
    ///
    /// [`StoreError::JetStream`].
    pub async fn send_control(&self, app: &AppName, control: Control) -> Result<(), StoreError> {
        self.put(RolloutKey::Control(app.clone()).to_string(), &control)
            .await
    }

    /// The latest operator command, if any.
    ///
    /// # Errors
    ///
    /// [`StoreError`] on a JetStream or decode failure.
    pub async fn control(&self, app: &AppName) -> Result<Option<(Control, u64)>, StoreError> {
        self.read(RolloutKey::Control(app.clone()).to_string())
            .await
    }

    /// Waits for the next operator command after store revision `after`.
    ///
    /// # Errors
    ///
    /// [`StoreError`] on a JetStream or decode failure.
    pub async fn next_control(
        &self,
        app: &AppName,
        after: u64,
    ) -> Result<(Control, u64), StoreError> {
        let key = RolloutKey::Control(app.clone()).to_string();
        let mut watch = self
            .kv
            .watch_with_history(&key)
            .await
            .map_err(failed("watch", &key))?;
        while let Some(entry) = watch.next().await {
            let entry = entry.map_err(failed("watch", &key))?;
            if entry.revision > after && !entry.value.is_empty() {
                let control =
                    serde_json::from_slice(&entry.value).map_err(|source| StoreError::Decode {
                        key: key.clone(),
                        source,
                    })?;
                return Ok((control, entry.revision));
            }
        }
        Err(StoreError::WatchEnded { key })
    }

    /// The refusal of a rollout because `current` is in progress.
    fn conflict(current: &RolloutRecord) -> StoreError {
        StoreError::Conflict {
            app: current.app.clone(),
            revision: current.plan.to,
            state: current.state,
        }
    }

    /// A compare-and-swap write (`operation`) of `key` that failed: lost to another writer, or
    /// a JetStream failure.
    fn swap_failed(
        app: &AppName,
        key: &str,
        operation: &'static str,
        source: KvError,
    ) -> StoreError {
        if source.is_lost_swap() {
            StoreError::Changed {
                app: app.clone(),
                key: key.to_owned(),
                source,
            }
        } else {
            failed(operation, key)(source)
        }
    }
}

/// Whether a bucket lookup failed because JetStream says the bucket does not exist.
fn bucket_not_found(error: &jetstream::context::KeyValueError) -> bool {
    use jetstream::context::{GetStreamError, GetStreamErrorKind};
    error.kind() == jetstream::context::KeyValueErrorKind::GetBucket
        && std::error::Error::source(error)
            .and_then(|source| source.downcast_ref::<GetStreamError>())
            .is_some_and(|e| {
                matches!(e.kind(), GetStreamErrorKind::JetStream(e)
                    if e.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND)
            })
}
