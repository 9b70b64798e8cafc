//! Link requests to providers, bounded in time.
//!
//! A link has at most one provider end: its target (a component calling a provider), or its
//! source (a provider, such as an HTTP server, calling the component). That provider gets the
//! link's put and delete, with both ends' resolved configuration as 1.x providers expect. A
//! link to another component has no one to tell: wRPC routes the component's calls to the
//! target's id, so it is established as soon as the spec says so.
//!
//! Requests go first to the provider's instance **on this host**
//! (`wasmbus.rpc.{lattice}.{provider}.linkdefs.put.{host_id}`), so the answer is the one of
//! the instance that serves this host and no other instance's acceptance can mask its
//! refusal. Only when no instance answers there ("no responders": the provider runs on no
//! host, or on another) does the request go to the lattice-wide subject, where one instance
//! (or a 1.x provider, which never answers) receives it.

use crate::config::{ConfigStore, resolve};
use bytes::Bytes;
use futures::{StreamExt as _, future::join_all};
use lattice_link::{
    LinkDeleteRequest, LinkErrorKind, LinkPutRequest, LinkRefusal, LinkResponse, ProviderOperation,
    ProviderSubject,
};
use lattice_spec::{ComponentId, HostId, LatticeName, LinkSpec, ProviderId, WireMessage};
use std::time::Duration;

/// What became of one link request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum LinkOutcome {
    /// The provider accepted, or the link has no provider end (a component target).
    Established,
    /// The provider refused (or is not running, or its configuration is missing).
    Refused(LinkRefusal),
    /// The provider did not answer within the bound.
    Unacknowledged,
}

/// Why a request got no answer to read.
#[derive(Debug)]
enum Unanswered {
    /// Nothing came within the reply timeout.
    TimedOut,
    /// Nobody subscribes to the subject.
    NoResponders,
    /// The request could not be sent or its answer received.
    Failed(String),
}

/// A link put ready to send: to whom, and what.
pub(crate) struct PreparedPut {
    provider: ProviderId,
    request: LinkPutRequest,
}

/// Sends link puts and deletes to providers and waits a bounded time for each answer.
#[derive(Clone)]
pub(crate) struct LinkRequests {
    pub(crate) nats: async_nats::Client,
    pub(crate) lattice: LatticeName,
    pub(crate) host: HostId,
    pub(crate) timeout: Duration,
    pub(crate) secrets: Option<crate::LinkSecrets>,
}

impl LinkRequests {
    pub(crate) async fn put(
        &self,
        component: &ComponentId,
        link: &LinkSpec,
        store: &dyn ConfigStore,
    ) -> LinkOutcome {
        match self.prepare_put(component, link, store).await {
            Ok(Some(prepared)) => self.send_put(prepared).await,
            Ok(None) => LinkOutcome::Established,
            Err(refusal) => LinkOutcome::Refused(refusal),
        }
    }

    /// Everything a put needs before it is sent: configuration resolved, secrets resolved and
    /// sealed. `None` for a link without a provider end. Done before the pause for changed
    /// links, so a missing configuration or secret fails the upgrade before anything is
    /// touched.
    pub(crate) async fn prepare_put(
        &self,
        component: &ComponentId,
        link: &LinkSpec,
        store: &dyn ConfigStore,
    ) -> Result<Option<PreparedPut>, LinkRefusal> {
        let Some(provider) = link.provider() else {
            return Ok(None);
        };
        let (source_config, target_config) = match (
            resolve(store, link.source_config()).await,
            resolve(store, link.target_config()).await,
        ) {
            (Ok(source), Ok(target)) => (source, target),
            (Err(e), _) | (_, Err(e)) => {
                return Err(LinkRefusal {
                    kind: LinkErrorKind::InvalidConfiguration,
                    message: format!("the link's configuration: {}", crate::config::explain(&e)),
                });
            }
        };
        let mut request = LinkPutRequest::new(component, link, source_config, target_config)
            .from_host(self.host.clone());
        if !link.source_secrets().is_empty() || !link.target_secrets().is_empty() {
            let Some(secrets) = &self.secrets else {
                return Err(LinkRefusal {
                    kind: LinkErrorKind::InvalidConfiguration,
                    message: "the link names secret references, and this host has no secrets \
                              backend to resolve them (HostConfig::link_secrets)"
                        .to_owned(),
                });
            };
            let source = secrets.seal(&provider, link.source_secrets()).await?;
            let target = secrets.seal(&provider, link.target_secrets()).await?;
            request = request
                .with_secrets(source, target)
                .sealed_by(secrets.host_public_key());
        }
        Ok(Some(PreparedPut { provider, request }))
    }

