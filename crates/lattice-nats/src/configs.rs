//! The lattice's named configurations, in its `CONFIGDATA_{lattice}` bucket: written by the
//! scheduler and `lattice config`, read by hosts. The layout (keys, values, pinned copies,
//! content digests) is [`lattice_spec::configdata`]'s; this is its one writer.

use crate::KvError;
use async_nats::jetstream::{self, kv};
use futures::TryStreamExt as _;
use lattice_spec::{
    ConfigName, ContentDigest, LatticeName,
    configdata::{self, EntryError},
};
use std::collections::BTreeMap;

/// Why a configuration operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigBucketError {
    /// The configuration does not exist.
    #[error("configuration `{name}` does not exist in the lattice's configuration bucket")]
    Missing {
        /// The configuration.
        name: ConfigName,
    },
    /// The pinned copy of a configuration's content does not exist.
    #[error(
        "configuration `{name}` has no pinned copy of content {digest} (it was never pinned, \
         or the copy was removed from the bucket)"
    )]
    MissingPinned {
        /// The configuration.
        name: ConfigName,
        /// The content it is pinned to.
        digest: ContentDigest,
    },
    /// A stored entry is not a JSON object of strings (the position is in the error, the
    /// value never is).
    #[error(transparent)]
    Invalid(#[from] EntryError),
    /// A pinned copy holds other content than its digest says.
    #[error("the pinned copy of configuration `{name}` does not match {digest} (it holds {found})")]
    Mismatch {
        /// The configuration.
        name: ConfigName,
        /// The digest it is pinned to.
        digest: ContentDigest,
        /// The digest of what the copy holds.
        found: ContentDigest,
    },
    /// The pin is not a sha256 digest.
    #[error("configuration `{name}` is pinned to {digest}, which is not a sha256 digest")]
    BadPin {
        /// The configuration.
        name: ConfigName,
        /// The pin.
        digest: ContentDigest,
    },
    /// The lattice has no configuration bucket (nothing was ever written to it).
    #[error(
        "the lattice has no configuration bucket `{bucket}` (write the configuration with \
         `lattice config put` first)"
    )]
    NoBucket {
        /// The bucket's name.
        bucket: String,
    },
    /// JetStream refused or did not answer.
    #[error("cannot {operation} `{key}` of the configuration bucket")]
    JetStream {
        /// What was being done.
        operation: &'static str,
        /// The bucket or key.
        key: String,
        /// The async-nats error.
        #[source]
        source: KvError,
    },
}

/// What went wrong, as a value to `match` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigBucketErrorKind {
    /// See [`ConfigBucketError::Missing`], [`ConfigBucketError::MissingPinned`] and
    /// [`ConfigBucketError::NoBucket`].
    Missing,
    /// See [`ConfigBucketError::Invalid`] and [`ConfigBucketError::BadPin`].
    Invalid,
    /// See [`ConfigBucketError::Mismatch`].
    Mismatch,
    /// See [`ConfigBucketError::JetStream`].
    Unavailable,
}

impl ConfigBucketError {
    /// The kind of failure.
    #[must_use]
    pub fn kind(&self) -> ConfigBucketErrorKind {
        match self {
            Self::Missing { .. } | Self::MissingPinned { .. } | Self::NoBucket { .. } => {
                ConfigBucketErrorKind::Missing
            }
            Self::Invalid(_) | Self::BadPin { .. } => ConfigBucketErrorKind::Invalid,
            Self::Mismatch { .. } => ConfigBucketErrorKind::Mismatch,
            Self::JetStream { .. } => ConfigBucketErrorKind::Unavailable,
        }
    }
}

fn failed<E: Into<KvError>>(
    operation: &'static str,
    key: &str,
) -> impl FnOnce(E) -> ConfigBucketError {
    move |source| ConfigBucketError::JetStream {
        operation,
        key: key.to_owned(),
        source: source.into(),
    }
}

/// A lattice's configuration bucket (`CONFIGDATA_{lattice}`), for the tools and the scheduler
/// that write it.
///
/// ```no_run
/// # async fn demo(nats: async_nats::Client) -> Result<(), Box<dyn std::error::Error>> {
/// use lattice_nats::ConfigBucket;
/// use std::collections::BTreeMap;
///
/// let configs = ConfigBucket::open(nats, &"default".parse()?).await?;
/// let name = "creds".parse()?;
/// configs.put(&name, &BTreeMap::from([("password".into(), "s3cret".into())])).await?;
/// // What a rollout does: keep an immutable copy, pin the spec to its digest.
/// let digest = configs.pin(&name).await?;
/// assert_eq!(configs.get_pinned(&name, &digest).await?.len(), 1);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct ConfigBucket {
    kv: kv::Store,
}

