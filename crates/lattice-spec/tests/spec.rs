//! Validation, digest and diff of component specs, from documents as a scheduler would send.

use lattice_spec::{
    ComponentSpec, ComponentSpecDraft, LinkChange, LinkDraft, SecretRefDraft, SpecDiff,
    SpecErrorCode,
};
use serde_json::json;

fn spec(value: serde_json::Value) -> ComponentSpec {
    serde_json::from_value(value).expect("valid spec")
}

fn base() -> serde_json::Value {
    json!({
        "id": "kv-counter",
        "revision": 4,
        "artifact": "ghcr.io/acme/kv-counter:1.0.0",
        "scale": 3,
        "config": {"names": ["common", "site"], "values": {"greeting": "hi", "lang": "en"}},
        "secrets": [
            {"name": "db-password", "backend": "nats-kv", "key": "prod/db"},
            {"name": "api-token", "backend": "vault", "key": "acme/api", "field": "token"}
        ],
        "links": [
            {"name": "default", "target": "http-server", "wit_namespace": "wasi", "wit_package": "http",
             "interfaces": ["incoming-handler"], "target_config": {"values": {"address": "0.0.0.0:8080"}}},
            {"target": "redis", "wit_namespace": "wasi", "wit_package": "keyvalue",
             "interfaces": ["store", "atomics"], "target_config": {"names": ["redis-url"]}}
        ],
        "annotations": {"owner": "team-a"}
    })
}

#[test]
fn an_invalid_spec_lists_every_problem_by_field_path() {
    let document = json!({
        "id": "kv.counter",
        "revision": 1,
        "artifact": "ghcr.io/Acme/UPPER:1.0",
        "digest": "sha256:1234",
        "scale": 0,
        "config": {"names": ["ok", "not ok"]},
        "secrets": [
            {"name": "db-password", "backend": "nats-kv", "key": "prod/db", "value": "hunter2"},
            {"name": "db-password", "backend": "", "key": "prod/db2"}
        ],
        "links": [
            {"name": "default", "target": "redis", "wit_namespace": "wasi", "wit_package": "keyvalue", "interfaces": ["store"]},
            {"name": "default", "target": "redis2", "wit_namespace": "wasi", "wit_package": "keyvalue", "interfaces": ["Store_X"]},
            {"name": "cache", "target": "bad target", "wit_namespace": "wasi", "wit_package": "keyvalue", "interfaces": []}
        ]
    });
    let draft: ComponentSpecDraft = serde_json::from_value(document.clone()).unwrap();
    let errors = draft.validate().unwrap_err();
    let expected = [
        ("id", SpecErrorCode::InvalidId),
        ("artifact", SpecErrorCode::InvalidArtifact),
        ("digest", SpecErrorCode::InvalidDigest),
        ("scale", SpecErrorCode::ZeroScale),
        ("config.names[1]", SpecErrorCode::InvalidId),
        ("secrets[0].value", SpecErrorCode::SecretValue),
        ("secrets[1].backend", SpecErrorCode::Empty),
        ("secrets[1].name", SpecErrorCode::DuplicateSecret),
        ("links[1].name", SpecErrorCode::DuplicateLink),
        ("links[1].interfaces[0]", SpecErrorCode::InvalidWitName),
        ("links[2].target", SpecErrorCode::InvalidId),
        ("links[2].interfaces", SpecErrorCode::Empty),
    ];
    for (path, code) in expected {
        assert!(
            errors.contains(path, code),
            "missing {path} {code}: {errors}"
        );
    }
    assert_eq!(errors.errors().len(), expected.len(), "{errors:#?}");

    // Decoding the validated type reports the same list, and never echoes the secret.
    let message = serde_json::from_value::<ComponentSpec>(document)
        .unwrap_err()
        .to_string();
    assert!(
        message.starts_with("invalid component spec (12 problems)"),
        "{message}"
    );
    assert!(
        message.contains("secrets[0].value") && message.contains("links[1].name"),
        "{message}"
    );
    assert!(
        !message.contains("hunter2"),
        "the secret value leaked: {message}"
    );
}

#[test]
fn a_valid_document_decodes_and_round_trips() {
    let spec = spec(base());
    assert_eq!(spec.id(), "kv-counter");
    assert_eq!(spec.revision().0, 4);
    assert_eq!(
        spec.links()[1].name(),
        "default",
        "a link without a name is `default`"
    );
    assert_eq!(spec.secrets()[1].field(), Some("token"));
    let again: ComponentSpec =
        serde_json::from_value(serde_json::to_value(&spec).unwrap()).unwrap();
    assert_eq!(again, spec);
}

