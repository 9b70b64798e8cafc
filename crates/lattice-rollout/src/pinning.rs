//! Configuration as rolled-out state: at the start of a rollout the scheduler pins every
//! named configuration each component uses to the content it holds now.
//!
//! For each name used somewhere without a pin, the scheduler reads the name's current value
//! from the lattice's `CONFIGDATA_{lattice}` bucket, writes the immutable content-addressed
//! copy (once; see [`lattice_spec::configdata`]) and pins the spec to its digest
//! ([`ComponentSpec::with_config_pins`](lattice_spec::ComponentSpec::with_config_pins)). So:
//!
//! - the spec digest covers the content: rotating a value and rolling out again is a change,
//!   planned, gated and rolled back like new code;
//! - the stored revisions (desired, stable) hold pinned specs, so an automatic rollback or an
//!   undo applies the old pins and hosts read the old content from its copy, even though the
//!   name now holds the new value;
//! - pins already in a spec stay (an undo re-rolls a stored revision as it was);
//! - a name that does not exist or holds no JSON object of strings refuses the rollout
//!   before any host is touched ([`RolloutError::Config`]);
//! - a dry run ([`Scheduler::plan`](crate::Scheduler::plan)) pins too: it writes the copies
//!   (idempotent, content-addressed) so the plan it shows is the one a rollout would run.

use crate::{Placement, ProviderPlacement, RolloutError};
use lattice_client::{Client, ConfigBucket};
use lattice_spec::{ConfigName, ContentDigest};
use std::{collections::BTreeMap, sync::Arc};
use tokio::sync::OnceCell;

/// Whether and where the scheduler pins configurations.
#[derive(Clone, Debug, Default)]
pub(crate) struct ConfigPinning {
    /// Off: specs go out as written (named configurations resolve live, as in 1.x).
    pub(crate) off: bool,
    bucket: Arc<OnceCell<ConfigBucket>>,
}

impl ConfigPinning {
    /// `components` with every unpinned named configuration pinned to its current content.
    pub(crate) async fn pin(
        &self,
        client: &Client,
        components: Vec<Placement>,
    ) -> Result<Vec<Placement>, RolloutError> {
        if self.off {
            return Ok(components);
        }
        let mut pins: BTreeMap<ConfigName, ContentDigest> = BTreeMap::new();
        for placement in &components {
            let spec = &placement.spec;
            for name in spec.unpinned_config_names() {
                if pins.contains_key(name) {
                    continue;
                }
                let refuse = |source| RolloutError::Config {
                    component: spec.id().clone(),
                    name: name.clone(),
                    source,
                };
                let bucket = self
                    .bucket
                    .get_or_try_init(|| {
                        ConfigBucket::lookup(
                            async_nats::jetstream::new(client.nats().clone()),
                            client.lattice(),
                        )
                    })
                    .await
                    .map_err(refuse)?;
                let digest = bucket.pin(name).await.map_err(refuse)?;
                pins.insert(name.clone(), digest);
            }
        }
        if pins.is_empty() {
            return Ok(components);
        }
        Ok(components
            .into_iter()
            .map(|p| Placement::new(p.spec.with_config_pins(&pins), p.hosts))
            .collect())
    }

    /// `providers` with every unpinned named configuration pinned to its current content, so
    /// a provider's rotated configuration rolls out and back like a component's.
    pub(crate) async fn pin_providers(
        &self,
        client: &Client,
        providers: Vec<ProviderPlacement>,
    ) -> Result<Vec<ProviderPlacement>, RolloutError> {
        if self.off {
            return Ok(providers);
        }
        let mut pins: BTreeMap<ConfigName, ContentDigest> = BTreeMap::new();
        for placement in &providers {
            let spec = &placement.spec;
            for name in spec.unpinned_config_names() {
                if pins.contains_key(name) {
                    continue;
                }
                let refuse = |source| RolloutError::ProviderConfig {
                    provider: spec.id().clone(),
                    name: name.clone(),
                    source,
                };
                let bucket = self.bucket(client).await.map_err(refuse)?;
                let digest = bucket.pin(name).await.map_err(refuse)?;
                pins.insert(name.clone(), digest);
            }
        }
        if pins.is_empty() {
            return Ok(providers);
        }
        Ok(providers
            .into_iter()
            .map(|p| ProviderPlacement::new(p.spec.with_config_pins(&pins), p.hosts))
            .collect())
    }

    async fn bucket(
        &self,
        client: &Client,
    ) -> Result<&ConfigBucket, lattice_client::ConfigBucketError> {
        self.bucket
            .get_or_try_init(|| {
                ConfigBucket::lookup(
                    async_nats::jetstream::new(client.nats().clone()),
                    client.lattice(),
                )
            })
            .await
    }
}
