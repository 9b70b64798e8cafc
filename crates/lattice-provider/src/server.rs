//! [`ProviderServer`]: subscribes to the provider's subjects and serves them until shut down.

use crate::dispatch::{Dispatcher, Lane, Lanes};
use crate::{LinkHandler, ProviderError};
use async_nats::{Client, Subscriber};
use lattice_link::{ProviderOperation, ProviderSubject};
use lattice_nats::{Barrier, server_barrier};
use lattice_spec::{HostId, LatticeName, ProviderId};
use std::fmt;
use std::sync::Arc;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::{Instrument, info_span, warn};

/// Serves one provider's link puts, link deletes and health checks over the caller's NATS
/// connection.
///
/// [`serve`](Self::serve) subscribes to `wasmbus.rpc.{lattice}.{provider_id}.linkdefs.put`,
/// `….linkdefs.del` and `….health` (built with [`ProviderSubject`]), and, for an instance
/// [`on_host`](Self::on_host), to its host's `….linkdefs.put.{host_id}` and
/// `….linkdefs.del.{host_id}`.
///
/// Both generations of host are served ([`LinkPutRequest::decode_any`]): a request **with**
/// `api_version` (a lattice host) has its version checked, is passed to the [`LinkHandler`]
/// and is answered with a `LinkResponse`; a body **without** one is the
/// `InterfaceLinkDefinition` a wasmCloud 1.x host publishes, fire-and-forget — it is passed to
/// the handler the same way and answered with nothing (a refusal is logged). A health check is
/// answered with a `HealthCheckResponse`. A request that cannot be decoded is answered (when
/// it has a reply subject) with a refusal of kind `invalid_configuration` carrying the decode
/// error, which names the supported versions on a version mismatch.
///
/// [`LinkPutRequest::decode_any`]: lattice_link::LinkPutRequest::decode_any
///
/// # Links held by several hosts
///
/// Every host that runs a component puts its links, so one link may be held by several hosts
/// at once. The server remembers which hosts hold each link (from the requests' `host_id`)
/// and calls [`LinkHandler::delete_link`] only when the last of them deletes it: one host
/// whose component moved away, or whose upgrade rolled back, does not take the link from the
/// others. A delete without a host (a 1.x host or a tool) removes the link outright.
///
/// # Concurrency and order
///
/// Every request runs in its own task, so a slow link never delays a health check or another
/// link. Requests for the **same link** — same `source_id`, `wit_namespace`, `wit_package`
/// and `name` — are handled one at a time in the order the server received them: when a
/// request arrives, the server (a single dispatch loop) chains its task after the previous
/// task for that link, which it remembers until that task ends; the next one starts only
/// after the previous one's handler returned and its reply was sent.
///
/// NATS delivers the messages of one subject in the order a host published them, so two puts
/// (or two deletes) of a link are always handled in publication order. Puts and deletes come
/// on two subjects, hence two subscriptions: a put and a delete of the same link published
/// back to back without waiting for a reply are ordered as the client library hands them
/// over, which is publication order unless both are pending at the same instant. A host that
/// needs a strict put-then-delete waits for the put's reply first, as request/reply hosts do.
#[derive(Clone)]
pub struct ProviderServer {
    client: Client,
    lattice: LatticeName,
    provider_id: ProviderId,
    host: Option<HostId>,
    instance_xkey: Option<String>,
    instance_id: Option<String>,
    handler: Arc<dyn LinkHandler>,
}

impl fmt::Debug for ProviderServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderServer")
            .field("lattice", &self.lattice)
            .field("provider_id", &self.provider_id)
            .field("host", &self.host)
            .field("instance_xkey", &self.instance_xkey)
            .finish_non_exhaustive()
    }
}

impl ProviderServer {
    /// A server for `provider_id` in `lattice`, answering with `handler`.
    ///
    /// `client` is the caller's connection: its authentication, timeouts and reconnection
    /// policy are the caller's.
    #[must_use]
    pub fn new(
        client: Client,
        lattice: LatticeName,
        provider_id: ProviderId,
        handler: Arc<dyn LinkHandler>,
    ) -> Self {
        Self {
            client,
            lattice,
            provider_id,
            host: None,
            instance_xkey: None,
            instance_id: None,
            handler,
        }
    }

    /// Also receives link puts on `wasmbus.rpc.{lattice}.{xkey}.linkdefs.put`, the subject
    /// wasmCloud 1.1+ hosts publish a provider instance's links on: the public half of the
    /// xkey the host generated for this instance (its seed is the host data's
    /// `provider_xkey_private_key`, which also opens the links' secrets with
    /// [`secrets::open_link`](crate::secrets::open_link)).
    #[must_use]
    pub fn instance_xkey(mut self, key: &nkeys::XKey) -> Self {
        self.instance_xkey = Some(key.public_key());
        self
    }

    /// Also answers health checks on this process's own subject,
    /// [`lattice_link::instance_health_subject`] with `instance_id` (the host data's), so the
    /// host that started it can tell its health from that of another process of the same
    /// provider (e.g. the previous revision while an upgrade overlaps them).
    #[must_use]
    pub fn instance_id(mut self, instance_id: impl Into<String>) -> Self {
        self.instance_id = Some(instance_id.into());
        self
    }

    /// Serves as the instance of this provider on `host`: besides the lattice-wide subjects
    /// (which 1.x hosts publish to), it answers the host-scoped link subjects
    /// `wasmbus.rpc.{lattice}.{provider_id}.linkdefs.{put,del}.{host_id}`, so a host's link
    /// request gets this instance's answer and no other's (see
    /// [`lattice_link::ProviderSubject`]). A provider started by a host knows it from the host
    /// data it is handed (`host_id`).
    #[must_use]
    pub fn on_host(mut self, host: HostId) -> Self {
        self.host = Some(host);
        self
    }

