//! The reply envelope every control operation answers with, and the typed error inside it.

use lattice_spec::{ApiVersion, DecodeError, WireMessage};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use std::fmt;

lattice_status::wire_enum! {
    /// Why a host could not process a control request at all.
    ///
    /// A host that understood the request but refuses what it asks (a stale revision, an
    /// invalid spec) answers `ok` with a rejection instead; see
    /// [`ApplyOutcome`](crate::ApplyOutcome).
    pub enum ErrorCode {
        /// The request is not JSON or not the operation's shape.
        Malformed = "malformed",
        /// The request's `api_version` is not one the host speaks; `supported_versions` lists
        /// those it does.
        UnsupportedVersion = "unsupported_version",
        /// The request was addressed to another host or lattice.
        WrongHost = "wrong_host",
        /// The host is shutting down or overloaded; retry later or elsewhere.
        Unavailable = "unavailable",
        /// The host failed while handling the request.
        Internal = "internal",
    }
}

/// A host's error reply: a typed code, a message, whether retrying may help, and on a version
/// mismatch the versions the host supports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, thiserror::Error)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct CtlError {
    /// What went wrong.
    pub code: ErrorCode,
    /// A human-readable explanation.
    pub message: String,
    /// Whether the same request may succeed if sent again later.
    #[serde(default)]
    pub retryable: bool,
    /// The API versions the host speaks; set on `unsupported_version`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supported_versions: Vec<String>,
}

impl fmt::Display for CtlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        if !self.supported_versions.is_empty() {
            write!(
                f,
                " (supported versions: {})",
                self.supported_versions.join(", ")
            )?;
        }
        Ok(())
    }
}

impl CtlError {
    /// An error with `code` and `message`, not retryable.
    #[must_use]
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retryable: false,
            supported_versions: Vec::new(),
        }
    }

    /// Marks the error as retryable.
    #[must_use]
    pub fn retryable(mut self) -> Self {
        self.retryable = true;
        self
    }
}

impl From<&DecodeError> for CtlError {
    /// The error a host answers with when it cannot decode a request.
    fn from(error: &DecodeError) -> Self {
        match error {
            DecodeError::UnsupportedVersion { supported, .. } => Self {
                code: ErrorCode::UnsupportedVersion,
                message: error.to_string(),
                retryable: false,
                supported_versions: supported.iter().map(|v| (*v).to_owned()).collect(),
            },
            DecodeError::MissingVersion { .. } => Self {
                code: ErrorCode::UnsupportedVersion,
                message: error.to_string(),
                retryable: false,
                supported_versions: ApiVersion::SUPPORTED
                    .iter()
                    .map(|v| (*v).to_owned())
                    .collect(),
            },
            _ => Self::new(ErrorCode::Malformed, error.to_string()),
        }
    }
}

/// The payload of a successful reply; names the reply message for errors and schemas.
pub trait ReplyPayload: Serialize + DeserializeOwned {
    /// The name of the reply message carrying this payload, e.g. `HostInventoryReply`.
    const REPLY_NAME: &'static str;
}

/// The reply to a control request: `{"api_version": …, "ok": T}` or
/// `{"api_version": …, "error": CtlError}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct Reply<T> {
    /// The API version of this message.
    pub api_version: ApiVersion,
    /// The result.
    #[serde(flatten)]
    pub body: ReplyBody<T>,
}

/// The result inside a [`Reply`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[serde(rename_all = "snake_case")]
pub enum ReplyBody<T> {
    /// The operation's result.
    Ok(T),
    /// Why the host could not process the request.
    Error(CtlError),
}

impl<T> Reply<T> {
    /// A successful reply.
    #[must_use]
    pub fn ok(payload: T) -> Self {
        Self {
            api_version: ApiVersion::CURRENT,
            body: ReplyBody::Ok(payload),
        }
    }

    /// An error reply.
    #[must_use]
    pub fn error(error: CtlError) -> Self {
        Self {
            api_version: ApiVersion::CURRENT,
            body: ReplyBody::Error(error),
        }
    }

    /// The payload, or the host's error.
    ///
    /// # Errors
    ///
    /// The [`CtlError`] the host replied with.
    ///
    /// ```
    /// use lattice_ctl::{CtlError, ErrorCode, HostInventoryReply};
    /// use lattice_spec::WireMessage;
    ///
    /// let reply = HostInventoryReply::error(CtlError::new(ErrorCode::Internal, "disk full"));
    /// let decoded = HostInventoryReply::decode(&reply.encode()?)?;
    /// assert_eq!(decoded.into_result().unwrap_err().code, ErrorCode::Internal);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn into_result(self) -> Result<T, CtlError> {
        match self.body {
            ReplyBody::Ok(payload) => Ok(payload),
            ReplyBody::Error(error) => Err(error),
        }
    }
}

impl<T: ReplyPayload> WireMessage for Reply<T> {
    const NAME: &'static str = T::REPLY_NAME;
}
