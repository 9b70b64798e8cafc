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
use lattice_spec::{LatticeName, Revision};
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
        state: String,
    },
    /// Someone else wrote the record since it was read.
    #[error("the rollout record of `{app}` changed under us")]
    Changed {
        /// The application.
        app: AppName,
    },
    /// JetStream failed.
    #[error("jetstream key-value: {0}")]
    JetStream(String),
    /// A stored value could not be decoded.
    #[error("stored `{key}` cannot be decoded")]
    Decode {
        /// The key.
        key: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
}

fn js<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::JetStream(e.to_string())
}

/// The scheduler's bucket.
#[derive(Clone)]
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
    /// [`StoreError::JetStream`] when the bucket cannot be created or opened.
    pub async fn open(
        nats: async_nats::Client,
        lattice: &LatticeName,
        history: usize,
    ) -> Result<Self, StoreError> {
        let context = jetstream::new(nats);
        let bucket = format!("LATTICE_ROLLOUTS_{lattice}");
        let kv = match context.get_key_value(&bucket).await {
            Ok(kv) => kv,
            Err(_) => context
                .create_key_value(kv::Config {
                    bucket,
                    history: 5,
                    description: "lattice rollouts: owned by the scheduler".into(),
                    ..Default::default()
                })
                .await
                .map_err(js)?,
        };
        Ok(Self {
            kv,
            history: history.max(2),
        })
    }

    fn key(app: &AppName, what: &str) -> String {
        format!("apps.{app}.{what}")
    }

    async fn read<T: DeserializeOwned>(&self, key: String) -> Result<Option<(T, u64)>, StoreError> {
        let Some(entry) = self.kv.entry(key.clone()).await.map_err(js)? else {
            return Ok(None);
        };
        if entry.value.is_empty() {
            return Ok(None);
        }
        let value = serde_json::from_slice(&entry.value)
            .map_err(|source| StoreError::Decode { key, source })?;
        Ok(Some((value, entry.revision)))
    }

    fn encode<T: Serialize>(value: &T) -> Bytes {
        Bytes::from(serde_json::to_vec(value).expect("stored values always serialize"))
    }

    /// Stores a new application revision.
    ///
    /// # Errors
    ///
    /// [`StoreError::JetStream`], or a conflict if that revision already exists.
    pub async fn put_revision(&self, revision: &AppRevision) -> Result<(), StoreError> {
        let key = Self::key(
            &revision.app,
            &format!("revisions.{:020}", revision.revision.0),
        );
        self.kv
            .create(key, Self::encode(revision))
            .await
            .map_err(js)?;
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
            .read(Self::key(app, &format!("revisions.{:020}", n.0)))
            .await?
            .map(|(r, _)| r))
    }

    /// Every stored revision number of `app`, ascending.
    ///
    /// # Errors
    ///
    /// [`StoreError::JetStream`].
    pub async fn revisions(&self, app: &AppName) -> Result<Vec<Revision>, StoreError> {
        let prefix = Self::key(app, "revisions.");
        let keys: Vec<String> = self
            .kv
            .keys()
            .await
            .map_err(js)?
            .try_collect()
            .await
            .map_err(js)?;
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
            self.kv
                .purge(Self::key(app, &format!("revisions.{:020}", old.0)))
                .await
                .map_err(js)?;
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
            .read::<Pointer>(Self::key(app, "desired"))
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
            .read::<Pointer>(Self::key(app, "stable"))
            .await?
            .map(|(p, _)| p.revision))
    }

    /// The revisions that were stable, oldest first (the bucket keeps the last few).
    ///
    /// # Errors
    ///
    /// [`StoreError`] on a JetStream or decode failure.
    pub async fn stable_history(&self, app: &AppName) -> Result<Vec<Revision>, StoreError> {
        let key = Self::key(app, "stable");
        let mut history = match self.kv.history(&key).await {
            Ok(history) => history,
            Err(_) => return Ok(Vec::new()),
        };
        let mut revisions = Vec::new();
        while let Some(entry) = history.next().await {
            let entry = entry.map_err(js)?;
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
        self.put(Self::key(app, "desired"), &Pointer { revision })
            .await
    }

    pub(crate) async fn set_stable(
        &self,
        app: &AppName,
        revision: Revision,
    ) -> Result<(), StoreError> {
        self.put(Self::key(app, "stable"), &Pointer { revision })
            .await
    }

    async fn put<T: Serialize>(&self, key: String, value: &T) -> Result<(), StoreError> {
        self.kv
            .put(key, Self::encode(value))
            .await
            .map_err(js)
            .map(drop)
    }

    /// The rollout of `app` (the current one, or the last one), with its store revision.
    ///
    /// # Errors
    ///
    /// [`StoreError`] on a JetStream or decode failure.
    pub async fn rollout(&self, app: &AppName) -> Result<Option<(RolloutRecord, u64)>, StoreError> {
        self.read(Self::key(app, "rollout")).await
    }

    /// Records a new rollout, unless one is in progress: two rollouts of one application are
    /// never interleaved.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] when a rollout is in progress (or another scheduler won the
    /// race), or a JetStream failure.
    pub async fn begin(&self, record: &RolloutRecord) -> Result<u64, StoreError> {
        let key = Self::key(&record.app, "rollout");
        let conflict = |current: &RolloutRecord| StoreError::Conflict {
            app: current.app.clone(),
            revision: current.plan.to,
            state: current.state.to_string(),
        };
        match self.rollout(&record.app).await? {
            Some((current, _)) if !current.is_finished() => Err(conflict(&current)),
            Some((_, revision)) => self
                .kv
                .update(&key, Self::encode(record), revision)
                .await
                .map_err(|_| StoreError::Changed {
                    app: record.app.clone(),
                }),
            None => self
                .kv
                .create(&key, Self::encode(record))
                .await
                .map_err(|_| StoreError::Changed {
                    app: record.app.clone(),
                }),
        }
        .map_err(|e| match e {
            StoreError::Changed { .. } => StoreError::Conflict {
                app: record.app.clone(),
                revision: record.plan.to,
                state: "starting".into(),
            },
            other => other,
        })?;
        // Clear stale control commands of an earlier rollout.
        self.kv
            .purge(Self::key(&record.app, "control"))
            .await
            .map_err(js)?;
        Ok(self.rollout(&record.app).await?.map_or(0, |(_, r)| r))
    }

    /// Saves the progress of a rollout.
    ///
    /// # Errors
    ///
    /// [`StoreError::JetStream`].
    pub async fn save(&self, record: &RolloutRecord) -> Result<(), StoreError> {
        self.put(Self::key(&record.app, "rollout"), record).await
    }

    /// Sends an operator command to the rollout of `app`.
    ///
    /// # Errors
    ///
    /// [`StoreError::JetStream`].
    pub async fn send_control(&self, app: &AppName, control: Control) -> Result<(), StoreError> {
        self.put(Self::key(app, "control"), &control).await
    }

    /// The latest operator command, if any.
    ///
    /// # Errors
    ///
    /// [`StoreError`] on a JetStream or decode failure.
    pub async fn control(&self, app: &AppName) -> Result<Option<(Control, u64)>, StoreError> {
        self.read(Self::key(app, "control")).await
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
        let key = Self::key(app, "control");
        let mut watch = self.kv.watch_with_history(&key).await.map_err(js)?;
        while let Some(entry) = watch.next().await {
            let entry = entry.map_err(js)?;
            if entry.revision > after && !entry.value.is_empty() {
                let control =
                    serde_json::from_slice(&entry.value).map_err(|source| StoreError::Decode {
                        key: key.clone(),
                        source,
                    })?;
                return Ok((control, entry.revision));
            }
        }
        Err(StoreError::JetStream("the control watch ended".into()))
    }
}
