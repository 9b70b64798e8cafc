//! The [`Client`]: one lattice, the caller's NATS connection, typed requests.

use crate::error::{DiscoverError, RequestError, RequestErrorKind, SubscribeError};
use crate::events::EventStream;
use crate::host::HostApi;
use bytes::Bytes;
use futures::StreamExt;
use lattice_ctl::{
    CtlSubject, DeleteComponentSpecAck, DeleteComponentSpecRequest, EventFilter, HostInventory,
    HostInventoryRequest, HostPingRequest, HostSummary, HostSummaryReply, Reply, ReplyPayload,
};
use lattice_link::{
    LinkDeleteRequest, LinkPutRequest, LinkRefusal, LinkResponse, ProviderOperation,
    ProviderSubject,
};
use lattice_spec::{ComponentId, HostId, LatticeName, ProviderId, WireMessage};
use std::time::Duration;
use tokio::time::Instant;
use tracing::Instrument;

/// How long a request waits for its reply unless configured otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a wait goes without an event before it reads the inventory again, unless
/// configured otherwise (see [`Client::with_recheck_interval`]).
pub const DEFAULT_RECHECK_INTERVAL: Duration = Duration::from_secs(2);

/// A typed client for the control interface of one lattice.
///
/// It uses the caller's [`async_nats::Client`], so connection options, credentials and TLS are
/// the caller's. Cloning is cheap.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use lattice_client::{Client, Discover};
///
/// let nats = async_nats::connect("nats://127.0.0.1:4222").await?;
/// let client = Client::new(nats, "default".parse()?);
/// for host in client.discover_hosts(Discover::expecting(2)).await? {
///     println!("{} speaks {:?}", host.host_id, host.api_versions);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    pub(crate) nats: async_nats::Client,
    pub(crate) lattice: LatticeName,
    pub(crate) timeout: Duration,
    pub(crate) recheck_interval: Duration,
    pub(crate) v1_fallback: bool,
    pub(crate) permissions: Option<crate::PermissionWatch>,
}

/// How to gather the answers of a host discovery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Discover {
    /// Return as soon as this many hosts answered.
    pub expected: Option<usize>,
    /// Return when this much time has passed since the ping, whatever answered.
    pub window: Duration,
}

impl Discover {
    /// Gather for the whole window (default 1 s): for "who is out there?".
    #[must_use]
    pub fn all() -> Self {
        Self {
            expected: None,
            window: Duration::from_secs(1),
        }
    }

    /// Return as soon as `hosts` answered, or after the window (default 5 s).
    #[must_use]
    pub fn expecting(hosts: usize) -> Self {
        Self {
            expected: Some(hosts),
            window: Duration::from_secs(5),
        }
    }

    /// Sets the gather window.
    #[must_use]
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }
}

impl Client {
    /// A client for `lattice` over `nats`, with the default timeout and the 1.x fallback off.
    #[must_use]
    pub fn new(nats: async_nats::Client, lattice: LatticeName) -> Self {
        Self {
            nats,
            lattice,
            timeout: DEFAULT_TIMEOUT,
            recheck_interval: DEFAULT_RECHECK_INTERVAL,
            v1_fallback: false,
            permissions: None,
        }
    }

    /// Reports what the NATS server denies this user as errors naming the subject, instead
    /// of timeouts: `watch` must be installed on the options the client's connection was made
    /// with ([`PermissionWatch::install`](crate::PermissionWatch::install)). A request the
    /// server denied (its subject, or the reply inbox) fails as soon as the server says so
    /// with [`RequestError::PermissionDenied`]; an event stream whose subscription was denied
    /// ends with [`EventError::PermissionDenied`](crate::EventError::PermissionDenied).
    #[must_use]
    pub fn with_permission_watch(mut self, watch: crate::PermissionWatch) -> Self {
        self.permissions = Some(watch);
        self
    }

    /// The permission watch given with [`Client::with_permission_watch`].
    #[must_use]
    pub fn permission_watch(&self) -> Option<&crate::PermissionWatch> {
        self.permissions.as_ref()
    }

