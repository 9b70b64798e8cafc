//! Turning a v2alpha1 component spec into the 1.x operations that approximate it.

use super::{DeleteLinkRequest, HostInventory, Link, ScaleComponentCommand};
use lattice_spec::{ComponentId, ComponentSpec, ConfigSpec, HostId, LinkSpec};
use std::collections::BTreeMap;

/// Annotation carrying the spec revision on a 1.x host, so inventory shows which revision runs.
pub const REVISION_ANNOTATION: &str = "lattice.dev/revision";
/// Annotation carrying the spec digest on a 1.x host.
pub const DIGEST_ANNOTATION: &str = "lattice.dev/spec-digest";

/// A named configuration the fallback must put before the links and the component that use it
/// (1.x links and components reference configuration by name only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FallbackConfig {
    /// The name to put it under (`….config.put.{name}`).
    pub name: String,
    /// The values.
    pub values: BTreeMap<String, String>,
}

/// The 1.x operations that apply a spec to a 1.x host, in order: put `configs`, put `links`,
/// stop the component when [`V1ApplyPlan::stop_first`] says its artifact changes, send
/// `scale`, then delete `stale_links`. Generated configuration names carry the revision
/// (`lattice-{component}-r{revision}`), so every revision changes the component's list of
/// configuration names — which is what makes a 1.x host re-create it with the new revision's
/// annotations.
///
/// **A new artifact is a stop and a start on a 1.x host.** A 1.x host cannot be trusted to
/// replace a running component's code in place. Observed against wasmcloud-host 0.27.1
/// (wasmCloud 1.9, `interop/tests/real_1x_host.rs`), both in-place routes leave the **old**
/// code serving while the inventory reports the new reference:
/// - a scale with a new reference and new configuration re-instantiates the old code under
///   the new reference;
/// - `component.update` instantiates the new code and then stops that new instance.
///
/// So when the host runs the component from another artifact, the fallback scales it to
/// zero, waits until the host no longer lists it, and scales the new artifact up. On that
/// host the component is down between the two; across the lattice the rollout's parallelism
/// bounds how many hosts are down at once.
///
/// 1.x has no atomic apply, no link replies and no rollback: the fallback is best effort, and
/// [`V1ApplyPlan::lost`] says what of the spec a 1.x host cannot honour.
///
/// ```
/// use lattice_ctl::v1::V1ApplyPlan;
/// use lattice_spec::{ComponentSpecDraft, LinkDraft};
///
/// let spec = ComponentSpecDraft::new("web", "ghcr.io/acme/web:2")
///     .revision(2)
///     .link(LinkDraft::new("http", "wasi", "http", ["incoming-handler"]).target_config_value("address", "0.0.0.0:80"))
///     .validate()?;
/// let plan = V1ApplyPlan::new(&spec, &"NHOST".parse()?, None);
/// // The component's configuration of this revision (always, so every revision changes the
/// // names a 1.x host compares), then the inline link configuration; both under generated names.
/// assert_eq!(plan.configs.len(), 2);
/// assert_eq!(plan.scale.config, ["lattice-web-r2"]);
/// assert_eq!(plan.links[0].target_config, [plan.configs[1].name.clone()]);
/// assert_eq!(plan.scale.max_instances, 1);
/// assert!(plan.scale.allow_update);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct V1ApplyPlan {
    /// Configurations to put first.
    pub configs: Vec<FallbackConfig>,
    /// Links to put.
    pub links: Vec<Link>,
    /// The scale command that starts or updates the component.
    pub scale: ScaleComponentCommand,
    /// Links of `previous` that the new spec no longer has.
    pub stale_links: Vec<DeleteLinkRequest>,
    /// What of the spec a 1.x host cannot honour.
    pub lost: Vec<&'static str>,
}