    /// Sends a prepared put and waits (bounded) for the answer.
    pub(crate) async fn send_put(&self, prepared: PreparedPut) -> LinkOutcome {
        self.send(
            &prepared.provider,
            ProviderOperation::LinkPut,
            prepared.request.encode(),
        )
        .await
    }

    pub(crate) async fn delete(&self, component: &ComponentId, link: &LinkSpec) -> LinkOutcome {
        let Some(provider) = link.provider() else {
            return LinkOutcome::Established;
        };
        let request = LinkDeleteRequest::new(component, link).from_host(self.host.clone());
        self.send(&provider, ProviderOperation::LinkDelete, request.encode())
            .await
    }

    /// Deletes each of `links` (those with a provider end) at once; their answers' bounds
    /// overlap, so silent providers cost one reply timeout in all, not one per link.
    pub(crate) async fn delete_all(&self, component: &ComponentId, links: &[&LinkSpec]) {
        join_all(links.iter().map(|link| self.delete(component, link))).await;
    }

    /// Replaces link `from` by `to` (prepared; `None` when `to` has no provider end) during
    /// the pause, and answers what became of `to`. The whole replacement is bounded by one
    /// reply timeout, so with silent providers the pause lasts about one timeout, not two.
    ///
    /// `from`'s delete is sent first (a 1.x provider such as an HTTP server must let go of
    /// the old link's resources before it takes the new one's). Its answer is awaited only
    /// where it matters:
    ///
    /// - **Same provider at both ends**: the put must reach the provider after the delete
    ///   was handled, and nothing else orders them — the provider kit, like the 1.x provider
    ///   SDK, reads puts and deletes on separate subscriptions. So the put is sent once the
    ///   delete is answered, within what is left of the bound; when a silent provider let
    ///   the bound pass on the delete, the put is still sent (to the subject the delete
    ///   reached) and is not waited for: the link is `unacknowledged`.
    /// - **Different providers** (the link moved to another provider, or to a component):
    ///   nothing orders the two, so they are sent together and their bounds overlap.
    pub(crate) async fn replace(
        &self,
        component: &ComponentId,
        from: &LinkSpec,
        to: Option<PreparedPut>,
    ) -> LinkOutcome {
        let Some(old) = from.provider() else {
            return match to {
                Some(put) => self.send_put(put).await,
                None => LinkOutcome::Established,
            };
        };
        let delete = LinkDeleteRequest::new(component, from).from_host(self.host.clone());
        let Some(put) = to else {
            self.send(&old, ProviderOperation::LinkDelete, delete.encode())
                .await;
            return LinkOutcome::Established;
        };
        if old != put.provider {
            let (_, outcome) = futures::join!(
                self.send(&old, ProviderOperation::LinkDelete, delete.encode()),
                self.send_put(put)
            );
            return outcome;
        }
        let (delete, request) = match (delete.encode(), put.request.encode()) {
            (Ok(delete), Ok(request)) => (delete, request),
            (Err(e), _) | (_, Err(e)) => {
                return LinkOutcome::Refused(LinkRefusal {
                    kind: LinkErrorKind::Internal,
                    message: format!("cannot encode the link request: {e}"),
                });
            }
        };
        let deadline = tokio::time::Instant::now() + self.timeout;
        let lattice_wide =
            |operation| ProviderSubject::new(self.lattice.clone(), old.clone(), operation);
        let on_this_host = |operation| lattice_wide(operation).on_host(self.host.clone());
        // The delete's outcome itself changes nothing (as after the swap): only where it
        // went, and when.
        let mut put_to = on_this_host(ProviderOperation::LinkPut);
        let deleted = self
            .request_until(
                &on_this_host(ProviderOperation::LinkDelete),
                delete.clone(),
                deadline,
            )
            .await;
        if matches!(deleted, Err(Unanswered::NoResponders)) {
            put_to = lattice_wide(ProviderOperation::LinkPut);
            self.request_until(
                &lattice_wide(ProviderOperation::LinkDelete),
                delete,
                deadline,
            )
            .await
            .ok();
        }
        if tokio::time::Instant::now() >= deadline {
            // Silent on the delete: send the put all the same, and do not wait again.
            return match self.publish(&put_to, request).await {
                Ok(_) => LinkOutcome::Unacknowledged,
                Err(e) => self.outcome(&old, Err(e)),
            };
        }
        let answer = self.request_until(&put_to, request, deadline).await;
        self.outcome(&old, answer)
    }