    /// Sets how long each request waits for its reply.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets how long a wait ([`HostApi::wait_for`], [`Client::apply_and_wait`]) goes without
    /// an event of the component before it reads the host's inventory again, in case events
    /// were missed (default [`DEFAULT_RECHECK_INTERVAL`]). Events themselves are followed as
    /// they arrive; this only bounds how late a missed one is noticed.
    #[must_use]
    pub fn with_recheck_interval(mut self, interval: Duration) -> Self {
        self.recheck_interval = interval;
        self
    }

    /// Turns the wasmCloud 1.x fallback on or off (default **off**).
    ///
    /// With it on, [`Client::apply`] drives a host that speaks only the 1.x control
    /// interface with 1.x operations ([`Applied::V1Fallback`](crate::Applied::V1Fallback),
    /// what the 1.x shape cannot carry listed in `lost`), [`Client::apply_and_wait`] follows
    /// such a host by reading its 1.x inventory, and [`Client::serving_revision`] reads that
    /// inventory. With it off, those calls fail against a 1.x-only host with
    /// [`ApplyError::V1Only`](crate::ApplyError::V1Only) instead of silently doing less than
    /// the spec says (1.x has no link replies and no rollback). Discovery lists 1.x hosts
    /// either way.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use lattice_client::Client;
    ///
    /// let nats = async_nats::connect("nats://127.0.0.1:4222").await?;
    /// // A scheduler for a lattice that still has wasmCloud 1.x hosts.
    /// let client = Client::new(nats, "default".parse()?).with_v1_fallback(true);
    /// assert!(client.v1_fallback());
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn with_v1_fallback(mut self, enabled: bool) -> Self {
        self.v1_fallback = enabled;
        self
    }

    /// Whether the wasmCloud 1.x fallback is on; see [`Client::with_v1_fallback`].
    #[must_use]
    pub fn v1_fallback(&self) -> bool {
        self.v1_fallback
    }

    /// A handle bound to one host, so calls do not repeat its id (as kube's
    /// `Api::namespaced` binds a namespace). Cheap: it clones the client.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use lattice_client::{Client, conditions};
    /// use lattice_spec::ComponentSpecDraft;
    /// use std::time::Duration;
    ///
    /// let client = Client::new(async_nats::connect("nats://127.0.0.1:4222").await?, "default".parse()?);
    /// let host = client.host(&"host-a".parse()?);
    /// let spec = ComponentSpecDraft::new("web", "ghcr.io/acme/web:2.0.0").revision(2).validate()?;
    /// host.apply(&spec).await?;
    /// // The wait adds no timeout of its own: the caller bounds it.
    /// let settled = tokio::time::timeout(
    ///     Duration::from_secs(30),
    ///     host.wait_for(spec.id(), conditions::is_settled(spec.revision())),
    /// )
    /// .await??;
    /// println!("{:?}", settled.map(|c| c.desired.status.state));
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn host(&self, host: &HostId) -> HostApi {
        HostApi {
            client: self.clone(),
            host: host.clone(),
        }
    }

    /// The lattice this client addresses.
    #[must_use]
    pub fn lattice(&self) -> &LatticeName {
        &self.lattice
    }

    /// The underlying NATS connection.
    #[must_use]
    pub fn nats(&self) -> &async_nats::Client {
        &self.nats
    }

