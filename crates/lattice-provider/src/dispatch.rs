//! The dispatcher: reads the provider's three subscriptions, runs one task per request, keeps
//! requests for the same link in order, and drains on shutdown.

use crate::LinkHandler;
use async_nats::{Client, Message, Subject, Subscriber};
use bytes::Bytes;
use futures::{FutureExt, StreamExt};
use lattice_link::{
    HealthCheckResponse, LinkDeleteRequest, LinkErrorKind, LinkGeneration, LinkPutRequest,
    LinkResponse, Received,
};
use lattice_nats::{Barrier, server_barrier};
use lattice_spec::{DecodeError, HostId, LinkName, WireMessage, WorkloadId};
use std::collections::{BTreeSet, HashMap};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::Mutex;
use tokio::sync::oneshot;
use tokio::task::{JoinError, JoinSet};
use tracing::{Instrument, debug, field, info, info_span, warn};

/// The provider's subscriptions, one per operation.
pub(crate) struct Lanes {
    pub(crate) put: Lane,
    pub(crate) delete: Lane,
    pub(crate) health: Lane,
    /// The host-scoped link subjects, when the instance knows its host.
    pub(crate) host_put: Option<Lane>,
    pub(crate) host_delete: Option<Lane>,
    /// The 1.1+ subject of this instance's xkey, when it has one.
    pub(crate) xkey_put: Option<Lane>,
    /// This process's own health subject, when it knows its instance id.
    pub(crate) instance_health: Option<Lane>,
}

/// One subscription and whether its stream is still open.
pub(crate) struct Lane {
    sub: Subscriber,
    open: bool,
}

impl Lane {
    pub(crate) fn new(sub: Subscriber) -> Self {
        Self { sub, open: true }
    }
}

impl Lane {
    fn is_open(lane: &Option<Lane>) -> bool {
        lane.as_ref().is_some_and(|lane| lane.open)
    }

    /// The next message of an optional lane; only polled while [`Lane::is_open`].
    async fn next(lane: &mut Option<Lane>) -> Option<Message> {
        match lane {
            Some(lane) => lane.sub.next().await,
            None => std::future::pending().await,
        }
    }

    fn close(lane: &mut Option<Lane>) {
        if let Some(lane) = lane {
            lane.open = false;
        }
    }
}

impl Lanes {
    fn any_open(&self) -> bool {
        self.put.open
            || self.delete.open
            || self.health.open
            || Lane::is_open(&self.host_put)
            || Lane::is_open(&self.host_delete)
            || Lane::is_open(&self.xkey_put)
            || Lane::is_open(&self.instance_health)
    }

    /// Unsubscribes every lane; each stream ends after the messages already received.
    async fn drain(&mut self) {
        let lanes = [&mut self.put, &mut self.delete, &mut self.health]
            .into_iter()
            .chain(self.host_put.as_mut())
            .chain(self.host_delete.as_mut())
            .chain(self.xkey_put.as_mut())
            .chain(self.instance_health.as_mut());
        for lane in lanes {
            if lane.open
                && let Err(error) = lane.sub.drain().await
            {
                // The connection is gone; so is the subscription, and its stream ends.
                warn!(%error, "cannot unsubscribe");
            }
        }
    }
}

/// How long a shutdown waits for the server to end the drained subscriptions.
const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// What orders link requests: wasmCloud's link key (source, WIT namespace, package, name).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct OrderKey {
    source_id: WorkloadId,
    wit_namespace: String,
    wit_package: String,
    name: LinkName,
}

/// A decoded link request.
enum LinkRequest {
    Put(LinkPutRequest),
    Delete(LinkDeleteRequest),
}

impl LinkRequest {
    fn order_key(&self) -> OrderKey {
        let (source_id, wit_namespace, wit_package, name) = match self {
            Self::Put(put) => (
                &put.source_id,
                &put.wit_namespace,
                &put.wit_package,
                &put.name,
            ),
            Self::Delete(del) => (
                &del.source_id,
                &del.wit_namespace,
                &del.wit_package,
                &del.name,
            ),
        };
        OrderKey {
            source_id: source_id.clone(),
            wit_namespace: wit_namespace.clone(),
            wit_package: wit_package.clone(),
            name: name.clone(),
        }
    }

    /// Calls the handler; a panic becomes an `internal` refusal.
    /// Calls the handler, keeping track of which hosts hold the link: a delete from one host
    /// while others still hold the link is acknowledged without calling the handler.
    async fn handle(&self, handler: &dyn LinkHandler, holders: &Holders) -> LinkResponse {
        let key = self.order_key();
        let call = match self {
            Self::Put(put) => handler.put_link(put),
            Self::Delete(del) => {
                let remaining = holders.release(&key, del.host_id.as_ref());
                if remaining > 0 {
                    debug!(remaining, "another host still holds the link; kept");
                    return LinkResponse::accepted();
                }
                handler.delete_link(del)
            }
        };
        let response = match AssertUnwindSafe(call).catch_unwind().await {
            Ok(result) => LinkResponse::from(result),
            Err(_) => LinkResponse::refused(
                LinkErrorKind::Internal,
                "the provider's link handler panicked",
            ),
        };
        if let Self::Put(put) = self
            && response.is_accepted()
        {
            holders.hold(key, put.host_id.clone());
        }
        response
    }
}

