//! The provider server against a real nats-server, with the test playing the host.

mod support;

use async_nats::RequestErrorKind;
use bytes::Bytes;
use futures::StreamExt;
use lattice_link::{
    HealthCheckResponse, LinkErrorKind, LinkRefusal, LinkResponse, ProviderOperation,
};
use lattice_local::AcceptAll;
use lattice_spec::WireMessage;
use std::{sync::Arc, time::Duration};
use support::{
    Call, Recorder, delete, health_request, link_request, next_call, put, request_raw, start,
    subject, until_no_responders, within,
};

#[tokio::test]
async fn an_accepted_put_is_answered_and_the_handler_sees_the_link() {
    let (recorder, mut calls) = Recorder::new();
    let setup = start(Arc::new(recorder)).await;
    let request = put("public", "0.0.0.0:8080");

    let response = link_request(
        &setup.host,
        ProviderOperation::LinkPut,
        request.encode().unwrap(),
    )
    .await;

    assert!(response.is_accepted(), "{response:?}");
    assert_eq!(next_call(&mut calls).await, Call::Put(request));
}

#[tokio::test]
async fn a_refused_put_carries_the_handlers_kind_and_message_verbatim() {
    let refusal = LinkRefusal {
        kind: LinkErrorKind::ResourceUnavailable,
        message: "address already in use: 0.0.0.0:8080 (by app/public)".to_owned(),
    };
    let (mut recorder, _calls) = Recorder::new();
    recorder.refusal = Some(refusal.clone());
    let setup = start(Arc::new(recorder)).await;

    let response = link_request(
        &setup.host,
        ProviderOperation::LinkPut,
        put("public", "0.0.0.0:8080").encode().unwrap(),
    )
    .await;

    assert_eq!(response.into_result(), Err(refusal));
}

#[tokio::test]
async fn a_delete_is_answered_and_the_handler_sees_it() {
    let (recorder, mut calls) = Recorder::new();
    let setup = start(Arc::new(recorder)).await;
    let request = delete("public");

    let response = link_request(
        &setup.host,
        ProviderOperation::LinkDelete,
        request.encode().unwrap(),
    )
    .await;

    assert!(response.is_accepted(), "{response:?}");
    assert_eq!(next_call(&mut calls).await, Call::Delete(request));
}

#[tokio::test]
async fn health_is_the_handlers_answer_and_healthy_by_default() {
    let setup = start(Arc::new(AcceptAll::new())).await;
    assert_eq!(
        health_request(&setup.host).await,
        HealthCheckResponse::healthy()
    );

    let (mut recorder, _calls) = Recorder::new();
    recorder.health = Some(HealthCheckResponse::unhealthy("disk full"));
    let setup = start(Arc::new(recorder)).await;
    let health = health_request(&setup.host).await;
    assert!(!health.healthy);
    assert_eq!(health.message.as_deref(), Some("disk full"));
}

#[tokio::test]
async fn an_unsupported_version_is_refused_naming_the_supported_ones() {
    let (recorder, mut calls) = Recorder::new();
    let setup = start(Arc::new(recorder)).await;
    let mut body = serde_json::to_value(put("public", "0.0.0.0:8080")).unwrap();
    body["api_version"] = "v9".into();

    let response = link_request(
        &setup.host,
        ProviderOperation::LinkPut,
        Bytes::from(serde_json::to_vec(&body).unwrap()),
    )
    .await;

    let refusal = response.into_result().unwrap_err();
    assert_eq!(refusal.kind, LinkErrorKind::InvalidConfiguration);
    assert!(refusal.message.contains("v2alpha1"), "{}", refusal.message);
    assert!(refusal.message.contains("v9"), "{}", refusal.message);
    assert!(calls.try_recv().is_err(), "the handler was not called");
}

