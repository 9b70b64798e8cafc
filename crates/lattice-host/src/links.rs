//! Link requests to providers, bounded in time.

use crate::config::{ConfigStore, resolve};
use bytes::Bytes;
use lattice_link::{
    LinkDeleteRequest, LinkErrorKind, LinkPutRequest, LinkRefusal, LinkResponse, ProviderOperation,
    ProviderSubject,
};
use lattice_spec::{ComponentId, LatticeName, LinkSpec, WireMessage};
use std::time::Duration;

/// What became of one link request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum LinkOutcome {
    /// The provider accepted.
    Established,
    /// The provider refused (or is not running, or its configuration is missing).
    Refused(LinkRefusal),
    /// The provider did not answer within the bound.
    Unacknowledged,
}

/// Sends link puts and deletes to providers and waits a bounded time for each answer.
#[derive(Clone)]
pub(crate) struct LinkRequests {
    pub(crate) nats: async_nats::Client,
    pub(crate) lattice: LatticeName,
    pub(crate) timeout: Duration,
}

impl LinkRequests {
    pub(crate) async fn put(
        &self,
        source: &ComponentId,
        link: &LinkSpec,
        store: &dyn ConfigStore,
    ) -> LinkOutcome {
        let (source_config, target_config) = match (
            resolve(store, link.source_config()),
            resolve(store, link.target_config()),
        ) {
            (Ok(source), Ok(target)) => (source, target),
            (Err(missing), _) | (_, Err(missing)) => {
                return LinkOutcome::Refused(LinkRefusal {
                    kind: LinkErrorKind::InvalidConfiguration,
                    message: format!("configuration `{missing}` named by the link does not exist"),
                });
            }
        };
        let request = LinkPutRequest::new(source.clone(), link, source_config, target_config);
        self.send(ProviderOperation::LinkPut, link, request.encode())
            .await
    }

    pub(crate) async fn delete(&self, source: &ComponentId, link: &LinkSpec) -> LinkOutcome {
        let request = LinkDeleteRequest::new(source.clone(), link);
        self.send(ProviderOperation::LinkDelete, link, request.encode())
            .await
    }

    async fn send(
        &self,
        operation: ProviderOperation,
        link: &LinkSpec,
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
        let subject = ProviderSubject::new(self.lattice.clone(), link.target().clone(), operation)
            .to_string();
        let request = async_nats::Request::new()
            .payload(payload)
            .timeout(Some(self.timeout));
        match self.nats.send_request(subject, request).await {
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
            Err(e) => match e.kind() {
                async_nats::RequestErrorKind::TimedOut => LinkOutcome::Unacknowledged,
                async_nats::RequestErrorKind::NoResponders => refused(
                    LinkErrorKind::ResourceUnavailable,
                    format!(
                        "provider `{}` is not running in lattice `{}` (no responders)",
                        link.target(),
                        self.lattice
                    ),
                ),
                _ => refused(
                    LinkErrorKind::Internal,
                    format!("cannot reach provider `{}`: {e}", link.target()),
                ),
            },
        }
    }
}
