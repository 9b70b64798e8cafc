//! Unvalidated specs and the validation that turns them into [`ComponentSpec`]s.
//!
//! A draft holds plain strings, so a document with many mistakes still decodes into one and
//! [`ComponentSpecDraft::validate`] can report **every** problem with the path of its field,
//! not just the first one a decoder trips over.

use crate::{
    ArtifactRef, ComponentId, ComponentSpec, ConfigName, ConfigSpec, ContentDigest, FieldError,
    LinkName, LinkSpec, LinkTargetKind, ProviderId, Revision, SecretRef, SpecErrorCode, SpecErrors,
    WorkloadId,
};
use serde::{Deserialize, Deserializer, Serialize};
use std::{
    collections::{BTreeMap, BTreeSet},
    num::NonZeroU32,
};

/// A component spec before validation; also the builder for one.
///
/// ```
/// use lattice_spec::{ComponentSpecDraft, SpecErrorCode};
///
/// let errors = ComponentSpecDraft::new("bad.id", "not a reference!").scale(0).validate().unwrap_err();
/// assert!(errors.contains("id", SpecErrorCode::InvalidId));
/// assert!(errors.contains("artifact", SpecErrorCode::InvalidArtifact));
/// assert!(errors.contains("scale", SpecErrorCode::ZeroScale));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ComponentSpecDraft {
    /// See [`ComponentSpec::id`].
    pub id: String,
    /// See [`ComponentSpec::revision`].
    pub revision: u64,
    /// See [`ComponentSpec::artifact`].
    pub artifact: String,
    /// See [`ComponentSpec::digest_pin`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// See [`ComponentSpec::scale`].
    pub scale: u32,
    /// See [`ComponentSpec::config`].
    #[serde(default)]
    pub config: ConfigDraft,
    /// See [`ComponentSpec::secrets`].
    #[serde(default)]
    pub secrets: Vec<SecretRefDraft>,
    /// See [`ComponentSpec::links`].
    #[serde(default)]
    pub links: Vec<LinkDraft>,
    /// See [`ComponentSpec::annotations`].
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// Configuration before validation. See [`ConfigSpec`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ConfigDraft {
    /// Named configurations, in merge order.
    #[serde(default)]
    pub names: Vec<String>,
    /// Inline values.
    #[serde(default)]
    pub values: BTreeMap<String, String>,
    /// Content digests named configurations are pinned to (`name -> sha256:…`); each name
    /// must be one of `names`. See [`ConfigSpec::pins`].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pins: BTreeMap<String, String>,
}

/// A secret reference before validation. See [`SecretRef`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SecretRefDraft {
    /// The name the component asks for.
    pub name: String,
    /// The backend holding the secret.
    pub backend: String,
    /// The secret's key in its backend.
    pub key: String,
    /// A field within the secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// A pinned version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Set when the document carried a `value`: a secret where a reference belongs. The value
    /// itself is dropped while decoding, never stored or printed.
    #[serde(
        default,
        rename = "value",
        skip_serializing,
        deserialize_with = "value_present"
    )]
    pub value_was_sent: bool,
}

fn value_present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(deserializer).map(|_| true)
}

/// A link before validation. See [`LinkSpec`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LinkDraft {
    /// The link's name; `default` when absent.
    #[serde(default = "default_link_name")]
    pub name: String,
    /// The provider that calls the component (an incoming link). Set this or `target`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The provider or component serving the interfaces (an outgoing link). Set this or
    /// `source`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// What `target` names: a `provider` (the default) or a `component`.
    #[serde(default, skip_serializing_if = "is_provider")]
    pub target_kind: LinkTargetKind,
    /// The WIT namespace.
    pub wit_namespace: String,
    /// The WIT package.
    pub wit_package: String,
    /// The interfaces used.
    pub interfaces: Vec<String>,
    /// Configuration for the source's end.
    #[serde(default)]
    pub source_config: ConfigDraft,
    /// Configuration for the target's end.
    #[serde(default)]
    pub target_config: ConfigDraft,
    /// Secret references for the source's end.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_secrets: Vec<SecretRefDraft>,
    /// Secret references for the target's end.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_secrets: Vec<SecretRefDraft>,
}

fn is_provider(kind: &LinkTargetKind) -> bool {
    *kind == LinkTargetKind::Provider
}

fn default_link_name() -> String {
    "default".to_owned()
}