    /// The subject this server listens on for `operation`.
    #[must_use]
    pub fn subject(&self, operation: ProviderOperation) -> ProviderSubject {
        ProviderSubject::new(self.lattice.clone(), self.provider_id.clone(), operation)
    }

    /// Subscribes and starts serving in a background task.
    ///
    /// Returns once the NATS server has registered the subscriptions, so a request sent right
    /// after is received. (`Client::flush` alone only writes to the socket; the server's
    /// processing is confirmed with a request on a fresh inbox subject nobody listens on,
    /// which the server answers with "no responders". If that answer does not come within the
    /// client's request timeout — e.g. the connection may not publish on its inbox prefix —
    /// a warning is logged and the server starts anyway.)
    ///
    /// # Errors
    ///
    /// [`ProviderError`] of kind [`Subscribe`](crate::ProviderErrorKind::Subscribe) if a
    /// subscription fails, or [`Flush`](crate::ProviderErrorKind::Flush) if the connection
    /// fails while confirming them; nothing is left subscribed then.
    pub async fn serve(self) -> Result<ProviderHandle, ProviderError> {
        let scoped = |operation| {
            self.host
                .clone()
                .map(|host| self.subject(operation).on_host(host))
        };
        let host_put = match scoped(ProviderOperation::LinkPut) {
            Some(subject) => Some(Lane::new(self.subscribe_to(subject).await?)),
            None => None,
        };
        let host_delete = match scoped(ProviderOperation::LinkDelete) {
            Some(subject) => Some(Lane::new(self.subscribe_to(subject).await?)),
            None => None,
        };
        let xkey_put = match &self.instance_xkey {
            Some(xkey) => {
                let id = ProviderId::new(xkey.clone()).map_err(|e| ProviderError::Subscribe {
                    subject: format!("wasmbus.rpc.{}.{xkey}.linkdefs.put", self.lattice),
                    source: Box::new(e),
                })?;
                let subject =
                    ProviderSubject::new(self.lattice.clone(), id, ProviderOperation::LinkPut);
                Some(Lane::new(self.subscribe_to(subject).await?))
            }
            None => None,
        };
        let instance_health = match &self.instance_id {
            Some(instance) => {
                let subject = lattice_link::instance_health_subject(
                    &self.lattice,
                    &self.provider_id,
                    instance,
                );
                let subscriber = self.client.subscribe(subject.clone()).await.map_err(|e| {
                    ProviderError::Subscribe {
                        subject,
                        source: Box::new(e),
                    }
                })?;
                Some(Lane::new(subscriber))
            }
            None => None,
        };
        let lanes = Lanes {
            put: Lane::new(self.subscribe(ProviderOperation::LinkPut).await?),
            delete: Lane::new(self.subscribe(ProviderOperation::LinkDelete).await?),
            health: Lane::new(self.subscribe(ProviderOperation::Health).await?),
            host_put,
            host_delete,
            xkey_put,
            instance_health,
        };
        match server_barrier(&self.client).await {
            Ok(Barrier::Confirmed) => {}
            Ok(_) => warn!(
                lattice = %self.lattice,
                provider_id = %self.provider_id,
                "the nats server did not confirm the subscriptions in time (can this connection \
                 publish on its inbox prefix?); serving anyway"
            ),
            Err(source) => {
                return Err(ProviderError::Flush {
                    source: source.into(),
                });
            }
        }

        let span = info_span!(
            "provider_server",
            lattice = %self.lattice,
            provider_id = %self.provider_id,
        );
        let (stop, stopped) = oneshot::channel();
        let dispatcher = Dispatcher::new(self.client, self.handler);
        let task = tokio::spawn(dispatcher.run(lanes, stopped).instrument(span));
        Ok(ProviderHandle {
            stop: Some(stop),
            task,
        })
    }

    async fn subscribe(&self, operation: ProviderOperation) -> Result<Subscriber, ProviderError> {
        self.subscribe_to(self.subject(operation)).await
    }

    async fn subscribe_to(&self, subject: ProviderSubject) -> Result<Subscriber, ProviderError> {
        let subject = subject.to_string();
        self.client
            .subscribe(subject.clone())
            .await
            .map_err(|source| ProviderError::Subscribe {
                subject,
                source: Box::new(source),
            })
    }
}

/// A running [`ProviderServer`].
///
/// [`shutdown`](Self::shutdown) stops it gracefully; dropping the handle aborts it at once
/// (requests being handled are cancelled and not answered).
#[derive(Debug)]
#[must_use = "dropping the handle stops the provider server"]
pub struct ProviderHandle {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl ProviderHandle {
    /// Stops serving: unsubscribes, answers the requests already received, waits for every
    /// handler call in flight to finish, and flushes the connection.
    ///
    /// Once this returns the NATS server has processed the unsubscriptions, so a new request
    /// on the provider's subjects finds no responders (unless another instance listens). A
    /// request that reaches this connection while its unsubscription is on the way to the
    /// server can be dropped by the client library unanswered; its sender times out.
    ///
    /// Bounded: with the connection down it stops at once; if the server does not end the
    /// subscriptions or confirm within 5 s each, the provider stops anyway, with a warning.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            // The task may have ended already (its subscriptions closed); nothing to stop.
            let _ = stop.send(());
        }
        // Awaited by reference: if this future is dropped, `Drop` still aborts the task.
        if let Err(error) = (&mut self.task).await
            && error.is_panic()
        {
            warn!(%error, "the provider server task panicked");
        }
    }

    /// Whether the server has stopped (shut down, or every subscription ended because the
    /// connection was closed or drained).
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

impl Drop for ProviderHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}
