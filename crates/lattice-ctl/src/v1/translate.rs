//! The host side of 1.x: describing v2alpha1 specs in 1.x shapes, and turning 1.x component
//! writes into v2alpha1 specs.
//!
//! The revision rule (applied by the host, which knows its revisions): a 1.x write derives a
//! spec from the component's **serving** spec (when nothing serves yet, from the most recently
//! accepted spec, or from the command alone for a new component) and replaces what the command
//! carries; if the result has the content and annotations of
//! the most recently accepted spec, nothing is applied; otherwise it is applied at the most
//! recently accepted revision + 1 (revision 1 for a new component), through the same path as a
//! v2alpha1 apply. A scale to 0 deletes the component.

use super::{
    DIGEST_ANNOTATION, REVISION_ANNOTATION,
    types::{ComponentDescription, ScaleComponentCommand, UpdateComponentCommand},
};
use lattice_spec::{ComponentSpec, ComponentSpecDraft, Revision, SpecErrors};
use std::{collections::BTreeMap, time::Duration};

/// What a 1.x scale is derived from.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum V1Base<'a> {
    /// The spec of the revision serving on the host: the command's image reference replaces
    /// its artifact only with `allow_update`, as on a 1.x host.
    Serving(&'a ComponentSpec),
    /// The most recently accepted spec of a component that does not serve yet: its links,
    /// secret references and inline configuration are kept, and the command's image
    /// reference is the artifact (there is no running code to keep).
    Accepted(&'a ComponentSpec),
    /// Nothing: a new component, built from the command alone.
    New,
}

/// A spec derived from a 1.x write, with what the host should tell the 1.x caller about it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct V1SpecChange {
    /// The spec to apply.
    pub spec: ComponentSpec,
    /// What of the command was not applied as asked, in the words of the reply's `message`.
    pub notes: Vec<String>,
}

impl ComponentDescription {
    /// How a 1.x tool sees a component whose serving spec is `spec`: its artifact as the image
    /// reference, its scale as `max_instances`, its revision (clamped to `i32`) and its
    /// annotations plus [`REVISION_ANNOTATION`] and [`DIGEST_ANNOTATION`].
    ///
    /// ```
    /// use lattice_ctl::v1::{ComponentDescription, REVISION_ANNOTATION};
    /// use lattice_spec::ComponentSpecDraft;
    ///
    /// let spec = ComponentSpecDraft::new("web", "ghcr.io/acme/web:2").revision(u64::MAX).scale(3).validate()?;
    /// let described = ComponentDescription::from_spec(&spec);
    /// assert_eq!((described.revision, described.max_instances), (i32::MAX, 3));
    /// assert_eq!(described.annotations.unwrap()[REVISION_ANNOTATION], u64::MAX.to_string());
    /// # Ok::<(), lattice_spec::SpecErrors>(())
    /// ```
    #[must_use]
    pub fn from_spec(spec: &ComponentSpec) -> Self {
        let mut annotations = spec.annotations().clone();
        annotations.insert(REVISION_ANNOTATION.to_owned(), spec.revision().to_string());
        annotations.insert(DIGEST_ANNOTATION.to_owned(), spec.digest().to_string());
        Self {
            id: spec.id().to_string(),
            image_ref: spec.artifact().to_string(),
            name: None,
            annotations: Some(annotations),
            revision: i32::try_from(spec.revision().0).unwrap_or(i32::MAX),
            max_instances: spec.scale().get(),
            limits: None,
        }
    }
}

impl ScaleComponentCommand {
    /// The spec this command asks for at `revision`, derived from `base`: the instance count
    /// becomes the scale, `config` the list of named configurations (inline values are kept),
    /// the annotations are replaced (as a 1.x host replaces them), and a different
    /// `component_ref` becomes the artifact (dropping a digest pin, which belonged to the old
    /// artifact) — for a serving base only with `allow_update`; without it the reference is
    /// not applied, and a note says so in the words a 1.x host uses. Links and secret
    /// references of the base are kept.
    ///
    /// A count of 0 means "stop the component"; it has no spec and fails validation here.
    ///
    /// ```
    /// use lattice_ctl::v1::{ScaleComponentCommand, V1Base};
    /// use lattice_spec::{ComponentSpecDraft, Revision};
    ///
    /// let serving = ComponentSpecDraft::new("web", "ghcr.io/acme/web:1").revision(4).validate()?;
    /// let mut command = ScaleComponentCommand::default();
    /// command.component_id = "web".into();
    /// command.component_ref = "ghcr.io/acme/web:2".into();
    /// command.max_instances = 3;
    /// let change = command.to_spec(V1Base::Serving(&serving), Revision(5))?;
    /// assert_eq!(change.spec.scale().get(), 3);
    /// assert_eq!(change.spec.artifact().to_string(), "ghcr.io/acme/web:1"); // no allow_update
    /// assert_eq!(change.notes.len(), 1);
    /// # Ok::<(), lattice_spec::SpecErrors>(())
    /// ```
    ///
    /// # Errors
    ///
    /// Every problem of the resulting spec (an invalid component id, image reference or
    /// configuration name, a count of 0).
    pub fn to_spec(
        &self,
        base: V1Base<'_>,
        revision: Revision,
    ) -> Result<V1SpecChange, SpecErrors> {
        let mut notes = Vec::new();
        let (spec, serving) = match base {
            V1Base::Serving(spec) => (spec, true),
            V1Base::Accepted(spec) => (spec, false),
            V1Base::New => {
                let draft = ComponentSpecDraft::new(&self.component_id, &self.component_ref);
                return self.finish(draft, revision, notes);
            }
        };
        let mut draft = spec.to_draft();
        let current = spec.artifact().to_string();
        if !self.component_ref.is_empty() && self.component_ref != current {
            if self.allow_update || !serving {
                draft.artifact.clone_from(&self.component_ref);
                draft.digest = None;
            } else {
                notes.push(format!(
                    "Requested to scale existing component to a different image reference: {current} != {}. The component will be scaled but the image reference will not be updated. If you meant to update this component to a new image ref, use the update command.",
                    self.component_ref
                ));
            }
        }
        self.finish(draft, revision, notes)
    }

