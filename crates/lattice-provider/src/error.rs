//! The error of starting a provider server.

/// What went wrong starting a provider server, as a small value to `match` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProviderErrorKind {
    /// Subscribing to one of the provider's subjects failed.
    Subscribe,
    /// The subscriptions could not be confirmed with the NATS server (flush failed).
    Flush,
}

/// Starting a provider server failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// Subscribing to one of the provider's subjects failed.
    #[error("cannot subscribe to `{subject}`")]
    Subscribe {
        /// The subject.
        subject: String,
        /// What async-nats said.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The subscriptions could not be confirmed with the NATS server.
    #[error("cannot confirm the provider's subscriptions with the nats server")]
    Flush {
        /// What async-nats said.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl ProviderError {
    /// The kind of failure.
    #[must_use]
    pub fn kind(&self) -> ProviderErrorKind {
        match self {
            Self::Subscribe { .. } => ProviderErrorKind::Subscribe,
            Self::Flush { .. } => ProviderErrorKind::Flush,
        }
    }
}