#[tokio::test]
async fn garbage_is_refused_not_ignored() {
    let (recorder, _calls) = Recorder::new();
    let setup = start(Arc::new(recorder)).await;

    for operation in [ProviderOperation::LinkPut, ProviderOperation::LinkDelete] {
        let response = link_request(
            &setup.host,
            operation,
            Bytes::from_static(b"\x00\xffnot json"),
        )
        .await;
        let refusal = response.into_result().unwrap_err();
        assert_eq!(refusal.kind, LinkErrorKind::InvalidConfiguration);
        assert!(refusal.message.contains("malformed"), "{}", refusal.message);
    }
}

/// What a wasmCloud 1.x host publishes for a link put: the byte output of the published
/// `wasmcloud-core` `InterfaceLinkDefinition` (see lattice-link's fixtures README).
const V1_LINK_PUT: &[u8] =
    include_bytes!("../../lattice-link/tests/fixtures/v1/interface_link_definition_incoming.json");

#[tokio::test]
async fn a_1x_hosts_link_put_is_established_and_answered_with_nothing() {
    let (recorder, mut calls) = Recorder::new();
    let setup = start(Arc::new(recorder)).await;
    // A 1.x host publishes the link fire-and-forget; here it even has a reply subject, to
    // show the kit does not answer a 1.x body. Replies to both requests below arrive on one
    // subscription, in the order the provider sent them.
    let mut replies = within("subscribe", setup.host.subscribe("test-replies.*"))
        .await
        .unwrap();
    within(
        "publish",
        setup.host.publish_with_reply(
            subject(ProviderOperation::LinkPut),
            "test-replies.v1",
            Bytes::from_static(V1_LINK_PUT),
        ),
    )
    .await
    .unwrap();

    let Call::Put(established) = next_call(&mut calls).await else {
        panic!("expected a put");
    };
    assert_eq!(established.source_id, "http-server");
    assert_eq!(established.target, "greeter");
    assert_eq!(established.name, "frontend");
    assert_eq!(established.source_config["address"], "127.0.0.1:8080");

    // A v2alpha1 put of the same link, handled after the 1.x one (same link, same order):
    // its answer is the first and only reply.
    let mut versioned = established.clone();
    versioned.api_version = lattice_spec::ApiVersion::CURRENT;
    within(
        "publish",
        setup.host.publish_with_reply(
            subject(ProviderOperation::LinkPut),
            "test-replies.v2",
            versioned.encode().unwrap(),
        ),
    )
    .await
    .unwrap();
    let reply = within("a reply", replies.next()).await.unwrap();
    assert_eq!(
        reply.subject.as_str(),
        "test-replies.v2",
        "a 1.x put was answered"
    );
    assert!(LinkResponse::decode(&reply.payload).unwrap().is_accepted());
    assert!(matches!(next_call(&mut calls).await, Call::Put(_)));
}

#[tokio::test]
async fn a_versioned_put_without_a_reply_subject_is_still_handled() {
    let (recorder, mut calls) = Recorder::new();
    let setup = start(Arc::new(recorder)).await;
    let request = put("public", "0.0.0.0:8080");

    within(
        "publish",
        setup.host.publish(
            subject(ProviderOperation::LinkPut),
            request.encode().unwrap(),
        ),
    )
    .await
    .unwrap();
    within("flush", setup.host.flush()).await.unwrap();

    assert_eq!(next_call(&mut calls).await, Call::Put(request));
}