    /// Applies what every scale sets, and validates.
    fn finish(
        &self,
        mut draft: ComponentSpecDraft,
        revision: Revision,
        mut notes: Vec<String>,
    ) -> Result<V1SpecChange, SpecErrors> {
        draft.revision = revision.0;
        draft.scale = self.max_instances;
        draft.config.names.clone_from(&self.config);
        draft.annotations = caller_annotations(self.annotations.as_ref());
        if self
            .component_limits
            .as_ref()
            .is_some_and(|l| !l.is_empty())
        {
            notes.push(
                "component_limits are not supported by this host and were ignored".to_owned(),
            );
        }
        Ok(V1SpecChange {
            spec: draft.validate()?,
            notes,
        })
    }
}

impl UpdateComponentCommand {
    /// The spec this command asks for at `revision`: `serving` with `new_component_ref` as
    /// its artifact (a digest pin dropped) and the command's annotations (replaced, as a 1.x
    /// host does). Scale, configuration, secret references and links are kept.
    ///
    /// # Errors
    ///
    /// Every problem of the resulting spec (an invalid image reference).
    pub fn to_spec(
        &self,
        serving: &ComponentSpec,
        revision: Revision,
    ) -> Result<ComponentSpec, SpecErrors> {
        let mut draft = serving.to_draft();
        draft.revision = revision.0;
        draft.artifact.clone_from(&self.new_component_ref);
        draft.digest = None;
        draft.annotations = caller_annotations(self.annotations.as_ref());
        draft.validate()
    }
}

/// Whether `a` and `b` ask for the same thing: the same content (digest) and annotations,
/// whatever their revisions. A 1.x write that changes nothing is not applied.
#[must_use]
pub fn same_intent(a: &ComponentSpec, b: &ComponentSpec) -> bool {
    a.digest() == b.digest() && a.annotations() == b.annotations()
}

/// The caller's annotations, without the ones a host computes for 1.x inventories (a tool
/// that copies annotations from an inventory into a command must not pin them).
fn caller_annotations(annotations: Option<&BTreeMap<String, String>>) -> BTreeMap<String, String> {
    let mut annotations = annotations.cloned().unwrap_or_default();
    annotations.remove(REVISION_ANNOTATION);
    annotations.remove(DIGEST_ANNOTATION);
    annotations
}

/// Uptime as 1.x hosts write `uptime_human` (the `humantime` format: `1day 2h 3m 4s`, zero
/// units left out, `0s` for nothing; a year is 365.25 days and a month 30.44 days).
///
/// ```
/// use lattice_ctl::v1::uptime_human;
/// use std::time::Duration;
///
/// assert_eq!(uptime_human(Duration::from_secs(93_784)), "1day 2h 3m 4s");
/// assert_eq!(uptime_human(Duration::from_millis(999)), "0s");
/// ```
#[must_use]
pub fn uptime_human(uptime: Duration) -> String {
    let seconds = uptime.as_secs();
    let (years, rest) = (seconds / 31_557_600, seconds % 31_557_600);
    let (months, rest) = (rest / 2_630_016, rest % 2_630_016);
    let (days, rest) = (rest / 86_400, rest % 86_400);
    let parts = [
        (years, "year", true),
        (months, "month", true),
        (days, "day", true),
        (rest / 3600, "h", false),
        (rest / 60 % 60, "m", false),
        (rest % 60, "s", false),
    ];
    let text: Vec<String> = parts
        .iter()
        .filter(|(n, _, _)| *n > 0)
        .map(|(n, unit, plural)| {
            let s = if *plural && *n > 1 { "s" } else { "" };
            format!("{n}{unit}{s}")
        })
        .collect();
    if text.is_empty() {
        "0s".to_owned()
    } else {
        text.join(" ")
    }
}
