//! [`HostApi`]: the client bound to one host, as kube's `Api::namespaced` binds a namespace.

use crate::apply::{Applied, WaitReport};
use crate::client::Client;
use crate::conditions::Condition;
use crate::error::{ApplyError, FollowError, RequestError, SubscribeError, WaitError};
use crate::events::EventStream;
use crate::wait::Follower;
use lattice_ctl::{ComponentInventory, DeleteComponentSpecAck, EventFilter, HostInventory};
use lattice_spec::{ComponentId, ComponentSpec, HostId, Revision};
use lattice_status::ComponentState;
use std::time::Duration;
use tracing::Instrument;

/// The client bound to one host ([`Client::host`]): every call addresses that host, so none
/// repeats its id. Cloning is cheap.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use lattice_client::Client;
///
/// let client = Client::new(async_nats::connect("nats://127.0.0.1:4222").await?, "default".parse()?);
/// let host = client.host(&"host-a".parse()?);
/// for component in host.inventory().await?.components {
///     println!("{} desired r{}", component.component_id, component.desired.revision);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct HostApi {
    pub(crate) client: Client,
    pub(crate) host: HostId,
}

impl HostApi {
    /// The host this handle addresses.
    #[must_use]
    pub fn host_id(&self) -> &HostId {
        &self.host
    }

    /// The client this handle uses (its timeout, recheck interval and 1.x fallback).
    #[must_use]
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The host's inventory with status; see [`Client::inventory`].
    ///
    /// # Errors
    ///
    /// [`RequestError`]: timeout, no such host, the host's error reply, or an undecodable reply.
    pub async fn inventory(&self) -> Result<HostInventory, RequestError> {
        self.client.inventory(&self.host).await
    }

    /// The component's entry in the host's inventory, `None` when the host does not have it
    /// (as kube's `get_opt`).
    ///
    /// # Errors
    ///
    /// [`RequestError`], as [`HostApi::inventory`].
    pub async fn component(
        &self,
        component: &ComponentId,
    ) -> Result<Option<ComponentInventory>, RequestError> {
        let inventory = self.inventory().await?;
        Ok(inventory.component(component).cloned())
    }

    /// Applies `spec` on the host and returns its acknowledgement; see [`Client::apply`].
    ///
    /// # Errors
    ///
    /// [`ApplyError`], as [`Client::apply`].
    pub async fn apply(&self, spec: &ComponentSpec) -> Result<Applied, ApplyError> {
        self.client.apply(&self.host, spec).await
    }

    /// Applies `spec` and follows it to `running` or `failed` under `deadline`; see
    /// [`Client::apply_and_wait`].
    ///
    /// # Errors
    ///
    /// [`WaitError`], as [`Client::apply_and_wait`].
    pub async fn apply_and_wait(
        &self,
        spec: &ComponentSpec,
        deadline: Duration,
    ) -> Result<WaitReport, WaitError> {
        self.client.apply_and_wait(&self.host, spec, deadline).await
    }

    /// Deletes a component from the host; see [`Client::delete`].
    ///
    /// # Errors
    ///
    /// [`RequestError`]: timeout, no such host, the host's error reply, or an undecodable reply.
    pub async fn delete(
        &self,
        component: &ComponentId,
    ) -> Result<DeleteComponentSpecAck, RequestError> {
        self.client.delete(&self.host, component).await
    }

    /// The revision of `component` the host serves and its state; see
    /// [`Client::serving_revision`].
    ///
    /// # Errors
    ///
    /// [`ApplyError`], as [`Client::serving_revision`].
    pub async fn serving_revision(
        &self,
        component: &ComponentId,
    ) -> Result<Option<(Revision, ComponentState)>, ApplyError> {
        self.client.serving_revision(&self.host, component).await
    }

    /// Subscribes to the status events of the host (its components, providers and links).
    ///
    /// # Errors
    ///
    /// [`SubscribeError`] when the subscription cannot be made.
    pub async fn events(&self) -> Result<EventStream, SubscribeError> {
        self.client
            .events(&EventFilter::all(&self.client.lattice).on_host(&self.host))
            .await
    }

    /// Waits until `condition` holds for `component` on the host and returns the entry it
    /// held for (`None`: the host does not have the component, e.g. for
    /// [`conditions::is_deleted`](crate::conditions::is_deleted)).
    ///
    /// It subscribes to the component's status events, then reads the host's inventory — the
    /// source of truth — at the start, after each batch of the component's events, and after
    /// every [recheck interval](Client::with_recheck_interval) without one (in case events
    /// were missed). Like kube-runtime's `await_condition`, it adds **no timeout of its own**:
    /// it waits for as long as the condition does not hold, so wrap it in
    /// `tokio::time::timeout`.
    ///
    /// It follows lattice (v2alpha1) hosts; a wasmCloud 1.x host has neither status events nor
    /// this inventory (its reads fail with no responders).
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use lattice_client::{Client, conditions::{self, Condition}};
    /// use lattice_ctl::ComponentInventory;
    /// use std::time::Duration;
    ///
    /// let client = Client::new(async_nats::connect("nats://127.0.0.1:4222").await?, "default".parse()?);
    /// let host = client.host(&"host-a".parse()?);
    /// let web = "web".parse()?;
    /// // Revision 3 running with all its links established.
    /// let linked = |c: Option<&ComponentInventory>| {
    ///     c.is_some_and(|c| c.links.iter().all(|l| l.status.state == lattice_status::LinkState::Established))
    /// };
    /// let condition = conditions::is_running(3.into()).and(linked);
    /// tokio::time::timeout(Duration::from_secs(30), host.wait_for(&web, condition)).await??;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`FollowError`] when the events cannot be subscribed to or the inventory cannot be
    /// read.
    pub async fn wait_for(
        &self,
        component: &ComponentId,
        condition: impl Condition,
    ) -> Result<Option<ComponentInventory>, FollowError> {
        let span =
            tracing::info_span!("lattice.wait_for", host = %self.host, component = %component);
        async {
            let mut follower = Follower::subscribe(&self.client, &self.host, component).await?;
            follower.until(&condition, &mut |_| false).await
        }
        .instrument(span)
        .await
    }
}
