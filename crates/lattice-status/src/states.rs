//! The four status enums and their state machines.

use crate::{Lifecycle, wire_enum};

wire_enum! {
    /// The state of one revision of a component on one host.
    ///
    /// A revision moves `pending → fetching → validating → (linking) → running`; when it
    /// replaces a running revision it passes through `upgrading` (invocations paused while
    /// links change and the version swaps). The revision it replaced then moves
    /// `running → stopping → stopped`. Any state before `running` may end in `failed`, and a
    /// failed upgrade leaves the previous revision `running`.
    pub enum ComponentState {
        /// The apply was accepted; nothing has started yet.
        Pending = "pending",
        /// The artifact is being fetched.
        Fetching = "fetching",
        /// The artifact is being parsed and checked against its links.
        Validating = "validating",
        /// New links are being established with their providers.
        Linking = "linking",
        /// Invocations are paused while changed links are re-put and the version swaps.
        Upgrading = "upgrading",
        /// Serving invocations.
        Running = "running",
        /// Serving, but failing its health checks.
        Unhealthy = "unhealthy",
        /// Being stopped; it no longer takes new invocations.
        Stopping = "stopping",
        /// Stopped (deleted, or replaced by a newer revision).
        Stopped = "stopped",
        /// Did not reach or could not keep `running`; the status reason says why.
        Failed = "failed",
    }
}

impl Lifecycle for ComponentState {
    const TERMINAL: &'static [Self] = &[Self::Stopped, Self::Failed];

    fn successors(self) -> &'static [Self] {
        use ComponentState::*;
        match self {
            Pending => &[Fetching, Stopping, Failed],
            Fetching => &[Validating, Stopping, Failed],
            Validating => &[Linking, Upgrading, Running, Stopping, Failed],
            Linking => &[Upgrading, Running, Stopping, Failed],
            Upgrading => &[Running, Failed],
            Running => &[Unhealthy, Stopping],
            Unhealthy => &[Running, Stopping, Failed],
            Stopping => &[Stopped, Failed],
            Stopped | Failed | Unknown => &[],
        }
    }
}

impl ComponentState {
    /// Whether a revision in this state is the one handling invocations on its host.
    #[must_use]
    pub const fn is_serving(self) -> bool {
        matches!(self, Self::Running | Self::Unhealthy | Self::Upgrading)
    }
}

wire_enum! {
    /// The state of a capability provider on one host.
    pub enum ProviderState {
        /// The start request was accepted; nothing has started yet.
        Pending = "pending",
        /// The provider process is starting.
        Starting = "starting",
        /// Running and answering health checks.
        Running = "running",
        /// Running, but failing its health checks.
        Unhealthy = "unhealthy",
        /// Being stopped.
        Stopping = "stopping",
        /// Stopped.
        Stopped = "stopped",
        /// Could not start or crashed; the status reason says why.
        Failed = "failed",
    }
}

impl Lifecycle for ProviderState {
    const TERMINAL: &'static [Self] = &[Self::Stopped, Self::Failed];

    fn successors(self) -> &'static [Self] {
        use ProviderState::*;
        match self {
            Pending => &[Starting, Stopping, Failed],
            // A provider process that answers its first health check unhealthy.
            Starting => &[Running, Unhealthy, Stopping, Failed],
            // A crashed process is started again (`starting`) by its host's supervisor.
            Running => &[Unhealthy, Starting, Stopping, Failed],
            Unhealthy => &[Running, Starting, Stopping, Failed],
            Stopping => &[Stopped, Failed],
            Stopped | Failed | Unknown => &[],
        }
    }
}

wire_enum! {
    /// The state of one link between a component and a provider, as the host sees it.
    pub enum LinkState {
        /// The link put was sent; no reply yet.
        Pending = "pending",
        /// The provider accepted the link.
        Established = "established",
        /// The provider refused the link; the status reason carries its error kind and message.
        Failed = "failed",
        /// The provider did not reply within the host's bound (for example a provider built
        /// with an SDK that predates link replies).
        Unacknowledged = "unacknowledged",
    }
}

