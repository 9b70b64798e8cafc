//! The validated provider spec, [`ProviderSpec`], its draft [`ProviderSpecDraft`] and its
//! canonical digest.
//!
//! A capability provider is a native executable a host starts as a supervised child process
//! (wasmCloud 1.x runs providers the same way). Its spec says which executable (a local file
//! or an OCI reference, optionally pinned to a digest), its configuration (named
//! configurations merged left to right, then inline values) and the secrets it may read, by
//! reference. Links are not part of a provider's spec: they belong to the components that use
//! the provider, and a host hands a provider the links of its components.

use crate::{
    ArtifactRef, ConfigDraft, ConfigSpec, ContentDigest, FieldError, ProviderId, Revision,
    SecretRef, SecretRefDraft, SpecErrorCode, SpecErrors,
};
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

/// The whole desired state of one capability provider on a host, at one revision.
///
/// Applying the same spec twice changes nothing: hosts compare [`ProviderSpec::digest`].
///
/// ```
/// use lattice_spec::ProviderSpecDraft;
///
/// let spec = ProviderSpecDraft::new("keyvalue", "file:///opt/providers/keyvalue")
///     .revision(2)
///     .config_value("max_buckets", "16")
///     .validate()?;
/// assert_eq!(spec.id(), "keyvalue");
/// assert_eq!(spec.artifact().as_file().and_then(|p| p.to_str()), Some("/opt/providers/keyvalue"));
/// # Ok::<(), lattice_spec::SpecErrors>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ProviderSpec {
    pub(crate) id: ProviderId,
    pub(crate) revision: Revision,
    pub(crate) artifact: ArtifactRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) digest: Option<ContentDigest>,
    #[serde(default, skip_serializing_if = "ConfigSpec::is_empty")]
    pub(crate) config: ConfigSpec,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) secrets: Vec<SecretRef>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) annotations: BTreeMap<String, String>,
}

impl ProviderSpec {
    /// The provider's id: the token of its subjects (`wasmbus.rpc.{lattice}.{id}.…`) and the
    /// target links name.
    #[must_use]
    pub fn id(&self) -> &ProviderId {
        &self.id
    }

    /// The revision of this desired state.
    #[must_use]
    pub fn revision(&self) -> Revision {
        self.revision
    }

    /// Where the provider's executable comes from.
    #[must_use]
    pub fn artifact(&self) -> &ArtifactRef {
        &self.artifact
    }

    /// The digest the fetched executable must have, when pinned.
    #[must_use]
    pub fn digest_pin(&self) -> Option<&ContentDigest> {
        self.digest.as_ref()
    }

    /// The provider's own configuration (handed to it as the host data's `config`).
    #[must_use]
    pub fn config(&self) -> &ConfigSpec {
        &self.config
    }

    /// The named configurations the spec uses without a pin.
    #[must_use]
    pub fn unpinned_config_names(&self) -> std::collections::BTreeSet<&crate::ConfigName> {
        self.config
            .names
            .iter()
            .filter(|n| !self.config.pins.contains_key(*n))
            .collect()
    }

    /// The same spec with every *unpinned* name in `pins` pinned to its digest; pins already
    /// there stay (see [`crate::ComponentSpec::with_config_pins`]).
    #[must_use]
    pub fn with_config_pins(mut self, pins: &BTreeMap<crate::ConfigName, ContentDigest>) -> Self {
        for name in &self.config.names {
            if let Some(digest) = pins.get(name) {
                self.config
                    .pins
                    .entry(name.clone())
                    .or_insert_with(|| digest.clone());
            }
        }
        self
    }

    /// The secrets the provider may read, by reference.
    #[must_use]
    pub fn secrets(&self) -> &[SecretRef] {
        &self.secrets
    }

    /// Free-form metadata. Not part of the digest.
    #[must_use]
    pub fn annotations(&self) -> &BTreeMap<String, String> {
        &self.annotations
    }

    /// A draft with the same content, to edit and validate again.
    #[must_use]
    pub fn to_draft(&self) -> ProviderSpecDraft {
        ProviderSpecDraft {
            id: self.id.to_string(),
            revision: self.revision.0,
            artifact: self.artifact.as_str().to_owned(),
            digest: self.digest.as_ref().map(|d| d.as_str().to_owned()),
            config: ConfigDraft::from(&self.config),
            secrets: self
                .secrets
                .iter()
                .map(|s| SecretRefDraft {
                    name: s.name.clone(),
                    backend: s.backend.clone(),
                    key: s.key.clone(),
                    field: s.field.clone(),
                    version: s.version.clone(),
                    value_was_sent: false,
                })
                .collect(),
            annotations: self.annotations.clone(),
        }
    }

