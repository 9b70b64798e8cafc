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

/// How long [`Discover::live`] waits for the host directory after the last answer before it
/// goes on without it ([`DirectoryErrorKind::TimedOut`](crate::DirectoryErrorKind)).
pub const DIRECTORY_PATIENCE: Duration = Duration::from_secs(1);

/// How long [`Discover::live`] waits, after every host the directory lists answered, for a
/// host it does not list (a newcomer, a 1.x host) before it returns.
pub const DEFAULT_QUIET: Duration = Duration::from_millis(20);

/// The quiet period [`Discover::live`] uses instead when the host directory lists no live host
/// (it was just created, or cannot be read): with nothing to wait for, the answers' arrival is
/// the only evidence, so it waits longer after the last one.
pub const QUIET_WITHOUT_DIRECTORY: Duration = Duration::from_millis(250);

/// How to gather the answers of a host discovery.
///
/// - [`Discover::live`] (what the scheduler and the CLI use): waits for every host the
///   [host directory](crate::directory) lists as live, then a short quiet period for hosts it
///   does not list; bounded by the window; a listed host that did not answer is reported in
///   [`Discovery::unanswered`].
/// - [`Discover::expecting`]: returns as soon as a known number of hosts answered.
/// - [`Discover::all`]: gathers for the whole window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Discover {
    /// Return as soon as this many hosts answered.
    pub expected: Option<usize>,
    /// Return when this much time has passed since the ping, whatever answered.
    pub window: Duration,
    /// Wait for the hosts the host directory lists (see [`Discover::live`]).
    pub directory: bool,
    /// With the directory: how long no new answer must arrive, once every listed host
    /// answered, before discovery returns.
    pub quiet: Duration,
}

impl Discover {
    /// Gather for the whole window (default 1 s): for "who is out there?" when no host
    /// directory can be used. [`Discover::live`] returns as soon as it is done.
    #[must_use]
    pub fn all() -> Self {
        Self {
            expected: None,
            window: Duration::from_secs(1),
            directory: false,
            quiet: DEFAULT_QUIET,
        }
    }

    /// Return as soon as `hosts` answered, or after the window (default 5 s).
    #[must_use]
    pub fn expecting(hosts: usize) -> Self {
        Self {
            expected: Some(hosts),
            window: Duration::from_secs(5),
            directory: false,
            quiet: DEFAULT_QUIET,
        }
    }

    /// Every live host, returned as soon as discovery knows it is done: when every host the
    /// [host directory](crate::directory) lists as live answered and then no new answer came
    /// for the quiet period ([`DEFAULT_QUIET`]; [`QUIET_WITHOUT_DIRECTORY`] when the directory
    /// lists none) — or at the end of the window (default 5 s), with the listed hosts that
    /// did not answer in [`Discovery::unanswered`]. The client creates the directory's stream
    /// when it is missing (see [`crate::directory`]).
    #[must_use]
    pub fn live() -> Self {
        Self {
            expected: None,
            window: Duration::from_secs(5),
            directory: true,
            quiet: DEFAULT_QUIET,
        }
    }

    /// Sets the gather window (with [`Discover::live`], the most it waits for a listed host).
    #[must_use]
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Sets the quiet period of [`Discover::live`].
    #[must_use]
    pub fn quiet(mut self, quiet: Duration) -> Self {
        self.quiet = quiet;
        self
    }
}

/// What a discovery found: the hosts that answered, and — with [`Discover::live`] — the hosts
/// the directory lists as live that did not.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Discovery {
    /// Every host that answered, in order of first answer.
    pub hosts: Vec<HostSummary>,
    /// Hosts the directory lists as live that did not answer within the window, sorted.
    pub unanswered: Vec<HostId>,
    /// How many live hosts the directory listed; `None` when it was not used or could not
    /// be read in time.
    pub directory: Option<usize>,
    /// Why the directory could not be used, when it could not.
    pub directory_error: Option<crate::DirectoryErrorKind>,
    /// The window discovery was bounded by.
    pub window: Duration,
}