#[tokio::test]
async fn each_instance_answers_for_its_own_host() {
    let nats = support::start_nats().await;
    let connect = || async {
        within("connect", async_nats::connect(nats.url()))
            .await
            .unwrap()
    };
    let (host, a_client, b_client) = (connect().await, connect().await, connect().await);
    // The instance on host-a refuses (its port is taken); the one on host-b accepts.
    let (mut refusing, mut a_calls) = Recorder::new();
    refusing.refusal = Some(LinkRefusal {
        kind: LinkErrorKind::ResourceUnavailable,
        message: "address already in use: 0.0.0.0:8080".into(),
    });
    let (accepting, mut b_calls) = Recorder::new();
    let _a = support::serve(&a_client, Arc::new(refusing), Some("host-a")).await;
    let _b = support::serve(&b_client, Arc::new(accepting), Some("host-b")).await;
    let scoped = |host_id: &str| {
        lattice_link::ProviderSubject::new(
            support::LATTICE.parse().unwrap(),
            support::PROVIDER.parse().unwrap(),
            ProviderOperation::LinkPut,
        )
        .on_host(host_id.parse().unwrap())
        .to_string()
    };
    let request = put("public", "0.0.0.0:8080").encode().unwrap();

    // Asked for host-a, only host-a's instance answers: its refusal cannot be masked.
    for _ in 0..5 {
        let reply = within("reply", host.request(scoped("host-a"), request.clone()))
            .await
            .unwrap();
        let refusal = LinkResponse::decode(&reply.payload)
            .unwrap()
            .into_result()
            .unwrap_err();
        assert_eq!(refusal.kind, LinkErrorKind::ResourceUnavailable);
        assert!(matches!(next_call(&mut a_calls).await, Call::Put(_)));
    }
    let reply = within("reply", host.request(scoped("host-b"), request.clone()))
        .await
        .unwrap();
    assert!(LinkResponse::decode(&reply.payload).unwrap().is_accepted());
    assert!(matches!(next_call(&mut b_calls).await, Call::Put(_)));
    assert!(
        b_calls.try_recv().is_err(),
        "host-b's instance saw host-a's requests"
    );
    // No instance on host-c: no responders there, the host's cue for the lattice-wide subject.
    let error = within("no responders", host.request(scoped("host-c"), request))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), RequestErrorKind::NoResponders);
}

#[tokio::test]
async fn a_slow_put_does_not_block_a_health_check() {
    let (recorder, mut calls) = Recorder::new();
    let open = recorder.gate("slow");
    let setup = start(Arc::new(recorder)).await;

    let host = setup.host.clone();
    let slow = tokio::spawn(async move {
        let payload = put("slow", "0.0.0.0:8080").encode().unwrap();
        link_request(&host, ProviderOperation::LinkPut, payload).await
    });
    assert!(matches!(next_call(&mut calls).await, Call::Put(p) if p.name == "slow"));

    // The put is parked in its handler; health is answered meanwhile.
    assert!(health_request(&setup.host).await.healthy);
    assert!(!slow.is_finished());

    open.send(()).unwrap();
    let response = within("the slow put", slow).await.unwrap();
    assert!(response.is_accepted(), "{response:?}");
}

#[tokio::test]
async fn requests_for_the_same_link_are_handled_in_arrival_order() {
    let (recorder, mut calls) = Recorder::new();
    let open = recorder.gate("public");
    let setup = start(Arc::new(recorder)).await;
    let host = &setup.host;

    let first = put("public", "0.0.0.0:8080");
    let payload = first.encode().unwrap();
    let first_reply = tokio::spawn({
        let host = host.clone();
        async move { link_request(&host, ProviderOperation::LinkPut, payload).await }
    });
    assert_eq!(next_call(&mut calls).await, Call::Put(first));

    // The second put of `public` is published before the put of another link, on the same
    // connection and subject, so the provider receives it first.
    let second = put("public", "0.0.0.0:9090");
    let inbox = host.new_inbox();
    let mut second_reply = within("subscribe", host.subscribe(inbox.clone()))
        .await
        .unwrap();
    let put_subject = subject(ProviderOperation::LinkPut);
    within(
        "publish",
        host.publish_with_reply(put_subject, inbox, second.encode().unwrap()),
    )
    .await
    .unwrap();
    let other = put("admin", "0.0.0.0:7070");
    let payload = other.encode().unwrap();
    let other_reply = link_request(host, ProviderOperation::LinkPut, payload).await;

    // The other link was handled while the first put is parked; the second put was received
    // before it, yet has not started.
    assert!(other_reply.is_accepted());
    assert_eq!(next_call(&mut calls).await, Call::Put(other));
    assert!(
        calls.try_recv().is_err(),
        "the second put waits for the first"
    );

    open.send(()).unwrap();
    assert!(within("first", first_reply).await.unwrap().is_accepted());
    assert_eq!(next_call(&mut calls).await, Call::Put(second));
    let reply = within("second", second_reply.next()).await.unwrap();
    assert!(LinkResponse::decode(&reply.payload).unwrap().is_accepted());
}

