//! Every v2alpha1 message: round trips, agreement with its own JSON Schema, forward
//! compatibility, and version checks.

use arbitrary::{Arbitrary, Unstructured};
use lattice_ctl::*;
use lattice_link::{LinkDeleteRequest, LinkPutRequest, LinkResponse};
use lattice_spec::{DecodeErrorKind, WireMessage};
use serde_json::{Value, json};
use std::{collections::HashMap, fmt::Debug};

struct Schemas(HashMap<&'static str, jsonschema::Validator>);

impl Schemas {
    fn load() -> Self {
        let validators = schema::catalog()
            .into_iter()
            .map(|m| {
                let schema = serde_json::to_value(&m.schema).unwrap();
                (m.name, jsonschema::validator_for(&schema).unwrap())
            })
            .collect();
        Self(validators)
    }

    fn assert_valid(&self, name: &str, value: &Value) {
        let validator = &self.0[name];
        let errors: Vec<String> = validator
            .iter_errors(value)
            .map(|e| e.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "{name} does not match its own schema: {errors:?}\n{value:#}"
        );
    }
}

/// Adds `"x_from_the_future": "…"` to every object in the document, nested ones included.
fn add_unknown_fields(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.values_mut().for_each(add_unknown_fields);
            map.insert("x_from_the_future".into(), json!("ignored"));
        }
        Value::Array(items) => items.iter_mut().for_each(add_unknown_fields),
        _ => {}
    }
}

/// Round trip, schema agreement, extra fields and an unsupported version for one instance.
fn check<T>(u: &mut Unstructured<'_>, schemas: &Schemas) -> arbitrary::Result<&'static str>
where
    T: WireMessage + for<'a> Arbitrary<'a> + PartialEq + Debug,
{
    let message: T = u.arbitrary()?;
    let bytes = message.encode().unwrap();
    assert_eq!(
        T::decode(&bytes).unwrap(),
        message,
        "{} round trip",
        T::NAME
    );

    let value: Value = serde_json::from_slice(&bytes).unwrap();
    schemas.assert_valid(T::NAME, &value);

    let mut newer = value.clone();
    newer
        .as_object_mut()
        .unwrap()
        .insert("x_from_the_future".into(), json!({"nested": [1, 2]}));
    assert_eq!(
        T::decode(&serde_json::to_vec(&newer).unwrap()).unwrap(),
        message,
        "{} top-level extra field",
        T::NAME
    );
    let mut everywhere = value.clone();
    add_unknown_fields(&mut everywhere);
    T::decode(&serde_json::to_vec(&everywhere).unwrap()).unwrap_or_else(|e| {
        panic!(
            "{} with extra fields everywhere: {e}\n{everywhere:#}",
            T::NAME
        )
    });

    let mut future_version = value;
    future_version["api_version"] = json!("v3beta2");
    let err = T::decode(&serde_json::to_vec(&future_version).unwrap()).unwrap_err();
    assert_eq!(
        err.kind(),
        DecodeErrorKind::UnsupportedVersion,
        "{}: {err}",
        T::NAME
    );
    let reply = CtlError::from(&err);
    assert_eq!(reply.code, ErrorCode::UnsupportedVersion);
    assert_eq!(reply.supported_versions, ["v2alpha1"]);
    Ok(T::NAME)
}

#[test]
fn every_message_round_trips_matches_its_schema_and_tolerates_newer_peers() {
    let schemas = Schemas::load();
    let mut covered = std::collections::BTreeSet::new();
    arbtest::arbtest(|u| {
        for name in [
            check::<HostPingRequest>(u, &schemas)?,
            check::<HostSummaryReply>(u, &schemas)?,
            check::<HostInventoryRequest>(u, &schemas)?,
            check::<HostInventoryReply>(u, &schemas)?,
            check::<ApplyComponentSpecRequest>(u, &schemas)?,
            check::<ApplyComponentSpecReply>(u, &schemas)?,
            check::<DeleteComponentSpecRequest>(u, &schemas)?,
            check::<DeleteComponentSpecReply>(u, &schemas)?,
            check::<ComponentStatusEvent>(u, &schemas)?,
            check::<ProviderStatusEvent>(u, &schemas)?,
            check::<LinkStatusEvent>(u, &schemas)?,
            check::<LinkPutRequest>(u, &schemas)?,
            check::<LinkDeleteRequest>(u, &schemas)?,
            check::<LinkResponse>(u, &schemas)?,
        ] {
            covered.insert(name);
        }
        Ok(())
    })
    .budget_ms(4_000);

    // Every versioned message of the catalogue is covered here (the spec document and the
    // 1.x-shaped health answer carry no mandatory version of their own).
    let versioned: std::collections::BTreeSet<_> = schema::catalog()
        .into_iter()
        .filter(|m| m.path.starts_with("v2alpha1/"))
        .filter(|m| !["ComponentSpec", "HealthCheckResponse"].contains(&m.name))
        .map(|m| m.name)
        .collect();
    assert_eq!(covered, versioned);
}

#[test]
fn unknown_enum_values_from_a_newer_host_decode_to_unknown() {
    let event = ComponentStatusEvent::decode(
        br#"{"api_version":"v2alpha1","lattice":"default","host_id":"h1","sequence":7,"timestamp_ms":1,
            "component_id":"web","revision":2,"previous":"warming","status":{"state":"hibernating",
            "reason":{"code":"thermal_throttle","message":"too hot"}}}"#,
    )
    .unwrap();
    assert_eq!(
        event.previous,
        Some(lattice_status::ComponentState::Unknown)
    );
    assert_eq!(event.status.state, lattice_status::ComponentState::Unknown);
    assert_eq!(
        event.status.reason.unwrap().code,
        lattice_status::ReasonCode::Unknown
    );

    let ack = ApplyComponentSpecReply::decode(
        br#"{"api_version":"v2alpha1","ok":{"component_id":"web","revision":2,"outcome":"deferred","until":"later"}}"#,
    )
    .unwrap()
    .into_result()
    .unwrap();
    assert_eq!(ack.outcome, ApplyOutcome::Unknown);

    let rejected = ApplyComponentSpecReply::decode(
        br#"{"api_version":"v2alpha1","ok":{"component_id":"web","revision":2,"outcome":"rejected","code":"quota","message":"over quota"}}"#,
    )
    .unwrap()
    .into_result()
    .unwrap();
    let ApplyOutcome::Rejected(rejection) = rejected.outcome else {
        panic!("not rejected")
    };
    assert_eq!(rejection.code, RejectionCode::Unknown);
    assert_eq!(rejection.message, "over quota");

    let error = HostInventoryReply::decode(
        br#"{"api_version":"v2alpha1","error":{"code":"melting","message":"no","retryable":true}}"#,
    )
    .unwrap()
    .into_result()
    .unwrap_err();
    assert_eq!(error.code, ErrorCode::Unknown);
    assert!(error.retryable);

    let inventory = HostInventoryReply::decode(
        br#"{"api_version":"v2alpha1","ok":{"host_id":"h1","lattice":"default","components":[{
            "component_id":"web","scale":1,
            "desired":{"revision":3,"spec_digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000",
                       "artifact":"ghcr.io/acme/web:3","status":{"state":"linking"}},
            "links":[{"name":"default","target":"kv","wit_namespace":"wasi","wit_package":"keyvalue",
                      "status":{"state":"negotiating"}}]}],
            "providers":[{"provider_id":"kv","status":{"state":"sleeping"}}]}}"#,
    )
    .unwrap()
    .into_result()
    .unwrap();
    assert_eq!(
        inventory.components[0].links[0].status.state,
        lattice_status::LinkState::Unknown
    );
    assert_eq!(
        inventory.providers[0].status.state,
        lattice_status::ProviderState::Unknown
    );
}