impl Discovery {
    /// The hosts, provided every host the directory lists as live answered.
    ///
    /// # Errors
    ///
    /// [`DiscoverError::Unanswered`] naming the hosts that did not.
    pub fn into_complete(self) -> Result<Vec<HostSummary>, DiscoverError> {
        if self.unanswered.is_empty() {
            Ok(self.hosts)
        } else {
            Err(DiscoverError::Unanswered {
                hosts: self.unanswered,
                window: self.window,
            })
        }
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

    /// Reads the [host directory](crate::directory): every host whose last presence the
    /// directory stream keeps, creating the stream first if it is missing.
    ///
    /// # Errors
    ///
    /// [`DirectoryError`](crate::DirectoryError) when the stream cannot be created or read.
    pub async fn host_directory(
        &self,
    ) -> Result<Vec<crate::directory::KnownHost>, crate::DirectoryError> {
        crate::directory::read(&self.nats, &self.lattice).await
    }

    /// Discovers the hosts of the lattice — lattice hosts and wasmCloud 1.x hosts alike — and
    /// returns the hosts that answered; [`Client::discover`] says more (the hosts the
    /// directory lists that did not answer, which this logs as a warning).
    ///
    /// # Errors
    ///
    /// [`DiscoverError`] when the ping cannot be sent.
    pub async fn discover_hosts(
        &self,
        discover: Discover,
    ) -> Result<Vec<HostSummary>, DiscoverError> {
        let discovery = self.discover(discover).await?;
        if !discovery.unanswered.is_empty() {
            tracing::warn!(
                unanswered = ?discovery.unanswered,
                window = ?discovery.window,
                "hosts the host directory lists as live did not answer discovery"
            );
        }
        Ok(discovery.hosts)
    }

    /// Discovers the hosts of the lattice — lattice hosts and wasmCloud 1.x hosts alike:
    /// publishes the v2alpha1 ping and the 1.x `host.ping` (same reply inbox) and gathers
    /// every host's answer until `discover` says it is done (see [`Discover`]): with
    /// [`Discover::live`] once every host the [host directory](crate::directory) lists as
    /// live answered and a quiet period passed; with [`Discover::expecting`] once that many
    /// hosts answered; else, or at the latest, at the end of the window. Never a fixed sleep.
    /// The directory is read while the answers arrive.
    ///
    /// A host is listed once, with the API versions it speaks in `api_versions`: a lattice
    /// host answers both pings and says `["v1", "v2alpha1"]` in either answer (its 1.x `Host`
    /// carries them in the [`API_VERSIONS_LABEL`](lattice_ctl::v1::API_VERSIONS_LABEL)
    /// label); a 1.x host answers only the 1.x ping: `["v1"]`, its summary built from its 1.x
    /// `Host`. A v2alpha1 summary wins over one built from a 1.x answer. With an expected
    /// count, a host counts at its first answer.
    ///
    /// When the directory cannot be read (no JetStream, no permission), discovery goes on
    /// without it, with [`QUIET_WITHOUT_DIRECTORY`], and says why in
    /// [`Discovery::directory_error`].
    ///
    /// # Errors
    ///
    /// [`DiscoverError`] when the ping cannot be sent. Hosts whose answer does not decode are
    /// skipped (and logged).
    pub async fn discover(&self, discover: Discover) -> Result<Discovery, DiscoverError> {
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
            let mut until = Completion::new(discover, deadline);
            let directory = async {
                if discover.directory {
                    Some(crate::directory::read(&self.nats, &self.lattice).await)
                } else {
                    None
                }
            };
            tokio::pin!(directory);
            while !until.done(hosts.len()) {
                tokio::select! {
                    biased;
                    message = answers.next() => {
                        let Some(message) = message else { break };
                        if let Some(host) = hosts.add(&message.payload, &self.lattice) {
                            until.answered(host);
                        }
                    }
                    listed = &mut directory, if !until.directory_read => {
                        until.listed(listed, &hosts);
                    }
                    () = tokio::time::sleep_until(until.wake()) => {
                        if !until.directory_read && Instant::now() < until.deadline {
                            until.gave_up_on_directory();
                        } else if Instant::now() >= until.wake() {
                            break;
                        }
                    }
                }
            }
            let _ = answers.unsubscribe().await;
            Ok(until.into_discovery(hosts.into_vec()))
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

/// When a discovery is done: the rule of [`Discover`], as state updated by each answer.
struct Completion {
    discover: Discover,
    deadline: Instant,
    /// Whether the directory was read (or failed, or is not used).
    directory_read: bool,
    /// The live hosts the directory lists that did not answer yet.
    missing: std::collections::HashSet<HostId>,
    /// How many live hosts the directory listed.
    listed: Option<usize>,
    directory_error: Option<crate::DirectoryErrorKind>,
    /// The last answer (or the directory's arrival): the quiet period counts from it.
    last: Instant,
}

impl Completion {
    fn new(discover: Discover, deadline: Instant) -> Self {
        Self {
            discover,
            deadline,
            directory_read: !discover.directory,
            missing: std::collections::HashSet::new(),
            listed: None,
            directory_error: None,
            last: Instant::now(),
        }
    }

    fn answered(&mut self, host: HostId) {
        self.missing.remove(&host);
        self.last = Instant::now();
    }

    fn listed(
        &mut self,
        listed: Option<Result<Vec<crate::directory::KnownHost>, crate::DirectoryError>>,
        answered: &Discovered,
    ) {
        self.directory_read = true;
        self.last = Instant::now();
        match listed {
            Some(Ok(known)) => {
                let live: Vec<HostId> = known
                    .into_iter()
                    .filter(crate::directory::KnownHost::is_expected)
                    .map(|host| host.host_id)
                    .collect();
                self.listed = Some(live.len());
                self.missing = live
                    .into_iter()
                    .filter(|host| !answered.contains(host))
                    .collect();
            }
            Some(Err(error)) => {
                let mut chain = error.to_string();
                let mut source = std::error::Error::source(&error);
                while let Some(cause) = source {
                    chain = format!("{chain}: {cause}");
                    source = cause.source();
                }
                tracing::warn!(error = %chain, "discovery goes on without the host directory");
                self.directory_error = Some(error.kind());
            }
            None => {}
        }
    }

    /// When to stop waiting if nothing else happens.
    fn wake(&self) -> Instant {
        if !self.directory_read {
            // A directory that does not come (a JetStream request without permission is
            // only answered by its timeout) must not hold discovery for its whole window.
            return (self.last + DIRECTORY_PATIENCE).min(self.deadline);
        }
        if !self.discover.directory || !self.missing.is_empty() {
            return self.deadline;
        }
        let quiet = if self.listed.unwrap_or(0) == 0 {
            self.discover.quiet.max(QUIET_WITHOUT_DIRECTORY)
        } else {
            self.discover.quiet
        };
        (self.last + quiet).min(self.deadline)
    }

    fn gave_up_on_directory(&mut self) {
        tracing::warn!(
            patience = ?DIRECTORY_PATIENCE,
            "discovery goes on without the host directory: it did not come in time"
        );
        self.directory_read = true;
        self.directory_error = Some(crate::DirectoryErrorKind::TimedOut);
    }

    /// Whether enough hosts answered for an expected count.
    fn done(&self, answered: usize) -> bool {
        self.discover.expected.is_some_and(|n| answered >= n)
    }

    fn into_discovery(self, hosts: Vec<HostSummary>) -> Discovery {
        let mut unanswered: Vec<HostId> = self.missing.into_iter().collect();
        unanswered.sort();
        Discovery {
            hosts,
            unanswered,
            directory: self.listed,
            directory_error: self.directory_error,
            window: self.discover.window,
        }
    }
}

/// Hosts discovered so far, in order of first answer, one entry per host id.
#[derive(Default)]
struct Discovered {
    hosts: Vec<HostSummary>,
    index: std::collections::HashMap<HostId, usize>,
}

impl Discovered {
    fn len(&self) -> usize {
        self.hosts.len()
    }

    fn contains(&self, host: &HostId) -> bool {
        self.index.contains_key(host)
    }

    /// Adds one ping answer: a v2alpha1 `HostSummaryReply` (it has `api_version`) or a 1.x
    /// `CtlResponse<Host>`. Returns the host that answered, unless the answer was unusable.
    fn add(&mut self, payload: &[u8], lattice: &LatticeName) -> Option<HostId> {
        // A cheap test first (one parse per answer matters at 10,000 hosts): a v2alpha1
        // answer names `api_version`; a 1.x answer might too (in a label), so one that does
        // not decode as v2alpha1 but has no top-level `api_version` is read as 1.x.
        let v2 = memchr_api_version(payload)
            .then(|| HostSummaryReply::decode(payload).map(Reply::into_result))
            .filter(|decoded| {
                decoded.is_ok()
                    || serde_json::from_slice::<serde_json::Value>(payload)
                        .is_ok_and(|value| value.get("api_version").is_some())
            });
        if v2.is_none() && v1_answer_of_a_lattice_host(payload) {
            // A lattice host answers both pings; its v2alpha1 answer says everything this one
            // does (its versions included), so this one is not parsed (10,000 parses saved).
            return None;
        }
        let (summary, v1) = if let Some(decoded) = v2 {
            match decoded {
                Ok(Ok(summary)) => (summary, false),
                Ok(Err(error)) => {
                    tracing::warn!(%error, "a host answered the ping with an error");
                    return None;
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot decode a host's ping answer");
                    return None;
                }
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
                    None => {
                        tracing::warn!("a 1.x host answered with an invalid host id");
                        return None;
                    }
                },
                Ok(None) => {
                    tracing::warn!("a 1.x host answered the ping with no host");
                    return None;
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot decode a 1.x host's ping answer");
                    return None;
                }
            }
        };
        let host_id = summary.host_id.clone();
        match self.index.get(&host_id) {
            Some(&at) => {
                let known = &mut self.hosts[at];
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
            None => {
                self.index.insert(host_id.clone(), self.hosts.len());
                self.hosts.push(summary);
            }
        }
        Some(host_id)
    }

    fn into_vec(self) -> Vec<HostSummary> {
        self.hosts
    }
}

/// Whether a 1.x ping answer comes from a lattice host that speaks v2alpha1 too: its
/// [`API_VERSIONS_LABEL`](lattice_ctl::v1::API_VERSIONS_LABEL) (written compactly by the host
/// kit, `"lattice.dev/api-versions":"v1,v2alpha1"`) names `v2alpha1`.
fn v1_answer_of_a_lattice_host(payload: &[u8]) -> bool {
    static NEEDLE: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| format!("\"{}\":\"", lattice_ctl::v1::API_VERSIONS_LABEL));
    let needle = NEEDLE.as_bytes();
    let Some(at) = payload.windows(needle.len()).position(|w| w == needle) else {
        return false;
    };
    let value = &payload[at + needle.len()..];
    let value = &value[..value.iter().position(|b| *b == b'"').unwrap_or(value.len())];
    value
        .split(|b| *b == b',')
        .any(|version| version == b"v2alpha1")
}

/// Whether `payload` contains `"api_version"` anywhere.
fn memchr_api_version(payload: &[u8]) -> bool {
    const NEEDLE: &[u8] = b"\"api_version\"";
    payload.windows(NEEDLE.len()).any(|window| window == NEEDLE)
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

#[cfg(test)]
mod completion_tests {
    use super::*;
    use crate::directory::KnownHost;
    use lattice_ctl::PresenceState;

    fn known(id: &str, state: PresenceState, age: Duration) -> KnownHost {
        let mut host = KnownHost::new(id.parse().unwrap(), state);
        host.heartbeat_interval = Duration::from_secs(30);
        host.age = age;
        host
    }

    #[test]
    fn live_discovery_waits_for_listed_hosts_then_only_a_quiet_period() {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut until = Completion::new(Discover::live(), deadline);
        // Until the directory comes, at most its patience.
        assert_eq!(until.wake(), until.last + DIRECTORY_PATIENCE);
        let fresh = Duration::from_secs(1);
        let listed = vec![
            known("host-a", PresenceState::Alive, fresh),
            known("host-b", PresenceState::Alive, fresh),
            known("host-stopped", PresenceState::Stopped, fresh),
            known("host-stale", PresenceState::Alive, Duration::from_secs(120)),
        ];
        until.listed(Some(Ok(listed)), &Discovered::default());
        assert_eq!(until.listed, Some(2));
        // A listed live host is missing: wait up to the deadline.
        assert_eq!(until.wake(), deadline);
        until.answered("host-a".parse().unwrap());
        assert_eq!(until.wake(), deadline);
        until.answered("host-b".parse().unwrap());
        // Everyone listed answered: only the quiet period for newcomers.
        assert_eq!(until.wake(), until.last + DEFAULT_QUIET);
        assert!(until.into_discovery(Vec::new()).unanswered.is_empty());
    }

    #[test]
    fn an_empty_directory_falls_back_to_the_longer_quiet_period_and_missing_hosts_are_reported() {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut until = Completion::new(Discover::live(), deadline);
        until.listed(Some(Ok(Vec::new())), &Discovered::default());
        assert_eq!(until.wake(), until.last + QUIET_WITHOUT_DIRECTORY);

        let mut until = Completion::new(Discover::live(), deadline);
        let listed = vec![known("host-z", PresenceState::Alive, Duration::ZERO)];
        until.listed(Some(Ok(listed)), &Discovered::default());
        let discovery = until.into_discovery(Vec::new());
        assert_eq!(discovery.unanswered, ["host-z".parse::<HostId>().unwrap()]);
    }
}

#[cfg(test)]
mod ping_answer_tests {
    use super::*;
    use lattice_ctl::v1::{API_VERSIONS_LABEL, CtlResponse, Host};

    fn v1_answer(labels: &[(&str, &str)]) -> Vec<u8> {
        v1_answer_of("h1", labels)
    }

    fn v1_answer_of(id: &str, labels: &[(&str, &str)]) -> Vec<u8> {
        let mut host = Host::default();
        host.id = id.to_owned();
        for (key, value) in labels {
            host.labels.insert((*key).to_owned(), (*value).to_owned());
        }
        serde_json::to_vec(&CtlResponse::ok(host)).unwrap()
    }

    #[test]
    fn a_lattice_hosts_1x_answer_is_recognised_without_parsing_and_a_1x_hosts_is_not() {
        assert!(v1_answer_of_a_lattice_host(&v1_answer(&[(
            API_VERSIONS_LABEL,
            "v1,v2alpha1"
        )])));
        assert!(v1_answer_of_a_lattice_host(&v1_answer(&[
            ("zone", "eu"),
            (API_VERSIONS_LABEL, "v2alpha1,v1")
        ])));
        for labels in [
            &[][..],
            &[(API_VERSIONS_LABEL, "v1")][..],
            &[(API_VERSIONS_LABEL, "v2alpha10")][..],
            &[("zone", "v2alpha1")][..],
        ] {
            assert!(
                !v1_answer_of_a_lattice_host(&v1_answer(labels)),
                "{labels:?}"
            );
        }
    }

    #[test]
    fn discovery_keeps_a_1x_host_and_skips_a_lattice_hosts_1x_answer() {
        let lattice: LatticeName = "default".parse().unwrap();
        let mut found = Discovered::default();
        assert!(found.add(&v1_answer_of("old", &[]), &lattice).is_some());
        let lattice_host = v1_answer_of("new", &[(API_VERSIONS_LABEL, "v1,v2alpha1")]);
        assert!(found.add(&lattice_host, &lattice).is_none());
        assert_eq!(found.len(), 1);
        assert!(found.contains(&"old".parse().unwrap()));
    }
}