    /// The sha256 digest of the spec's canonical form.
    ///
    /// Equal for specs that would run the same: the same provider, executable (compared in
    /// normalised form), digest pin, configuration and secret references (sorted by name).
    /// Named configurations keep their merge order. The revision and annotations are not part
    /// of it: the same content under a new revision is no change. The bytes are prefixed with
    /// a domain of their own, so a provider spec's digest never equals a component spec's.
    ///
    /// ```
    /// use lattice_spec::ProviderSpecDraft;
    ///
    /// let a = ProviderSpecDraft::new("kv", "/opt/kv").config_value("a", "1").config_value("b", "2");
    /// let b = ProviderSpecDraft::new("kv", "file:///opt/kv").config_value("b", "2").config_value("a", "1").revision(9);
    /// assert_eq!(a.validate()?.digest(), b.validate()?.digest());
    /// # Ok::<(), lattice_spec::SpecErrors>(())
    /// ```
    #[must_use]
    pub fn digest(&self) -> ContentDigest {
        #[derive(Serialize)]
        struct Canonical<'a> {
            id: &'a str,
            artifact: String,
            digest: Option<&'a str>,
            config_names: Vec<&'a str>,
            config_values: &'a BTreeMap<String, String>,
            // Pinned named configurations: a rotated value that is pinned is a changed spec.
            // Skipped when empty, like the component spec's.
            #[serde(skip_serializing_if = "BTreeMap::is_empty")]
            config_pins: BTreeMap<&'a str, &'a str>,
            secrets: Vec<&'a SecretRef>,
        }
        const DOMAIN: &[u8] = b"lattice.provider-spec.v1\n";
        let mut secrets: Vec<&SecretRef> = self.secrets.iter().collect();
        secrets.sort_by(|a, b| a.name.cmp(&b.name));
        let canonical = Canonical {
            id: self.id.as_str(),
            artifact: self.artifact.canonical(),
            digest: self.digest.as_ref().map(ContentDigest::as_str),
            config_names: self.config.names.iter().map(|n| n.as_str()).collect(),
            config_values: &self.config.values,
            config_pins: self
                .config
                .pins
                .iter()
                .map(|(name, digest)| (name.as_str(), digest.as_str()))
                .collect(),
            secrets,
        };
        let mut bytes = DOMAIN.to_vec();
        serde_json::to_writer(&mut bytes, &canonical)
            .unwrap_or_else(|e| unreachable!("canonical provider spec always serializes: {e}"));
        ContentDigest::sha256_of(&bytes)
    }
}

impl<'de> Deserialize<'de> for ProviderSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        ProviderSpecDraft::deserialize(deserializer)?
            .validate()
            .map_err(serde::de::Error::custom)
    }
}

/// A provider spec before validation; also the builder for one.
///
/// ```
/// use lattice_spec::{ProviderSpecDraft, SpecErrorCode};
///
/// let errors = ProviderSpecDraft::new("bad.id", "").validate().unwrap_err();
/// assert!(errors.contains("id", SpecErrorCode::InvalidId));
/// assert!(errors.contains("artifact", SpecErrorCode::InvalidArtifact));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProviderSpecDraft {
    /// See [`ProviderSpec::id`].
    pub id: String,
    /// See [`ProviderSpec::revision`].
    pub revision: u64,
    /// See [`ProviderSpec::artifact`].
    pub artifact: String,
    /// See [`ProviderSpec::digest_pin`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// See [`ProviderSpec::config`].
    #[serde(default)]
    pub config: ConfigDraft,
    /// See [`ProviderSpec::secrets`].
    #[serde(default)]
    pub secrets: Vec<SecretRefDraft>,
    /// See [`ProviderSpec::annotations`].
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

