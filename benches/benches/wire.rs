//! Encoding and decoding the wire contract, against untyped `serde_json` doing the same parse.
//!
//! The baseline parses the same bytes into a `serde_json::Value`: it is what a tool gets for
//! free without this workspace, so the ratio says what typing, validation and version checks
//! cost on top of JSON itself.

use criterion::Criterion;
use lattice_benches::{Comparison, Run};
use lattice_ctl::{ApplyComponentSpecRequest, ComponentStatusEvent, EventOrigin};
use lattice_spec::{ComponentSpec, ComponentSpecDraft, LinkDraft, SecretRefDraft, WireMessage};
use lattice_status::{ComponentState, ComponentStatus};
use std::hint::black_box;
use std::time::Duration;

fn spec() -> ComponentSpec {
    let mut draft = ComponentSpecDraft::new("checkout", "ghcr.io/acme/checkout:2.4.1")
        .revision(42)
        .scale(8)
        .config_name("checkout-common")
        .config_value("currency", "EUR")
        .config_value("log_level", "info")
        .secret(SecretRefDraft::new(
            "db-password",
            "nats-kv",
            "prod/checkout/db",
        ))
        .annotation("team", "payments");
    for (target, package, interface) in [
        ("http-server", "http", "incoming-handler"),
        ("redis", "keyvalue", "store"),
        ("postgres", "sql", "query"),
        ("nats-messaging", "messaging", "consumer"),
    ] {
        draft = draft.link(
            LinkDraft::new(target, "wasi", package, [interface])
                .target_config_value("address", "0.0.0.0:8080")
                .source_config_value("timeout_ms", "2500"),
        );
    }
    draft.validate().expect("bench spec is valid")
}

fn main() {
    let run = Run::start();
    let mut c = Criterion::default()
        .sample_size(40)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();

    let request = ApplyComponentSpecRequest::new(spec());
    let request_bytes = request.encode().expect("encodes");
    let request_value: serde_json::Value = serde_json::from_slice(&request_bytes).expect("json");
    let event = ComponentStatusEvent::new(
        EventOrigin::new(
            "default".parse().expect("id"),
            "NHOST".parse().expect("id"),
            991,
            1_763_900_000_000,
        ),
        "checkout".parse().expect("id"),
        42.into(),
        Some(ComponentState::Linking),
        ComponentStatus::new(ComponentState::Upgrading),
    );
    let event_bytes = event.encode().expect("encodes");

    let mut group = c.benchmark_group("decode_apply");
    group.bench_function("lattice", |b| {
        b.iter(|| ApplyComponentSpecRequest::decode(black_box(&request_bytes)).expect("decodes"))
    });
    group.bench_function("serde_json_value", |b| {
        b.iter(|| {
            serde_json::from_slice::<serde_json::Value>(black_box(&request_bytes)).expect("json")
        })
    });
    group.finish();

    let mut group = c.benchmark_group("encode_apply");
    group.bench_function("lattice", |b| {
        b.iter(|| black_box(&request).encode().expect("encodes"))
    });
    group.bench_function("serde_json_value", |b| {
        b.iter(|| serde_json::to_vec(black_box(&request_value)).expect("json"))
    });
    group.finish();

    let mut group = c.benchmark_group("decode_event");
    group.bench_function("lattice", |b| {
        b.iter(|| ComponentStatusEvent::decode(black_box(&event_bytes)).expect("decodes"))
    });
    group.bench_function("serde_json_value", |b| {
        b.iter(|| {
            serde_json::from_slice::<serde_json::Value>(black_box(&event_bytes)).expect("json")
        })
    });
    group.finish();

    let mut group = c.benchmark_group("spec_digest");
    group.bench_function("lattice_canonical", |b| {
        b.iter(|| black_box(&request.spec).digest())
    });
    group.bench_function("sha256_of_raw_bytes", |b| {
        b.iter(|| lattice_spec::ContentDigest::sha256_of(black_box(&request_bytes)))
    });
    group.finish();

    c.final_summary();
    run.finish(
        "wire",
        &[
            Comparison {
                what: "decode ApplyComponentSpecRequest (4 links) vs untyped serde_json::Value",
                subject: "decode_apply/lattice",
                baseline: "decode_apply/serde_json_value",
            },
            Comparison {
                what: "encode ApplyComponentSpecRequest (4 links) vs untyped serde_json::Value",
                subject: "encode_apply/lattice",
                baseline: "encode_apply/serde_json_value",
            },
            Comparison {
                what: "decode ComponentStatusEvent vs untyped serde_json::Value",
                subject: "decode_event/lattice",
                baseline: "decode_event/serde_json_value",
            },
            Comparison {
                what: "spec digest (canonical) vs sha256 of raw bytes",
                subject: "spec_digest/lattice_canonical",
                baseline: "spec_digest/sha256_of_raw_bytes",
            },
        ],
        serde_json::Map::new(),
    );
}