impl ConfigBucket {
    /// Opens the bucket of `lattice`, creating it if it does not exist (as 1.x hosts do).
    ///
    /// # Errors
    ///
    /// [`ConfigBucketError::JetStream`] when it cannot be looked up or created.
    pub async fn open(
        nats: async_nats::Client,
        lattice: &LatticeName,
    ) -> Result<Self, ConfigBucketError> {
        Self::open_with(jetstream::new(nats), lattice).await
    }

    /// As [`ConfigBucket::open`], through the caller's JetStream `context`.
    ///
    /// # Errors
    ///
    /// As [`ConfigBucket::open`].
    pub async fn open_with(
        context: jetstream::Context,
        lattice: &LatticeName,
    ) -> Result<Self, ConfigBucketError> {
        Self::open_replicated(context, lattice, 1).await
    }

    /// As [`ConfigBucket::open_with`], creating a missing bucket with `replicas` copies of its
    /// data (JetStream's `num_replicas`; 3 on a three-server cluster). A bucket that exists is
    /// opened as it is. `replicas` of 0 is taken as 1.
    ///
    /// ```no_run
    /// use lattice_nats::ConfigBucket;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let nats = async_nats::connect(["nats://127.0.0.1:4222", "nats://127.0.0.1:4223"].as_slice()).await?;
    /// let configs =
    ///     ConfigBucket::open_replicated(async_nats::jetstream::new(nats), &"default".parse()?, 3)
    ///         .await?;
    /// # let _ = configs;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`ConfigBucket::open`]; creating an R3 bucket on a server that is not part of a
    /// cluster of at least three fails with [`ConfigBucketError::JetStream`].
    pub async fn open_replicated(
        context: jetstream::Context,
        lattice: &LatticeName,
        replicas: usize,
    ) -> Result<Self, ConfigBucketError> {
        let bucket = configdata::bucket_name(lattice);
        let kv = match context.get_key_value(&bucket).await {
            Ok(kv) => kv,
            // Only a bucket JetStream says is missing is created.
            Err(e) if bucket_not_found(&e) => crate::create_key_value_ready(
                &context,
                kv::Config {
                    bucket: bucket.clone(),
                    description: "named configurations (wasmCloud 1.x CONFIGDATA layout, plus \
                                          lattice's pinned copies)"
                        .into(),
                    num_replicas: replicas.max(1),
                    ..Default::default()
                },
            )
            .await
            .map_err(failed("create the bucket", &bucket))?,
            Err(e) => return Err(failed("look up the bucket", &bucket)(e)),
        };
        Ok(Self { kv })
    }

    /// Looks the bucket of `lattice` up without creating it: for readers (hosts).
    ///
    /// # Errors
    ///
    /// [`ConfigBucketError::NoBucket`] when it does not exist,
    /// [`ConfigBucketError::JetStream`] when it cannot be looked up.
    pub async fn lookup(
        context: jetstream::Context,
        lattice: &LatticeName,
    ) -> Result<Self, ConfigBucketError> {
        let bucket = configdata::bucket_name(lattice);
        match context.get_key_value(&bucket).await {
            Ok(kv) => Ok(Self { kv }),
            Err(e) if bucket_not_found(&e) => Err(ConfigBucketError::NoBucket { bucket }),
            Err(e) => Err(failed("look up the bucket", &bucket)(e)),
        }
    }

    /// Sets configuration `name` to `values` (stored as canonical JSON) and returns the
    /// content's digest. Nothing running changes until a rollout pins the new content.
    ///
    /// # Errors
    ///
    /// [`ConfigBucketError::JetStream`].
    pub async fn put(
        &self,
        name: &ConfigName,
        values: &BTreeMap<String, String>,
    ) -> Result<ContentDigest, ConfigBucketError> {
        self.kv
            .put(name.as_str(), configdata::canonical_json(values).into())
            .await
            .map_err(failed("write", name.as_str()))?;
        Ok(configdata::content_digest(values))
    }

    /// The current values of configuration `name`, if it exists.
    ///
    /// # Errors
    ///
    /// [`ConfigBucketError::Invalid`] when the entry is not a JSON object of strings;
    /// [`ConfigBucketError::JetStream`].
    pub async fn get(
        &self,
        name: &ConfigName,
    ) -> Result<Option<BTreeMap<String, String>>, ConfigBucketError> {
        let Some(bytes) = self
            .kv
            .get(name.as_str())
            .await
            .map_err(failed("read", name.as_str()))?
        else {
            return Ok(None);
        };
        Ok(Some(configdata::parse_entry(name.as_str(), &bytes)?))
    }

