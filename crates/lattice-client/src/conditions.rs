//! Conditions a wait holds out for ([`HostApi::wait_for`](crate::HostApi::wait_for)), as
//! kube-runtime's `conditions`: predicates over one component's inventory entry on one host
//! (`None` when the host does not have the component), composable with
//! [`Condition::and`], [`Condition::or`] and [`Condition::not`]. A closure
//! `Fn(Option<&ComponentInventory>) -> bool` is a condition too.
//!
//! ```
//! use lattice_client::conditions::{self, Condition};
//! use lattice_ctl::{ComponentInventory, RevisionStatus};
//! use lattice_spec::{ContentDigest, Revision};
//! use lattice_status::{ComponentState, ComponentStatus};
//!
//! let digest: ContentDigest = format!("sha256:{}", "0".repeat(64)).parse()?;
//! let running = RevisionStatus::new(Revision(2), digest, "ghcr.io/acme/web:2".parse()?,
//!     ComponentStatus::new(ComponentState::Running));
//! let web = ComponentInventory::new("web".parse()?, running, 1);
//!
//! assert!(conditions::is_running(Revision(2)).matches(Some(&web)));
//! assert!(conditions::is_settled(Revision(1)).matches(Some(&web)), "superseded settles too");
//! assert!(!conditions::is_deleted().matches(Some(&web)));
//! let scaled = |c: Option<&ComponentInventory>| c.is_some_and(|c| c.scale >= 1);
//! assert!(conditions::is_running(Revision(2)).and(scaled).matches(Some(&web)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use lattice_ctl::ComponentInventory;
use lattice_spec::Revision;
use lattice_status::ComponentState;

/// A predicate over one component's inventory entry on one host (`None`: the host does not
/// have the component).
pub trait Condition {
    /// Whether the entry satisfies the condition.
    fn matches(&self, component: Option<&ComponentInventory>) -> bool;

    /// Holds when `self` does not.
    #[must_use]
    fn not(self) -> Not<Self>
    where
        Self: Sized,
    {
        Not(self)
    }

    /// Holds when both `self` and `other` hold.
    #[must_use]
    fn and<Other: Condition>(self, other: Other) -> And<Self, Other>
    where
        Self: Sized,
    {
        And(self, other)
    }

    /// Holds when `self` or `other` holds.
    #[must_use]
    fn or<Other: Condition>(self, other: Other) -> Or<Self, Other>
    where
        Self: Sized,
    {
        Or(self, other)
    }
}

impl<F: Fn(Option<&ComponentInventory>) -> bool> Condition for F {
    fn matches(&self, component: Option<&ComponentInventory>) -> bool {
        self(component)
    }
}

/// See [`Condition::not`].
#[derive(Clone, Copy, Debug)]
pub struct Not<A>(A);

impl<A: Condition> Condition for Not<A> {
    fn matches(&self, component: Option<&ComponentInventory>) -> bool {
        !self.0.matches(component)
    }
}

/// See [`Condition::and`].
#[derive(Clone, Copy, Debug)]
pub struct And<A, B>(A, B);

impl<A: Condition, B: Condition> Condition for And<A, B> {
    fn matches(&self, component: Option<&ComponentInventory>) -> bool {
        self.0.matches(component) && self.1.matches(component)
    }
}

/// See [`Condition::or`].
#[derive(Clone, Copy, Debug)]
pub struct Or<A, B>(A, B);

impl<A: Condition, B: Condition> Condition for Or<A, B> {
    fn matches(&self, component: Option<&ComponentInventory>) -> bool {
        self.0.matches(component) || self.1.matches(component)
    }
}

/// The most recent apply is `revision` and it is `running`.
#[must_use]
pub fn is_running(revision: Revision) -> impl Condition + Copy {
    move |c: Option<&ComponentInventory>| {
        c.is_some_and(|c| {
            c.desired.revision == revision && c.desired.status.state == ComponentState::Running
        })
    }
}

/// `revision` is the one serving invocations (`running` or `unhealthy`).
#[must_use]
pub fn is_serving(revision: Revision) -> impl Condition + Copy {
    move |c: Option<&ComponentInventory>| c.is_some_and(|c| c.is_serving(revision))
}

