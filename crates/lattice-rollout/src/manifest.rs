//! The application manifest an operator writes (`lattice apply -f app.yaml`).

use crate::model::{AppName, HostSelector, Placement, ProviderPlacement};
use crate::plan::{OnFailure, RolloutOptions, Strategy};
use lattice_spec::{ComponentSpecDraft, ProviderSpecDraft};
use serde::{Deserialize, Serialize};

/// An application manifest: name, components with placement, and how to roll it out.
///
/// ```
/// let manifest: lattice_rollout::Manifest = serde_json::from_str(r#"{
///   "name": "shop",
///   "strategy": {"type": "rolling", "max_parallel": 2},
///   "options": {"min_healthy_ms": 5000},
///   "components": [{
///     "spec": {"id": "checkout", "revision": 1, "artifact": "ghcr.io/acme/checkout:2.0.0", "scale": 2},
///     "hosts": {"labels": {"zone": "eu-1"}}
///   }]
/// }"#)?;
/// let (name, placements) = manifest.validate().map_err(|e| e.join("; "))?;
/// assert_eq!(name.as_str(), "shop");
/// assert_eq!(placements.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Manifest {
    /// The application's name.
    pub name: String,
    /// How to roll it out (default: all at once).
    #[serde(default = "all_at_once")]
    pub strategy: Strategy,
    /// Deadlines, health and failure handling (defaults apply to what is missing).
    #[serde(default)]
    pub options: RolloutOptions,
    /// The components and where they run.
    pub components: Vec<ManifestComponent>,
    /// The capability providers and where they run (default: none). On each host they are
    /// applied, and running, before the components.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<ManifestProvider>,
}

/// One capability provider of a manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ManifestProvider {
    /// The provider spec (its revision is replaced by the application's).
    pub spec: ProviderSpecDraft,
    /// Where it runs (default: every host).
    #[serde(default = "every_host")]
    pub hosts: HostSelector,
}

fn all_at_once() -> Strategy {
    Strategy::AllAtOnce
}

/// One component of a manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ManifestComponent {
    /// The component spec (its revision is replaced by the application's).
    pub spec: ComponentSpecDraft,
    /// Where it runs (default: every host).
    #[serde(default = "every_host")]
    pub hosts: HostSelector,
}

fn every_host() -> HostSelector {
    HostSelector::All
}

impl Manifest {
    /// Checks every part of the manifest and returns the application's name and placements.
    ///
    /// # Errors
    ///
    /// Every problem, each prefixed with its path (`components[1].spec.links[0].name: …`).
    pub fn validate(&self) -> Result<(AppName, Vec<Placement>), Vec<String>> {
        let mut errors = Vec::new();
        let name = AppName::new(self.name.clone())
            .map_err(|e| errors.push(format!("name: {e}")))
            .ok();
        if self.components.is_empty() {
            errors.push("components: an application needs at least one component".to_owned());
        }
        if matches!(self.strategy, Strategy::Unknown) {
            errors.push(
                "strategy.type: unknown; use all_at_once, rolling, canary or blue_green".to_owned(),
            );
        }
        if matches!(self.options.on_failure, OnFailure::Unknown) {
            errors.push("options.on_failure: unknown; use rollback or freeze".to_owned());
        }
        let mut placements = Vec::new();
        for (i, component) in self.components.iter().enumerate() {
            match component.spec.validate() {
                Ok(spec) => placements.push(Placement::new(spec, component.hosts.clone())),
                Err(spec_errors) => {
                    errors.extend(
                        spec_errors
                            .errors()
                            .iter()
                            .map(|e| format!("components[{i}].spec.{}: {}", e.path, e.message)),
                    );
                }
            }
        }
        if let Err(provider_errors) = self.validate_providers() {
            errors.extend(provider_errors);
        }
        match name {
            Some(name) if errors.is_empty() => Ok((name, placements)),
            _ => Err(errors),
        }
    }

    /// Checks the manifest's providers and returns their placements ([`Manifest::validate`]
    /// checks them too).
    ///
    /// # Errors
    ///
    /// Every problem, each prefixed with its path (`providers[0].spec.artifact: …`), and a
    /// provider id named twice.
    pub fn validate_providers(&self) -> Result<Vec<ProviderPlacement>, Vec<String>> {
        let mut errors = Vec::new();
        let mut placements: Vec<ProviderPlacement> = Vec::new();
        for (i, provider) in self.providers.iter().enumerate() {
            match provider.spec.validate() {
                Ok(spec) if placements.iter().any(|p| p.spec.id() == spec.id()) => {
                    errors.push(format!(
                        "providers[{i}].spec.id: `{}` is named twice; a provider appears once, with one placement",
                        spec.id()
                    ));
                }
                Ok(spec) => placements.push(ProviderPlacement::new(spec, provider.hosts.clone())),
                Err(spec_errors) => errors.extend(
                    spec_errors
                        .errors()
                        .iter()
                        .map(|e| format!("providers[{i}].spec.{}: {}", e.path, e.message)),
                ),
            }
        }
        if errors.is_empty() {
            Ok(placements)
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_are_optional_validated_and_named_once() {
        let manifest: Manifest = serde_json::from_str(
            r#"{"name": "shop", "components": [{"spec": {"id": "web", "revision": 1, "artifact": "file:///w.wasm", "scale": 1}}]}"#,
        )
        .unwrap();
        assert!(manifest.providers.is_empty());
        assert_eq!(manifest.validate_providers(), Ok(Vec::new()));

        let manifest: Manifest = serde_json::from_str(
            r#"{"name": "shop",
                "components": [{"spec": {"id": "web", "revision": 1, "artifact": "file:///w.wasm", "scale": 1}}],
                "providers": [
                  {"spec": {"id": "kv", "revision": 1, "artifact": "file:///opt/kv"}, "hosts": {"labels": {"zone": "eu"}}},
                  {"spec": {"id": "kv", "revision": 1, "artifact": "file:///opt/kv2"}},
                  {"spec": {"id": "", "revision": 1, "artifact": "not a reference"}}
                ]}"#,
        )
        .unwrap();
        let errors = manifest.validate().unwrap_err();
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("providers[1].spec.id: `kv` is named twice")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("providers[2].spec.id:")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("providers[2].spec.artifact:")),
            "{errors:?}"
        );
    }
}
