//! What changes between two specs of one component: the input to a host's upgrade sequence
//! (which links to establish first, which to re-put while paused, which to remove last) and to
//! a rollout strategy's guardrails.

use crate::{
    ArtifactRef, ComponentId, ComponentSpec, ConfigSpec, ContentDigest, LinkKey, LinkSpec,
    SecretRef,
};
use std::{collections::BTreeSet, num::NonZeroU32};

/// A value that changed: what it was and what it becomes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change<T> {
    /// The value in the old spec.
    pub from: T,
    /// The value in the new spec.
    pub to: T,
}

/// Which parts of a link changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LinkFieldChanges {
    /// The link now points at another provider or component (its peer changed).
    pub target: bool,
    /// The set of interfaces changed.
    pub interfaces: bool,
    /// The source's end of the configuration changed.
    pub source_config: bool,
    /// The target's end of the configuration changed.
    pub target_config: bool,
    /// The secret references of either end changed.
    pub secrets: bool,
}

/// How one link differs between two specs.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkChange {
    /// Only in the new spec: establish it before pausing.
    Added(LinkSpec),
    /// Only in the old spec: remove it after the swap.
    Removed(LinkSpec),
    /// In both, with different content: re-put it while invocations are paused.
    Changed {
        /// The link as it was.
        from: Box<LinkSpec>,
        /// The link as it becomes.
        to: Box<LinkSpec>,
        /// Which parts changed.
        fields: LinkFieldChanges,
    },
}

impl LinkChange {
    /// The key of the link concerned.
    #[must_use]
    pub fn key(&self) -> LinkKey {
        match self {
            Self::Added(link) | Self::Removed(link) => link.key(),
            Self::Changed { to, .. } => to.key(),
        }
    }
}

/// Everything that differs between two specs of one component.
///
/// A diff is empty exactly when the two specs have the same [`ComponentSpec::digest`]; like
/// the digest, it ignores the revision and annotations.
///
/// ```
/// use lattice_spec::{ComponentSpecDraft, LinkDraft, SpecDiff};
///
/// let kv = LinkDraft::new("redis", "wasi", "keyvalue", ["store"]);
/// let v1 = ComponentSpecDraft::new("app", "ghcr.io/acme/app:1").link(kv.clone()).validate()?;
/// let v2 = ComponentSpecDraft::new("app", "ghcr.io/acme/app:2")
///     .link(kv.target_config_value("url", "redis://new:6379"))
///     .link(LinkDraft::new("http", "wasi", "http", ["incoming-handler"]))
///     .validate()?;
/// let diff = SpecDiff::between(&v1, &v2);
/// assert!(diff.artifact.is_some());
/// assert_eq!(diff.added_links().count(), 1);
/// assert_eq!(diff.changed_links().count(), 1);
/// # Ok::<(), lattice_spec::SpecErrors>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpecDiff {
    /// The component id differs: the two specs are of different components.
    pub id: Option<Change<ComponentId>>,
    /// The artifact reference changed (compared in normalised form).
    pub artifact: Option<Change<ArtifactRef>>,
    /// The digest pin changed.
    pub digest_pin: Option<Change<Option<ContentDigest>>>,
    /// The scale changed.
    pub scale: Option<Change<NonZeroU32>>,
    /// The component's own configuration changed.
    pub config: Option<Change<ConfigSpec>>,
    /// The set of secret references changed.
    pub secrets: Option<Change<Vec<SecretRef>>>,
    /// Links added, removed or changed, ordered by link key.
    pub links: Vec<LinkChange>,
}

impl SpecDiff {
    /// Compares `old` with `new`.
    #[must_use]
    pub fn between(old: &ComponentSpec, new: &ComponentSpec) -> Self {
        Self {
            id: changed(&old.id, &new.id, PartialEq::eq),
            artifact: changed(&old.artifact, &new.artifact, |a, b| {
                a.canonical() == b.canonical()
            }),
            digest_pin: changed(&old.digest, &new.digest, PartialEq::eq),
            scale: changed(&old.scale, &new.scale, PartialEq::eq),
            config: changed(&old.config, &new.config, PartialEq::eq),
            secrets: changed(&old.secrets, &new.secrets, |a, b| {
                sorted_secrets(a) == sorted_secrets(b)
            }),
            links: link_changes(old, new),
        }
    }

    /// Whether nothing that affects what runs differs.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.id.is_none()
            && self.artifact.is_none()
            && self.digest_pin.is_none()
            && self.scale.is_none()
            && self.config.is_none()
            && self.secrets.is_none()
            && self.links.is_empty()
    }

    /// Whether the component's code changes (artifact or pin), so a new artifact is fetched.
    #[must_use]
    pub fn changes_code(&self) -> bool {
        self.artifact.is_some() || self.digest_pin.is_some()
    }

    /// Links only in the new spec.
    pub fn added_links(&self) -> impl Iterator<Item = &LinkSpec> {
        self.links.iter().filter_map(|c| match c {
            LinkChange::Added(link) => Some(link),
            _ => None,
        })
    }

    /// Links only in the old spec.
    pub fn removed_links(&self) -> impl Iterator<Item = &LinkSpec> {
        self.links.iter().filter_map(|c| match c {
            LinkChange::Removed(link) => Some(link),
            _ => None,
        })
    }

    /// Links in both with different content, as `(old, new, what changed)`.
    pub fn changed_links(&self) -> impl Iterator<Item = (&LinkSpec, &LinkSpec, LinkFieldChanges)> {
        self.links.iter().filter_map(|c| match c {
            LinkChange::Changed { from, to, fields } => Some((&**from, &**to, *fields)),
            _ => None,
        })
    }
}

fn changed<T: Clone>(old: &T, new: &T, same: impl Fn(&T, &T) -> bool) -> Option<Change<T>> {
    (!same(old, new)).then(|| Change {
        from: old.clone(),
        to: new.clone(),
    })
}

fn sorted_secrets(secrets: &[SecretRef]) -> Vec<&SecretRef> {
    let mut sorted: Vec<&SecretRef> = secrets.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    sorted
}

fn interface_set(link: &LinkSpec) -> BTreeSet<&str> {
    link.interfaces.iter().map(String::as_str).collect()
}

fn link_changes(old: &ComponentSpec, new: &ComponentSpec) -> Vec<LinkChange> {
    let keys: BTreeSet<LinkKey> = old
        .links
        .iter()
        .chain(&new.links)
        .map(LinkSpec::key)
        .collect();
    keys.into_iter()
        .filter_map(|key| match (old.link(&key), new.link(&key)) {
            (None, Some(link)) => Some(LinkChange::Added(link.clone())),
            (Some(link), None) => Some(LinkChange::Removed(link.clone())),
            (Some(from), Some(to)) => {
                let fields = LinkFieldChanges {
                    target: from.target != to.target || from.target_kind != to.target_kind,
                    interfaces: interface_set(from) != interface_set(to),
                    source_config: from.source_config != to.source_config,
                    target_config: from.target_config != to.target_config,
                    secrets: sorted_secrets(&from.source_secrets)
                        != sorted_secrets(&to.source_secrets)
                        || sorted_secrets(&from.target_secrets)
                            != sorted_secrets(&to.target_secrets),
                };
                (fields != LinkFieldChanges::default()).then(|| LinkChange::Changed {
                    from: Box::new(from.clone()),
                    to: Box::new(to.clone()),
                    fields,
                })
            }
            (None, None) => None,
        })
        .collect()
}