impl Lifecycle for LinkState {
    const TERMINAL: &'static [Self] = &[Self::Failed];

    fn successors(self) -> &'static [Self] {
        use LinkState::*;
        match self {
            Pending => &[Established, Failed, Unacknowledged],
            // A changed link is deleted and put again: it goes back to pending.
            Established => &[Pending],
            // A late reply still counts; a re-put starts over.
            Unacknowledged => &[Established, Failed, Pending],
            Failed | Unknown => &[],
        }
    }
}

wire_enum! {
    /// The state of an application rollout, as the scheduler sees it.
    pub enum RolloutState {
        /// Planned and stored; no host touched yet.
        Pending = "pending",
        /// Applying the new revision to hosts.
        Progressing = "progressing",
        /// Held by an operator or by a canary step waiting for promotion.
        Paused = "paused",
        /// Every target runs the new revision.
        Succeeded = "succeeded",
        /// Applying the last stable revision after a failure or an abort.
        RollingBack = "rolling_back",
        /// Every target is back on the last stable revision.
        RolledBack = "rolled_back",
        /// Could neither finish nor roll back (or rollback was disabled); the reason says why.
        Failed = "failed",
        /// Stopped by an operator; targets were returned to the last stable revision.
        Aborted = "aborted",
    }
}

impl Lifecycle for RolloutState {
    const TERMINAL: &'static [Self] = &[
        Self::Succeeded,
        Self::RolledBack,
        Self::Failed,
        Self::Aborted,
    ];

    fn successors(self) -> &'static [Self] {
        use RolloutState::*;
        match self {
            Pending => &[Progressing, Failed, Aborted],
            Progressing => &[Paused, Succeeded, RollingBack, Failed, Aborted],
            Paused => &[Progressing, RollingBack, Aborted, Failed],
            RollingBack => &[RolledBack, Aborted, Failed],
            Succeeded | RolledBack | Failed | Aborted | Unknown => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_machine<S: Lifecycle>(all: &[S], unknown: S) {
        for &state in all {
            assert_eq!(
                state.is_terminal(),
                state.successors().is_empty(),
                "{state}: terminal states, and only they, have no successors"
            );
            assert!(
                !state.can_transition_to(state),
                "{state} must not loop onto itself"
            );
        }
        assert!(!unknown.is_terminal());
        assert!(unknown.successors().is_empty());
        for &state in all {
            assert!(!unknown.can_transition_to(state));
            assert!(!state.can_transition_to(unknown));
        }
    }

    #[test]
    fn every_machine_is_consistent() {
        check_machine(ComponentState::KNOWN, ComponentState::Unknown);
        check_machine(ProviderState::KNOWN, ProviderState::Unknown);
        check_machine(LinkState::KNOWN, LinkState::Unknown);
        check_machine(RolloutState::KNOWN, RolloutState::Unknown);
    }

    #[test]
    fn component_happy_path_and_upgrade_are_legal() {
        use ComponentState::*;
        for path in [
            &[Pending, Fetching, Validating, Linking, Running][..],
            &[Pending, Fetching, Validating, Linking, Upgrading, Running],
            &[Running, Stopping, Stopped],
        ] {
            for pair in path.windows(2) {
                assert_eq!(pair[0].check_transition(pair[1]), Ok(()));
            }
        }
    }

    #[test]
    fn illegal_transition_names_both_states() {
        let err = ComponentState::Stopped
            .check_transition(ComponentState::Running)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "illegal status transition from `stopped` to `running`"
        );
        assert!(
            RolloutState::Succeeded
                .check_transition(RolloutState::RollingBack)
                .is_err()
        );
    }

    #[test]
    fn unknown_values_decode_to_unknown() {
        let state: ComponentState = serde_json::from_str("\"hibernating\"").unwrap();
        assert_eq!(state, ComponentState::Unknown);
        let state: RolloutState = serde_json::from_str("\"rolling_back\"").unwrap();
        assert_eq!(state, RolloutState::RollingBack);
        assert_eq!(
            serde_json::to_string(&LinkState::Unacknowledged).unwrap(),
            "\"unacknowledged\""
        );
    }
}
