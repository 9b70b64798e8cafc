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
        ["lattice-web", "lattice-web-wasi-http-default-target"]
    );
    assert_eq!(plan.configs[1].values["address"], "0.0.0.0:8443");
    assert_eq!(
        plan.scale.config,
        ["shared", "lattice-web"],
        "named first, inline values last"
    );
    assert_eq!(plan.links.len(), 1);
    assert_eq!(
        plan.links[0].target_config,
        ["tls", "lattice-web-wasi-http-default-target"]
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