    /// Sends a request and waits for its answer until `deadline`.
    async fn request_until(
        &self,
        subject: &ProviderSubject,
        payload: Bytes,
        deadline: tokio::time::Instant,
    ) -> Result<async_nats::Message, Unanswered> {
        let mut replies = self.publish(subject, payload).await?;
        match tokio::time::timeout_at(deadline, replies.next()).await {
            Err(_) => Err(Unanswered::TimedOut),
            Ok(None) => Err(Unanswered::Failed(
                "the connection closed before an answer".to_owned(),
            )),
            Ok(Some(message)) if message.status == Some(async_nats::StatusCode::NO_RESPONDERS) => {
                Err(Unanswered::NoResponders)
            }
            Ok(Some(message)) => Ok(message),
        }
    }

    /// Publishes a request with a reply inbox of its own; the answer arrives on the returned
    /// subscription.
    async fn publish(
        &self,
        subject: &ProviderSubject,
        payload: Bytes,
    ) -> Result<async_nats::Subscriber, Unanswered> {
        let inbox = self.nats.new_inbox();
        let replies = self
            .nats
            .subscribe(inbox.clone())
            .await
            .map_err(|e| Unanswered::Failed(e.to_string()))?;
        self.nats
            .publish_with_reply_and_headers(
                subject.to_string(),
                inbox,
                lattice_nats::trace::headers(),
                payload,
            )
            .await
            .map_err(|e| Unanswered::Failed(e.to_string()))?;
        Ok(replies)
    }

    async fn send(
        &self,
        provider: &ProviderId,
        operation: ProviderOperation,
        payload: Result<Bytes, serde_json::Error>,
    ) -> LinkOutcome {
        let refused = |kind, message: String| LinkOutcome::Refused(LinkRefusal { kind, message });
        let payload = match payload {
            Ok(payload) => payload,
            Err(e) => {
                return refused(
                    LinkErrorKind::Internal,
                    format!("cannot encode the link request: {e}"),
                );
            }
        };
        let lattice_wide = ProviderSubject::new(self.lattice.clone(), provider.clone(), operation);
        let on_this_host = lattice_wide.clone().on_host(self.host.clone());
        let mut answer = self.request(&on_this_host, payload.clone()).await;
        if matches!(&answer, Err(e) if e.kind() == async_nats::RequestErrorKind::NoResponders) {
            answer = self.request(&lattice_wide, payload).await;
        }
        let answer = answer.map_err(|e| match e.kind() {
            async_nats::RequestErrorKind::TimedOut => Unanswered::TimedOut,
            async_nats::RequestErrorKind::NoResponders => Unanswered::NoResponders,
            _ => Unanswered::Failed(e.to_string()),
        });
        self.outcome(provider, answer)
    }

    /// What an answer (or its absence) means for the link.
    fn outcome(
        &self,
        provider: &ProviderId,
        answer: Result<async_nats::Message, Unanswered>,
    ) -> LinkOutcome {
        let refused = |kind, message: String| LinkOutcome::Refused(LinkRefusal { kind, message });
        match answer {
            Ok(message) => match LinkResponse::decode(&message.payload) {
                Ok(response) => match response.into_result() {
                    Ok(()) => LinkOutcome::Established,
                    Err(refusal) => LinkOutcome::Refused(refusal),
                },
                Err(e) => refused(
                    LinkErrorKind::Unknown,
                    format!("the provider's answer cannot be read: {e}"),
                ),
            },
            Err(Unanswered::TimedOut) => LinkOutcome::Unacknowledged,
            Err(Unanswered::NoResponders) => refused(
                LinkErrorKind::ResourceUnavailable,
                format!(
                    "provider `{provider}` is not running in lattice `{}` (no responders)",
                    self.lattice
                ),
            ),
            Err(Unanswered::Failed(e)) => refused(
                LinkErrorKind::Internal,
                format!("cannot reach provider `{provider}`: {e}"),
            ),
        }
    }

    async fn request(
        &self,
        subject: &ProviderSubject,
        payload: Bytes,
    ) -> Result<async_nats::Message, async_nats::RequestError> {
        // The provider continues the trace of the upgrade that sends the request.
        let request = async_nats::Request::new()
            .payload(payload)
            .headers(lattice_nats::trace::headers())
            .timeout(Some(self.timeout));
        self.nats.send_request(subject.to_string(), request).await
    }
}
