//! Why a status is what it is: [`StatusReason`], [`ReasonCode`] and [`LinkErrorKind`].

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;

use crate::wire_enum;

wire_enum! {
    /// The machine-readable cause of a failed or degraded status.
    pub enum ReasonCode {
        /// The artifact could not be fetched.
        FetchFailed = "fetch_failed",
        /// The bytes are not a valid WebAssembly component (or not the pinned digest).
        InvalidArtifact = "invalid_artifact",
        /// The component imports an interface that none of its links provides.
        UnsatisfiedImports = "unsatisfied_imports",
        /// An incoming link names an interface the component does not export, so the
        /// provider would have nothing to call.
        MissingExports = "missing_exports",
        /// A provider refused a link; `link_error` and the message are the provider's own.
        LinkRefused = "link_refused",
        /// A provider did not answer a link request within the host's bound.
        LinkUnacknowledged = "link_unacknowledged",
        /// The component or provider could not be started.
        StartFailed = "start_failed",
        /// The runtime could not compile, link or instantiate the component (a start function
        /// trapped, an import could not be linked).
        InstantiateFailed = "instantiate_failed",
        /// The component exceeded a resource limit (memory, fuel or execution deadline).
        ResourceLimit = "resource_limit",
        /// Health checks failed.
        HealthCheckFailed = "health_check_failed",
        /// A deadline passed before the target state was reached.
        DeadlineExceeded = "deadline_exceeded",
        /// A newer apply replaced this one before it finished.
        Superseded = "superseded",
        /// The host itself failed; the message says how.
        Internal = "internal",
        /// Fetching the artifact took longer than the host's fetch bound.
        FetchTimeout = "fetch_timeout",
        /// Validating the artifact took longer than the host's validate bound.
        ValidateTimeout = "validate_timeout",
        /// Instantiating (compiling and preparing) the component took longer than the host's
        /// instantiate bound.
        InstantiateTimeout = "instantiate_timeout",
        /// The invocations in flight on the serving revision did not finish within the
        /// host's drain bound, so the upgrade did not swap revisions.
        DrainTimeout = "drain_timeout",
        /// A secret the component names does not exist in its backend; the message names
        /// the reference, backend and key (never a value).
        SecretNotFound = "secret_not_found",
        /// The secrets backend refused to hand a secret to the component (not on its
        /// allow-list).
        SecretDenied = "secret_denied",
        /// The secrets backend is down, did not answer in time, failed or answered
        /// something unreadable; asking again may succeed.
        SecretsUnavailable = "secrets_unavailable",
        /// A provider's executable does not exist or cannot be executed (not a file, no
        /// execute permission, wrong format); the message names the path.
        ProviderNotExecutable = "provider_not_executable",
        /// A provider process exited; when it keeps exiting soon after each start the host
        /// stops restarting it and the provider is `failed` with this code.
        ProviderExited = "provider_exited",
        /// A provider the component is linked to is unhealthy or not running;
        /// `provider_id` names it.
        ProviderUnhealthy = "provider_unhealthy",
    }
}

wire_enum! {
    /// The kind of error a provider reports when it refuses a link.
    ///
    /// This is an open set: providers built against a newer contract may send kinds this
    /// version decodes as `Unknown`; the provider's message always travels alongside.
    pub enum LinkErrorKind {
        /// A resource the link needs is taken or missing on the provider's host, such as a
        /// listen address already in use.
        ResourceUnavailable = "resource_unavailable",
        /// The link's configuration is invalid for this provider.
        InvalidConfiguration = "invalid_configuration",
        /// A secret or certificate the link names could not be found.
        MissingSecret = "missing_secret",
        /// The provider failed for a reason of its own.
        Internal = "internal",
    }
}

/// Why a component, provider, link or rollout is in its state: a code, a human message, and
/// where relevant which link and provider were involved and what the provider said.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct StatusReason {
    /// The machine-readable cause.
    pub code: ReasonCode,
    /// A human-readable explanation; for a refused link, the provider's own message.
    pub message: String,
    /// The provider involved, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
    /// The link involved, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_name: Option<String>,
    /// The provider's error kind for a refused link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_error: Option<LinkErrorKind>,
}

impl StatusReason {
    /// A reason with a code and a message and nothing else.
    #[must_use]
    pub fn new(code: ReasonCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            provider_id: None,
            link_name: None,
            link_error: None,
        }
    }

    /// A link refused by its provider, carrying the provider's error kind and message whole.
    #[must_use]
    pub fn link_refused(
        provider_id: impl Into<String>,
        link_name: impl Into<String>,
        kind: LinkErrorKind,
        provider_message: impl Into<String>,
    ) -> Self {
        Self {
            code: ReasonCode::LinkRefused,
            message: provider_message.into(),
            provider_id: Some(provider_id.into()),
            link_name: Some(link_name.into()),
            link_error: Some(kind),
        }
    }

    /// Names the link and provider this reason concerns.
    #[must_use]
    pub fn with_link(
        mut self,
        provider_id: impl Into<String>,
        link_name: impl Into<String>,
    ) -> Self {
        self.provider_id = Some(provider_id.into());
        self.link_name = Some(link_name.into());
        self
    }
}

impl fmt::Display for StatusReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.link_name, &self.provider_id) {
            (Some(link), Some(provider)) => {
                write!(f, "{}: link `{link}` with provider `{provider}`", self.code)?;
                if let Some(kind) = self.link_error {
                    write!(f, " ({kind})")?;
                }
                write!(f, ": {}", self.message)
            }
            _ => write!(f, "{}: {}", self.code, self.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_refusal_keeps_the_provider_message() {
        let reason = StatusReason::link_refused(
            "http-server",
            "default",
            LinkErrorKind::ResourceUnavailable,
            "address already in use: 0.0.0.0:8080",
        );
        assert_eq!(
            reason.to_string(),
            "link_refused: link `default` with provider `http-server` (resource_unavailable): \
             address already in use: 0.0.0.0:8080"
        );
        let json = serde_json::to_value(&reason).unwrap();
        assert_eq!(json["message"], "address already in use: 0.0.0.0:8080");
        assert_eq!(json["link_error"], "resource_unavailable");
    }

    #[test]
    fn newer_reason_decodes_with_unknown_code_and_extra_fields() {
        let reason: StatusReason = serde_json::from_str(
            r#"{"code":"quota_exceeded","message":"too many","link_error":"rate_limited","trace":{"a":1}}"#,
        )
        .unwrap();
        assert_eq!(reason.code, ReasonCode::Unknown);
        assert_eq!(reason.link_error, Some(LinkErrorKind::Unknown));
        assert_eq!(reason.message, "too many");
    }
}
