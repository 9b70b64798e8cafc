//! Link messages: round trips, forward compatibility, version checks, and compatibility with
//! what wasmCloud 1.x providers decode.

use lattice_link::{LinkDeleteRequest, LinkErrorKind, LinkPutRequest, LinkResponse, LinkResult};
use lattice_spec::{ApiVersion, ComponentId, DecodeErrorKind, LinkDraft, WireMessage};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};

fn put() -> LinkPutRequest {
    let spec = lattice_spec::ComponentSpecDraft::new("app", "ghcr.io/acme/app:1")
        .link(LinkDraft::new("http-server", "wasi", "http", ["incoming-handler"]).name("public"))
        .validate()
        .unwrap();
    LinkPutRequest::new(
        &ComponentId::new("app").unwrap(),
        &spec.links()[0],
        BTreeMap::new(),
        BTreeMap::from([("address".to_owned(), "0.0.0.0:8080".to_owned())]),
    )
    .with_secrets(None, Some(bytes::Bytes::from_static(b"\x01\x02sealed")))
}

#[test]
fn messages_round_trip() {
    fn check<T: WireMessage + PartialEq + std::fmt::Debug + for<'a> arbitrary::Arbitrary<'a>>(
        u: &mut arbitrary::Unstructured<'_>,
    ) -> arbitrary::Result<()> {
        let message: T = u.arbitrary()?;
        assert_eq!(T::decode(&message.encode().unwrap()).unwrap(), message);
        Ok(())
    }
    arbtest::arbtest(|u| {
        check::<LinkPutRequest>(u)?;
        check::<LinkDeleteRequest>(u)?;
        check::<LinkResponse>(u)
    })
    .budget_ms(1_000);
}

/// The shape a wasmCloud 1.x provider SDK decodes a link put into
/// (`InterfaceLinkDefinition`), with its field types.
#[derive(Deserialize)]
#[allow(dead_code)]
struct InterfaceLinkDefinitionV1 {
    source_id: String,
    target: String,
    name: String,
    wit_namespace: String,
    wit_package: String,
    interfaces: Vec<String>,
    source_config: HashMap<String, String>,
    target_config: HashMap<String, String>,
    source_secrets: Option<Vec<u8>>,
    target_secrets: Option<Vec<u8>>,
}

#[test]
fn a_1x_provider_can_still_decode_the_put() {
    let bytes = put().encode().unwrap();
    let v1: InterfaceLinkDefinitionV1 = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(v1.name, "public");
    assert_eq!(v1.target_config["address"], "0.0.0.0:8080");
    assert_eq!(v1.target_secrets.as_deref(), Some(&b"\x01\x02sealed"[..]));
    assert_eq!(v1.source_secrets, None);
}