impl ComponentSpecDraft {
    /// A draft at revision 1 and scale 1, with no configuration, secrets or links.
    #[must_use]
    pub fn new(id: impl Into<String>, artifact: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            revision: 1,
            artifact: artifact.into(),
            scale: 1,
            ..Self::default()
        }
    }

    /// Sets the revision.
    #[must_use]
    pub fn revision(mut self, revision: u64) -> Self {
        self.revision = revision;
        self
    }

    /// Sets the scale.
    #[must_use]
    pub fn scale(mut self, scale: u32) -> Self {
        self.scale = scale;
        self
    }

    /// Pins the artifact's digest.
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

    /// Adds a link.
    #[must_use]
    pub fn link(mut self, link: LinkDraft) -> Self {
        self.links.push(link);
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
    pub fn validate(&self) -> Result<ComponentSpec, SpecErrors> {
        let mut v = Validator::default();
        let id = v.id::<ComponentId>("id", &self.id);
        let artifact = v.check(
            "artifact",
            SpecErrorCode::InvalidArtifact,
            ArtifactRef::parse(&*self.artifact),
        );
        let digest = match &self.digest {
            Some(digest) => v.check(
                "digest",
                SpecErrorCode::InvalidDigest,
                ContentDigest::new(&**digest),
            ),
            None => None,
        };
        let scale = NonZeroU32::new(self.scale);
        if scale.is_none() {
            v.push(
                "scale",
                SpecErrorCode::ZeroScale,
                "scale must be at least 1; delete the component spec to stop the component",
            );
        }
        let config = v.config("config", &self.config);
        let secrets = v.secrets("secrets", &self.secrets);
        let links = v.links(&self.links);
        for key in self.annotations.keys().filter(|k| k.is_empty()) {
            v.push(
                format!("annotations[{key:?}]"),
                SpecErrorCode::Empty,
                "annotation keys must not be empty",
            );
        }
        if let Some(errors) = SpecErrors::from_vec(v.errors) {
            return Err(errors);
        }
        let (Some(id), Some(artifact), Some(scale)) = (id, artifact, scale) else {
            unreachable!("every field that failed to parse recorded an error");
        };
        Ok(ComponentSpec {
            id,
            revision: Revision(self.revision),
            artifact,
            digest,
            scale,
            config,
            secrets,
            links,
            annotations: self.annotations.clone(),
        })
    }
}

