//! The canonical digest of a spec: equal for equal content, whatever the field or map order.

use crate::{ComponentSpec, ConfigSpec, ContentDigest, LinkSpec, LinkTargetKind, SecretRef};
use serde::Serialize;
use std::collections::BTreeMap;

/// Prefixed to the canonical bytes so a spec digest can never collide with the digest of some
/// other document that happens to serialize the same way.
const DOMAIN: &[u8] = b"lattice.component-spec.v1\n";

impl ComponentSpec {
    /// The sha256 digest of the spec's canonical form.
    ///
    /// Two specs have the same digest exactly when they would run the same: the same component,
    /// artifact (compared in normalised form, so `nginx` equals
    /// `docker.io/library/nginx:latest`), digest pin, scale, configuration, secret references
    /// and links — including the content digests named configurations are pinned to
    /// ([`ConfigSpec::pins`]), so a rotated value that is pinned is a changed spec. Order does not matter where it carries no meaning — links, secrets, map keys
    /// and a link's interfaces are sorted — and does where it does: named configurations merge
    /// left to right, so their order is kept. The revision and annotations are *not* part of
    /// the digest: re-applying the same content under a new revision is no change.
    ///
    /// ```
    /// use lattice_spec::ComponentSpecDraft;
    ///
    /// let a = ComponentSpecDraft::new("app", "nginx").config_value("a", "1").config_value("b", "2");
    /// let b = ComponentSpecDraft::new("app", "docker.io/library/nginx:latest")
    ///     .config_value("b", "2").config_value("a", "1").revision(7);
    /// assert_eq!(a.validate()?.digest(), b.validate()?.digest());
    /// # Ok::<(), lattice_spec::SpecErrors>(())
    /// ```
    #[must_use]
    pub fn digest(&self) -> ContentDigest {
        let mut links: Vec<CanonicalLink<'_>> =
            self.links.iter().map(CanonicalLink::from).collect();
        links.sort_by(|a, b| {
            (a.wit_namespace, a.wit_package, a.name, a.source).cmp(&(
                b.wit_namespace,
                b.wit_package,
                b.name,
                b.source,
            ))
        });
        let secrets = sorted(&self.secrets);
        let canonical = CanonicalSpec {
            id: self.id.as_str(),
            artifact: self.artifact.canonical(),
            digest: self.digest.as_ref().map(ContentDigest::as_str),
            scale: self.scale.get(),
            config: CanonicalConfig::from(&self.config),
            secrets,
            links,
        };
        let mut bytes = DOMAIN.to_vec();
        // Struct fields serialize in declaration order and maps are BTreeMaps, so these bytes
        // do not depend on serde_json's `preserve_order` feature being on anywhere in the tree.
        serde_json::to_writer(&mut bytes, &canonical)
            .unwrap_or_else(|e| unreachable!("canonical spec always serializes: {e}"));
        ContentDigest::sha256_of(&bytes)
    }
}

#[derive(Serialize)]
struct CanonicalSpec<'a> {
    id: &'a str,
    artifact: String,
    digest: Option<&'a str>,
    scale: u32,
    config: CanonicalConfig<'a>,
    secrets: Vec<&'a SecretRef>,
    links: Vec<CanonicalLink<'a>>,
}

/// A configuration's pins are part of it: a named configuration pinned to other content is
/// other configuration, so rotating a value and pinning it is a changed spec. Skipped when
/// empty, so a spec without pins keeps the digest it had before pins existed.
#[derive(Serialize)]
struct CanonicalConfig<'a> {
    names: Vec<&'a str>,
    values: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pins: BTreeMap<&'a str, &'a str>,
}

impl<'a> From<&'a ConfigSpec> for CanonicalConfig<'a> {
    fn from(config: &'a ConfigSpec) -> Self {
        Self {
            names: config.names.iter().map(|n| n.as_str()).collect(),
            values: &config.values,
            pins: config
                .pins
                .iter()
                .map(|(name, digest)| (name.as_str(), digest.as_str()))
                .collect(),
        }
    }
}

// Fields added after the first release are skipped when empty, so a spec that does not use
// them keeps the digest it always had.
#[derive(Serialize)]
struct CanonicalLink<'a> {
    wit_namespace: &'a str,
    wit_package: &'a str,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<&'a str>,
    interfaces: Vec<&'a str>,
    source_config: CanonicalConfig<'a>,
    target_config: CanonicalConfig<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target_kind: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    source_secrets: Vec<&'a SecretRef>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    target_secrets: Vec<&'a SecretRef>,
}

fn sorted(secrets: &[SecretRef]) -> Vec<&SecretRef> {
    let mut sorted: Vec<&SecretRef> = secrets.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    sorted
}

impl<'a> From<&'a LinkSpec> for CanonicalLink<'a> {
    fn from(link: &'a LinkSpec) -> Self {
        let mut interfaces: Vec<&str> = link.interfaces.iter().map(String::as_str).collect();
        interfaces.sort_unstable();
        interfaces.dedup();
        Self {
            wit_namespace: &link.wit_namespace,
            wit_package: &link.wit_package,
            name: link.name.as_str(),
            target: link.target.as_ref().map(|t| t.as_str()),
            interfaces,
            source_config: CanonicalConfig::from(&link.source_config),
            target_config: CanonicalConfig::from(&link.target_config),
            source: link.source.as_ref().map(|s| s.as_str()),
            target_kind: (link.target_kind != LinkTargetKind::Provider)
                .then(|| link.target_kind.as_str()),
            source_secrets: sorted(&link.source_secrets),
            target_secrets: sorted(&link.target_secrets),
        }
    }
}
