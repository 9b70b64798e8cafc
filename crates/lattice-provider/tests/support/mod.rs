//! Shared test fixtures: a recording handler, a real nats-server, and host-side requests.

#![allow(dead_code, unreachable_pub)]

use async_nats::Client;
use bytes::Bytes;
use lattice_link::{
    HealthCheckResponse, LinkDeleteRequest, LinkPutRequest, LinkRefusal, LinkResponse,
    ProviderOperation, ProviderSubject,
};
use lattice_local::NatsServer;
use lattice_provider::{BoxFuture, LinkHandler, ProviderHandle, ProviderServer};
use lattice_spec::{ComponentId, ComponentSpecDraft, LinkDraft, WireMessage};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// The deadline of every await in the tests.
pub const DEADLINE: Duration = Duration::from_secs(10);

pub const LATTICE: &str = "default";
pub const PROVIDER: &str = "http-server";

/// Awaits `future`, failing the test if it takes longer than [`DEADLINE`].
pub async fn within<F: Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(DEADLINE, future)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// What the handler was called with, in call order.
#[derive(Clone, Debug, PartialEq)]
pub enum Call {
    Put(LinkPutRequest),
    Delete(LinkDeleteRequest),
    Health,
}

/// A handler that records its calls and answers as configured.
#[derive(Default)]
pub struct Recorder {
    calls: Mutex<Option<mpsc::UnboundedSender<Call>>>,
    /// Refuse every put with this.
    pub refusal: Option<LinkRefusal>,
    /// Answer health checks with this.
    pub health: Option<HealthCheckResponse>,
    /// A put of the link with this name waits for the gate to open (or close) first.
    gates: Mutex<HashMap<String, oneshot::Receiver<()>>>,
    /// A put of the link with this name panics.
    pub panic_on: Option<String>,
}

impl Recorder {
    /// A recorder and the receiving end of its calls.
    pub fn new() -> (Self, mpsc::UnboundedReceiver<Call>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let recorder = Self {
            calls: Mutex::new(Some(tx)),
            ..Self::default()
        };
        (recorder, rx)
    }

    /// Makes the put of link `name` wait until the returned sender is used or dropped.
    pub fn gate(&self, name: &str) -> oneshot::Sender<()> {
        let (open, gate) = oneshot::channel();
        self.gates.lock().unwrap().insert(name.to_owned(), gate);
        open
    }

    fn record(&self, call: Call) {
        if let Some(tx) = &*self.calls.lock().unwrap() {
            let _ = tx.send(call);
        }
    }
}

impl LinkHandler for Recorder {
    fn put_link<'a>(&'a self, link: &'a LinkPutRequest) -> BoxFuture<'a, Result<(), LinkRefusal>> {
        Box::pin(async move {
            self.record(Call::Put(link.clone()));
            if self.panic_on.as_deref() == Some(link.name.as_str()) {
                panic!("the test handler panics on purpose");
            }
            let gate = self.gates.lock().unwrap().remove(link.name.as_str());
            if let Some(gate) = gate {
                let _ = gate.await;
            }
            match &self.refusal {
                Some(refusal) => Err(refusal.clone()),
                None => Ok(()),
            }
        })
    }

    fn delete_link<'a>(
        &'a self,
        link: &'a LinkDeleteRequest,
    ) -> BoxFuture<'a, Result<(), LinkRefusal>> {
        Box::pin(async move {
            self.record(Call::Delete(link.clone()));
            Ok(())
        })
    }

    fn health<'a>(&'a self) -> BoxFuture<'a, HealthCheckResponse> {
        Box::pin(async move {
            self.record(Call::Health);
            self.health
                .clone()
                .unwrap_or_else(HealthCheckResponse::healthy)
        })
    }
}

/// A running nats-server, the host's connection to it, and the provider server under test.
pub struct Setup {
    pub host: Client,
    /// The provider server's own connection (a clone), to observe its state.
    pub provider_client: Client,
    pub provider: ProviderHandle,
    // Dropped last: the server outlives both connections.
    pub nats: NatsServer,
}