    /// Discovers the hosts of the lattice — lattice hosts and wasmCloud 1.x hosts alike:
    /// publishes the v2alpha1 ping and the 1.x `host.ping` (same reply inbox) and gathers
    /// every host's answer until `discover.expected` distinct hosts answered or
    /// `discover.window` passed. Never a fixed sleep: with an expected count it returns as
    /// soon as the last host answers.
    ///
    /// A host is listed once, with the API versions it speaks in `api_versions`: a lattice
    /// host answers both pings and says `["v1", "v2alpha1"]` in either answer (its 1.x `Host`
    /// carries them in the [`API_VERSIONS_LABEL`](lattice_ctl::v1::API_VERSIONS_LABEL)
    /// label); a 1.x host answers only the 1.x ping: `["v1"]`, its summary built from its 1.x
    /// `Host`. A v2alpha1 summary wins over one built from a 1.x answer. With an expected
    /// count, a host counts at its first answer.
    ///
    /// # Errors
    ///
    /// [`DiscoverError`] when the ping cannot be sent. Hosts whose answer does not decode are
    /// skipped (and logged).
    pub async fn discover_hosts(
        &self,
        discover: Discover,
    ) -> Result<Vec<HostSummary>, DiscoverError> {
        let subject = CtlSubject::HostPing {
            lattice: self.lattice.clone(),
        }
        .to_string();
        let v1_subject = lattice_ctl::v1::V1Subject::HostPing {
            lattice: self.lattice.clone(),
        }
        .to_string();
        async {
            let inbox = self.nats.new_inbox();
            let mut answers = self
                .nats
                .subscribe(inbox.clone())
                .await
                .map_err(DiscoverError::Subscribe)?;
            let payload = encode(&HostPingRequest::new())?;
            self.nats
                .publish_with_reply(subject.clone(), inbox.clone(), payload)
                .await
                .map_err(|source| DiscoverError::Publish {
                    subject: subject.clone(),
                    source,
                })?;
            self.nats
                .publish_with_reply(v1_subject.clone(), inbox, Bytes::new())
                .await
                .map_err(|source| DiscoverError::Publish {
                    subject: v1_subject,
                    source,
                })?;
            let deadline = Instant::now() + discover.window;
            let mut hosts = Discovered::default();
            while discover.expected.is_none_or(|n| hosts.len() < n) {
                let Ok(Some(message)) = tokio::time::timeout_at(deadline, answers.next()).await
                else {
                    break;
                };
                hosts.add(&message.payload, &self.lattice);
            }
            let _ = answers.unsubscribe().await;
            Ok(hosts.into_vec())
        }
        .instrument(tracing::info_span!("lattice.discover_hosts", lattice = %self.lattice))
        .await
    }

    /// One host's inventory with status: the source of truth when events were missed.
    ///
    /// # Errors
    ///
    /// [`RequestError`]: timeout, no such host, the host's error reply, or an undecodable reply.
    pub async fn inventory(&self, host: &HostId) -> Result<HostInventory, RequestError> {
        let subject = CtlSubject::HostInventory {
            lattice: self.lattice.clone(),
            host_id: host.clone(),
        };
        self.request::<_, HostInventory>(subject.to_string(), &HostInventoryRequest::new())
            .instrument(tracing::info_span!("lattice.inventory", host = %host))
            .await
    }

    /// Deletes a component from one host: stops it and removes its links.
    ///
    /// # Errors
    ///
    /// [`RequestError`]: timeout, no such host, the host's error reply, or an undecodable reply.
    pub async fn delete(
        &self,
        host: &HostId,
        component: &ComponentId,
    ) -> Result<DeleteComponentSpecAck, RequestError> {
        let subject = CtlSubject::DeleteComponentSpec {
            lattice: self.lattice.clone(),
            host_id: host.clone(),
        };
        let request = DeleteComponentSpecRequest::new(component.clone());
        self.request::<_, DeleteComponentSpecAck>(subject.to_string(), &request)
            .instrument(tracing::info_span!("lattice.delete", host = %host, component = %component))
            .await
    }

    /// Subscribes to the status events matching `filter`.
    ///
    /// # Errors
    ///
    /// [`SubscribeError`] when the subscription cannot be made.
    pub async fn events(&self, filter: &EventFilter) -> Result<EventStream, SubscribeError> {
        let subject = filter.to_string();
        let mark = self.permissions.as_ref().map(crate::PermissionWatch::mark);
        let subscriber = self
            .nats
            .subscribe(subject.clone())
            .await
            .map_err(|source| SubscribeError {
                subject: subject.clone(),
                source,
            })?;
        let stream = EventStream::new(subscriber);
        Ok(match (&self.permissions, mark) {
            (Some(watch), Some(mark)) => stream.watched(watch.clone(), mark, subject),
            _ => stream,
        })
    }

    /// Asks `provider` — the link's target, or its source for a provider-source link — to
    /// establish a link and waits for its answer (for tools; hosts do this as part of an
    /// apply). One instance answers, on the lattice-wide subject.
    ///
    /// # Errors
    ///
    /// [`LinkError::Refused`] with the provider's kind and message, or [`LinkError::Request`].
    pub async fn link_put(
        &self,
        provider: &ProviderId,
        request: &LinkPutRequest,
    ) -> Result<(), LinkError> {
        let subject = ProviderSubject::new(
            self.lattice.clone(),
            provider.clone(),
            ProviderOperation::LinkPut,
        );
        self.link_request(subject, encode(request).map_err(RequestError::from)?)
            .await
    }

