//! Every v2alpha1 message: round trips, agreement with its own JSON Schema, forward
//! compatibility, and version checks; events in their CloudEvents envelope.

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

/// Maps keyed by identifiers (not records with fields) whose values are not strings: a newer
/// peer adds fields to records, not entries to these.
const ID_MAPS: &[&str] = &["targets", "providers", "removals"];
/// Maps whose keys are data that must name something else in the message (a pin names one
/// of the spec's named configurations): an unknown key there is a wrong value, not a field
/// from a newer peer, so nothing is added to them.
const DATA_MAPS: &[&str] = &["pins"];

/// Adds `"x_from_the_future": "…"` to every object in the document, nested ones included.
fn add_unknown_fields(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                match value {
                    Value::Object(entries) if ID_MAPS.contains(&key.as_str()) => {
                        entries.values_mut().for_each(add_unknown_fields);
                    }
                    Value::Object(_) if DATA_MAPS.contains(&key.as_str()) => {}
                    value => add_unknown_fields(value),
                }
            }
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

    // An event carries its version twice: in the envelope's `type` and in `data`.
    let is_event = value.get("specversion").is_some();
    let mut future_version = value.clone();
    if is_event {
        future_version["data"]["api_version"] = json!("v3beta2");
    } else {
        future_version["api_version"] = json!("v3beta2");
    }
    assert_unsupported::<T>(&future_version);
    if is_event {
        let mut future_type = value;
        let event_type = future_type["type"].as_str().unwrap().to_owned();
        future_type["type"] = json!(event_type.replace(".v2alpha1.", ".v3beta2."));
        assert_unsupported::<T>(&future_type);
    }
    Ok(T::NAME)
}

fn assert_unsupported<T: WireMessage + Debug>(document: &Value) {
    let err = T::decode(&serde_json::to_vec(document).unwrap()).unwrap_err();
    assert_eq!(
        err.kind(),
        DecodeErrorKind::UnsupportedVersion,
        "{}: {err}",
        T::NAME
    );
    let reply = CtlError::from(&err);
    assert_eq!(reply.code, ErrorCode::UnsupportedVersion);
    assert_eq!(reply.supported_versions, ["v2alpha1"]);
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
            check::<ApplyProviderSpecRequest>(u, &schemas)?,
            check::<ApplyProviderSpecReply>(u, &schemas)?,
            check::<DeleteProviderSpecRequest>(u, &schemas)?,
            check::<DeleteProviderSpecReply>(u, &schemas)?,
            check::<HostPresence>(u, &schemas)?,
            check::<ComponentStatusEvent>(u, &schemas)?,
            check::<ProviderStatusEvent>(u, &schemas)?,
            check::<LinkStatusEvent>(u, &schemas)?,
            check::<RolloutStatusEvent>(u, &schemas)?,
            check::<RolloutRecord>(u, &schemas)?,
            check::<LinkPutRequest>(u, &schemas)?,
            check::<LinkDeleteRequest>(u, &schemas)?,
            check::<LinkResponse>(u, &schemas)?,
        ] {
            covered.insert(name);
        }
        Ok(())
    })
    .budget_ms(4_000);

    // Every versioned message of the catalogue is covered here (the spec document, the
    // 1.x-shaped health answer and the bare-word rollout control carry no version of their
    // own).
    let versioned: std::collections::BTreeSet<_> = schema::catalog()
        .into_iter()
        .filter(|m| m.path.starts_with("v2alpha1/"))
        .filter(|m| {
            ![
                "ComponentSpec",
                "ProviderSpec",
                "HealthCheckResponse",
                "RolloutControl",
            ]
            .contains(&m.name)
        })
        .map(|m| m.name)
        .collect();
    assert_eq!(covered, versioned);
}