    /// Deletes configuration `name` (a purge, as 1.x does) and says whether it existed.
    /// Pinned copies of its content stay, so specs pinned to them still resolve.
    ///
    /// # Errors
    ///
    /// [`ConfigBucketError::JetStream`].
    pub async fn delete(&self, name: &ConfigName) -> Result<bool, ConfigBucketError> {
        let existed = self
            .kv
            .get(name.as_str())
            .await
            .map_err(failed("read", name.as_str()))?
            .is_some();
        if existed {
            self.kv
                .purge(name.as_str())
                .await
                .map_err(failed("delete", name.as_str()))?;
        }
        Ok(existed)
    }

    /// The names of the configurations the bucket holds, sorted (not pinned copies, not 1.x
    /// secret references, not keys that are no configuration name).
    ///
    /// # Errors
    ///
    /// [`ConfigBucketError::JetStream`].
    pub async fn list(&self) -> Result<Vec<ConfigName>, ConfigBucketError> {
        let keys = match self.kv.keys().await {
            Ok(keys) => keys,
            Err(e) => return Err(failed("list", "keys")(e)),
        };
        let keys: Vec<String> = keys.try_collect().await.map_err(failed("list", "keys"))?;
        let mut names: Vec<ConfigName> = keys
            .into_iter()
            .filter(|k| configdata::is_config_key(k))
            .filter_map(|k| k.parse().ok())
            .collect();
        names.sort();
        Ok(names)
    }

    /// Pins configuration `name` as it is now: writes the immutable copy of its content (if
    /// not there yet) and returns the digest a spec pins it to.
    ///
    /// # Errors
    ///
    /// [`ConfigBucketError::Missing`], [`ConfigBucketError::Invalid`],
    /// [`ConfigBucketError::JetStream`].
    pub async fn pin(&self, name: &ConfigName) -> Result<ContentDigest, ConfigBucketError> {
        let values = self
            .get(name)
            .await?
            .ok_or_else(|| ConfigBucketError::Missing { name: name.clone() })?;
        let digest = configdata::content_digest(&values);
        let key = configdata::pinned_key(name, &digest)
            .unwrap_or_else(|| unreachable!("content digests are sha256"));
        match self
            .kv
            .create(&key, configdata::canonical_json(&values).into())
            .await
        {
            Ok(_) => {}
            // Same key, same content: someone pinned it before.
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {}
            Err(e) => return Err(failed("write the pinned copy", &key)(e)),
        }
        Ok(digest)
    }

    /// The content configuration `name` was pinned to with `digest`, verified.
    ///
    /// # Errors
    ///
    /// [`ConfigBucketError::MissingPinned`], [`ConfigBucketError::Invalid`],
    /// [`ConfigBucketError::Mismatch`], [`ConfigBucketError::BadPin`],
    /// [`ConfigBucketError::JetStream`].
    pub async fn get_pinned(
        &self,
        name: &ConfigName,
        digest: &ContentDigest,
    ) -> Result<BTreeMap<String, String>, ConfigBucketError> {
        let key =
            configdata::pinned_key(name, digest).ok_or_else(|| ConfigBucketError::BadPin {
                name: name.clone(),
                digest: digest.clone(),
            })?;
        let bytes = self
            .kv
            .get(&key)
            .await
            .map_err(failed("read", &key))?
            .ok_or_else(|| ConfigBucketError::MissingPinned {
                name: name.clone(),
                digest: digest.clone(),
            })?;
        let values = configdata::parse_entry(name.as_str(), &bytes)?;
        let found = configdata::content_digest(&values);
        if &found != digest {
            return Err(ConfigBucketError::Mismatch {
                name: name.clone(),
                digest: digest.clone(),
                found,
            });
        }
        Ok(values)
    }

    /// Writes `bytes` verbatim as configuration `name`'s current value, unchecked — as a 1.x
    /// tool or a hand-edited bucket might. For tests of what readers do with a bad entry.
    ///
    /// # Errors
    ///
    /// [`ConfigBucketError::JetStream`].
    pub async fn put_raw(&self, key: &str, bytes: Vec<u8>) -> Result<(), ConfigBucketError> {
        self.kv
            .put(key, bytes.into())
            .await
            .map_err(failed("write", key))?;
        Ok(())
    }
}

/// Whether JetStream said the bucket does not exist (not: timed out, refused).
pub(crate) fn bucket_not_found(error: &jetstream::context::KeyValueError) -> bool {
    use jetstream::context::{GetStreamError, GetStreamErrorKind};
    error.kind() == jetstream::context::KeyValueErrorKind::GetBucket
        && std::error::Error::source(error)
            .and_then(|source| source.downcast_ref::<GetStreamError>())
            .is_some_and(|e| {
                matches!(e.kind(), GetStreamErrorKind::JetStream(e)
                    if e.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND)
            })
}