    /// Asks `provider` to remove a link and waits for its answer.
    ///
    /// # Errors
    ///
    /// [`LinkError::Refused`] with the provider's kind and message, or [`LinkError::Request`].
    pub async fn link_delete(
        &self,
        provider: &ProviderId,
        request: &LinkDeleteRequest,
    ) -> Result<(), LinkError> {
        let subject = ProviderSubject::new(
            self.lattice.clone(),
            provider.clone(),
            ProviderOperation::LinkDelete,
        );
        self.link_request(subject, encode(request).map_err(RequestError::from)?)
            .await
    }

    async fn link_request(
        &self,
        subject: ProviderSubject,
        payload: Bytes,
    ) -> Result<(), LinkError> {
        let subject = subject.to_string();
        let message = self.raw_request(&subject, payload).await?;
        let response = LinkResponse::decode(&message.payload)
            .map_err(|source| RequestError::Decode { subject, source })?;
        response.into_result().map_err(LinkError::Refused)
    }

    /// Sends a v2alpha1 request and decodes its [`Reply`].
    pub(crate) async fn request<Req: WireMessage, T: ReplyPayload>(
        &self,
        subject: String,
        request: &Req,
    ) -> Result<T, RequestError> {
        let message = self.raw_request(&subject, encode(request)?).await?;
        let reply =
            Reply::<T>::decode(&message.payload).map_err(|source| RequestError::Decode {
                subject: subject.clone(),
                source,
            })?;
        reply
            .into_result()
            .map_err(|error| RequestError::Host { subject, error })
    }

    /// Sends bytes as a request under the client's timeout, mapping async-nats' errors.
    pub(crate) async fn raw_request(
        &self,
        subject: &str,
        payload: Bytes,
    ) -> Result<async_nats::Message, RequestError> {
        let request = async_nats::Request::new()
            .payload(payload)
            .headers(crate::trace::headers())
            .timeout(Some(self.timeout));
        let Some(watch) = &self.permissions else {
            return self.send_request(subject, request).await;
        };
        // The server reports a denial on the connection, not on the request: race them.
        let mark = watch.mark();
        let inbox = self.nats.new_inbox();
        let inbox_prefix = inbox.rsplit_once('.').map_or(inbox.as_str(), |(p, _)| p);
        let concerns = |v: &crate::PermissionViolation| v.concerns_request(subject, inbox_prefix);
        let denied = |violation| RequestError::PermissionDenied {
            subject: subject.to_owned(),
            violation,
        };
        tokio::select! {
            biased;
            violation = watch.matching(mark, concerns) => Err(denied(violation)),
            result = self.send_request(subject, request) => match result {
                // The report may trail the timeout it caused.
                Err(e) if e.kind() == RequestErrorKind::TimedOut => {
                    Err(watch.find(mark, concerns).map_or(e, denied))
                }
                other => other,
            },
        }
    }

    async fn send_request(
        &self,
        subject: &str,
        request: async_nats::Request,
    ) -> Result<async_nats::Message, RequestError> {
        self.nats
            .send_request(subject.to_owned(), request)
            .await
            .map_err(|e| {
                use async_nats::RequestErrorKind as Kind;
                match e.kind() {
                    Kind::TimedOut => RequestError::TimedOut {
                        subject: subject.to_owned(),
                        timeout: self.timeout,
                    },
                    Kind::NoResponders => RequestError::NoResponders {
                        subject: subject.to_owned(),
                    },
                    _ => RequestError::Transport {
                        subject: subject.to_owned(),
                        source: e,
                    },
                }
            })
    }
}

/// A link request a provider refused, or that failed on the way.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// The request failed (timeout, no provider, undecodable answer, transport).
    #[error(transparent)]
    Request(#[from] RequestError),
    /// The provider refused; its kind and message are attached.
    #[error(transparent)]
    Refused(LinkRefusal),
}

/// What went wrong with a link request, as a value to `match` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkErrorKind {
    /// The request failed; see [`RequestErrorKind`].
    Request(RequestErrorKind),
    /// The provider refused, with this kind (a provider's own kind, not this enum: see
    /// [`lattice_status::LinkErrorKind`]).
    Refused(lattice_status::LinkErrorKind),
}