#[test]
fn a_newer_provider_reply_decodes() {
    let reply = LinkResponse::decode(
        br#"{"api_version":"v2alpha1","result":{"status":"refused","kind":"quota_exceeded","message":"too many links","retry_after_ms":500},"provider_version":"9.0"}"#,
    )
    .unwrap();
    assert_eq!(
        reply.result,
        LinkResult::Refused {
            kind: LinkErrorKind::Unknown,
            message: "too many links".into()
        }
    );
    let deferred =
        LinkResponse::decode(br#"{"api_version":"v2alpha1","result":{"status":"deferred"}}"#)
            .unwrap();
    assert_eq!(deferred.result, LinkResult::Unknown);
    assert!(
        !deferred.is_accepted(),
        "an unknown result is not a success"
    );
    assert_eq!(
        deferred.into_result().unwrap_err().kind,
        LinkErrorKind::Unknown
    );
}

#[test]
fn unsupported_and_missing_versions_are_typed_errors() {
    let err = LinkResponse::decode(br#"{"api_version":"v3","result":{"status":"accepted"}}"#)
        .unwrap_err();
    assert_eq!(err.kind(), DecodeErrorKind::UnsupportedVersion);
    assert!(
        err.to_string().contains("`v3`") && err.to_string().contains("v2alpha1"),
        "{err}"
    );

    // What a 1.x host publishes carries no version: a v2 provider says so instead of guessing.
    let mut v1_body = serde_json::to_value(put()).unwrap();
    v1_body.as_object_mut().unwrap().remove("api_version");
    let err = LinkPutRequest::decode(&serde_json::to_vec(&v1_body).unwrap()).unwrap_err();
    assert_eq!(err.kind(), DecodeErrorKind::MissingVersion);

    let err = LinkPutRequest::decode(b"{not json").unwrap_err();
    assert_eq!(err.kind(), DecodeErrorKind::Malformed);
}

#[test]
fn refusal_travels_whole() {
    let response = LinkResponse::refused(
        LinkErrorKind::MissingSecret,
        "certificate `tls/api` not found",
    );
    let json = serde_json::to_value(&response).unwrap();
    assert_eq!(json["result"]["status"], "refused");
    assert_eq!(json["result"]["kind"], "missing_secret");
    let refusal = LinkResponse::decode(&response.encode().unwrap())
        .unwrap()
        .into_result()
        .unwrap_err();
    assert_eq!(
        refusal.to_string(),
        "provider refused the link (missing_secret): certificate `tls/api` not found"
    );
    assert_eq!(LinkResponse::from(Err(refusal)), response);
}

#[test]
fn health_answers_of_1x_providers_decode() {
    use lattice_link::HealthCheckResponse;
    let v1: HealthCheckResponse =
        serde_json::from_str(r#"{"healthy":false,"message":"redis down"}"#).unwrap();
    assert_eq!((v1.healthy, v1.api_version), (false, None));
    assert_eq!(v1.message.as_deref(), Some("redis down"));
    let ours = serde_json::to_value(HealthCheckResponse::healthy()).unwrap();
    assert_eq!(
        ours,
        serde_json::json!({"api_version": "v2alpha1", "healthy": true})
    );
}

/// What a wasmCloud 1.x host publishes, as the published `wasmcloud-core` types serialize it.
const V1_OUTGOING: &[u8] = include_bytes!("fixtures/v1/interface_link_definition.json");
const V1_INCOMING: &[u8] = include_bytes!("fixtures/v1/interface_link_definition_incoming.json");

#[test]
fn link_puts_of_1x_hosts_decode_as_1x() {
    use lattice_link::LinkGeneration;

    let received = LinkPutRequest::decode_any(V1_OUTGOING).unwrap();
    assert_eq!(received.generation, LinkGeneration::V1);
    assert!(!received.generation.expects_response());
    let put = received.message;
    assert_eq!(put.source_id, "greeter");
    assert_eq!(put.target, "keyvalue");
    assert_eq!(put.interfaces, ["store", "atomics"]);
    assert_eq!(put.target_config["bucket"], "visits");
    assert_eq!(put.target_secrets.as_deref(), Some(&[1u8, 2, 3, 250][..]));
    assert_eq!(put.source_secrets, None);

    // A provider-source link: the provider's own settings are the source config.
    let incoming = LinkPutRequest::decode_any(V1_INCOMING).unwrap().message;
    assert_eq!(incoming.source_id, "http-server");
    assert_eq!(incoming.target, "greeter");
    assert_eq!(incoming.name, "frontend");
    assert_eq!(incoming.source_config["address"], "127.0.0.1:8080");

    // A 1.x host publishes the removed link's definition to `linkdefs.del`.
    let delete = LinkDeleteRequest::decode_any(V1_INCOMING).unwrap();
    assert_eq!(delete.generation, LinkGeneration::V1);
    assert_eq!(delete.message.source_id, "http-server");
    assert_eq!(delete.message.wit_package, "http");

    // Strict decoding (what a lattice host's answer path uses) still demands a version.
    assert_eq!(
        LinkPutRequest::decode(V1_OUTGOING).unwrap_err().kind(),
        DecodeErrorKind::MissingVersion
    );
}

#[test]
fn versioned_link_puts_are_told_apart_from_1x_ones() {
    use lattice_link::LinkGeneration;

    let bytes = put().encode().unwrap();
    let received = LinkPutRequest::decode_any(&bytes).unwrap();
    assert_eq!(
        received.generation,
        LinkGeneration::Versioned(ApiVersion::V2Alpha1)
    );
    assert!(received.generation.expects_response());
    assert_eq!(received.message, put());

    // A version this build does not speak is an error to answer, not a 1.x message.
    let mut future: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    future["api_version"] = "v9".into();
    let err = LinkPutRequest::decode_any(&serde_json::to_vec(&future).unwrap()).unwrap_err();
    assert_eq!(err.kind(), DecodeErrorKind::UnsupportedVersion);
    // And garbage is malformed, whichever generation it claims.
    for bad in [&b"[1,2]"[..], b"{\"source_id\":\"a b\"}", b"not json"] {
        assert_eq!(
            LinkPutRequest::decode_any(bad).unwrap_err().kind(),
            DecodeErrorKind::Malformed
        );
    }
}