/// The most recent apply is `revision` and it `failed` (the previous revision, if any, keeps
/// serving; the status reason says why).
#[must_use]
pub fn is_failed(revision: Revision) -> impl Condition + Copy {
    move |c: Option<&ComponentInventory>| {
        c.is_some_and(|c| {
            c.desired.revision == revision && c.desired.status.state == ComponentState::Failed
        })
    }
}

/// `revision` will not move any more: it is `running`, `failed` or `stopped`, or a later
/// revision was applied after it. What
/// [`Client::apply_and_wait`](crate::Client::apply_and_wait) waits for.
#[must_use]
pub fn is_settled(revision: Revision) -> impl Condition + Copy {
    move |c: Option<&ComponentInventory>| {
        c.is_some_and(|c| {
            c.desired.revision > revision
                || (c.desired.revision == revision
                    && matches!(
                        c.desired.status.state,
                        ComponentState::Running | ComponentState::Failed | ComponentState::Stopped
                    ))
        })
    }
}

/// The host no longer has the component, or is done removing it: its most recent revision is
/// `stopped` (only a delete stops the most recent revision; a replaced one is not the most
/// recent). A host drops the entry just after publishing `stopped`, with no event after it,
/// so waiting for the entry alone to vanish would wait for a re-read.
#[must_use]
pub fn is_deleted() -> impl Condition + Copy {
    |c: Option<&ComponentInventory>| {
        c.is_none_or(|c| c.desired.status.state == ComponentState::Stopped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lattice_ctl::RevisionStatus;
    use lattice_status::ComponentStatus;

    fn entry(revision: u64, state: ComponentState, serving: Option<u64>) -> ComponentInventory {
        let status = |revision, state| {
            RevisionStatus::new(
                Revision(revision),
                format!("sha256:{}", "0".repeat(64)).parse().unwrap(),
                "ghcr.io/acme/web:2".parse().unwrap(),
                ComponentStatus::new(state),
            )
        };
        let mut entry = ComponentInventory::new("web".parse().unwrap(), status(revision, state), 1);
        entry.serving = serving.map(|r| status(r, ComponentState::Running));
        entry
    }

    #[test]
    fn settled_is_final_for_this_revision_or_superseded() {
        let settled = is_settled(Revision(2));
        for (entry, expected) in [
            (entry(2, ComponentState::Running, Some(2)), true),
            (entry(2, ComponentState::Failed, Some(1)), true),
            (entry(2, ComponentState::Stopped, None), true),
            (entry(3, ComponentState::Pending, Some(2)), true),
            (entry(2, ComponentState::Upgrading, Some(1)), false),
            (entry(1, ComponentState::Running, Some(1)), false),
        ] {
            assert_eq!(settled.matches(Some(&entry)), expected, "{entry:?}");
        }
        assert!(!settled.matches(None));
    }

    #[test]
    fn serving_running_failed_and_deleted_read_what_they_say() {
        let upgrading = entry(2, ComponentState::Upgrading, Some(1));
        assert!(is_serving(Revision(1)).matches(Some(&upgrading)));
        assert!(!is_serving(Revision(2)).matches(Some(&upgrading)));
        assert!(!is_running(Revision(2)).matches(Some(&upgrading)));
        assert!(is_failed(Revision(2)).matches(Some(&entry(2, ComponentState::Failed, None))));
        assert!(!is_failed(Revision(1)).matches(Some(&entry(2, ComponentState::Failed, None))));
        assert!(is_deleted().matches(None));
        assert!(is_deleted().matches(Some(&entry(2, ComponentState::Stopped, None))));
        assert!(is_deleted().not().matches(Some(&upgrading)));
    }

    #[test]
    fn combinators_compose() {
        let running = entry(2, ComponentState::Running, Some(2));
        let failed = entry(2, ComponentState::Failed, Some(1));
        let either = is_running(Revision(2)).or(is_failed(Revision(2)));
        assert!(either.matches(Some(&running)) && either.matches(Some(&failed)));
        let both = is_running(Revision(2)).and(is_serving(Revision(2)));
        assert!(both.matches(Some(&running)) && !both.matches(Some(&failed)));
    }
}
