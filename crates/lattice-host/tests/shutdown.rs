//! `HostHandle::shutdown`: an apply in flight finishes within the grace period, or is
//! cancelled when it outlasts it; either way no host task runs once it returns.
//!
//! The apply is held at its link put by a provider that answers only when the test says so:
//! a raw subscription on the provider's host-scoped link subject (the host asks there first).

mod support;

use futures::StreamExt;
use lattice_client::StatusEvent;
use lattice_link::{LinkResponse, ProviderOperation, ProviderSubject};
use lattice_spec::{HostId, WireMessage};
use lattice_status::ComponentState;
use std::time::Duration;
use support::{Lattice, within};

/// Longer than any test: an apply waiting for this provider never times out by itself.
const NEVER: Duration = Duration::from_secs(600);

/// Starts `host-a` (link replies awaited for [`NEVER`]) and applies [`spec`] to it; returns
/// the host, the link put it is waiting on, and the component's status events.
async fn apply_held_at_its_link_put(
    lattice: &Lattice,
) -> (
    lattice_host::HostHandle,
    async_nats::Message,
    lattice_client::EventStream,
) {
    let host_id: HostId = "host-a".parse().unwrap();
    let subject = ProviderSubject::new(
        lattice.lattice.clone(),
        "kv".parse().unwrap(),
        ProviderOperation::LinkPut,
    )
    .on_host(host_id.clone())
    .to_string();
    let mut puts = within(lattice.nats.subscribe(subject)).await.unwrap();
    within(lattice.nats.flush()).await.unwrap();
    let host = lattice
        .host_with(lattice.config("host-a").link_reply_timeout(NEVER))
        .await;
    let events = lattice.component_events(&"web".parse().unwrap()).await;
    within(lattice.client.apply(&host_id, &lattice.web_with_kv()))
        .await
        .unwrap();
    let put = within(puts.next()).await.unwrap();
    (host, put, events)
}

/// The states the component's status events reported, until the stream ends or `until` is
/// seen.
async fn states_until(
    events: &mut lattice_client::EventStream,
    until: ComponentState,
) -> Vec<ComponentState> {
    let mut states = Vec::new();
    within(async {
        while let Some(event) = events.next().await {
            if let Ok(StatusEvent::Component(event)) = event {
                states.push(event.status.state);
                if event.status.state == until {
                    break;
                }
            }
        }
    })
    .await;
    states
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_an_apply_in_flight_finish_within_the_grace_period() {
    let lattice = Lattice::start().await;
    let (host, put, mut events) = apply_held_at_its_link_put(&lattice).await;

    let shutdown = tokio::spawn(host.shutdown(Duration::from_secs(60)));
    // The apply is still waiting for the provider; the shutdown waits with it.
    assert!(!shutdown.is_finished());
    let reply = put.reply.expect("a link put asks for a reply");
    within(
        lattice
            .nats
            .publish(reply, LinkResponse::accepted().encode().unwrap()),
    )
    .await
    .unwrap();

    let outcome = within(shutdown).await.unwrap();
    assert_eq!(
        outcome.cancelled, 0,
        "the apply finished in the grace period"
    );
    let states = states_until(&mut events, ComponentState::Running).await;
    assert_eq!(
        states.last(),
        Some(&ComponentState::Running),
        "the held apply completed during the shutdown: {states:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_cancels_an_apply_that_outlasts_the_grace_period() {
    let lattice = Lattice::start().await;
    let (host, _put, _events) = apply_held_at_its_link_put(&lattice).await;

    // The provider never answers and the host would wait ten minutes for it: only the
    // cancellation lets the shutdown return.
    let outcome = within(host.shutdown(Duration::from_millis(100))).await;
    assert!(outcome.cancelled >= 1, "{outcome:?}");
}