#[test]
fn a_request_without_a_version_or_of_another_version_gets_the_typed_error() {
    let missing = HostPingRequest::decode(b"{}").unwrap_err();
    assert_eq!(missing.kind(), DecodeErrorKind::MissingVersion);
    assert_eq!(CtlError::from(&missing).supported_versions, ["v2alpha1"]);

    let v1 = ApplyComponentSpecRequest::decode_detailed(br#"{"api_version":"v1","spec":{}}"#)
        .unwrap_err();
    let ApplyDecodeError::Decode(err) = &v1 else {
        panic!("{v1}")
    };
    assert_eq!(err.kind(), DecodeErrorKind::UnsupportedVersion);
    assert!(
        v1.rejection().is_none(),
        "a version problem is an error reply, not a rejection"
    );
    let reply = ApplyComponentSpecReply::error(CtlError::from(err));
    let text = String::from_utf8(reply.encode().unwrap().to_vec()).unwrap();
    assert!(
        text.contains(r#""supported_versions":["v2alpha1"]"#),
        "{text}"
    );

    let garbage = HostInventoryRequest::decode(b"\x00\x01").unwrap_err();
    assert_eq!(CtlError::from(&garbage).code, ErrorCode::Malformed);
}

#[test]
fn an_invalid_spec_is_rejected_with_every_field_error() {
    let request = json!({
        "api_version": "v2alpha1",
        "spec": {
            "id": "web", "revision": 5, "artifact": "::nope::", "scale": 0,
            "secrets": [{"name": "tls", "backend": "vault", "key": "web/tls", "value": "-----BEGIN"}],
            "links": [
                {"target": "http", "wit_namespace": "wasi", "wit_package": "http", "interfaces": ["incoming-handler"]},
                {"target": "http2", "wit_namespace": "wasi", "wit_package": "http", "interfaces": ["incoming-handler"]}
            ]
        }
    });
    let err = ApplyComponentSpecRequest::decode_detailed(&serde_json::to_vec(&request).unwrap())
        .unwrap_err();
    let ack = err.rejection().expect("an invalid spec is a rejection");
    assert_eq!(ack.component_id.as_ref().map(|id| id.as_str()), Some("web"));
    assert_eq!(ack.revision.0, 5);
    let ApplyOutcome::Rejected(rejection) = &ack.outcome else {
        panic!("{ack:?}")
    };
    assert_eq!(rejection.code, RejectionCode::InvalidSpec);
    let paths: Vec<&str> = rejection.errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        ["artifact", "scale", "secrets[0].value", "links[1].name"]
    );
    let encoded = ApplyComponentSpecReply::ok(ack).encode().unwrap();
    assert!(
        !String::from_utf8_lossy(&encoded).contains("BEGIN"),
        "secret leaked into the reply"
    );
}
