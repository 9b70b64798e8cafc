//! Serving the control interface of one host: ping, inventory, apply, delete (and, through
//! [`crate::v1`], the 1.x subjects).

use crate::{state::HostState, upgrade};
use bytes::Bytes;
use futures::StreamExt;
use lattice_ctl::{
    ApplyComponentSpecAck, ApplyComponentSpecReply, ApplyComponentSpecRequest,
    ComponentStatusEvent, CtlError, CtlSubject, DeleteComponentSpecAck, DeleteComponentSpecReply,
    DeleteComponentSpecRequest, DeleteOutcome, ErrorCode, HostInventoryReply, HostInventoryRequest,
    HostPingRequest, HostSummaryReply, Rejection, RejectionCode, Reply,
};
use lattice_spec::WireMessage;
use lattice_status::{ComponentState, ComponentStatus};
use std::sync::Arc;
use tracing::Instrument;

/// Subscribes to the host's control subjects and serves them until the subscriptions end.
///
/// # Errors
///
/// When a subscription cannot be made.
pub(crate) async fn serve(
    state: Arc<HostState>,
) -> Result<tokio::task::JoinHandle<()>, async_nats::SubscribeError> {
    let [ping, addressed] =
        CtlSubject::host_subscriptions(&state.config.lattice, &state.config.host_id);
    let ping = state.nats.subscribe(ping).await?;
    let addressed = state.nats.subscribe(addressed).await?;
    let v1 = crate::v1::subscribe(&state).await?;
    match lattice_nats::server_barrier(&state.nats).await {
        Ok(lattice_nats::Barrier::Confirmed) => {}
        Ok(_) => {
            tracing::warn!("the nats server did not confirm the control subscriptions in time")
        }
        Err(error) => tracing::warn!(?error, "cannot confirm the control subscriptions"),
    }
    let mut requests = futures::stream::select_all([ping, addressed].into_iter().chain(v1));
    Ok(tokio::spawn(async move {
        while let Some(message) = requests.next().await {
            // Each request is handled on its own task: a slow one never holds up the others.
            if crate::v1::is_v1(&message.subject) {
                state.spawn(crate::v1::handle(state.clone(), message));
            } else {
                state.spawn(handle(state.clone(), message));
            }
        }
    }))
}

async fn handle(state: Arc<HostState>, message: async_nats::Message) {
    let span = tracing::info_span!("lattice.host.request", subject = %message.subject);
    lattice_nats::trace::set_parent(&span, message.headers.as_ref());
    async {
        let reply = match message.subject.as_str().parse::<CtlSubject>() {
            Ok(CtlSubject::HostPing { .. }) => {
                encode(&match HostPingRequest::decode(&message.payload) {
                    Ok(_) => HostSummaryReply::ok(state.summary()),
                    Err(e) => HostSummaryReply::error(CtlError::from(&e)),
                })
            }
            Ok(CtlSubject::HostInventory { .. }) => {
                encode(&match HostInventoryRequest::decode(&message.payload) {
                    Ok(_) => HostInventoryReply::ok(state.inventory()),
                    Err(e) => HostInventoryReply::error(CtlError::from(&e)),
                })
            }
            Ok(CtlSubject::ApplyComponentSpec { .. }) => return apply(&state, &message).await,
            Ok(CtlSubject::DeleteComponentSpec { .. }) => encode(&delete(&state, &message.payload)),
            Ok(CtlSubject::ApplyProviderSpec { .. }) => {
                return crate::provider::apply(&state, &message).await;
            }
            Ok(CtlSubject::DeleteProviderSpec { .. }) => {
                return crate::provider::delete(&state, &message).await;
            }
            Ok(other) => encode(&Reply::<()>::error(CtlError::new(
                ErrorCode::Malformed,
                format!("operation `{other}` is not served by this host"),
            ))),
            Err(e) => encode(&Reply::<()>::error(CtlError::new(
                ErrorCode::Malformed,
                e.to_string(),
            ))),
        };
        respond(&state, &message, reply).await;
    }
    .instrument(span)
    .await;
}

pub(crate) async fn respond(state: &HostState, message: &async_nats::Message, reply: Bytes) {
    let Some(to) = &message.reply else { return };
    if let Err(error) = state.nats.publish(to.clone(), reply).await {
        tracing::warn!(%error, "cannot send a control reply");
    }
}

/// What a host answers on a v2alpha1 subject when its own reply cannot be encoded (a bug in
/// a reply type's `Serialize`: the contract's replies are plain data): an `internal` error,
/// written out so that answering never depends on encoding.
pub(crate) const UNENCODABLE_REPLY: &[u8] = br#"{"api_version":"v2alpha1","error":{"code":"internal","message":"the host could not encode its reply; see its log","retryable":false}}"#;

