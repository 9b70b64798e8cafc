//! The host data a lattice host writes on a provider's stdin is what wasmCloud 1.x provider
//! SDKs read (`wasmcloud_core::HostData`, the published crate), and what a 1.x host writes
//! is what the lattice provider kit reads: both directions, through the exact stdin
//! encoding (base64 of JSON, then `\r\n`).

use lattice_link::{HostData, HostLinkDefinition, SecretValue};
use std::collections::HashMap;

/// Decodes a stdin line the way `wasmcloud-provider-sdk` 0.17.1's `load_host_data` does:
/// trim, base64 (standard), JSON.
fn sdk_read(line: &[u8]) -> wasmcloud_core::HostData {
    use base64::Engine as _;
    let text = std::str::from_utf8(line).unwrap().trim();
    let json = base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap();
    serde_json::from_slice(&json).expect("a 1.x SDK decodes lattice host data")
}

#[test]
fn wasmcloud_core_reads_what_a_lattice_host_writes() {
    let mut data = HostData::new("host-a", "default", "keyvalue", "nats://127.0.0.1:4222");
    data.instance_id = "0b9d1c1e-0000-4000-8000-000000000001".into();
    data.host_xkey_public_key = nkeys::XKey::new().public_key();
    let instance = nkeys::XKey::new();
    data.provider_xkey_private_key = instance.seed().unwrap();
    data.default_rpc_timeout_ms = Some(2000);
    data.log_level = Some("debug".into());
    data.config.insert("bucket".into(), "b1".into());
    data.secrets
        .insert("token".into(), SecretValue::String("s3cr3t".into()));
    let mut link = HostLinkDefinition::default();
    link.source_id = "greeter".into();
    link.target = "keyvalue".into();
    link.name = "default".into();
    link.wit_namespace = "wasi".into();
    link.wit_package = "keyvalue".into();
    link.interfaces = vec!["store".into()];
    link.target_config.insert("bucket".into(), "b1".into());
    link.target_secrets = Some(vec![1, 2, 3]);
    data.link_definitions.push(link);

    let line = data.to_stdin_line();
    assert!(line.ends_with(b"\r\n"));
    let read = sdk_read(&line);
    assert_eq!(read.host_id, "host-a");
    assert_eq!(read.lattice_rpc_prefix, "default");
    assert_eq!(read.link_name, "default");
    assert_eq!(read.provider_key, "keyvalue");
    assert_eq!(read.lattice_rpc_url, "nats://127.0.0.1:4222");
    assert_eq!(read.instance_id, data.instance_id);
    assert_eq!(read.host_xkey_public_key, data.host_xkey_public_key);
    assert_eq!(
        read.provider_xkey_private_key,
        data.provider_xkey_private_key
    );
    assert_eq!(read.default_rpc_timeout_ms, Some(2000));
    assert!(matches!(
        read.log_level,
        Some(wasmcloud_core::logging::Level::Debug)
    ));
    assert_eq!(read.config.get("bucket").map(String::as_str), Some("b1"));
    assert!(read.env_values.is_empty());
    match read.secrets.get("token") {
        Some(wasmcloud_core::secrets::SecretValue::String(value)) => assert_eq!(value, "s3cr3t"),
        other => panic!("secret not read: {}", other.is_some()),
    }
    let [link] = read.link_definitions.as_slice() else {
        panic!("one link expected")
    };
    assert_eq!(link.source_id, "greeter");
    assert_eq!(link.target, "keyvalue");
    assert_eq!(link.interfaces, ["store"]);
    assert_eq!(
        link.target_config.get("bucket").map(String::as_str),
        Some("b1")
    );
    assert_eq!(link.target_secrets.as_deref(), Some(&[1u8, 2, 3][..]));
    // The instance xkey seed is usable as the SDK uses it.
    let opened = nkeys::XKey::from_seed(&read.provider_xkey_private_key).unwrap();
    assert_eq!(opened.public_key(), instance.public_key());
}

#[test]
fn the_lattice_provider_kit_reads_what_a_1x_host_writes() {
    use base64::Engine as _;
    // Filled the way wasmcloud-host 0.27.1's `prepare_provider_config` fills it.
    let mut secrets = HashMap::new();
    secrets.insert(
        "token".to_owned(),
        wasmcloud_core::secrets::SecretValue::String("s3cr3t".into()),
    );
    let written = wasmcloud_core::HostData {
        host_id: "NBHOST".into(),
        lattice_rpc_prefix: "default".into(),
        link_name: "default".into(),
        lattice_rpc_url: "nats://127.0.0.1:4333".into(),
        provider_key: "keyvalue".into(),
        env_values: vec![],
        instance_id: "inst-1".into(),
        link_definitions: vec![wasmcloud_core::InterfaceLinkDefinition {
            source_id: "greeter".into(),
            target: "keyvalue".into(),
            name: "default".into(),
            wit_namespace: "wasi".into(),
            wit_package: "keyvalue".into(),
            interfaces: vec!["store".into()],
            source_config: HashMap::new(),
            target_config: HashMap::from([("bucket".to_owned(), "b1".to_owned())]),
            source_secrets: None,
            target_secrets: None,
        }],
        config: HashMap::from([("a".to_owned(), "1".to_owned())]),
        secrets,
        host_xkey_public_key: nkeys::XKey::new().public_key(),
        provider_xkey_private_key: nkeys::XKey::new().seed().unwrap(),
        default_rpc_timeout_ms: Some(2000),
        log_level: Some(wasmcloud_core::logging::Level::Info),
        ..Default::default()
    };
    // As `provider_command` writes it.
    let mut line = base64::engine::general_purpose::STANDARD
        .encode(serde_json::to_vec(&written).unwrap())
        .into_bytes();
    line.extend_from_slice(b"\r\n");

    let read = HostData::from_stdin_line(&line).expect("the kit reads 1.x host data");
    assert_eq!(read.host_id, "NBHOST");
    assert_eq!(read.provider_key, "keyvalue");
    assert_eq!(read.lattice_rpc_prefix, "default");
    assert_eq!(read.instance_id, "inst-1");
    assert_eq!(
        read.provider_xkey_private_key,
        written.provider_xkey_private_key
    );
    assert_eq!(read.log_level.as_deref(), Some("info"));
    assert_eq!(read.config.get("a").map(String::as_str), Some("1"));
    assert_eq!(
        read.secrets.get("token").and_then(SecretValue::as_string),
        Some("s3cr3t")
    );
    assert_eq!(read.link_definitions.len(), 1);
    assert_eq!(read.link_definitions[0].target_config["bucket"], "b1");
    // And the lattice kit configures its server from it.
    let (lattice, provider, host) = lattice_provider::host_data::identity(&read).unwrap();
    assert_eq!(
        (lattice.as_str(), provider.as_str()),
        ("default", "keyvalue")
    );
    assert_eq!(host.map(|h| h.to_string()).as_deref(), Some("NBHOST"));
    // Written back by lattice, a 1.x SDK still reads the same.
    let again = sdk_read(&read.to_stdin_line());
    assert_eq!(again.instance_id, "inst-1");
    assert_eq!(again.link_definitions.len(), 1);
}