#[test]
fn extra_fields_from_a_newer_peer_are_ignored() {
    let mut document = base();
    document["rollout_hint"] = json!({"surge": 2});
    document["links"][0]["priority"] = json!(7);
    document["config"]["encrypted"] = json!(true);
    assert_eq!(spec(document), spec(base()));
}

#[test]
fn digest_does_not_depend_on_field_map_or_list_order() {
    let reordered: serde_json::Value = serde_json::from_str(
        r#"{
        "annotations": {"owner": "team-b"},
        "links": [
            {"interfaces": ["atomics", "store"], "wit_package": "keyvalue", "wit_namespace": "wasi",
             "target_config": {"names": ["redis-url"]}, "target": "redis"},
            {"target_config": {"values": {"address": "0.0.0.0:8080"}}, "interfaces": ["incoming-handler"],
             "wit_package": "http", "wit_namespace": "wasi", "target": "http-server", "name": "default"}
        ],
        "secrets": [
            {"field": "token", "key": "acme/api", "backend": "vault", "name": "api-token"},
            {"key": "prod/db", "backend": "nats-kv", "name": "db-password"}
        ],
        "config": {"values": {"lang": "en", "greeting": "hi"}, "names": ["common", "site"]},
        "scale": 3,
        "artifact": "ghcr.io/acme/kv-counter:1.0.0",
        "revision": 9,
        "id": "kv-counter"
    }"#,
    )
    .unwrap();
    let a = spec(base());
    let b = spec(reordered);
    assert_eq!(a.digest(), b.digest());
    assert!(SpecDiff::between(&a, &b).is_empty());
}

#[test]
fn digest_changes_when_any_meaningful_field_changes() {
    let original = spec(base()).digest();
    type Mutation = fn(&mut serde_json::Value);
    let mutations: [(&str, Mutation); 12] = [
        ("id", |d| d["id"] = json!("kv-counter-2")),
        ("artifact", |d| {
            d["artifact"] = json!("ghcr.io/acme/kv-counter:1.0.1")
        }),
        ("digest pin", |d| {
            d["digest"] = json!(format!("sha256:{}", "a".repeat(64)))
        }),
        ("scale", |d| d["scale"] = json!(4)),
        ("config value", |d| {
            d["config"]["values"]["lang"] = json!("fr")
        }),
        ("config name order", |d| {
            d["config"]["names"] = json!(["site", "common"])
        }),
        ("secret key", |d| {
            d["secrets"][0]["key"] = json!("prod/db-v2")
        }),
        ("link target config", |d| {
            d["links"][0]["target_config"]["values"]["address"] = json!("0.0.0.0:9090")
        }),
        ("link target", |d| {
            d["links"][1]["target"] = json!("redis-2")
        }),
        ("link interfaces", |d| {
            d["links"][1]["interfaces"] = json!(["store"])
        }),
        ("link source config", |d| {
            d["links"][1]["source_config"] = json!({"values": {"bucket": "b"}})
        }),
        ("link removed", |d| {
            d["links"].as_array_mut().unwrap().pop();
        }),
    ];
    for (what, mutate) in mutations {
        let mut document = base();
        mutate(&mut document);
        let changed = spec(document);
        assert_ne!(
            changed.digest(),
            original,
            "changing the {what} must change the digest"
        );
        assert!(
            !SpecDiff::between(&spec(base()), &changed).is_empty(),
            "{what}"
        );
    }
}