/// Per link, the hosts that put it and have not deleted it. Only touched from a link's own
/// (ordered) task.
#[derive(Clone, Default)]
pub(crate) struct Holders(Arc<Mutex<HashMap<OrderKey, BTreeSet<HostId>>>>);

impl Holders {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<OrderKey, BTreeSet<HostId>>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn hold(&self, key: OrderKey, host: Option<HostId>) {
        if let Some(host) = host {
            self.lock().entry(key).or_default().insert(host);
        }
    }

    /// Lets `host` go of the link and returns how many hosts still hold it; a delete without
    /// a host (1.x, a tool) lets everyone go.
    fn release(&self, key: &OrderKey, host: Option<&HostId>) -> usize {
        let mut holders = self.lock();
        let remaining = match (holders.get_mut(key), host) {
            (Some(hosts), Some(host)) => {
                hosts.remove(host);
                hosts.len()
            }
            _ => 0,
        };
        if remaining == 0 {
            holders.remove(key);
        }
        remaining
    }
}

/// Runs request tasks and remembers, per link, the last one started.
pub(crate) struct Dispatcher {
    client: Client,
    handler: Arc<dyn LinkHandler>,
    holders: Holders,
    tasks: JoinSet<()>,
    /// Per link: a receiver that completes when the link's latest request task is done.
    tails: HashMap<OrderKey, oneshot::Receiver<()>>,
}

impl Dispatcher {
    pub(crate) fn new(client: Client, handler: Arc<dyn LinkHandler>) -> Self {
        Self {
            client,
            handler,
            tasks: JoinSet::new(),
            tails: HashMap::new(),
            holders: Holders::default(),
        }
    }

    /// Serves until `shutdown` fires (then drains) or every subscription ends, then waits for
    /// every request task and flushes the connection.
    pub(crate) async fn run(mut self, mut lanes: Lanes, mut shutdown: oneshot::Receiver<()>) {
        let mut stopping = false;
        // Set when shutting down: the streams end once the server has processed the
        // unsubscriptions, which never happens if the server is gone — hence a bound.
        let drained_by = tokio::time::sleep(std::time::Duration::from_secs(u64::from(u32::MAX)));
        tokio::pin!(drained_by);
        while lanes.any_open() {
            tokio::select! {
                // An error means the handle is gone, which aborts this task anyway.
                _ = &mut shutdown, if !stopping => {
                    // Disconnected, there is no server to unsubscribe from or answer: stop now
                    // (the subscriptions end with the connection).
                    if self.client.connection_state() != async_nats::connection::State::Connected {
                        debug!("shutting down while disconnected: stopping at once");
                        return;
                    }
                    debug!("shutting down: unsubscribing");
                    stopping = true;
                    drained_by.as_mut().reset(tokio::time::Instant::now() + DRAIN_TIMEOUT);
                    lanes.drain().await;
                }
                () = &mut drained_by, if stopping => {
                    warn!("the nats server did not end the subscriptions within {DRAIN_TIMEOUT:?} (is it gone?); stopping anyway");
                    break;
                }
                message = lanes.put.sub.next(), if lanes.put.open => match message {
                    Some(message) => self.on_put(message),
                    None => lanes.put.open = false,
                },
                message = lanes.delete.sub.next(), if lanes.delete.open => match message {
                    Some(message) => self.on_delete(message),
                    None => lanes.delete.open = false,
                },
                message = Lane::next(&mut lanes.host_put), if Lane::is_open(&lanes.host_put) => {
                    match message {
                        Some(message) => self.on_put(message),
                        None => Lane::close(&mut lanes.host_put),
                    }
                }
                message = Lane::next(&mut lanes.host_delete), if Lane::is_open(&lanes.host_delete) => {
                    match message {
                        Some(message) => self.on_delete(message),
                        None => Lane::close(&mut lanes.host_delete),
                    }
                }
                message = Lane::next(&mut lanes.xkey_put), if Lane::is_open(&lanes.xkey_put) => {
                    match message {
                        Some(message) => self.on_put(message),
                        None => Lane::close(&mut lanes.xkey_put),
                    }
                }
                message = Lane::next(&mut lanes.instance_health), if Lane::is_open(&lanes.instance_health) => {
                    match message {
                        Some(message) => self.on_health(message),
                        None => Lane::close(&mut lanes.instance_health),
                    }
                }
                message = lanes.health.sub.next(), if lanes.health.open => match message {
                    Some(message) => self.on_health(message),
                    None => lanes.health.open = false,
                },
                Some(result) = self.tasks.join_next(), if !self.tasks.is_empty() => {
                    log_join(result);
                }
            }
        }
        while let Some(result) = self.tasks.join_next().await {
            log_join(result);
        }
        // Replies are on the wire, and the server has processed the unsubscriptions. (Bounded:
        // with the server gone, a flush waits for a reconnection that may never come.)
        match tokio::time::timeout(DRAIN_TIMEOUT, server_barrier(&self.client)).await {
            Ok(Ok(Barrier::Confirmed)) => {}
            Ok(Ok(_)) | Err(_) => {
                warn!("the nats server did not confirm the unsubscriptions in time");
            }
            Ok(Err(error)) => warn!(%error, "cannot flush the connection after shutdown"),
        }
        debug!("provider server stopped");
    }

