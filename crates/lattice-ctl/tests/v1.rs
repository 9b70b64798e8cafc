//! The wasmCloud 1.x subset: round trips, the fallback plan, and agreement with documents the
//! published 1.x control-interface crate produces (`tests/fixtures/v1/`).

use lattice_ctl::v1::{
    CtlResponse, DeleteLinkRequest, Host, HostInventory, Link, ScaleComponentCommand,
    UpdateComponentCommand, V1ApplyPlan,
};
use lattice_spec::{ComponentSpecDraft, HostId, LinkDraft, SecretRefDraft};
use serde::{Serialize, de::DeserializeOwned};
use std::fmt::Debug;

fn round_trip<T>(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<()>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug + for<'a> arbitrary::Arbitrary<'a>,
{
    let value: T = u.arbitrary()?;
    let again: T = serde_json::from_slice(&serde_json::to_vec(&value).unwrap()).unwrap();
    assert_eq!(again, value);
    Ok(())
}

#[test]
fn v1_messages_round_trip() {
    arbtest::arbtest(|u| {
        round_trip::<CtlResponse<Host>>(u)?;
        round_trip::<CtlResponse<HostInventory>>(u)?;
        round_trip::<ScaleComponentCommand>(u)?;
        round_trip::<UpdateComponentCommand>(u)?;
        round_trip::<Link>(u)?;
        round_trip::<DeleteLinkRequest>(u)
    })
    .budget_ms(1_000);
}

#[test]
fn the_instance_count_travels_as_count_and_empty_options_are_omitted() {
    let command: ScaleComponentCommand = serde_json::from_str(
        r#"{"component_ref":"ghcr.io/a/b:1","component_id":"b","count":3,"host_id":"N1"}"#,
    )
    .unwrap();
    assert_eq!(command.max_instances, 3);
    let encoded = serde_json::to_value(&command).unwrap();
    assert_eq!(encoded["count"], 3);
    assert!(encoded.get("max_instances").is_none());
    assert!(encoded.get("annotations").is_none() && encoded.get("component_limits").is_none());
    assert_eq!(encoded["config"], serde_json::json!([]));
    assert!(
        serde_json::from_str::<ScaleComponentCommand>(r#"{"count":3}"#).is_err(),
        "component_id is required"
    );

    let empty = serde_json::to_string(&CtlResponse::<()>::error("no such host")).unwrap();
    assert_eq!(empty, r#"{"success":false,"message":"no such host"}"#);
}

#[test]
fn an_older_inventory_with_actors_decodes_and_components_are_required() {
    let inventory: CtlResponse<HostInventory> = serde_json::from_str(
        r#"{"success":true,"message":"","response":{"actors":[{"id":"echo","image_ref":"x:1"}],"providers":[]}}"#,
    )
    .unwrap();
    let inventory = inventory.into_result().unwrap().unwrap();
    assert_eq!(inventory.component("echo").unwrap().image_ref, "x:1");
    assert!(serde_json::from_str::<HostInventory>(r#"{"providers":[]}"#).is_err());
}

#[test]
fn the_fallback_plan_puts_inline_config_by_name_and_removes_stale_links() {
    let old = ComponentSpecDraft::new("web", "ghcr.io/acme/web:1")
        .link(LinkDraft::new("kv", "wasi", "keyvalue", ["store"]))
        .link(LinkDraft::new("http", "wasi", "http", ["incoming-handler"]))
        .validate()
        .unwrap();
    let new = ComponentSpecDraft::new("web", "ghcr.io/acme/web:2")
        .revision(2)
        .scale(3)
        .config_name("shared")
        .config_value("greeting", "hi")
        .secret(SecretRefDraft::new("token", "vault", "web/token"))
        .link(
            LinkDraft::new("http", "wasi", "http", ["incoming-handler"])
                .target_config_name("tls")
                .target_config_value("address", "0.0.0.0:8443"),
        )
        .validate()
        .unwrap();
    let host = HostId::new("NHOST").unwrap();
    let plan = V1ApplyPlan::new(&new, &host, Some(&old));

    let names: Vec<&str> = plan.configs.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["lattice-web-r2", "lattice-web-wasi-http-default-r2-target"]
    );
    assert_eq!(plan.configs[1].values["address"], "0.0.0.0:8443");
    assert_eq!(
        plan.scale.config,
        ["shared", "lattice-web-r2"],
        "named first, inline values last"
    );
    assert_eq!(plan.links.len(), 1);
    assert_eq!(
        plan.links[0].target_config,
        ["tls", "lattice-web-wasi-http-default-r2-target"]
    );
    assert_eq!(
        (plan.scale.max_instances, plan.scale.allow_update),
        (3, true)
    );
    assert_eq!(plan.scale.component_ref, "ghcr.io/acme/web:2");
    assert_eq!(
        plan.scale.annotations.as_ref().unwrap()["lattice.dev/revision"],
        "2"
    );
    assert_eq!(plan.stale_links.len(), 1);
    assert_eq!(plan.stale_links[0].wit_package, "keyvalue");

    // Without inline values the component still gets a configuration of its revision, so
    // every revision changes the names a 1.x host compares.
    let bare = ComponentSpecDraft::new("web", "ghcr.io/acme/web:2")
        .revision(7)
        .validate()
        .unwrap();
    let bare_plan = V1ApplyPlan::new(&bare, &host, None);
    assert_eq!(bare_plan.scale.config, ["lattice-web-r7"]);
    assert!(bare_plan.configs[0].values.is_empty());
    assert_eq!(
        plan.lost.len(),
        1,
        "secrets cannot be carried: {:?}",
        plan.lost
    );
}

/// Documents produced by the published 1.x control-interface crate decode into these types
/// and encode back to the same bytes (same keys, same order, same omissions).
#[test]
fn documents_from_the_1x_crate_round_trip_byte_for_byte() {
    use lattice_ctl::v1::{ComponentDescription, ProviderDescription};
    use std::collections::BTreeMap;

    fn same_bytes<T: Serialize + DeserializeOwned>(file: &str) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/v1")
            .join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        let value: T = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        let encoded = serde_json::to_string_pretty(&value).unwrap();
        assert_eq!(
            encoded.trim_end(),
            text.trim_end(),
            "{file} re-encodes differently"
        );
    }

    same_bytes::<Host>("host.json");
    same_bytes::<Host>("host_minimal.json");
    same_bytes::<HostInventory>("host_inventory.json");
    same_bytes::<HostInventory>("host_inventory_minimal.json");
    same_bytes::<ComponentDescription>("component_description.json");
    same_bytes::<ComponentDescription>("component_description_minimal.json");
    same_bytes::<ProviderDescription>("provider_description.json");
    same_bytes::<ProviderDescription>("provider_description_minimal.json");
    same_bytes::<ScaleComponentCommand>("scale_component_command.json");
    same_bytes::<ScaleComponentCommand>("scale_component_command_minimal.json");
    same_bytes::<UpdateComponentCommand>("update_component_command.json");
    same_bytes::<UpdateComponentCommand>("update_component_command_minimal.json");
    same_bytes::<Link>("link.json");
    same_bytes::<Link>("link_minimal.json");
    same_bytes::<DeleteLinkRequest>("delete_link_request.json");
    same_bytes::<CtlResponse<Host>>("ctl_response_with_host.json");
    same_bytes::<CtlResponse<HostInventory>>("ctl_response_with_host_inventory.json");
    same_bytes::<CtlResponse<Vec<Link>>>("ctl_response_with_links.json");
    same_bytes::<CtlResponse<BTreeMap<String, String>>>("ctl_response_with_config.json");
    same_bytes::<CtlResponse<()>>("ctl_response_error.json");
    same_bytes::<CtlResponse<()>>("ctl_response_empty_success.json");
    same_bytes::<BTreeMap<String, String>>("config_put_body.json");

    // Hand-written inputs an older host or a terse tool sends: they decode.
    let path = |f: &str| {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/v1")
            .join(f)
    };
    let actors: HostInventory = serde_json::from_str(
        &std::fs::read_to_string(path("host_inventory_actors_alias.json")).unwrap(),
    )
    .unwrap();
    assert!(!actors.components.is_empty());
    let link: Link =
        serde_json::from_str(&std::fs::read_to_string(path("link_decode_minimal.json")).unwrap())
            .unwrap();
    assert_eq!(link.name, "default");
}

/// A heartbeat a wasmCloud 1.x host published, as wadm keeps it among its test fixtures
/// (`tests/fixtures/manifests/events.json` in wasmCloud/wadm).
const HEARTBEAT_FROM_A_1X_HOST: &str = r#"{
    "specversion": "1.0",
    "id": "018e15ae-60dd-2467-4ce1-7d96b38beced",
    "type": "com.wasmcloud.lattice.host_heartbeat",
    "source": "NCRXKSKEDK3Z775IRSNBKTFCRAEB7WBQNSREZ4DMFN2TKYRYXNV7UPRT",
    "datacontenttype": "application/json",
    "time": "2024-03-06T21:32:13.405311Z",
    "data": {
      "components": [
        {
          "annotations": {},
          "id": "hello_world",
          "image_ref": "ghcr.io/brooksmtownsend/http-hello-world-rust:0.1.0",
          "max_instances": 1,
          "name": "http-hello-world",
          "revision": 0
        }
      ],
      "friendly_name": "floral-forest-3510",
      "host_id": "NCRXKSKEDK3Z775IRSNBKTFCRAEB7WBQNSREZ4DMFN2TKYRYXNV7UPRT",
      "issuer": "CDCCCTSNYF7RV4HAODDDAUMH2RLUXSKU6NJNBXMEKUJWAPTD5AUH5GGB",
      "labels": {"hostcore.os": "macos"},
      "providers": [
        {"annotations": {}, "id": "httpserver", "image_ref": "wasmcloud.azurecr.io/httpserver:0.19.1", "name": "HTTP Server", "revision": 0}
      ],
      "uptime_human": "30s",
      "uptime_seconds": 30,
      "version": "0.82.0"
    }
}"#;

#[test]
fn a_1x_heartbeat_decodes_and_ours_has_its_keys_in_its_order() {
    use lattice_ctl::v1::{CloudEvent, HOST_HEARTBEAT, HostHeartbeat};

    let theirs: CloudEvent<HostHeartbeat> = serde_json::from_str(HEARTBEAT_FROM_A_1X_HOST).unwrap();
    assert_eq!(theirs.event_name(), Some(HOST_HEARTBEAT));
    assert_eq!(
        theirs.data.component("hello_world").unwrap().max_instances,
        1
    );
    assert_eq!(theirs.data.uptime_human, "30s");

    let ours = CloudEvent::new(
        theirs.source.clone(),
        HOST_HEARTBEAT,
        theirs.id.clone(),
        std::time::UNIX_EPOCH + std::time::Duration::from_micros(1_709_760_733_405_311),
        theirs.data.clone(),
    );
    assert_eq!(ours.time, theirs.time, "RFC 3339 with microseconds, in UTC");
    let keys = |json: &str| -> Vec<String> {
        let value: serde_json::Value = serde_json::from_str(json).unwrap();
        // serde_json keeps insertion order only with `preserve_order`; read the keys as they
        // appear in the text instead.
        let object = value.as_object().unwrap();
        let mut keys: Vec<(usize, String)> = object
            .keys()
            .map(|k| (json.find(&format!("\"{k}\"")).unwrap(), k.clone()))
            .collect();
        keys.sort();
        keys.into_iter().map(|(_, k)| k).collect()
    };
    assert_eq!(
        keys(&serde_json::to_string(&ours).unwrap()),
        keys(HEARTBEAT_FROM_A_1X_HOST)
    );
    let again: CloudEvent<HostHeartbeat> =
        serde_json::from_slice(&serde_json::to_vec(&ours).unwrap()).unwrap();
    assert_eq!(again, ours);
}

mod host_side {
    use lattice_ctl::v1::{
        ComponentDescription, DIGEST_ANNOTATION, REVISION_ANNOTATION, ScaleComponentCommand,
        UpdateComponentCommand, V1Base, same_intent, uptime_human,
    };
    use lattice_spec::{ComponentSpecDraft, LinkDraft, Revision, SpecErrorCode};
    use std::time::Duration;

    fn serving() -> lattice_spec::ComponentSpec {
        ComponentSpecDraft::new("web", "ghcr.io/acme/web:1")
            .revision(7)
            .scale(2)
            .digest("sha256:0000000000000000000000000000000000000000000000000000000000000000")
            .config_name("shared")
            .config_value("greeting", "hi")
            .annotation("team", "a")
            .link(LinkDraft::new("kv", "wasi", "keyvalue", ["store"]))
            .validate()
            .unwrap()
    }

    fn scale(count: u32, reference: &str, allow_update: bool) -> ScaleComponentCommand {
        let mut command = ScaleComponentCommand::default();
        command.component_id = "web".into();
        command.component_ref = reference.into();
        command.max_instances = count;
        command.allow_update = allow_update;
        command
    }

    #[test]
    fn a_serving_spec_is_described_with_its_revision_and_digest() {
        let spec = serving();
        let described = ComponentDescription::from_spec(&spec);
        assert_eq!(described.id, "web");
        assert_eq!(described.image_ref, "ghcr.io/acme/web:1");
        assert_eq!((described.revision, described.max_instances), (7, 2));
        let annotations = described.annotations.as_ref().unwrap();
        assert_eq!(annotations["team"], "a");
        assert_eq!(annotations[REVISION_ANNOTATION], "7");
        assert_eq!(annotations[DIGEST_ANNOTATION], spec.digest().to_string());
        // 1.x always writes `limits`, as null.
        let json = serde_json::to_value(&described).unwrap();
        assert!(json.get("limits").unwrap().is_null());
    }

    #[test]
    fn a_scale_keeps_links_and_inline_config_and_replaces_count_names_and_annotations() {
        let serving = serving();
        let mut command = scale(5, "ghcr.io/acme/web:1", false);
        command.config = vec!["other".into()];
        let mut annotations = std::collections::BTreeMap::new();
        annotations.insert("owner".to_owned(), "wadm".to_owned());
        annotations.insert(REVISION_ANNOTATION.to_owned(), "99".to_owned());
        command.annotations = Some(annotations);
        let change = command
            .to_spec(V1Base::Serving(&serving), Revision(8))
            .unwrap();
        let spec = change.spec;
        assert!(change.notes.is_empty(), "{:?}", change.notes);
        assert_eq!(spec.revision(), Revision(8));
        assert_eq!(spec.scale().get(), 5);
        assert_eq!(spec.config().names()[0].to_string(), "other");
        assert_eq!(spec.config().values()["greeting"], "hi");
        assert_eq!(spec.links().len(), 1);
        assert!(spec.digest_pin().is_some(), "same artifact: the pin stays");
        assert_eq!(
            spec.annotations().keys().collect::<Vec<_>>(),
            ["owner"],
            "replaced, and the computed revision annotation is not taken from the caller"
        );
    }

    #[test]
    fn a_different_reference_moves_the_artifact_only_with_allow_update() {
        let serving = serving();
        let kept = scale(2, "ghcr.io/acme/web:2", false)
            .to_spec(V1Base::Serving(&serving), Revision(8))
            .unwrap();
        assert_eq!(kept.spec.artifact().to_string(), "ghcr.io/acme/web:1");
        assert!(
            kept.notes[0].contains("use the update command"),
            "{:?}",
            kept.notes
        );

        let moved = scale(2, "ghcr.io/acme/web:2", true)
            .to_spec(V1Base::Serving(&serving), Revision(8))
            .unwrap();
        assert_eq!(moved.spec.artifact().to_string(), "ghcr.io/acme/web:2");
        assert!(
            moved.spec.digest_pin().is_none(),
            "the pin was the old artifact's"
        );
        assert!(moved.notes.is_empty());
    }

    #[test]
    fn a_scale_of_a_new_component_builds_the_spec_from_the_command_and_lists_its_problems() {
        let change = scale(1, "ghcr.io/acme/web:1", false)
            .to_spec(V1Base::New, Revision(1))
            .unwrap();
        assert_eq!(change.spec.revision(), Revision(1));
        assert!(change.spec.links().is_empty());

        let mut bad = scale(0, "not a reference!", false);
        bad.component_id = "bad.id".into();
        bad.component_limits = Some([("memory".to_owned(), "1".to_owned())].into());
        let errors = bad.to_spec(V1Base::New, Revision(1)).unwrap_err();
        assert!(errors.contains("id", SpecErrorCode::InvalidId), "{errors}");
        assert!(
            errors.contains("artifact", SpecErrorCode::InvalidArtifact),
            "{errors}"
        );
        assert!(
            errors.contains("scale", SpecErrorCode::ZeroScale),
            "{errors}"
        );

        let mut limited = scale(1, "ghcr.io/acme/web:1", false);
        limited.component_limits = Some([("memory".to_owned(), "1".to_owned())].into());
        let noted = limited.to_spec(V1Base::New, Revision(1)).unwrap();
        assert!(
            noted.notes[0].contains("component_limits"),
            "{:?}",
            noted.notes
        );
    }

    #[test]
    fn a_scale_of_a_component_not_serving_yet_keeps_the_accepted_links_and_takes_the_reference() {
        let accepted = serving();
        let change = scale(1, "ghcr.io/acme/web:9", false)
            .to_spec(V1Base::Accepted(&accepted), Revision(8))
            .unwrap();
        assert_eq!(change.spec.artifact().to_string(), "ghcr.io/acme/web:9");
        assert!(change.spec.digest_pin().is_none());
        assert_eq!(change.spec.links().len(), 1);
        assert!(
            change.notes.is_empty(),
            "no running code to keep: {:?}",
            change.notes
        );
    }

    #[test]
    fn an_update_changes_only_the_artifact_and_annotations() {
        let serving = serving();
        let mut command = UpdateComponentCommand::default();
        command.component_id = "web".into();
        command.new_component_ref = "ghcr.io/acme/web:3".into();
        let spec = command.to_spec(&serving, Revision(8)).unwrap();
        assert_eq!(spec.artifact().to_string(), "ghcr.io/acme/web:3");
        assert_eq!((spec.scale().get(), spec.links().len()), (2, 1));
        assert_eq!(spec.config(), serving.config());
        assert!(spec.digest_pin().is_none());
        assert!(spec.annotations().is_empty(), "replaced as a 1.x host does");
        assert!(!same_intent(&spec, &serving));
    }

    #[test]
    fn the_same_content_and_annotations_at_another_revision_is_the_same_intent() {
        let serving = serving();
        let mut command = scale(2, "ghcr.io/acme/web:1", false);
        command.config = vec!["shared".into()];
        command.annotations = Some([("team".to_owned(), "a".to_owned())].into());
        let again = command
            .to_spec(V1Base::Serving(&serving), Revision(8))
            .unwrap()
            .spec;
        assert!(same_intent(&again, &serving));
        command.annotations = None;
        let relabelled = command
            .to_spec(V1Base::Serving(&serving), Revision(8))
            .unwrap()
            .spec;
        assert!(!same_intent(&relabelled, &serving), "annotations differ");
    }

    #[test]
    fn uptime_reads_as_1x_hosts_write_it() {
        assert_eq!(uptime_human(Duration::ZERO), "0s");
        assert_eq!(uptime_human(Duration::from_secs(30)), "30s");
        assert_eq!(uptime_human(Duration::from_secs(3600)), "1h");
        assert_eq!(
            uptime_human(Duration::from_secs(2 * 86_400 + 61)),
            "2days 1m 1s"
        );
        assert_eq!(
            uptime_human(Duration::from_secs(31_557_600 + 2_630_016 * 2)),
            "1year 2months"
        );
    }
}
