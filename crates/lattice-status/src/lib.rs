//! Status vocabulary of the lattice wire contract.
//!
//! This crate owns the states a component, provider, link or rollout can be in, the legal
//! transitions between them ([`Lifecycle`]), and the reasons that explain a failure
//! ([`StatusReason`]). It has no I/O and no async runtime, so any host, scheduler or tool can
//! use it.
//!
//! Every enum here is an open set: a value from a newer peer decodes to `Unknown` instead of
//! failing.
//!
//! ```
//! use lattice_status::{ComponentState, ComponentStatus, Lifecycle, ReasonCode, StatusReason};
//!
//! let failed = ComponentStatus::failed(StatusReason::new(ReasonCode::FetchFailed, "404"));
//! assert!(failed.state.is_terminal());
//! assert!(ComponentState::Linking.can_transition_to(ComponentState::Upgrading));
//! assert!(!ComponentState::Stopped.can_transition_to(ComponentState::Running));
//! ```

mod lifecycle;
mod macros;
mod reason;
mod states;

pub use lifecycle::{IllegalTransition, Lifecycle};
pub use reason::{LinkErrorKind, ReasonCode, StatusReason};
pub use states::{ComponentState, LinkState, ProviderState, RolloutState};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

macro_rules! status_struct {
    ($(#[$meta:meta])* $name:ident, $state:ty) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
        #[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
        #[non_exhaustive]
        pub struct $name {
            /// The current state.
            pub state: $state,
            /// Why the status is what it is; always present for `failed`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub reason: Option<StatusReason>,
        }

        impl $name {
            /// A status in `state` with no reason attached.
            #[must_use]
            pub const fn new(state: $state) -> Self {
                Self { state, reason: None }
            }

            /// A `failed` status with its reason.
            #[must_use]
            pub fn failed(reason: StatusReason) -> Self {
                Self { state: <$state>::Failed, reason: Some(reason) }
            }

            /// Attaches a reason.
            #[must_use]
            pub fn with_reason(mut self, reason: StatusReason) -> Self {
                self.reason = Some(reason);
                self
            }
        }

        impl From<$state> for $name {
            fn from(state: $state) -> Self {
                Self::new(state)
            }
        }
    };
}

status_struct!(
    /// The status of one revision of a component on one host.
    ComponentStatus,
    ComponentState
);
status_struct!(
    /// The status of a capability provider on one host.
    ProviderStatus,
    ProviderState
);
status_struct!(
    /// The status of one link, as the host sees it.
    LinkStatus,
    LinkState
);
status_struct!(
    /// The status of an application rollout.
    RolloutStatus,
    RolloutState
);
