//! The backend as a real process on a real nats-server, asked by the host kit's
//! `NatsSecretsBackend` over wasmCloud's secrets protocol: who may read what, what is stored,
//! and each failure's kind.

mod support;

use async_nats::jetstream;
use futures::StreamExt as _;
use lattice_host::{NatsSecretsBackend, SecretErrorKind, SecretsBackend as _};
use lattice_link::SecretValue;
use lattice_local::NatsServer;
use lattice_spec::{ComponentSpecDraft, SecretRef, SecretRefDraft};
use std::time::Duration;
use support::{BackendProcess, cli, keygen, marker, within};

fn reference(backend: &str, key: &str) -> SecretRef {
    ComponentSpecDraft::new("c", "file:///c.wasm")
        .secret(SecretRefDraft::new("s", backend, key))
        .validate()
        .unwrap()
        .secrets()[0]
        .clone()
}

fn put(url: &str, key: &str, value: &str) {
    let (ok, out, err) = cli(url, &["put", key], value);
    assert!(ok, "put failed: {err}");
    assert!(out.trim().parse::<u64>().is_ok(), "a revision: {out}");
}

fn allow(url: &str, entity: &str, key: &str) {
    let (ok, _, err) = cli(url, &["allow", entity, key], "");
    assert!(ok, "allow failed: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowed_entity_reads_a_secret_others_are_denied_and_the_bucket_holds_it_sealed() {
    let server = NatsServer::start().unwrap();
    let url = server.url();
    let backend = BackendProcess::start(&url, &keygen());
    let nats = within(async_nats::connect(&url)).await.unwrap();
    let client = NatsSecretsBackend::new(nats.clone());
    let value = marker("db-password");

    put(&url, "db/password", &value);
    allow(&url, "web", "db/password");

    let got = within(client.get("web", &reference("nats-kv", "db/password")))
        .await
        .unwrap();
    assert_eq!(got, SecretValue::String(value.clone()));

    // Another entity is not on the allow-list.
    let denied = within(client.get("other", &reference("nats-kv", "db/password")))
        .await
        .unwrap_err();
    assert_eq!(denied.kind(), SecretErrorKind::Denied, "{denied}");
    assert!(!denied.kind().is_retryable());

    // A key that does not exist (but is allowed): not found, naming backend and key.
    allow(&url, "web", "db/missing");
    let missing = within(client.get("web", &reference("nats-kv", "db/missing")))
        .await
        .unwrap_err();
    assert_eq!(missing.kind(), SecretErrorKind::NotFound);
    assert_eq!(
        missing.to_string(),
        "secret `db/missing` not found in backend `nats-kv`"
    );

    // At rest: the bucket's raw bytes are sealed, and the value is in no log line.
    let js = jetstream::new(nats.clone());
    let mut stream = js.get_stream("KV_WASMCLOUD_SECRETS").await.unwrap();
    let last = stream.info().await.unwrap().state.last_sequence;
    assert!(last >= 1);
    let raw = stream.get_raw_message(last).await.unwrap();
    assert!(
        !String::from_utf8_lossy(&raw.payload).contains(&value),
        "the bucket holds the value in the clear"
    );
    let logs = backend.logs();
    assert!(
        logs.contains("secret served"),
        "debug logging is on: {logs}"
    );
    assert!(!logs.contains(&value), "the backend logged the value");

    // Revoked, then deleted.
    let (ok, _, err) = cli(&url, &["revoke", "web", "db/password"], "");
    assert!(ok, "{err}");
    let revoked = within(client.get("web", &reference("nats-kv", "db/password")))
        .await
        .unwrap_err();
    assert_eq!(revoked.kind(), SecretErrorKind::Denied);
    allow(&url, "web", "db/password");
    let (ok, _, err) = cli(&url, &["delete", "db/password"], "");
    assert!(ok, "{err}");
    let deleted = within(client.get("web", &reference("nats-kv", "db/password")))
        .await
        .unwrap_err();
    assert_eq!(deleted.kind(), SecretErrorKind::NotFound);
    let (ok, _, err) = cli(&url, &["delete", "db/password"], "");
    assert!(!ok && err.contains("no secret `db/password`"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_restarted_with_a_new_transit_key_is_asked_again_and_reads_its_bucket() {
    let server = NatsServer::start().unwrap();
    let url = server.url();
    let seed = keygen();
    let first = BackendProcess::start(&url, &seed);
    let nats = within(async_nats::connect(&url)).await.unwrap();
    let client = NatsSecretsBackend::new(nats.clone());
    let value = marker("token");
    put(&url, "api/token", &value);
    allow(&url, "web", "api/token");
    let got = within(client.get("web", &reference("nats-kv", "api/token")))
        .await
        .unwrap();
    assert_eq!(got, SecretValue::String(value.clone()));

    // The same encryption seed, a fresh transit key: the client's cached key is stale.
    first.stop();
    let _second = BackendProcess::start(&url, &seed);
    let got = within(client.get("web", &reference("nats-kv", "api/token")))
        .await
        .unwrap();
    assert_eq!(got, SecretValue::String(value));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_backend_is_unavailable_and_a_silent_one_times_out_both_retryable() {
    let server = NatsServer::start().unwrap();
    let nats = within(async_nats::connect(&server.url())).await.unwrap();
    let client = NatsSecretsBackend::new(nats.clone()).with_timeout(Duration::from_millis(300));

    let down = within(client.get("web", &reference("vault", "k")))
        .await
        .unwrap_err();
    assert_eq!(down.kind(), SecretErrorKind::Unavailable);
    assert!(down.kind().is_retryable());
    assert!(
        down.to_string().contains("`vault`")
            && down
                .to_string()
                .contains("wasmcloud.secrets.v1alpha1.vault.server_xkey"),
        "{down}"
    );

    // Something subscribed that never answers.
    let mut silent = nats
        .subscribe("wasmcloud.secrets.v1alpha1.silent.>")
        .await
        .unwrap();
    nats.flush().await.unwrap();
    let silent_ref = reference("silent", "k");
    let (result, _) = tokio::join!(within(client.get("web", &silent_ref)), silent.next());
    let timeout = result.unwrap_err();
    assert_eq!(timeout.kind(), SecretErrorKind::Unavailable, "{timeout}");
    assert!(timeout.to_string().contains("within"), "{timeout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_that_is_not_the_protocol_is_malformed() {
    let server = NatsServer::start().unwrap();
    let nats = within(async_nats::connect(&server.url())).await.unwrap();
    // A fake backend (named as one): a real transit key, then garbage for `get`.
    let mut requests = nats
        .subscribe("wasmcloud.secrets.v1alpha1.odd.>")
        .await
        .unwrap();
    nats.flush().await.unwrap();
    let answering = nats.clone();
    tokio::spawn(async move {
        let key = nkeys::XKey::new();
        while let Some(message) = requests.next().await {
            let body = if message.subject.ends_with("server_xkey") {
                key.public_key().into_bytes()
            } else {
                b"not json".to_vec()
            };
            let _ = answering.publish(message.reply.unwrap(), body.into()).await;
        }
    });
    let client = NatsSecretsBackend::new(nats);
    let malformed = within(client.get("web", &reference("odd", "k")))
        .await
        .unwrap_err();
    assert_eq!(malformed.kind(), SecretErrorKind::Malformed, "{malformed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wasmcloud_hosts_request_without_a_lattice_entity_is_refused_in_the_protocols_terms() {
    use lattice_link::secrets_api::{
        GetSecretError, HOST_XKEY_HEADER, RESPONSE_XKEY_HEADER, SecretContext, SecretRequest,
        SecretResponse,
    };
    let server = NatsServer::start().unwrap();
    let url = server.url();
    let _backend = BackendProcess::start(&url, &keygen());
    put(&url, "db/password", &marker("pw"));
    let nats = within(async_nats::connect(&url)).await.unwrap();

    // Exactly what a wasmCloud 1.x host sends: JWTs, no `lattice_entity`.
    let server_key =
        within(nats.request("wasmcloud.secrets.v1alpha1.nats-kv.server_xkey", "".into()))
            .await
            .unwrap();
    let server_key =
        nkeys::XKey::from_public_key(std::str::from_utf8(&server_key.payload).unwrap()).unwrap();
    let request = SecretRequest {
        key: "db/password".into(),
        field: None,
        version: None,
        context: SecretContext {
            entity_jwt: "eyJ0eXAiOiJqd3QiLCJhbGciOiJFZDI1NTE5In0.e30.c2ln".into(),
            host_jwt: "eyJ0eXAiOiJqd3QiLCJhbGciOiJFZDI1NTE5In0.e30.c2ln".into(),
            ..SecretContext::default()
        },
    };
    let requester = nkeys::XKey::new();
    let sealed = requester
        .seal(&serde_json::to_vec(&request).unwrap(), &server_key)
        .unwrap();
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(HOST_XKEY_HEADER, requester.public_key().as_str());
    let reply = within(nats.request_with_headers(
        "wasmcloud.secrets.v1alpha1.nats-kv.get",
        headers,
        sealed.into(),
    ))
    .await
    .unwrap();
    assert!(
        reply
            .headers
            .as_ref()
            .and_then(|h| h.get(RESPONSE_XKEY_HEADER))
            .is_none(),
        "an error is not sealed"
    );
    let response: SecretResponse = serde_json::from_slice(&reply.payload).unwrap();
    assert!(response.secret.is_none());
    assert!(
        matches!(response.error, Some(GetSecretError::InvalidEntityJWT(ref m)) if m.contains("lattice_entity")),
        "{response:?}"
    );
}
