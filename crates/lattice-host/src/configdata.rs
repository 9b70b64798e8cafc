//! A [`ConfigStore`] over the lattice's `CONFIGDATA_{lattice}` JetStream key-value bucket —
//! the bucket wasmCloud 1.x hosts read named configuration from, in the layout of
//! [`lattice_spec::configdata`].
//!
//! The host only reads: an unpinned name resolves to the name's current value (as in 1.x), a
//! pinned name to the immutable copy of the pinned content, verified against its digest, so a
//! rolled-back spec runs with the configuration it was rolled out with even after the name
//! was overwritten. Nothing is watched: a new value reaches a running component only through
//! a new spec (a rollout), never behind its back.

use crate::config::{ConfigError, ConfigStore};
use async_nats::jetstream;
use futures::future::BoxFuture;
use lattice_nats::ConfigBucket;
use lattice_spec::{ConfigName, ContentDigest, LatticeName};
use std::collections::BTreeMap;
use tokio::sync::OnceCell;

/// Named configuration from the lattice's `CONFIGDATA_{lattice}` bucket.
///
/// The bucket is looked up at the first read (and again after a failed lookup), never
/// created: a host with nothing to read needs no bucket, and one that is missing is reported
/// on the component that names a configuration ([`ConfigError::JetStream`]).
///
/// ```no_run
/// # async fn demo(nats: async_nats::Client) -> Result<(), Box<dyn std::error::Error>> {
/// use lattice_host::{Host, HostConfig, NatsConfigStore, RevisionEchoRuntime};
/// use std::sync::Arc;
///
/// let lattice = "default".parse()?;
/// let configs = NatsConfigStore::new(nats.clone(), &lattice);
/// let host = Host::new(nats, HostConfig::new("host-a".parse()?, lattice), Arc::new(RevisionEchoRuntime))
///     .config_store(Arc::new(configs))
///     .start()
///     .await?;
/// # drop(host); Ok(()) }
/// ```
#[derive(Debug)]
pub struct NatsConfigStore {
    context: jetstream::Context,
    lattice: LatticeName,
    bucket: OnceCell<ConfigBucket>,
}

impl NatsConfigStore {
    /// Reads `lattice`'s bucket over `nats`.
    #[must_use]
    pub fn new(nats: async_nats::Client, lattice: &LatticeName) -> Self {
        Self::with_context(jetstream::new(nats), lattice)
    }

    /// Reads `lattice`'s bucket through the caller's JetStream `context` (its domain or API
    /// prefix, and its request timeout).
    #[must_use]
    pub fn with_context(context: jetstream::Context, lattice: &LatticeName) -> Self {
        Self {
            context,
            lattice: lattice.clone(),
            bucket: OnceCell::new(),
        }
    }

    async fn bucket(&self) -> Result<&ConfigBucket, ConfigError> {
        self.bucket
            .get_or_try_init(|| ConfigBucket::lookup(self.context.clone(), &self.lattice))
            .await
    }
}

impl ConfigStore for NatsConfigStore {
    fn get<'a>(
        &'a self,
        name: &'a ConfigName,
        pin: Option<&'a ContentDigest>,
    ) -> BoxFuture<'a, Result<BTreeMap<String, String>, ConfigError>> {
        Box::pin(async move {
            let bucket = self.bucket().await?;
            match pin {
                Some(digest) => bucket.get_pinned(name, digest).await,
                None => bucket
                    .get(name)
                    .await?
                    .ok_or_else(|| ConfigError::Missing { name: name.clone() }),
            }
        })
    }
}