#[test]
fn diff_classifies_links_and_notes_other_changes() {
    let v1 = spec(base());
    let mut document = base();
    document["artifact"] = json!("ghcr.io/acme/kv-counter:2.0.0");
    document["scale"] = json!(5);
    document["config"]["values"]["lang"] = json!("de");
    document["links"][0]["target_config"]["values"]["address"] = json!("0.0.0.0:9090");
    document["links"][1] = json!({"name": "cache", "target": "memcached", "wit_namespace": "wasi",
        "wit_package": "keyvalue", "interfaces": ["store"]});
    let v2 = spec(document);
    let diff = SpecDiff::between(&v1, &v2);

    assert!(diff.changes_code());
    assert_eq!(
        diff.scale.as_ref().map(|c| (c.from.get(), c.to.get())),
        Some((3, 5))
    );
    assert!(diff.config.is_some());
    assert!(diff.secrets.is_none());
    let added: Vec<_> = diff.added_links().map(|l| l.name().to_string()).collect();
    let removed: Vec<_> = diff
        .removed_links()
        .map(|l| l.peer().id().to_owned())
        .collect();
    let changed: Vec<_> = diff.changed_links().collect();
    assert_eq!(added, ["cache"]);
    assert_eq!(removed, ["redis"]);
    assert_eq!(changed.len(), 1);
    let (from, to, fields) = changed[0];
    assert_eq!(from.wit_package(), "http");
    assert_eq!(to.target_config().values()["address"], "0.0.0.0:9090");
    assert!(fields.target_config && !fields.target && !fields.interfaces && !fields.source_config);
    assert!(matches!(
        diff.links[0],
        LinkChange::Added(_) | LinkChange::Changed { .. } | LinkChange::Removed(_)
    ));
}

#[test]
fn builder_produces_the_same_spec_as_the_document() {
    let built = ComponentSpecDraft::new("kv-counter", "ghcr.io/acme/kv-counter:1.0.0")
        .revision(4)
        .scale(3)
        .config_name("common")
        .config_name("site")
        .config_value("greeting", "hi")
        .config_value("lang", "en")
        .secret(SecretRefDraft::new("db-password", "nats-kv", "prod/db"))
        .secret({
            let mut s = SecretRefDraft::new("api-token", "vault", "acme/api");
            s.field = Some("token".into());
            s
        })
        .link(
            LinkDraft::new("http-server", "wasi", "http", ["incoming-handler"])
                .target_config_value("address", "0.0.0.0:8080"),
        )
        .link(
            LinkDraft::new("redis", "wasi", "keyvalue", ["store", "atomics"])
                .target_config_name("redis-url"),
        )
        .annotation("owner", "team-a")
        .validate()
        .unwrap();
    assert_eq!(built, spec(base()));
    assert_eq!(built.to_draft().validate().unwrap(), built);
}

#[test]
fn property_round_trip_digest_and_diff_agree() {
    arbtest::arbtest(|u| {
        let a: ComponentSpec = u.arbitrary()?;
        let b: ComponentSpec = u.arbitrary()?;
        let encoded = serde_json::to_vec(&a).unwrap();
        let decoded: ComponentSpec = serde_json::from_slice(&encoded).unwrap();
        assert_eq!(decoded, a);
        assert_eq!(decoded.digest(), a.digest());
        assert!(SpecDiff::between(&a, &decoded).is_empty());
        assert_eq!(
            SpecDiff::between(&a, &b).is_empty(),
            a.digest() == b.digest()
        );
        // Reversing the order of links and secrets changes neither digest nor diff.
        let mut draft = a.to_draft();
        draft.links.reverse();
        draft.secrets.reverse();
        let reversed = draft.validate().unwrap();
        assert_eq!(reversed.digest(), a.digest());
        assert!(SpecDiff::between(&a, &reversed).is_empty());
        Ok(())
    })
    .budget_ms(2_000);
}

#[test]
fn a_link_names_exactly_one_end_and_a_known_target_kind() {
    use lattice_spec::LinkTargetKind;

    let mut both = LinkDraft::incoming("http-server", "wasi", "http", ["incoming-handler"]);
    both.target = Some("other".into());
    let mut neither = LinkDraft::new("kv", "wasi", "keyvalue", ["store"]);
    neither.target = None;
    let mut unknown = LinkDraft::new("kv", "wasi", "keyvalue", ["store"]).name("b");
    unknown.target_kind = LinkTargetKind::Unknown;
    let mut kind_on_incoming =
        LinkDraft::incoming("http-server", "wasi", "http", ["incoming-handler"]).name("c");
    kind_on_incoming.target_kind = LinkTargetKind::Component;
    let errors = ComponentSpecDraft::new("app", "ghcr.io/acme/app:1")
        .link(both)
        .link(neither)
        .link(unknown)
        .link(kind_on_incoming)
        .validate()
        .unwrap_err();
    assert!(errors.contains("links[0].source", SpecErrorCode::InvalidLinkEnds));
    assert!(errors.contains("links[1].target", SpecErrorCode::InvalidLinkEnds));
    assert!(errors.contains("links[2].target_kind", SpecErrorCode::InvalidLinkEnds));
    assert!(errors.contains("links[3].target_kind", SpecErrorCode::InvalidLinkEnds));

    // An incoming and an outgoing wasi:http link named `default` are two links.
    let spec = ComponentSpecDraft::new("app", "ghcr.io/acme/app:1")
        .link(LinkDraft::incoming(
            "http-server",
            "wasi",
            "http",
            ["incoming-handler"],
        ))
        .link(LinkDraft::new(
            "http-client",
            "wasi",
            "http",
            ["outgoing-handler"],
        ))
        .validate()
        .unwrap();
    assert_eq!(spec.links().len(), 2);
    let twice = ComponentSpecDraft::new("app", "ghcr.io/acme/app:1")
        .link(LinkDraft::incoming(
            "http-server",
            "wasi",
            "http",
            ["incoming-handler"],
        ))
        .link(LinkDraft::incoming(
            "http-server",
            "wasi",
            "http",
            ["incoming-handler"],
        ))
        .validate()
        .unwrap_err();
    assert!(twice.contains("links[1].name", SpecErrorCode::DuplicateLink));
}

