//! Provider specs: apply, delete and follow a capability provider on one host.

use crate::client::Client;
use crate::error::RequestError;
use crate::host::HostApi;
use futures::StreamExt;
use lattice_ctl::{
    ApplyProviderSpecAck, ApplyProviderSpecRequest, CtlSubject, DeleteProviderSpecAck,
    DeleteProviderSpecRequest, EventSource, EventSubject, ProviderInventory,
};
use lattice_spec::{HostId, ProviderId, ProviderSpec};
use tracing::Instrument;

impl Client {
    /// Applies a provider spec on one host and returns its acknowledgement (`accepted`: the
    /// provider is `pending` and the host starts it; `unchanged`; or `rejected` with a code
    /// and, for an invalid spec, every field error). Follow it with
    /// [`HostApi::wait_for_provider`].
    ///
    /// # Errors
    ///
    /// [`RequestError`]: timeout, no such host, the host's error reply, or an undecodable reply.
    pub async fn apply_provider(
        &self,
        host: &HostId,
        spec: &ProviderSpec,
    ) -> Result<ApplyProviderSpecAck, RequestError> {
        let subject = CtlSubject::ApplyProviderSpec {
            lattice: self.lattice.clone(),
            host_id: host.clone(),
        };
        let request = ApplyProviderSpecRequest::new(spec.clone());
        self.request::<_, ApplyProviderSpecAck>(subject.to_string(), &request)
            .instrument(tracing::info_span!("lattice.apply_provider", host = %host, provider = %spec.id(), revision = %spec.revision()))
            .await
    }

    /// Deletes a provider from one host: the host asks it to shut down, then stops its
    /// process.
    ///
    /// # Errors
    ///
    /// [`RequestError`]: timeout, no such host, the host's error reply, or an undecodable reply.
    pub async fn delete_provider(
        &self,
        host: &HostId,
        provider: &ProviderId,
    ) -> Result<DeleteProviderSpecAck, RequestError> {
        let subject = CtlSubject::DeleteProviderSpec {
            lattice: self.lattice.clone(),
            host_id: host.clone(),
        };
        let request = DeleteProviderSpecRequest::new(provider.clone());
        self.request::<_, DeleteProviderSpecAck>(subject.to_string(), &request)
            .instrument(
                tracing::info_span!("lattice.delete_provider", host = %host, provider = %provider),
            )
            .await
    }
}

impl HostApi {
    /// Applies a provider spec on the host; see [`Client::apply_provider`].
    ///
    /// # Errors
    ///
    /// [`RequestError`], as [`Client::apply_provider`].
    pub async fn apply_provider(
        &self,
        spec: &ProviderSpec,
    ) -> Result<ApplyProviderSpecAck, RequestError> {
        self.client.apply_provider(&self.host, spec).await
    }

    /// Deletes a provider from the host; see [`Client::delete_provider`].
    ///
    /// # Errors
    ///
    /// [`RequestError`], as [`Client::delete_provider`].
    pub async fn delete_provider(
        &self,
        provider: &ProviderId,
    ) -> Result<DeleteProviderSpecAck, RequestError> {
        self.client.delete_provider(&self.host, provider).await
    }

    /// The provider's entry in the host's inventory, `None` when the host does not have it.
    ///
    /// # Errors
    ///
    /// [`RequestError`], as [`HostApi::inventory`].
    pub async fn provider(
        &self,
        provider: &ProviderId,
    ) -> Result<Option<ProviderInventory>, RequestError> {
        Ok(self.inventory().await?.provider(provider).cloned())
    }

    /// Waits until `condition` holds for the provider's inventory entry on the host (`None`:
    /// the host does not have it) and returns that entry.
    ///
    /// As [`HostApi::wait_for`] does for components, it subscribes to the provider's status
    /// events, then reads the inventory — the source of truth — at the start, after each of
    /// the provider's events, and after every [recheck
    /// interval](Client::with_recheck_interval) without one. It adds **no timeout of its
    /// own**: wrap it in `tokio::time::timeout`.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use lattice_client::Client;
    /// use lattice_status::ProviderState;
    /// use std::time::Duration;
    ///
    /// let client = Client::new(async_nats::connect("nats://127.0.0.1:4222").await?, "default".parse()?);
    /// let host = client.host(&"host-a".parse()?);
    /// let running = |p: Option<&lattice_ctl::ProviderInventory>| {
    ///     p.is_some_and(|p| p.status.state == ProviderState::Running)
    /// };
    /// tokio::time::timeout(Duration::from_secs(30), host.wait_for_provider(&"keyvalue".parse()?, running)).await??;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`RequestError`] when the events cannot be subscribed to or the inventory cannot be
    /// read.
    pub async fn wait_for_provider(
        &self,
        provider: &ProviderId,
        condition: impl Fn(Option<&ProviderInventory>) -> bool,
    ) -> Result<Option<ProviderInventory>, RequestError> {
        let subject = EventSubject {
            lattice: self.client.lattice.clone(),
            host_id: self.host.clone(),
            source: EventSource::Provider(provider.clone()),
        }
        .to_string();
        let mut events = self
            .client
            .nats
            .subscribe(subject.clone())
            .await
            .map_err(|source| RequestError::Subscribe { subject, source })?;
        loop {
            let entry = self.provider(provider).await?;
            if condition(entry.as_ref()) {
                return Ok(entry);
            }
            // The next event, or the recheck interval in case one was missed.
            let _ = tokio::time::timeout(self.client.recheck_interval, events.next()).await;
        }
    }
}