impl V1ApplyPlan {
    /// The plan for applying `spec` on `host_id`; `previous` is the spec it replaces, if known,
    /// so links it no longer has are removed.
    #[must_use]
    pub fn new(spec: &ComponentSpec, host_id: &HostId, previous: Option<&ComponentSpec>) -> Self {
        let component = spec.id().as_str();
        let revision = spec.revision();
        let mut configs = Vec::new();
        // Generated configuration names carry the revision: a 1.x host re-creates a component
        // (taking the scale command's annotations, so the revision it reports) only when its
        // scale or its list of configuration names changes, and a failed revision's values
        // never overwrite those the serving revision reads.
        let mut names = |config: &ConfigSpec, generated: String, always: bool| -> Vec<String> {
            let mut names: Vec<String> = config.names().iter().map(|n| n.to_string()).collect();
            if always || !config.values().is_empty() {
                // Inline values go last: they override named ones, as in v2alpha1.
                configs.push(FallbackConfig {
                    name: generated.clone(),
                    values: config.values().clone(),
                });
                names.push(generated);
            }
            names
        };

        let component_config = names(
            spec.config(),
            format!("lattice-{component}-r{revision}"),
            true,
        );
        let links = spec
            .links()
            .iter()
            .map(|link| {
                let base = format!(
                    "lattice-{component}-{}-{}-{}-r{revision}",
                    link.wit_namespace(),
                    link.wit_package(),
                    link.name()
                );
                Link {
                    source_id: link.source_id(spec.id()).to_string(),
                    target: link.target_id(spec.id()).to_string(),
                    name: link.name().to_string(),
                    wit_namespace: link.wit_namespace().to_owned(),
                    wit_package: link.wit_package().to_owned(),
                    interfaces: link.interfaces().to_vec(),
                    source_config: names(link.source_config(), format!("{base}-source"), false),
                    target_config: names(link.target_config(), format!("{base}-target"), false),
                }
            })
            .collect();

        let mut annotations = spec.annotations().clone();
        annotations.insert(REVISION_ANNOTATION.to_owned(), spec.revision().to_string());
        annotations.insert(DIGEST_ANNOTATION.to_owned(), spec.digest().to_string());
        let scale = ScaleComponentCommand {
            component_ref: spec.artifact().to_string(),
            component_id: component.to_owned(),
            annotations: Some(annotations),
            max_instances: spec.scale().get(),
            component_limits: None,
            host_id: host_id.to_string(),
            config: component_config,
            allow_update: true,
        };

        let stale_links = previous
            .map(|old| {
                old.links()
                    .iter()
                    .filter(|link| spec.link(&link.key()).is_none())
                    .map(|link| delete_request(spec.id(), link))
                    .collect()
            })
            .unwrap_or_default();

        let mut lost = Vec::new();
        if !spec.secrets().is_empty() {
            lost.push("secret references (1.x scale commands carry none)");
        }
        if spec.digest_pin().is_some() {
            lost.push("the artifact digest pin (1.x hosts do not check it)");
        }
        Self {
            configs,
            links,
            scale,
            stale_links,
            lost,
        }
    }
}

fn delete_request(component: &ComponentId, link: &LinkSpec) -> DeleteLinkRequest {
    DeleteLinkRequest {
        source_id: link.source_id(component).to_string(),
        name: link.name().to_string(),
        wit_namespace: link.wit_namespace().to_owned(),
        wit_package: link.wit_package().to_owned(),
    }
}

impl V1ApplyPlan {
    /// The scale-to-zero command to send before [`V1ApplyPlan::scale`] when `running` (the
    /// host's 1.x inventory) lists the component with another artifact: a 1.x host does not
    /// replace code in place (see [`V1ApplyPlan`]). `None` when the component is not running
    /// there or runs the same artifact.
    ///
    /// ```
    /// use lattice_ctl::v1::{ComponentDescription, HostInventory, V1ApplyPlan};
    /// use lattice_spec::ComponentSpecDraft;
    ///
    /// let spec = ComponentSpecDraft::new("web", "ghcr.io/acme/web:2").revision(2).validate()?;
    /// let plan = V1ApplyPlan::new(&spec, &"NHOST".parse()?, None);
    /// let mut running = ComponentDescription::default();
    /// running.id = "web".into();
    /// running.image_ref = "ghcr.io/acme/web:1".into();
    /// running.max_instances = 1;
    /// let mut inventory = HostInventory::default();
    /// inventory.components.push(running.clone());
    ///
    /// let stop = plan.stop_first(&inventory).expect("a new artifact stops the old one first");
    /// assert_eq!((stop.component_ref.as_str(), stop.max_instances), ("ghcr.io/acme/web:1", 0));
    ///
    /// inventory.components[0].image_ref = "ghcr.io/acme/web:2".into();
    /// assert_eq!(plan.stop_first(&inventory), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn stop_first(&self, running: &HostInventory) -> Option<ScaleComponentCommand> {
        let current = running.component(&self.scale.component_id)?;
        (current.image_ref != self.scale.component_ref).then(|| ScaleComponentCommand {
            component_ref: current.image_ref.clone(),
            max_instances: 0,
            annotations: current.annotations.clone(),
            config: Vec::new(),
            allow_update: false,
            ..self.scale.clone()
        })
    }

    /// The links among `existing` (what a 1.x lattice's `link.get` lists) that belong to
    /// the component — it is their source, or their target with a provider source — and that
    /// the plan does not put: they go, so a link removed from the spec is deleted on 1.x hosts
    /// even when the previous spec is not known.
    #[must_use]
    pub fn stale_among(&self, existing: &[Link]) -> Vec<DeleteLinkRequest> {
        let component = self.scale.component_id.as_str();
        let key = |l: &Link| {
            (
                l.source_id.clone(),
                l.wit_namespace.clone(),
                l.wit_package.clone(),
                l.name.clone(),
            )
        };
        let kept: std::collections::BTreeSet<_> = self.links.iter().map(key).collect();
        existing
            .iter()
            .filter(|l| l.source_id == component || l.target == component)
            .filter(|l| !kept.contains(&key(l)))
            .map(|l| DeleteLinkRequest {
                source_id: l.source_id.clone(),
                name: l.name.clone(),
                wit_namespace: l.wit_namespace.clone(),
                wit_package: l.wit_package.clone(),
            })
            .collect()
    }
}