#[tokio::test]
async fn a_panicking_handler_is_an_internal_refusal_and_the_server_keeps_serving() {
    let (mut recorder, _calls) = Recorder::new();
    recorder.panic_on = Some("boom".to_owned());
    let setup = start(Arc::new(recorder)).await;

    let response = link_request(
        &setup.host,
        ProviderOperation::LinkPut,
        put("boom", "0.0.0.0:8080").encode().unwrap(),
    )
    .await;
    assert_eq!(
        response.into_result().unwrap_err().kind,
        LinkErrorKind::Internal
    );

    let response = link_request(
        &setup.host,
        ProviderOperation::LinkPut,
        put("boom2", "0.0.0.0:8080").encode().unwrap(),
    )
    .await;
    assert!(response.is_accepted());
}

#[tokio::test]
async fn after_shutdown_requests_find_no_responders() {
    let (recorder, _calls) = Recorder::new();
    let setup = start(Arc::new(recorder)).await;
    assert!(health_request(&setup.host).await.healthy);

    within("shutdown", setup.provider.shutdown()).await;

    for operation in [
        ProviderOperation::LinkPut,
        ProviderOperation::LinkDelete,
        ProviderOperation::Health,
    ] {
        let payload = put("public", "0.0.0.0:8080").encode().unwrap();
        let error = request_raw(&setup.host, operation, payload)
            .await
            .unwrap_err();
        assert_eq!(
            error.kind(),
            RequestErrorKind::NoResponders,
            "{operation:?}"
        );
    }
}

#[tokio::test]
async fn shutdown_waits_for_a_request_in_flight_and_answers_it() {
    let (recorder, mut calls) = Recorder::new();
    let open = recorder.gate("slow");
    let setup = start(Arc::new(recorder)).await;

    let host = setup.host.clone();
    let slow = tokio::spawn(async move {
        let payload = put("slow", "0.0.0.0:8080").encode().unwrap();
        link_request(&host, ProviderOperation::LinkPut, payload).await
    });
    assert!(matches!(next_call(&mut calls).await, Call::Put(_)));

    let shutdown = tokio::spawn(setup.provider.shutdown());
    // Once the provider has unsubscribed, health checks find no responders; the parked put
    // is still in flight.
    until_no_responders(&setup.host).await;
    assert!(!shutdown.is_finished(), "shutdown waits for the parked put");

    open.send(()).unwrap();
    let response = within("the slow put", slow).await.unwrap();
    assert!(response.is_accepted(), "{response:?}");
    within("shutdown", shutdown).await.unwrap();
}

#[tokio::test]
async fn dropping_the_handle_stops_serving() {
    let (recorder, _calls) = Recorder::new();
    let setup = start(Arc::new(recorder)).await;
    let support::Setup {
        host,
        provider,
        nats,
        ..
    } = setup;
    drop(provider);

    // The subscriptions go away in the background; wait until the server has forgotten them.
    until_no_responders(&host).await;
    drop(nats);
}