impl LinkErrorKind {
    /// Whether the same request may succeed if sent again: a retryable request failure, or a
    /// provider that said a resource it needs is unavailable.
    #[must_use]
    pub fn is_retryable(self) -> bool {
        match self {
            Self::Request(kind) => kind.is_retryable(),
            Self::Refused(kind) => kind == lattice_status::LinkErrorKind::ResourceUnavailable,
        }
    }
}

impl LinkError {
    /// The kind of failure.
    #[must_use]
    pub fn kind(&self) -> LinkErrorKind {
        match self {
            Self::Request(e) => LinkErrorKind::Request(e.kind()),
            Self::Refused(refusal) => LinkErrorKind::Refused(refusal.kind),
        }
    }

    /// Whether the same request may succeed if sent again; see
    /// [`LinkErrorKind::is_retryable`] (a host's error reply says itself).
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Request(e) => e.is_retryable(),
            Self::Refused(_) => self.kind().is_retryable(),
        }
    }
}

/// Encodes a message.
pub(crate) use crate::error::encode;

/// Hosts discovered so far, in order of first answer, one entry per host id.
#[derive(Default)]
struct Discovered {
    hosts: Vec<HostSummary>,
}

impl Discovered {
    fn len(&self) -> usize {
        self.hosts.len()
    }

    /// Adds one ping answer: a v2alpha1 `HostSummaryReply` (it has `api_version`) or a 1.x
    /// `CtlResponse<Host>`.
    fn add(&mut self, payload: &[u8], lattice: &LatticeName) {
        let is_v2 = serde_json::from_slice::<serde_json::Value>(payload)
            .is_ok_and(|value| value.get("api_version").is_some());
        let (summary, v1) = if is_v2 {
            match HostSummaryReply::decode(payload).map(Reply::into_result) {
                Ok(Ok(summary)) => (summary, false),
                Ok(Err(error)) => {
                    return tracing::warn!(%error, "a host answered the ping with an error");
                }
                Err(error) => return tracing::warn!(%error, "cannot decode a host's ping answer"),
            }
        } else {
            match serde_json::from_slice::<lattice_ctl::v1::CtlResponse<lattice_ctl::v1::Host>>(
                payload,
            )
            .map_err(|e| e.to_string())
            .and_then(|response| response.into_result().map_err(|e| e.to_string()))
            {
                Ok(Some(host)) => match summary_of_v1(host, lattice) {
                    Some(summary) => (summary, true),
                    None => return tracing::warn!("a 1.x host answered with an invalid host id"),
                },
                Ok(None) => return tracing::warn!("a 1.x host answered the ping with no host"),
                Err(error) => {
                    return tracing::warn!(%error, "cannot decode a 1.x host's ping answer");
                }
            }
        };
        match self.hosts.iter_mut().find(|h| h.host_id == summary.host_id) {
            Some(known) => {
                let versions: Vec<String> = known.api_versions.clone();
                if !v1 {
                    // The host's own v2alpha1 summary wins over one built from its 1.x answer.
                    *known = summary;
                }
                for version in versions {
                    if !known.api_versions.contains(&version) {
                        known.api_versions.push(version);
                    }
                }
                if v1 && !known.api_versions.iter().any(|v| v == "v1") {
                    known.api_versions.push("v1".to_owned());
                }
                known.api_versions.sort();
            }
            None => self.hosts.push(summary),
        }
    }

    fn into_vec(self) -> Vec<HostSummary> {
        self.hosts
    }
}

/// The summary of a host that answered the 1.x ping, speaking `v1`.
fn summary_of_v1(host: lattice_ctl::v1::Host, lattice: &LatticeName) -> Option<HostSummary> {
    let mut summary = HostSummary::new(host.id.parse().ok()?, lattice.clone());
    summary.friendly_name = host.friendly_name;
    // A lattice host says which versions it speaks; a 1.x host speaks 1.x.
    summary.api_versions = match host.labels.get(lattice_ctl::v1::API_VERSIONS_LABEL) {
        Some(versions) => versions.split(',').map(str::to_owned).collect(),
        None => vec!["v1".to_owned()],
    };
    summary.labels = host.labels;
    summary.labels.remove(lattice_ctl::v1::API_VERSIONS_LABEL);
    summary.version = host.version.unwrap_or_default();
    summary.uptime_seconds = host.uptime_seconds;
    Some(summary)
}
