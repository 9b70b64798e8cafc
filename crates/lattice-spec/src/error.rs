//! Validation errors of a spec: every problem, each with the path of its field.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;

lattice_status::wire_enum! {
    /// What is wrong with one field of a spec.
    pub enum SpecErrorCode {
        /// An identifier breaks the identifier rules.
        InvalidId = "invalid_id",
        /// The artifact reference is not a valid OCI reference or file path.
        InvalidArtifact = "invalid_artifact",
        /// The digest pin is not `sha256:`/`sha512:` hex.
        InvalidDigest = "invalid_digest",
        /// Scale is zero; delete the component spec to stop it.
        ZeroScale = "zero_scale",
        /// Two links share source, WIT namespace, package and name.
        DuplicateLink = "duplicate_link",
        /// A link names neither or both of its `source` and `target`, or an unknown target
        /// kind.
        InvalidLinkEnds = "invalid_link_ends",
        /// Two secrets share a name.
        DuplicateSecret = "duplicate_secret",
        /// A secret value was sent where only a reference belongs.
        SecretValue = "secret_value",
        /// A WIT namespace, package or interface name is not a WIT identifier.
        InvalidWitName = "invalid_wit_name",
        /// A required string or list is empty.
        Empty = "empty",
        /// A configuration pin names a configuration the spec does not use.
        UnusedPin = "unused_pin",
    }
}

/// One problem with one field of a spec.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct FieldError {
    /// The path of the offending field, e.g. `links[1].name` or `secrets[0].value`.
    pub path: String,
    /// What is wrong.
    pub code: SpecErrorCode,
    /// A human-readable explanation.
    pub message: String,
}

impl FieldError {
    /// A problem at `path`.
    #[must_use]
    pub fn new(path: impl Into<String>, code: SpecErrorCode, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every problem found in a spec. Never empty.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct SpecErrors(Vec<FieldError>);

impl SpecErrors {
    pub(crate) fn from_vec(errors: Vec<FieldError>) -> Option<Self> {
        (!errors.is_empty()).then_some(Self(errors))
    }

    /// The problems, in the order the fields appear in the spec.
    #[must_use]
    pub fn errors(&self) -> &[FieldError] {
        &self.0
    }

    /// The problems, owned.
    #[must_use]
    pub fn into_errors(self) -> Vec<FieldError> {
        self.0
    }

    /// Whether some problem is at `path` with `code`.
    #[must_use]
    pub fn contains(&self, path: &str, code: SpecErrorCode) -> bool {
        self.0.iter().any(|e| e.path == path && e.code == code)
    }
}

impl fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid component spec ({} problem", self.0.len())?;
        if self.0.len() != 1 {
            f.write_str("s")?;
        }
        f.write_str(")")?;
        for error in &self.0 {
            write!(f, "; {error}")?;
        }
        Ok(())
    }
}