#[tokio::test]
async fn shutdown_with_the_server_gone_stops_at_once() {
    let setup = start(Arc::new(AcceptAll::new())).await;
    let (client, provider) = (setup.provider_client.clone(), setup.provider);
    drop(setup.nats);
    within("the provider's connection to notice", async {
        while client.connection_state() == async_nats::connection::State::Connected {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    // Well inside the 5 s a drain may wait for a server: nothing waits for one that is gone.
    tokio::time::timeout(Duration::from_secs(2), provider.shutdown())
        .await
        .expect("shutdown returns at once when the server is gone");
}

#[tokio::test]
async fn a_link_held_by_two_hosts_is_deleted_when_the_last_one_lets_go() {
    let (recorder, mut calls) = Recorder::new();
    let setup = start(Arc::new(recorder)).await;
    let as_host = |host: &str| lattice_spec::HostId::new(host).unwrap();
    for host in ["host-a", "host-b"] {
        let request = put("public", "0.0.0.0:8080").from_host(as_host(host));
        let response = link_request(
            &setup.host,
            ProviderOperation::LinkPut,
            request.encode().unwrap(),
        )
        .await;
        assert!(response.is_accepted());
        assert!(matches!(next_call(&mut calls).await, Call::Put(_)));
    }

    // Host-a's component moved away: acknowledged, and the link stays for host-b.
    let from_a = delete("public").from_host(as_host("host-a"));
    let response = link_request(
        &setup.host,
        ProviderOperation::LinkDelete,
        from_a.encode().unwrap(),
    )
    .await;
    assert!(response.is_accepted());
    // Host-b lets go as well: now the handler deletes it. (Requests of one link are handled
    // in order, so had host-a's delete reached the handler, it would be the next call.)
    let from_b = delete("public").from_host(as_host("host-b"));
    let response = link_request(
        &setup.host,
        ProviderOperation::LinkDelete,
        from_b.encode().unwrap(),
    )
    .await;
    assert!(response.is_accepted());
    assert_eq!(next_call(&mut calls).await, Call::Delete(from_b));
    assert!(
        calls.try_recv().is_err(),
        "the handler was called once too often"
    );
}

#[tokio::test]
async fn a_1_1_hosts_put_on_the_instance_xkey_subject_is_established_and_its_secrets_open() {
    use lattice_link::{SecretMap, SecretValue};
    use lattice_provider::secrets::{self, XKey};

    let nats = support::start_nats().await;
    let connect = || async {
        within("connect", async_nats::connect(nats.url()))
            .await
            .unwrap()
    };
    let (host, provider_client) = (connect().await, connect().await);
    // What a 1.1+ host generates when it starts the instance: the instance's xkey (its seed
    // goes to the provider in the host data) and its own secrets xkey.
    let (instance_key, host_key) = (XKey::new(), XKey::new());
    let (recorder, mut calls) = Recorder::new();
    let server = lattice_provider::ProviderServer::new(
        provider_client,
        support::LATTICE.parse().unwrap(),
        support::PROVIDER.parse().unwrap(),
        Arc::new(recorder),
    )
    .instance_xkey(&instance_key);
    let _served = within("serve", server.serve()).await.unwrap();

    // The 1.x body with a target secret sealed as a 1.x host seals it: the JSON of the secret
    // map, sealed by the host's xkey for the instance's public xkey.
    let values = SecretMap::from([("pw".to_owned(), SecretValue::String("s3cr3t".into()))]);
    let recipient = XKey::from_public_key(&instance_key.public_key()).unwrap();
    let sealed = host_key
        .seal(&serde_json::to_vec(&values).unwrap(), &recipient)
        .unwrap();
    let mut body: serde_json::Value = serde_json::from_slice(V1_LINK_PUT).unwrap();
    body["target_secrets"] = serde_json::to_value(&sealed).unwrap();
    let subject = format!(
        "wasmbus.rpc.{}.{}.linkdefs.put",
        support::LATTICE,
        instance_key.public_key()
    );
    within(
        "publish",
        host.publish(subject, serde_json::to_vec(&body).unwrap().into()),
    )
    .await
    .unwrap();

    let Call::Put(put) = next_call(&mut calls).await else {
        panic!("expected a put");
    };
    assert_eq!(put.source_id, "http-server");
    // No `secrets_sealed_by` in a 1.x body: the host key comes from the host data.
    assert!(matches!(
        secrets::open_link(&put, &instance_key, None),
        Err(secrets::OpenSecretsError::UnknownSender)
    ));
    let (_, target) =
        secrets::open_link(&put, &instance_key, Some(&host_key.public_key())).unwrap();
    assert_eq!(target["pw"].as_string(), Some("s3cr3t"));
    // Another instance's key does not open it.
    assert!(secrets::open_link(&put, &XKey::new(), Some(&host_key.public_key())).is_err());
}