impl ProviderSpecDraft {
    /// A draft at revision 1 with no configuration or secrets.
    #[must_use]
    pub fn new(id: impl Into<String>, artifact: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            revision: 1,
            artifact: artifact.into(),
            ..Self::default()
        }
    }

    /// Sets the revision.
    #[must_use]
    pub fn revision(mut self, revision: u64) -> Self {
        self.revision = revision;
        self
    }

    /// Pins the executable's digest.
    #[must_use]
    pub fn digest(mut self, digest: impl Into<String>) -> Self {
        self.digest = Some(digest.into());
        self
    }

    /// Appends a named configuration.
    #[must_use]
    pub fn config_name(mut self, name: impl Into<String>) -> Self {
        self.config.names.push(name.into());
        self
    }

    /// Sets an inline configuration value.
    #[must_use]
    pub fn config_value(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.values.insert(key.into(), value.into());
        self
    }

    /// Adds a secret reference.
    #[must_use]
    pub fn secret(mut self, secret: SecretRefDraft) -> Self {
        self.secrets.push(secret);
        self
    }

    /// Sets an annotation.
    #[must_use]
    pub fn annotation(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.annotations.insert(key.into(), value.into());
        self
    }

    /// Checks every field and returns the valid spec.
    ///
    /// # Errors
    ///
    /// [`SpecErrors`] listing **every** problem, each with the path of its field.
    pub fn validate(&self) -> Result<ProviderSpec, SpecErrors> {
        let mut errors: Vec<FieldError> = Vec::new();
        let mut check = |path: &str, code: SpecErrorCode, message: String| {
            errors.push(FieldError::new(path, code, message));
        };
        let id = ProviderId::new(self.id.clone())
            .map_err(|e| check("id", SpecErrorCode::InvalidId, e.to_string()))
            .ok();
        let artifact = ArtifactRef::parse(&*self.artifact)
            .map_err(|e| check("artifact", SpecErrorCode::InvalidArtifact, e.to_string()))
            .ok();
        let digest = match &self.digest {
            Some(digest) => ContentDigest::new(&**digest)
                .map_err(|e| check("digest", SpecErrorCode::InvalidDigest, e.to_string()))
                .ok(),
            None => None,
        };
        for key in self.annotations.keys().filter(|k| k.is_empty()) {
            check(
                &format!("annotations[{key:?}]"),
                SpecErrorCode::Empty,
                "annotation keys must not be empty".to_owned(),
            );
        }
        let (config, secrets, more) = crate::draft::validate_parts(&self.config, &self.secrets);
        errors.extend(more);
        if let Some(errors) = SpecErrors::from_vec(errors) {
            return Err(errors);
        }
        let (Some(id), Some(artifact)) = (id, artifact) else {
            unreachable!("every field that failed to parse recorded an error");
        };
        Ok(ProviderSpec {
            id,
            revision: Revision(self.revision),
            artifact,
            digest,
            config,
            secrets,
            annotations: self.annotations.clone(),
        })
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for ProviderSpec {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        // A component spec's generator already yields valid ids, artifacts, configs and
        // unique secret names; reuse its parts.
        let component = crate::ComponentSpec::arbitrary(u)?;
        Ok(Self {
            id: arbitrary::Arbitrary::arbitrary(u)?,
            revision: component.revision,
            artifact: component.artifact,
            digest: component.digest,
            config: component.config,
            secrets: component.secrets,
            annotations: component.annotations,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_reported_by_field() {
        let mut draft = ProviderSpecDraft::new("-bad", "file://")
            .digest("md5:nope")
            .config_name("Not A Name!")
            .secret(SecretRefDraft::new("", "nats-kv", "k"));
        draft.secrets[0].value_was_sent = true;
        let errors = draft.validate().unwrap_err();
        assert!(errors.contains("id", SpecErrorCode::InvalidId), "{errors}");
        assert!(errors.contains("artifact", SpecErrorCode::InvalidArtifact));
        assert!(errors.contains("digest", SpecErrorCode::InvalidDigest));
        assert!(errors.contains("config.names[0]", SpecErrorCode::InvalidId));
        assert!(errors.contains("secrets[0].name", SpecErrorCode::Empty));
        assert!(errors.contains("secrets[0].value", SpecErrorCode::SecretValue));
    }

    #[test]
    fn the_digest_ignores_revision_and_annotations_but_not_content() {
        let base = ProviderSpecDraft::new("kv", "/opt/kv").config_value("a", "1");
        let digest = base.validate().unwrap().digest();
        let relabelled = base.clone().revision(5).annotation("team", "x");
        assert_eq!(relabelled.validate().unwrap().digest(), digest);
        for changed in [
            base.clone().config_value("a", "2"),
            ProviderSpecDraft::new("kv", "/opt/kv2").config_value("a", "1"),
            base.clone().config_name("shared"),
            base.clone()
                .secret(SecretRefDraft::new("token", "nats-kv", "kv-token")),
            base.clone().digest(format!("sha256:{}", "0".repeat(64))),
        ] {
            assert_ne!(changed.validate().unwrap().digest(), digest, "{changed:?}");
        }
    }

    #[test]
    fn a_spec_round_trips_through_json_and_its_draft() {
        let spec = ProviderSpecDraft::new("kv", "ghcr.io/acme/kv:1")
            .revision(3)
            .config_name("shared")
            .config_value("a", "1")
            .secret(SecretRefDraft::new("token", "nats-kv", "kv-token"))
            .annotation("team", "x")
            .validate()
            .unwrap();
        let json = serde_json::to_string(&spec).unwrap();
        assert_eq!(serde_json::from_str::<ProviderSpec>(&json).unwrap(), spec);
        assert_eq!(spec.to_draft().validate().unwrap(), spec);
    }
}