impl LinkDraft {
    /// An outgoing link named `default` to the provider `target`, for the component's
    /// imports `interfaces` of `wit_namespace:wit_package`.
    #[must_use]
    pub fn new<I: Into<String>>(
        target: impl Into<String>,
        wit_namespace: impl Into<String>,
        wit_package: impl Into<String>,
        interfaces: impl IntoIterator<Item = I>,
    ) -> Self {
        Self {
            name: default_link_name(),
            target: Some(target.into()),
            wit_namespace: wit_namespace.into(),
            wit_package: wit_package.into(),
            interfaces: interfaces.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// An outgoing link named `default` to another component, `target`, which exports
    /// `interfaces` of `wit_namespace:wit_package`.
    ///
    /// ```
    /// use lattice_spec::{ComponentSpecDraft, LinkDraft, LinkPeer};
    ///
    /// let spec = ComponentSpecDraft::new("frontend", "ghcr.io/acme/frontend:1")
    ///     .link(LinkDraft::to_component("auth", "acme", "auth", ["verify"]))
    ///     .validate()?;
    /// assert!(matches!(spec.links()[0].peer(), LinkPeer::Component(id) if id == "auth"));
    /// assert_eq!(spec.links()[0].provider(), None); // no link message to send: wRPC routes it
    /// # Ok::<(), lattice_spec::SpecErrors>(())
    /// ```
    #[must_use]
    pub fn to_component<I: Into<String>>(
        target: impl Into<String>,
        wit_namespace: impl Into<String>,
        wit_package: impl Into<String>,
        interfaces: impl IntoIterator<Item = I>,
    ) -> Self {
        Self {
            target_kind: LinkTargetKind::Component,
            ..Self::new(target, wit_namespace, wit_package, interfaces)
        }
    }

    /// An incoming link named `default`: the provider `source` calls the component's exports
    /// `interfaces` of `wit_namespace:wit_package` (an HTTP server or a messaging provider).
    /// The provider's settings go in [`source_config_value`](Self::source_config_value).
    ///
    /// ```
    /// use lattice_spec::{ComponentSpecDraft, LinkDraft, LinkDirection};
    ///
    /// let spec = ComponentSpecDraft::new("hello", "ghcr.io/acme/hello:1")
    ///     .link(
    ///         LinkDraft::incoming("http-server", "wasi", "http", ["incoming-handler"])
    ///             .source_config_value("address", "0.0.0.0:8080"),
    ///     )
    ///     .validate()?;
    /// let link = &spec.links()[0];
    /// assert!(matches!(link.direction(), LinkDirection::Incoming(p) if p == "http-server"));
    /// assert_eq!(link.source_id(spec.id()), "http-server");
    /// assert_eq!(link.target_id(spec.id()), "hello");
    /// # Ok::<(), lattice_spec::SpecErrors>(())
    /// ```
    #[must_use]
    pub fn incoming<I: Into<String>>(
        source: impl Into<String>,
        wit_namespace: impl Into<String>,
        wit_package: impl Into<String>,
        interfaces: impl IntoIterator<Item = I>,
    ) -> Self {
        Self {
            name: default_link_name(),
            source: Some(source.into()),
            wit_namespace: wit_namespace.into(),
            wit_package: wit_package.into(),
            interfaces: interfaces.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// Sets the link's name.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets an inline value of the source's end.
    #[must_use]
    pub fn source_config_value(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.source_config.values.insert(key.into(), value.into());
        self
    }

    /// Sets an inline value of the target's end.
    #[must_use]
    pub fn target_config_value(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.target_config.values.insert(key.into(), value.into());
        self
    }

    /// Appends a named configuration to the target's end.
    #[must_use]
    pub fn target_config_name(mut self, name: impl Into<String>) -> Self {
        self.target_config.names.push(name.into());
        self
    }

    /// Appends a named configuration to the source's end.
    #[must_use]
    pub fn source_config_name(mut self, name: impl Into<String>) -> Self {
        self.source_config.names.push(name.into());
        self
    }

    /// Adds a secret reference for the source's end.
    #[must_use]
    pub fn source_secret(mut self, secret: SecretRefDraft) -> Self {
        self.source_secrets.push(secret);
        self
    }

    /// Adds a secret reference for the target's end (e.g. a provider's credentials).
    #[must_use]
    pub fn target_secret(mut self, secret: SecretRefDraft) -> Self {
        self.target_secrets.push(secret);
        self
    }
}

impl SecretRefDraft {
    /// A reference to `key` in `backend`, readable by the component as `name`.
    #[must_use]
    pub fn new(
        name: impl Into<String>,
        backend: impl Into<String>,
        key: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            backend: backend.into(),
            key: key.into(),
            ..Self::default()
        }
    }
}

/// Collects problems while walking a draft.
#[derive(Default)]
struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    fn push(&mut self, path: impl Into<String>, code: SpecErrorCode, message: impl Into<String>) {
        self.errors.push(FieldError::new(path, code, message));
    }

    /// Records `result`'s error, with its causes (e.g. what the OCI reference parser said),
    /// under `path`.
    fn check<T, E: std::error::Error>(
        &mut self,
        path: &str,
        code: SpecErrorCode,
        result: Result<T, E>,
    ) -> Option<T> {
        result
            .map_err(|e| {
                let mut message = e.to_string();
                let mut cause = e.source();
                while let Some(source) = cause {
                    message.push_str(": ");
                    message.push_str(&source.to_string());
                    cause = source.source();
                }
                self.push(path, code, message)
            })
            .ok()
    }

    fn id<T: TryFrom<String, Error = crate::IdError>>(
        &mut self,
        path: &str,
        value: &str,
    ) -> Option<T> {
        self.check(
            path,
            SpecErrorCode::InvalidId,
            T::try_from(value.to_owned()),
        )
    }

    fn non_empty(&mut self, path: String, value: &str) {
        if value.trim().is_empty() {
            self.push(path, SpecErrorCode::Empty, "must not be empty");
        }
    }

    fn config(&mut self, path: &str, draft: &ConfigDraft) -> ConfigSpec {
        let names = draft
            .names
            .iter()
            .enumerate()
            .filter_map(|(i, name)| self.id::<ConfigName>(&format!("{path}.names[{i}]"), name))
            .collect();
        for key in draft.values.keys().filter(|k| k.is_empty()) {
            self.push(
                format!("{path}.values[{key:?}]"),
                SpecErrorCode::Empty,
                "configuration keys must not be empty",
            );
        }
        let mut pins = BTreeMap::new();
        for (name, digest) in &draft.pins {
            let at = format!("{path}.pins[{name:?}]");
            let Some(config) = self.id::<ConfigName>(&at, name) else {
                continue;
            };
            if !draft.names.iter().any(|n| n == name) {
                self.push(
                    at,
                    SpecErrorCode::UnusedPin,
                    format!("`{name}` is pinned but not one of the named configurations"),
                );
                continue;
            }
            let Some(digest) = self.check(
                &at,
                SpecErrorCode::InvalidDigest,
                ContentDigest::new(&**digest),
            ) else {
                continue;
            };
            if !digest.as_str().starts_with("sha256:") {
                self.push(
                    at,
                    SpecErrorCode::InvalidDigest,
                    "a configuration pin is the sha256 digest of the configuration's canonical JSON",
                );
                continue;
            }
            pins.insert(config, digest);
        }
        ConfigSpec {
            names,
            values: draft.values.clone(),
            pins,
        }
    }

    fn secrets(&mut self, field: &str, drafts: &[SecretRefDraft]) -> Vec<SecretRef> {
        let mut seen = BTreeSet::new();
        let mut secrets = Vec::with_capacity(drafts.len());
        for (i, draft) in drafts.iter().enumerate() {
            let path = format!("{field}[{i}]");
            if draft.value_was_sent {
                self.push(
                    format!("{path}.value"),
                    SpecErrorCode::SecretValue,
                    "a secret value was sent where only a reference belongs; store it in a \
                     secrets backend and reference it by `backend` and `key`",
                );
            }
            self.non_empty(format!("{path}.name"), &draft.name);
            self.non_empty(format!("{path}.backend"), &draft.backend);
            self.non_empty(format!("{path}.key"), &draft.key);
            if !draft.name.is_empty() && !seen.insert(draft.name.as_str()) {
                self.push(
                    format!("{path}.name"),
                    SpecErrorCode::DuplicateSecret,
                    format!("secret `{}` is listed twice", draft.name),
                );
            }
            secrets.push(SecretRef {
                name: draft.name.clone(),
                backend: draft.backend.clone(),
                key: draft.key.clone(),
                field: draft.field.clone(),
                version: draft.version.clone(),
            });
        }
        secrets
    }

    fn links(&mut self, drafts: &[LinkDraft]) -> Vec<LinkSpec> {
        let mut seen = BTreeSet::new();
        let mut links = Vec::with_capacity(drafts.len());
        for (i, draft) in drafts.iter().enumerate() {
            let path = format!("links[{i}]");
            let name = self.id::<LinkName>(&format!("{path}.name"), &draft.name);
            let ends = self.link_ends(&path, draft);
            self.wit_name(format!("{path}.wit_namespace"), &draft.wit_namespace);
            self.wit_name(format!("{path}.wit_package"), &draft.wit_package);
            if draft.interfaces.is_empty() {
                self.push(
                    format!("{path}.interfaces"),
                    SpecErrorCode::Empty,
                    "a link must name at least one interface",
                );
            }
            for (j, interface) in draft.interfaces.iter().enumerate() {
                self.wit_name(format!("{path}.interfaces[{j}]"), interface);
            }
            let key = (
                draft.source.as_deref(),
                draft.wit_namespace.as_str(),
                draft.wit_package.as_str(),
                draft.name.as_str(),
            );
            if !seen.insert(key) {
                let from = draft
                    .source
                    .as_ref()
                    .map(|s| format!(" from `{s}`"))
                    .unwrap_or_default();
                self.push(
                    format!("{path}.name"),
                    SpecErrorCode::DuplicateLink,
                    format!(
                        "link `{}` to `{}:{}`{from} is listed twice; give one of them another name",
                        draft.name, draft.wit_namespace, draft.wit_package
                    ),
                );
            }
            let source_config = self.config(&format!("{path}.source_config"), &draft.source_config);
            let target_config = self.config(&format!("{path}.target_config"), &draft.target_config);
            let source_secrets =
                self.secrets(&format!("{path}.source_secrets"), &draft.source_secrets);
            let target_secrets =
                self.secrets(&format!("{path}.target_secrets"), &draft.target_secrets);
            if let (Some(name), Some((source, target))) = (name, ends) {
                links.push(LinkSpec {
                    name,
                    source,
                    target,
                    target_kind: draft.target_kind,
                    wit_namespace: draft.wit_namespace.clone(),
                    wit_package: draft.wit_package.clone(),
                    interfaces: draft.interfaces.clone(),
                    source_config,
                    target_config,
                    source_secrets,
                    target_secrets,
                });
            }
        }
        links
    }

    /// Exactly one end is named: the provider `source` of an incoming link, or the `target`
    /// of an outgoing one (whose kind must be known).
    #[allow(clippy::type_complexity)]
    fn link_ends(
        &mut self,
        path: &str,
        draft: &LinkDraft,
    ) -> Option<(Option<ProviderId>, Option<WorkloadId>)> {
        match (&draft.source, &draft.target) {
            (Some(source), None) => {
                if draft.target_kind != LinkTargetKind::Provider {
                    self.push(
                        format!("{path}.target_kind"),
                        SpecErrorCode::InvalidLinkEnds,
                        "an incoming link has no target to give a kind: its target is the \
                         component itself",
                    );
                }
                let source = self.id::<ProviderId>(&format!("{path}.source"), source)?;
                Some((Some(source), None))
            }
            (None, Some(target)) => {
                if draft.target_kind == LinkTargetKind::Unknown {
                    self.push(
                        format!("{path}.target_kind"),
                        SpecErrorCode::InvalidLinkEnds,
                        "unknown target kind; expected `provider` or `component`",
                    );
                    return None;
                }
                let target = self.id::<WorkloadId>(&format!("{path}.target"), target)?;
                Some((None, Some(target)))
            }
            (Some(_), Some(_)) => {
                self.push(
                    format!("{path}.source"),
                    SpecErrorCode::InvalidLinkEnds,
                    "a link names either its `target` (the component calls it) or its provider \
                     `source` (the provider calls the component), not both",
                );
                None
            }
            (None, None) => {
                self.push(
                    format!("{path}.target"),
                    SpecErrorCode::InvalidLinkEnds,
                    "a link needs a `target` (the provider or component the component calls) or \
                     a provider `source` (a provider that calls the component)",
                );
                None
            }
        }
    }

    fn wit_name(&mut self, path: String, value: &str) {
        if !is_wit_identifier(value) {
            self.push(
                path,
                SpecErrorCode::InvalidWitName,
                format!("`{value}` is not a WIT identifier (kebab-case words of lowercase letters and digits, each starting with a letter)"),
            );
        }
    }
}

/// Whether `value` is a WIT identifier: `-`-separated words, each starting with a letter and
/// all lowercase or all uppercase ASCII alphanumerics.
#[must_use]
pub fn is_wit_identifier(value: &str) -> bool {
    !value.is_empty()
        && value.split('-').all(|word| {
            let mut chars = word.chars();
            chars.next().is_some_and(|c| c.is_ascii_alphabetic())
                && (word
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                    || word
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()))
        })
}

impl From<&ConfigSpec> for ConfigDraft {
    fn from(config: &ConfigSpec) -> Self {
        Self {
            names: config.names.iter().map(|n| n.as_str().to_owned()).collect(),
            values: config.values.clone(),
            pins: config
                .pins
                .iter()
                .map(|(n, d)| (n.as_str().to_owned(), d.as_str().to_owned()))
                .collect(),
        }
    }
}

impl From<&SecretRef> for SecretRefDraft {
    fn from(s: &SecretRef) -> Self {
        Self {
            name: s.name.clone(),
            backend: s.backend.clone(),
            key: s.key.clone(),
            field: s.field.clone(),
            version: s.version.clone(),
            value_was_sent: false,
        }
    }
}

impl From<&ComponentSpec> for ComponentSpecDraft {
    fn from(spec: &ComponentSpec) -> Self {
        Self {
            id: spec.id.as_str().to_owned(),
            revision: spec.revision.0,
            artifact: spec.artifact.as_str().to_owned(),
            digest: spec.digest.as_ref().map(|d| d.as_str().to_owned()),
            scale: spec.scale.get(),
            config: ConfigDraft::from(&spec.config),
            secrets: spec.secrets.iter().map(SecretRefDraft::from).collect(),
            links: spec
                .links
                .iter()
                .map(|l| LinkDraft {
                    name: l.name.as_str().to_owned(),
                    source: l.source.as_ref().map(|s| s.as_str().to_owned()),
                    target: l.target.as_ref().map(|t| t.as_str().to_owned()),
                    target_kind: l.target_kind,
                    wit_namespace: l.wit_namespace.clone(),
                    wit_package: l.wit_package.clone(),
                    interfaces: l.interfaces.clone(),
                    source_config: ConfigDraft::from(&l.source_config),
                    target_config: ConfigDraft::from(&l.target_config),
                    source_secrets: l.source_secrets.iter().map(SecretRefDraft::from).collect(),
                    target_secrets: l.target_secrets.iter().map(SecretRefDraft::from).collect(),
                })
                .collect(),
            annotations: spec.annotations.clone(),
        }
    }
}

/// Validates a configuration and secret references outside a component spec (a provider
/// spec's), with the same rules and field paths (`config…`, `secrets[i]…`).
pub(crate) fn validate_parts(
    config: &ConfigDraft,
    secrets: &[SecretRefDraft],
) -> (ConfigSpec, Vec<SecretRef>, Vec<FieldError>) {
    let mut v = Validator::default();
    let config = v.config("config", config);
    let secrets = v.secrets("secrets", secrets);
    (config, secrets, v.errors)
}
