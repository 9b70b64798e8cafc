//! The [`Lifecycle`] trait: terminal states and legal transitions of a status enum.

use std::fmt;

/// A status enum whose values form a state machine.
///
/// Each implementation lists, per state, which states may follow it. `Unknown` (a value from a
/// newer peer) has no successors and is not terminal: a component whose state this version
/// cannot interpret is neither known to be finished nor known to be moving.
pub trait Lifecycle: Copy + Eq + fmt::Debug + fmt::Display + 'static {
    /// States that end a lifecycle: no transition leaves them.
    const TERMINAL: &'static [Self];

    /// The states that may legally follow `self`.
    fn successors(self) -> &'static [Self];

    /// Whether `self` ends the lifecycle.
    fn is_terminal(self) -> bool {
        Self::TERMINAL.contains(&self)
    }

    /// Whether moving from `self` to `next` is legal.
    fn can_transition_to(self, next: Self) -> bool {
        self.successors().contains(&next)
    }

    /// Checks that moving from `self` to `next` is legal.
    ///
    /// # Errors
    ///
    /// [`IllegalTransition`] naming both states when the move is not legal.
    fn check_transition(self, next: Self) -> Result<(), IllegalTransition<Self>> {
        if self.can_transition_to(next) {
            Ok(())
        } else {
            Err(IllegalTransition {
                from: self,
                to: next,
            })
        }
    }
}

/// A transition the state machine does not allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("illegal status transition from `{from}` to `{to}`")]
pub struct IllegalTransition<S: Lifecycle> {
    /// The state the transition started from.
    pub from: S,
    /// The state it tried to reach.
    pub to: S,
}