#[test]
fn the_new_link_shapes_round_trip_and_change_the_digest() {
    let base = || {
        ComponentSpecDraft::new("app", "ghcr.io/acme/app:1").link(LinkDraft::new(
            "kv",
            "wasi",
            "keyvalue",
            ["store"],
        ))
    };
    let plain = base().validate().unwrap();
    let variants =
        [
            base().link(LinkDraft::to_component("auth", "acme", "auth", ["verify"])),
            base().link(
                LinkDraft::incoming("http-server", "wasi", "http", ["incoming-handler"])
                    .source_config_value("address", "0.0.0.0:8080"),
            ),
            ComponentSpecDraft::new("app", "ghcr.io/acme/app:1").link(
                LinkDraft::new("kv", "wasi", "keyvalue", ["store"])
                    .target_secret(SecretRefDraft::new("password", "nats-kv", "prod/redis")),
            ),
        ];
    for draft in variants {
        let spec = draft.validate().unwrap();
        assert_ne!(spec.digest(), plain.digest());
        let json = serde_json::to_string(&spec).unwrap();
        let back: lattice_spec::ComponentSpec = serde_json::from_str(&json).unwrap();
        assert_eq!(back, spec);
        assert_eq!(back.digest(), spec.digest());
    }
    // A component target and a provider target with the same id are different links.
    let to_provider = ComponentSpecDraft::new("app", "ghcr.io/acme/app:1")
        .link(LinkDraft::new("auth", "acme", "auth", ["verify"]))
        .validate()
        .unwrap();
    let to_component = ComponentSpecDraft::new("app", "ghcr.io/acme/app:1")
        .link(LinkDraft::to_component("auth", "acme", "auth", ["verify"]))
        .validate()
        .unwrap();
    assert_ne!(to_provider.digest(), to_component.digest());
    let diff = lattice_spec::SpecDiff::between(&to_provider, &to_component);
    assert!(diff.changed_links().all(|(_, _, fields)| fields.target));
}

/// Specs written before the link model grew keep their digests: a host comparing digests
/// after an upgrade of this crate must not see a change that is not there.
#[test]
fn digests_of_specs_without_the_new_fields_are_unchanged() {
    let spec = ComponentSpecDraft::new("counter", "ghcr.io/acme/counter:1.0.0")
        .link(
            LinkDraft::new("redis", "wasi", "keyvalue", ["store"])
                .target_config_value("url", "redis://x"),
        )
        .validate()
        .unwrap();
    assert_eq!(
        spec.digest().as_str(),
        "sha256:8de4d7cd04f675e9cafc288dcb4f93cd3df7888ef3e0f8ead0bb9afe29aed591"
    );
}

fn pins(
    pairs: &[(&str, &[u8])],
) -> std::collections::BTreeMap<lattice_spec::ConfigName, lattice_spec::ContentDigest> {
    pairs
        .iter()
        .map(|(name, content)| {
            (
                name.parse().unwrap(),
                lattice_spec::ContentDigest::sha256_of(content),
            )
        })
        .collect()
}