/// `reply` as JSON; when it cannot be encoded, the error is logged and `fallback` (a reply
/// written out by hand, e.g. [`UNENCODABLE_REPLY`]) is sent instead, so the caller still gets
/// an answer that says what happened.
pub(crate) fn encode_or<T: serde::Serialize>(reply: &T, fallback: &'static [u8]) -> Bytes {
    match serde_json::to_vec(reply) {
        Ok(bytes) => Bytes::from(bytes),
        Err(error) => {
            tracing::error!(
                %error,
                reply = std::any::type_name::<T>(),
                "cannot encode a control reply; answering with an internal error"
            );
            Bytes::from_static(fallback)
        }
    }
}

/// A v2alpha1 reply as JSON (see [`encode_or`]).
pub(crate) fn encode<T: serde::Serialize>(reply: &T) -> Bytes {
    encode_or(reply, UNENCODABLE_REPLY)
}

async fn apply(state: &Arc<HostState>, message: &async_nats::Message) {
    let request = match ApplyComponentSpecRequest::decode_detailed(&message.payload) {
        Ok(request) => request,
        Err(error) => return respond(state, message, encode(&error.into_reply())).await,
    };
    let spec = Arc::new(request.spec);
    let (slot, outcome) = state.admit(&spec);
    let ack = ApplyComponentSpecAck::new(&spec, outcome);
    // The component is `pending` in the inventory before this acknowledgement leaves.
    respond(state, message, encode(&ApplyComponentSpecReply::ok(ack))).await;
    let Some(slot) = slot else { return };
    start_apply(state, slot, spec).await;
}

/// Publishes that an accepted apply is `pending` and runs it (to `running` or `failed`) on
/// its own task. 1.x component writes start their applies here too.
pub(crate) async fn start_apply(
    state: &Arc<HostState>,
    slot: Arc<crate::state::ComponentSlot>,
    spec: Arc<lattice_spec::ComponentSpec>,
) {
    let event = ComponentStatusEvent::new(
        state.next_origin(),
        spec.id().clone(),
        spec.revision(),
        None,
        ComponentStatus::new(ComponentState::Pending),
    );
    state
        .publish(state.component_subject(spec.id()), event.encode())
        .await;
    // The apply outlives the request, and its span (with the link requests under it) continues
    // the request's trace.
    state.spawn(upgrade::apply(state.clone(), slot, spec).in_current_span());
}

fn delete(state: &Arc<HostState>, payload: &[u8]) -> DeleteComponentSpecReply {
    let request = match DeleteComponentSpecRequest::decode(payload) {
        Ok(request) => request,
        Err(e) => return DeleteComponentSpecReply::error(CtlError::from(&e)),
    };
    let Some(slot) = state.slot(&request.component_id) else {
        return DeleteComponentSpecReply::ok(DeleteComponentSpecAck::new(
            request.component_id,
            DeleteOutcome::NotFound,
        ));
    };
    let current = slot.record().desired.revision;
    if let Some(revision) = request.revision.filter(|r| *r < current) {
        let rejection = Rejection::new(
            RejectionCode::StaleRevision,
            format!("delete at revision {revision}, but revision {current} was applied since"),
        )
        .with_current_revision(current);
        return DeleteComponentSpecReply::ok(DeleteComponentSpecAck::new(
            request.component_id,
            DeleteOutcome::Rejected(rejection),
        ));
    }
    upgrade::spawn_delete(state.clone(), slot);
    DeleteComponentSpecReply::ok(DeleteComponentSpecAck::new(
        request.component_id,
        DeleteOutcome::Accepted,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reply whose `Serialize` fails, as a buggy one would.
    struct Unencodable;

    impl serde::Serialize for Unencodable {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("broken"))
        }
    }

    #[test]
    fn a_reply_that_cannot_be_encoded_is_answered_with_an_internal_error() {
        let payload = encode(&Unencodable);
        let reply = HostInventoryReply::decode(&payload).expect("the fallback is a v2alpha1 reply");
        let error = reply.into_result().unwrap_err();
        assert_eq!(error.code, ErrorCode::Internal);
        assert!(!error.retryable);
    }

    #[test]
    fn an_encodable_reply_is_sent_as_it_is() {
        let reply = Reply::<()>::error(CtlError::new(ErrorCode::Malformed, "x"));
        assert_eq!(
            encode(&reply),
            Bytes::from(serde_json::to_vec(&reply).unwrap())
        );
    }
}