#[test]
fn unknown_enum_values_from_a_newer_host_decode_to_unknown() {
    let event = ComponentStatusEvent::decode(
        br#"{"specversion":"1.0","id":"x","source":"h1","type":"dev.lattice.v2alpha1.component_status",
            "data":{"api_version":"v2alpha1","lattice":"default","host_id":"h1","sequence":7,"timestamp_ms":1,
            "component_id":"web","revision":2,"previous":"warming","status":{"state":"hibernating",
            "reason":{"code":"thermal_throttle","message":"too hot"}}}}"#,
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

fn origin() -> EventOrigin {
    EventOrigin::new(
        "default".parse().unwrap(),
        "host-a".parse().unwrap(),
        17,
        1_763_900_000_123,
    )
}

fn component_event() -> ComponentStatusEvent {
    ComponentStatusEvent::new(
        origin(),
        "web".parse().unwrap(),
        lattice_spec::Revision(3),
        Some(lattice_status::ComponentState::Linking),
        lattice_status::ComponentStatus::new(lattice_status::ComponentState::Running),
    )
}

#[test]
fn a_status_event_travels_as_a_cloudevent_with_its_version_in_type_and_data() {
    let event = component_event();
    let value: Value = serde_json::from_slice(&event.encode().unwrap()).unwrap();
    assert_eq!(value["specversion"], "1.0");
    assert_eq!(value["type"], "dev.lattice.v2alpha1.component_status");
    assert_eq!(value["source"], "host-a", "the host, as 1.x hosts write it");
    assert_eq!(value["id"], "default.host-a.17.1763900000123");
    assert_eq!(value["subject"], "web");
    assert_eq!(value["time"], "2025-11-23T12:13:20.123Z");
    assert_eq!(value["datacontenttype"], "application/json");
    assert_eq!(value["data"], serde_json::to_value(&event).unwrap());
    assert_eq!(value["data"]["api_version"], "v2alpha1");

    let header = EventHeader::decode(&event.encode().unwrap()).unwrap();
    assert_eq!(header.kind, EventType::ComponentStatus);
    assert_eq!(header.subject.as_deref(), Some("web"));
    assert_eq!(
        event.subject().to_string(),
        "wasmbus.status.v2alpha1.default.component.host-a.web"
    );
}

#[test]
fn an_event_of_another_kind_or_without_its_envelope_is_refused_with_a_typed_error() {
    let value: Value = serde_json::from_slice(&component_event().encode().unwrap()).unwrap();
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut document = value.clone();
        edit(&mut document);
        ComponentStatusEvent::decode(&serde_json::to_vec(&document).unwrap())
    };

    // Another kind of lattice event, a 1.x event, a lattice kind this build does not know.
    for other in [
        "dev.lattice.v2alpha1.link_status",
        "com.wasmcloud.lattice.component_scaled",
        "dev.lattice.v2alpha1.component_hibernated",
    ] {
        let err = with(&|d| d["type"] = json!(other)).unwrap_err();
        assert_eq!(err.kind(), DecodeErrorKind::Malformed, "{other}: {err}");
        assert!(err.to_string().contains(other), "{err}");
    }
    // Not CloudEvents 1.0, or the bare event that hosts published before the envelope.
    let err = with(&|d| d["specversion"] = json!("0.3")).unwrap_err();
    assert_eq!(err.kind(), DecodeErrorKind::Malformed, "{err}");
    let bare = serde_json::to_vec(&value["data"]).unwrap();
    let err = ComponentStatusEvent::decode(&bare).unwrap_err();
    assert_eq!(err.kind(), DecodeErrorKind::Malformed, "{err}");
    // `data` without its version.
    let err = with(&|d| {
        d["data"].as_object_mut().unwrap().remove("api_version");
    })
    .unwrap_err();
    assert_eq!(err.kind(), DecodeErrorKind::MissingVersion, "{err}");
    // Attributes it does not interpret may be anything a producer chose.
    let other_producer = with(&|d| {
        d["id"] = json!("0b9e1c3e-6f55-4f0e-9f5b-2f8e8e7d6c11");
        d.as_object_mut().unwrap().remove("time");
        d.as_object_mut().unwrap().remove("subject");
        d.as_object_mut().unwrap().remove("datacontenttype");
    })
    .unwrap();
    assert_eq!(other_producer, component_event());
}

#[test]
fn a_subscriber_dispatches_on_the_type() {
    let link = br#"{"specversion":"1.0","id":"1","source":"h1","type":"dev.lattice.v2alpha1.link_status","data":{}}"#;
    assert_eq!(
        EventHeader::decode(link).unwrap().kind,
        EventType::LinkStatus
    );
    let newer = br#"{"specversion":"1.0","id":"1","source":"h1","type":"dev.lattice.v2alpha1.host_draining","x":1}"#;
    let header = EventHeader::decode(newer).unwrap();
    assert_eq!(header.kind, EventType::Unknown);
    assert_eq!(header.event_type, "dev.lattice.v2alpha1.host_draining");
    let later =
        br#"{"specversion":"1.0","id":"1","source":"h1","type":"dev.lattice.v3.link_status"}"#;
    assert_eq!(
        EventHeader::decode(later).unwrap_err().kind(),
        DecodeErrorKind::UnsupportedVersion
    );
}

#[test]
fn a_rollout_event_carries_the_schedulers_record_whole() {
    let record = json!({"app": "shop", "state": "rolling_back", "hosts": {"h1": "failed"}});
    let event = RolloutStatusEvent::new(
        "default".parse().unwrap(),
        "shop".parse().unwrap(),
        1_763_900_000_123,
        record.clone(),
    );
    let bytes = event.encode().unwrap();
    let value: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(value["type"], "dev.lattice.v2alpha1.rollout_status");
    assert_eq!(value["source"], "lattice-rollout");
    assert_eq!(value["subject"], "shop");
    assert_eq!(value["data"]["api_version"], "v2alpha1");
    assert_eq!(value["data"]["rollout"], record);
    let back = RolloutStatusEvent::<Value>::decode(&bytes).unwrap();
    assert_eq!(back, event);
    assert_eq!(
        back.subject().to_string(),
        "wasmbus.status.v2alpha1.default.rollout.shop"
    );
    // A status event is not a rollout event.
    let err =
        RolloutStatusEvent::<Value>::decode(&component_event().encode().unwrap()).unwrap_err();
    assert_eq!(err.kind(), DecodeErrorKind::Malformed);
}