#[test]
fn the_digest_covers_the_content_named_configurations_are_pinned_to_and_nothing_unrelated() {
    let unpinned = spec(base());
    let v1 = unpinned
        .clone()
        .with_config_pins(&pins(&[("redis-url", b"v1")]));
    let v1_again = unpinned
        .clone()
        .with_config_pins(&pins(&[("redis-url", b"v1")]));
    let v2 = unpinned
        .clone()
        .with_config_pins(&pins(&[("redis-url", b"v2")]));
    assert_ne!(v1.digest(), unpinned.digest(), "pinning is a change");
    assert_eq!(
        v1.digest(),
        v1_again.digest(),
        "the same content, the same digest"
    );
    assert_ne!(
        v1.digest(),
        v2.digest(),
        "rotated content is a changed spec"
    );
    assert!(!SpecDiff::between(&v1, &v2).is_empty());

    // A configuration the spec does not use is not pinned and changes nothing.
    let unrelated = unpinned
        .clone()
        .with_config_pins(&pins(&[("elsewhere", b"v9")]));
    assert_eq!(unrelated.digest(), unpinned.digest());
    // Pins already there stay (a stored revision keeps its content when rolled again).
    let kept = v1.clone().with_config_pins(&pins(&[("redis-url", b"v2")]));
    assert_eq!(kept.digest(), v1.digest());
    assert!(
        v1.unpinned_config_names()
            .iter()
            .all(|n| n.as_str() != "redis-url")
    );
    assert_eq!(
        unpinned
            .config_names()
            .iter()
            .map(|n| n.as_str())
            .collect::<Vec<_>>(),
        ["common", "redis-url", "site"]
    );

    // A spec without pins writes none: its wire form and digest are what they were.
    let wire = serde_json::to_value(&unpinned).unwrap();
    assert!(!wire.to_string().contains("pins"), "{wire}");
    let mut with_empty = base();
    with_empty["config"]["pins"] = json!({});
    assert_eq!(spec(with_empty).digest(), unpinned.digest());
    // Pins travel on the wire and come back.
    let round: ComponentSpec = serde_json::from_value(serde_json::to_value(&v1).unwrap()).unwrap();
    assert_eq!(round, v1);
}

#[test]
fn a_pin_must_be_a_sha256_digest_of_a_configuration_the_spec_names() {
    let mut document = base();
    document["config"]["pins"] = json!({
        "common": "sha256:1234",
        "nowhere": format!("sha256:{}", "a".repeat(64)),
        "site": format!("sha512:{}", "a".repeat(128)),
    });
    let errors = serde_json::from_value::<ComponentSpecDraft>(document)
        .unwrap()
        .validate()
        .unwrap_err();
    let codes: Vec<_> = errors
        .errors()
        .iter()
        .map(|e| (e.path.as_str(), e.code))
        .collect();
    assert!(
        codes.contains(&("config.pins[\"common\"]", SpecErrorCode::InvalidDigest)),
        "{codes:?}"
    );
    assert!(
        codes.contains(&("config.pins[\"nowhere\"]", SpecErrorCode::UnusedPin)),
        "{codes:?}"
    );
    assert!(
        codes.contains(&("config.pins[\"site\"]", SpecErrorCode::InvalidDigest)),
        "{codes:?}"
    );
}

#[test]
fn a_provider_spec_pins_its_named_configurations_and_its_digest_covers_the_pins() {
    use lattice_spec::{ConfigName, ContentDigest, ProviderSpec, ProviderSpecDraft};
    use std::collections::BTreeMap;

    let spec = ProviderSpecDraft::new("kv", "/opt/lattice/kv")
        .config_name("creds")
        .validate()
        .unwrap();
    let creds: ConfigName = "creds".parse().unwrap();
    assert_eq!(
        spec.unpinned_config_names().into_iter().collect::<Vec<_>>(),
        [&creds]
    );
    let pin = |content: &[u8]| BTreeMap::from([(creds.clone(), ContentDigest::sha256_of(content))]);

    let v1 = spec.clone().with_config_pins(&pin(b"v1"));
    let v2 = spec.clone().with_config_pins(&pin(b"v2"));
    assert!(v1.unpinned_config_names().is_empty());
    assert_ne!(v1.digest(), spec.digest(), "pinning is a change");
    assert_ne!(
        v1.digest(),
        v2.digest(),
        "a rotated value is a changed spec"
    );
    assert_eq!(
        v1.clone().with_config_pins(&pin(b"v2")),
        v1,
        "a pin already there stays, so a stored revision keeps its content"
    );
    let decoded: ProviderSpec = serde_json::from_value(serde_json::to_value(&v1).unwrap()).unwrap();
    assert_eq!(decoded.digest(), v1.digest(), "the pin travels on the wire");
}
