//! The check of the `v1_replies` fuzz target, shared with lattice-ctl's `fuzz_regressions` test:
//! the wasmCloud 1.x replies a lattice client decodes when it falls back to 1.x (`CtlResponse`
//! around a ping's `Host`, an inventory, the lattice's links, or a write's empty answer) and the
//! 1.x commands a lattice host reads never panic the decoders; what decodes encodes and decodes
//! back to itself; and what the fallback does with a decoded reply (which component to stop
//! first, which links are stale, the spec a scale command asks for) keeps its promises.

use lattice_ctl::v1::{
    CtlResponse, Host, HostInventory, Link, ScaleComponentCommand, V1ApplyPlan, V1Base,
};
use lattice_spec::{ComponentSpec, ComponentSpecDraft, HostId, Revision};
use serde::{Serialize, de::DeserializeOwned};
use std::fmt::Debug;

/// Runs the check on one input.
pub(crate) fn check(data: &[u8]) {
    let spec = spec();
    let host: HostId = "host-a".parse().expect("a valid host id");
    let plan = V1ApplyPlan::new(&spec, &host, None);

    round_trip::<CtlResponse<Host>>(data);
    // `CtlResponse<()>`-like answers to writes: only their envelope is read.
    if let Ok(response) = serde_json::from_slice::<CtlResponse<serde::de::IgnoredAny>>(data) {
        let success = response.success;
        assert_eq!(response.into_result().is_ok(), success);
    }
    if let Some(response) = round_trip::<CtlResponse<HostInventory>>(data)
        && let Ok(Some(inventory)) = response.into_result()
        && let Some(stop) = plan.stop_first(&inventory)
    {
        let running = inventory
            .component(spec.id().as_str())
            .expect("only a running component is stopped first");
        assert_eq!(stop.max_instances, 0);
        assert_eq!(stop.component_ref, running.image_ref);
        assert_ne!(stop.component_ref, plan.scale.component_ref);
    }
    if let Some(response) = round_trip::<CtlResponse<Vec<Link>>>(data)
        && let Ok(Some(links)) = response.into_result()
    {
        for stale in plan.stale_among(&links) {
            assert!(links.iter().any(|l| l.source_id == stale.source_id
                && l.name == stale.name
                && l.wit_namespace == stale.wit_namespace
                && l.wit_package == stale.wit_package
                && (l.source_id == spec.id().as_str() || l.target == spec.id().as_str())));
        }
    }
    if let Ok(command) = serde_json::from_slice::<ScaleComponentCommand>(data) {
        for base in [V1Base::New, V1Base::Serving(&spec), V1Base::Accepted(&spec)] {
            if let Ok(change) = command.to_spec(base, Revision(7)) {
                assert_eq!(change.spec.revision(), Revision(7));
                assert_eq!(change.spec.scale().get(), command.max_instances);
                assert_eq!(change.spec.to_draft().validate(), Ok(change.spec.clone()));
            }
        }
    }
}

/// A spec to plan for: `web`, with a link, so stale links can be found.
fn spec() -> ComponentSpec {
    ComponentSpecDraft::new("web", "ghcr.io/acme/web:2.0.0")
        .revision(3)
        .link(lattice_spec::LinkDraft::new(
            "kv",
            "wasi",
            "keyvalue",
            ["store"],
        ))
        .validate()
        .expect("a valid spec")
}

/// Decodes `data` as `T`; whatever decodes encodes and decodes back to itself.
fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(data: &[u8]) -> Option<T> {
    let value = serde_json::from_slice::<T>(data).ok()?;
    let again: T = serde_json::from_slice(&serde_json::to_vec(&value).expect("it encodes"))
        .expect("an encoded reply decodes");
    assert_eq!(again, value);
    Some(value)
}