    /// Starts the task for a link request, after the previous request for the same link.
    fn on_put(&mut self, message: Message) {
        let decoded = LinkPutRequest::decode_any(&message.payload).map(|r| r.map(LinkRequest::Put));
        self.on_link(message, decoded);
    }

    fn on_delete(&mut self, message: Message) {
        let decoded =
            LinkDeleteRequest::decode_any(&message.payload).map(|r| r.map(LinkRequest::Delete));
        self.on_link(message, decoded);
    }

    /// Handles a link request of either generation. A versioned request is answered with a
    /// [`LinkResponse`]; a wasmCloud 1.x one (no `api_version`) is handled the same way and
    /// answered with nothing, as 1.x hosts publish link messages without waiting — a refusal is
    /// logged, the only place it can go.
    fn on_link(&mut self, message: Message, decoded: Result<Received<LinkRequest>, DecodeError>) {
        let span = info_span!(
            "link_request",
            subject = %message.subject,
            link = field::Empty,
            source_id = field::Empty,
        );
        // The handling continues the trace of the host's upgrade that sent the request.
        lattice_nats::trace::set_parent(&span, message.headers.as_ref());
        let client = self.client.clone();
        let reply = message.reply;
        let (request, generation) = match decoded {
            Ok(received) => (received.message, received.generation),
            Err(error) => {
                span.in_scope(|| warn!(%error, "cannot decode the link request; refusing it"));
                let response =
                    LinkResponse::refused(LinkErrorKind::InvalidConfiguration, error.to_string());
                self.tasks.spawn(
                    async move { send_reply(&client, reply, response.encode()).await }
                        .instrument(span),
                );
                return;
            }
        };
        let key = request.order_key();
        span.record("link", field::display(&key.name));
        span.record("source_id", field::display(&key.source_id));

        // Forget links whose last request is done, then chain this one after the previous.
        self.tails
            .retain(|_, done| matches!(done.try_recv(), Err(oneshot::error::TryRecvError::Empty)));
        let (done, done_rx) = oneshot::channel::<()>();
        let previous = self.tails.insert(key, done_rx);

        let handler = Arc::clone(&self.handler);
        let holders = self.holders.clone();
        self.tasks.spawn(
            async move {
                if let Some(previous) = previous {
                    // Completes (with an error: nothing is ever sent) when that task ends,
                    // whether it finished, panicked or was aborted.
                    let _ = previous.await;
                }
                let response = request.handle(&*handler, &holders).await;
                log_response(&response, generation);
                if generation.expects_response() {
                    send_reply(&client, reply, response.encode()).await;
                }
                drop(done);
            }
            .instrument(span),
        );
    }

    /// Starts the task for a health check; those are never ordered or delayed by links.
    fn on_health(&mut self, message: Message) {
        let span = info_span!("health_check", subject = %message.subject);
        lattice_nats::trace::set_parent(&span, message.headers.as_ref());
        let client = self.client.clone();
        let handler = Arc::clone(&self.handler);
        let reply = message.reply;
        self.tasks.spawn(
            async move {
                let response = AssertUnwindSafe(handler.health())
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|_| {
                        HealthCheckResponse::unhealthy("the provider's health check panicked")
                    });
                debug!(healthy = response.healthy, message = ?response.message, "health check");
                let encoded = serde_json::to_vec(&response).map(Bytes::from);
                send_reply(&client, reply, encoded).await;
            }
            .instrument(span),
        );
    }
}

fn log_response(response: &LinkResponse, generation: LinkGeneration) {
    match (response.is_accepted(), generation) {
        (true, _) => info!(?generation, "link request accepted"),
        (false, LinkGeneration::V1) => warn!(
            result = %response.result,
            "link request of a 1.x host refused; 1.x hosts wait for no answer, so only this log \
             says so"
        ),
        (false, _) => info!(result = %response.result, "link request refused"),
    }
}

fn log_join(result: Result<(), JoinError>) {
    if let Err(error) = result
        && error.is_panic()
    {
        warn!(%error, "a request task panicked");
    }
}

/// Publishes the reply, if the request asked for one (a 1.x host publishes link puts without
/// a reply subject: they are handled, not answered).
async fn send_reply(
    client: &Client,
    reply: Option<Subject>,
    encoded: Result<Bytes, serde_json::Error>,
) {
    let Some(reply) = reply else {
        debug!("the request has no reply subject: handled, not answered");
        return;
    };
    match encoded {
        Ok(payload) => {
            if let Err(error) = client.publish(reply, payload).await {
                warn!(%error, "cannot send the reply");
            }
        }
        Err(error) => warn!(%error, "cannot encode the reply"),
    }
}
