//! The AsyncAPI document: valid against the official AsyncAPI 3.0.0 JSON Schema (vendored in
//! `asyncapi/`), every address a subject of the contract once filled in, every message a
//! schema file that exists, and every v2alpha1 message on some channel.

use lattice_schemagen::asyncapi::{self, CHANNELS};
use serde_json::Value;
use std::{collections::BTreeSet, path::Path};

fn asyncapi_schema() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("asyncapi/3.0.0.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn the_document_validates_against_the_asyncapi_3_0_0_schema() {
    let validator = jsonschema::validator_for(&asyncapi_schema()).unwrap();
    let document = asyncapi::document();
    let errors: Vec<String> = validator
        .iter_errors(&document)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");

    // The validator does reject broken documents: an operation without its channel, an
    // AsyncAPI 2 action, a message payload that is not a schema object.
    let mut broken = document.clone();
    broken["operations"]["hostPing"]
        .as_object_mut()
        .unwrap()
        .remove("channel");
    assert!(!validator.is_valid(&broken));
    let mut broken = document.clone();
    broken["operations"]["linkPut"]["action"] = "publish".into();
    assert!(!validator.is_valid(&broken));
    let mut broken = document;
    broken["components"]["messages"]["LinkResponse"]["payload"] = 42.into();
    assert!(!validator.is_valid(&broken));
}

/// `address` with every `{parameter}` replaced by a sample value.
fn filled(address: &str) -> String {
    address
        .replace("{lattice}", "default")
        .replace("{host_id}", "NAB2BQZ6Q")
        .replace("{component_id}", "web")
        .replace("{provider_id}", "kv")
        .replace("{app}", "shop")
}

#[test]
fn every_address_is_a_subject_of_the_contract() {
    for channel in CHANNELS {
        let subject = filled(channel.address);
        let parsed = if subject.starts_with(lattice_ctl::CTL_PREFIX) {
            subject
                .parse::<lattice_ctl::CtlSubject>()
                .map(drop)
                .map_err(|e| e.to_string())
        } else if subject.contains(".rollout.") {
            subject
                .parse::<lattice_ctl::RolloutSubject>()
                .map(drop)
                .map_err(|e| e.to_string())
        } else if subject.contains(".host.") && subject.starts_with(lattice_ctl::EVENT_PREFIX) {
            subject
                .parse::<lattice_ctl::PresenceSubject>()
                .map(drop)
                .map_err(|e| e.to_string())
        } else if subject.starts_with(lattice_ctl::EVENT_PREFIX) {
            subject
                .parse::<lattice_ctl::EventSubject>()
                .map(drop)
                .map_err(|e| e.to_string())
        } else if subject.starts_with("wasmbus.rpc.") {
            subject
                .parse::<lattice_link::ProviderSubject>()
                .map(drop)
                .map_err(|e| e.to_string())
        } else {
            // A key of the rollout bucket, as JetStream publishes it.
            let lattice = "default".parse().unwrap();
            let app: lattice_ctl::AppName = "shop".parse().unwrap();
            let prefix = format!("$KV.{}.", lattice_ctl::rollout::bucket(&lattice));
            let key = subject
                .strip_prefix(&prefix)
                .unwrap_or_else(|| panic!("{subject}"));
            let known = [
                lattice_ctl::rollout::RolloutKey::Record(app.clone()).to_string(),
                lattice_ctl::rollout::RolloutKey::Control(app).to_string(),
            ];
            if known.iter().any(|k| k == key) {
                Ok(())
            } else {
                Err(format!("unknown key {key}"))
            }
        };
        parsed.unwrap_or_else(|e| panic!("{}: `{subject}` is not a subject: {e}", channel.id));
    }
}

#[test]
fn every_message_is_a_schema_file_and_every_v2alpha1_message_is_on_a_channel() {
    let dir = lattice_schemagen::workspace_schemas_dir();
    let document = asyncapi::document();
    for (name, message) in document["components"]["messages"].as_object().unwrap() {
        let file = message["payload"]["schema"]["$ref"].as_str().unwrap();
        assert!(dir.join(file).is_file(), "{name}: {file} is missing");
    }
    let on_channels: BTreeSet<&str> = CHANNELS
        .iter()
        .flat_map(|c| std::iter::once(c.message).chain(c.reply))
        .collect();
    let not_on_a_subject = ["ComponentSpec", "ProviderSpec", "HealthCheckResponse"];
    for message in lattice_ctl::schema::catalog() {
        if message.path.starts_with("v2alpha1/") && !not_on_a_subject.contains(&message.name) {
            assert!(
                on_channels.contains(message.name),
                "{} is on no channel",
                message.name
            );
        }
    }
}
