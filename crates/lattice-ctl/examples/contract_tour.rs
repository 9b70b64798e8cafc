//! A tour of the wire contract, as a host, a scheduler and a provider see it: build and
//! validate specs, diff two revisions into an upgrade plan, and exchange the messages of an
//! apply — all without a network.
//!
//! Run with `cargo run -p lattice-ctl --example contract_tour`.

use lattice_ctl::{
    ApplyComponentSpecAck, ApplyComponentSpecReply, ApplyComponentSpecRequest, ApplyOutcome,
    ComponentStatusEvent, CtlError, CtlSubject, EventFilter, EventOrigin, HostPingRequest,
};
use lattice_link::{LinkPutRequest, LinkResponse};
use lattice_spec::{
    ComponentSpecDraft, HostId, LatticeName, LinkChange, LinkDraft, SecretRefDraft, SpecDiff,
    WireMessage,
};
use lattice_status::{ComponentState, ComponentStatus, LinkErrorKind, StatusReason};
use std::{collections::BTreeMap, error::Error};

fn main() -> Result<(), Box<dyn Error>> {
    let lattice = LatticeName::new("default")?;
    let host = HostId::new("NHOSTA")?;

    section("1. A scheduler writes revision 1 and revision 2 of a component");
    let kv = LinkDraft::new("redis", "wasi", "keyvalue", ["store", "atomics"])
        .target_config_value("url", "redis://cache-1:6379");
    let http = LinkDraft::new("http-server", "wasi", "http", ["incoming-handler"])
        .target_config_value("address", "0.0.0.0:8080");
    let v1 = ComponentSpecDraft::new("kv-counter", "ghcr.io/acme/kv-counter:1.0.0")
        .revision(1)
        .link(http.clone())
        .link(kv.clone())
        .validate()?;
    let v2 = ComponentSpecDraft::new("kv-counter", "ghcr.io/acme/kv-counter:1.1.0")
        .revision(2)
        .scale(4)
        .config_value("greeting", "hello v2")
        .secret(SecretRefDraft::new(
            "redis-password",
            "nats-kv",
            "prod/redis",
        ))
        .link(http)
        .link(kv.target_config_value("url", "redis://cache-2:6379"))
        .link(LinkDraft::new(
            "nats-messaging",
            "wasmcloud",
            "messaging",
            ["consumer"],
        ))
        .validate()?;
    println!("revision 1 digest: {}", v1.digest());
    println!("revision 2 digest: {}", v2.digest());
    println!(
        "revision 2 as sent:\n{}",
        serde_json::to_string_pretty(&v2)?
    );

    section("2. A bad spec is refused with every problem, by field path");
    let bad = serde_json::json!({
        "id": "kv.counter", "revision": 3, "artifact": "ghcr.io/Acme/KV:1", "scale": 0,
        "secrets": [{"name": "redis-password", "backend": "nats-kv", "key": "prod/redis", "value": "hunter2"}],
        "links": [
            {"target": "redis", "wit_namespace": "wasi", "wit_package": "keyvalue", "interfaces": ["store"]},
            {"target": "redis", "wit_namespace": "wasi", "wit_package": "keyvalue", "interfaces": ["store"]}
        ]
    });
    let draft: ComponentSpecDraft = serde_json::from_value(bad)?;
    if let Err(errors) = draft.validate() {
        for error in errors.errors() {
            println!("  {:<22} {:<16} {}", error.path, error.code, error.message);
        }
    }

    section("3. The host diffs the running revision with the new one: its upgrade plan");
    let diff = SpecDiff::between(&v1, &v2);
    println!(
        "new code: {}, scale change: {:?}, config changed: {}",
        diff.changes_code(),
        diff.scale.as_ref().map(|c| (c.from, c.to)),
        diff.config.is_some()
    );
    for change in &diff.links {
        let step = match change {
            LinkChange::Added(_) => "establish before pausing",
            LinkChange::Changed { .. } => "re-put while paused",
            LinkChange::Removed(_) => "remove after the swap",
            _ => "unknown",
        };
        println!("  link {:<36} {step}", change.key().to_string());
    }

    section("4. The messages of one apply");
    let ping = CtlSubject::HostPing {
        lattice: lattice.clone(),
    };
    println!(
        "discover: {ping}  {}",
        String::from_utf8(HostPingRequest::new().encode()?.to_vec())?
    );
    let apply_subject = CtlSubject::ApplyComponentSpec {
        lattice: lattice.clone(),
        host_id: host.clone(),
    };
    let request_bytes = ApplyComponentSpecRequest::new(v2.clone()).encode()?;
    println!("apply:    {apply_subject}  ({} bytes)", request_bytes.len());
    let request = ApplyComponentSpecRequest::decode_detailed(&request_bytes)?;
    let ack = ApplyComponentSpecReply::ok(ApplyComponentSpecAck::new(
        &request.spec,
        ApplyOutcome::Accepted,
    ));
    println!("ack:      {}", String::from_utf8(ack.encode()?.to_vec())?);
    println!(
        "events:   subscribe to {}",
        EventFilter::component(&lattice, v2.id())
    );
    let put = LinkPutRequest::new(v2.id(), &v2.links()[2], BTreeMap::new(), BTreeMap::new());
    println!("link put: {}", String::from_utf8(put.encode()?.to_vec())?);
    let refusal = LinkResponse::refused(
        LinkErrorKind::ResourceUnavailable,
        "stream `orders` not found",
    );
    println!(
        "provider: {}",
        String::from_utf8(refusal.encode()?.to_vec())?
    );
    let failed = ComponentStatusEvent::new(
        EventOrigin::new(lattice.clone(), host.clone(), 17, 1_763_900_000_000),
        v2.id().clone(),
        v2.revision(),
        Some(ComponentState::Linking),
        ComponentStatus::failed(StatusReason::link_refused(
            "nats-messaging",
            "default",
            LinkErrorKind::ResourceUnavailable,
            "stream `orders` not found",
        )),
    );
    println!(
        "event:    {}",
        String::from_utf8(failed.encode()?.to_vec())?
    );

    section("5. A request of a version the host does not speak");
    let future = br#"{"api_version":"v3","spec":{}}"#;
    if let Err(lattice_ctl::ApplyDecodeError::Decode(err)) =
        ApplyComponentSpecRequest::decode_detailed(future)
    {
        let reply = ApplyComponentSpecReply::error(CtlError::from(&err));
        println!("reply:    {}", String::from_utf8(reply.encode()?.to_vec())?);
    }
    Ok(())
}

fn section(title: &str) {
    println!("\n== {title}");
}