/// Starts a nats-server and a provider server with `handler` on its own connection.
pub async fn start(handler: Arc<dyn LinkHandler>) -> Setup {
    let nats = start_nats().await;
    let provider_client = within("connect", async_nats::connect(nats.url()))
        .await
        .unwrap();
    let host = within("connect", async_nats::connect(nats.url()))
        .await
        .unwrap();
    let provider = serve(&provider_client, handler, None).await;
    Setup {
        host,
        provider_client,
        provider,
        nats,
    }
}

/// Serves `handler` as provider [`PROVIDER`] on `client`, as the instance of `host` if given.
pub async fn serve(
    client: &Client,
    handler: Arc<dyn LinkHandler>,
    host: Option<&str>,
) -> ProviderHandle {
    let mut server = ProviderServer::new(
        client.clone(),
        LATTICE.parse().unwrap(),
        PROVIDER.parse().unwrap(),
        handler,
    );
    if let Some(host) = host {
        server = server.on_host(host.parse().unwrap());
    }
    within("serve", server.serve()).await.unwrap()
}

/// A real nats-server.
pub async fn start_nats() -> NatsServer {
    within(
        "nats-server",
        tokio::task::spawn_blocking(NatsServer::start),
    )
    .await
    .unwrap()
    .expect("nats-server starts (is it installed? see scripts/test)")
}

/// The provider's subject for `operation`.
pub fn subject(operation: ProviderOperation) -> String {
    ProviderSubject::new(
        LATTICE.parse().unwrap(),
        PROVIDER.parse().unwrap(),
        operation,
    )
    .to_string()
}

/// A put of link `name` from component `app` with `address` in its target config.
pub fn put(name: &str, address: &str) -> LinkPutRequest {
    let spec = ComponentSpecDraft::new("app", "ghcr.io/acme/app:1")
        .link(LinkDraft::new(PROVIDER, "wasi", "http", ["incoming-handler"]).name(name))
        .validate()
        .unwrap();
    LinkPutRequest::new(
        &ComponentId::new("app").unwrap(),
        &spec.links()[0],
        BTreeMap::new(),
        BTreeMap::from([("address".to_owned(), address.to_owned())]),
    )
}

/// The delete of link `name` from component `app`.
pub fn delete(name: &str) -> LinkDeleteRequest {
    let spec = ComponentSpecDraft::new("app", "ghcr.io/acme/app:1")
        .link(LinkDraft::new(PROVIDER, "wasi", "http", ["incoming-handler"]).name(name))
        .validate()
        .unwrap();
    LinkDeleteRequest::new(&ComponentId::new("app").unwrap(), &spec.links()[0])
}

/// Sends `payload` as a request on `operation`'s subject and returns the raw reply.
pub async fn request_raw(
    host: &Client,
    operation: ProviderOperation,
    payload: Bytes,
) -> Result<Bytes, async_nats::RequestError> {
    within("a reply", host.request(subject(operation), payload))
        .await
        .map(|message| message.payload)
}

/// Sends `payload` as a link request and decodes the `LinkResponse`.
pub async fn link_request(
    host: &Client,
    operation: ProviderOperation,
    payload: Bytes,
) -> LinkResponse {
    let reply = request_raw(host, operation, payload).await.unwrap();
    LinkResponse::decode(&reply).unwrap()
}

/// Sends a health check and decodes the answer.
pub async fn health_request(host: &Client) -> HealthCheckResponse {
    let reply = request_raw(host, ProviderOperation::Health, Bytes::new())
        .await
        .unwrap();
    serde_json::from_slice(&reply).unwrap()
}

/// The next call the handler recorded.
pub async fn next_call(calls: &mut mpsc::UnboundedReceiver<Call>) -> Call {
    within("a handler call", calls.recv())
        .await
        .expect("the handler is alive")
}

/// Sends health checks until one finds no responders: the provider has unsubscribed.
///
/// A request that reaches the provider while its unsubscription is in flight may be dropped
/// unanswered, so each attempt has a short timeout of its own; the whole wait has [`DEADLINE`].
pub async fn until_no_responders(host: &Client) {
    within("the provider to unsubscribe", async {
        loop {
            let attempt = async_nats::Request::new()
                .payload(Bytes::new())
                .timeout(Some(Duration::from_millis(250)));
            match host
                .send_request(subject(ProviderOperation::Health), attempt)
                .await
            {
                Err(error) if error.kind() == async_nats::RequestErrorKind::NoResponders => break,
                _ => tokio::task::yield_now().await,
            }
        }
    })
    .await;
}
