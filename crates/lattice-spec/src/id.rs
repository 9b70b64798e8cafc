//! Validated identifier newtypes and [`Revision`].
//!
//! # Rules
//!
//! Identifiers travel inside NATS subjects, so they may not contain `.`, `*`, `>` or
//! whitespace. Every identifier here follows one rule:
//!
//! - 1 to its maximum length in bytes (128; 64 for a lattice name),
//! - only ASCII letters, digits, `-` and `_`,
//! - starting with a letter or a digit.
//!
//! wasmCloud host ids (56-character nkeys such as `NAB…`) and the usual component and provider
//! ids (`http-hello-world`, `keyvalue_redis`) all satisfy it. An identifier is checked once,
//! when it is constructed or decoded; an invalid one cannot exist past that edge.

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize};
use std::{borrow::Cow, fmt, str::FromStr};

/// Why a string is not a valid identifier.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// The string is empty.
    #[error("{what} must not be empty")]
    Empty {
        /// Which identifier was being checked, e.g. `component id`.
        what: &'static str,
    },
    /// The string is longer than allowed.
    #[error("{what} `{value}` is {len} bytes long; the limit is {max}")]
    TooLong {
        /// Which identifier was being checked.
        what: &'static str,
        /// The offending value.
        value: String,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The string contains a character outside `[A-Za-z0-9_-]`, or starts with `-` or `_`.
    #[error(
        "{what} `{value}` has `{ch}` at byte {index}; only ASCII letters, digits, `-` and `_` \
         are allowed, and the first character must be a letter or a digit"
    )]
    InvalidChar {
        /// Which identifier was being checked.
        what: &'static str,
        /// The offending value.
        value: String,
        /// The first offending character.
        ch: char,
        /// Its byte index.
        index: usize,
    },
}

/// What is wrong with an identifier, as a value to `match` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IdErrorKind {
    /// See [`IdError::Empty`].
    Empty,
    /// See [`IdError::TooLong`].
    TooLong,
    /// See [`IdError::InvalidChar`].
    InvalidChar,
}

impl IdError {
    /// The kind of problem.
    #[must_use]
    pub fn kind(&self) -> IdErrorKind {
        match self {
            Self::Empty { .. } => IdErrorKind::Empty,
            Self::TooLong { .. } => IdErrorKind::TooLong,
            Self::InvalidChar { .. } => IdErrorKind::InvalidChar,
        }
    }
}

/// The regular expression every identifier matches (published in the JSON Schemas).
pub const IDENTIFIER_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9_-]*$";

pub(crate) fn check_identifier(value: &str, what: &'static str, max: usize) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError::Empty { what });
    }
    if value.len() > max {
        return Err(IdError::TooLong {
            what,
            value: value.to_owned(),
            len: value.len(),
            max,
        });
    }
    for (index, ch) in value.char_indices() {
        let allowed = ch.is_ascii_alphanumeric() || (index > 0 && (ch == '-' || ch == '_'));
        if !allowed {
            return Err(IdError::InvalidChar {
                what,
                value: value.to_owned(),
                ch,
                index,
            });
        }
    }
    Ok(())
}

macro_rules! identifier {
    ($(#[$meta:meta])* $name:ident, $what:literal, max = $max:literal) => {
        $(#[$meta])*
        ///
        /// See the [module documentation](crate::id) for the rules it follows.
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// What this identifier is called in error messages.
            pub const WHAT: &'static str = $what;
            /// The longest value allowed, in bytes.
            pub const MAX_LEN: usize = $max;

            /// Validates and wraps `value`.
            ///
            /// # Errors
            ///
            /// [`IdError`] when `value` breaks the identifier rules.
            pub fn new(value: impl Into<String>) -> Result<Self, IdError> {
                let value = value.into();
                check_identifier(&value, $what, $max)?;
                Ok(Self(value))
            }

            /// The identifier as a string.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The identifier as an owned string.
            #[must_use]
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(value: &str) -> Result<Self, IdError> {
                Self::new(value)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, IdError> {
                Self::new(value)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = IdError;
            fn try_from(value: &str) -> Result<Self, IdError> {
                Self::new(value)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = String::deserialize(deserializer)?;
                Self::new(value).map_err(serde::de::Error::custom)
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({
                    "type": "string",
                    "description": concat!(
                        "A ", $what, ": 1 to ", stringify!($max),
                        " ASCII letters, digits, '-' or '_', starting with a letter or digit."
                    ),
                    "minLength": 1,
                    "maxLength": $max,
                    "pattern": IDENTIFIER_PATTERN,
                })
            }
        }

        #[cfg(feature = "arbitrary")]
        impl<'a> arbitrary::Arbitrary<'a> for $name {
            fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
                Ok(Self(arbitrary_identifier(u, $max)?))
            }
        }
    };
}

/// Builds a valid identifier of at most `max` bytes from fuzzer input.
#[cfg(feature = "arbitrary")]
pub(crate) fn arbitrary_identifier(
    u: &mut arbitrary::Unstructured<'_>,
    max: usize,
) -> arbitrary::Result<String> {
    const FIRST: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    const REST: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
    let len = u.int_in_range(1..=max.min(24))?;
    let mut out = String::with_capacity(len);
    out.push(char::from(*u.choose(FIRST)?));
    for _ in 1..len {
        out.push(char::from(*u.choose(REST)?));
    }
    Ok(out)
}

identifier!(
    /// The id of a component, unique within a lattice.
    ComponentId, "component id", max = 128
);
identifier!(
    /// The id of a capability provider, unique within a lattice.
    ProviderId, "provider id", max = 128
);
identifier!(
    /// Either end of a link: the id of a component or of a provider (wasmCloud's links name
    /// both ends this way, as `source_id` and `target`).
    WorkloadId, "workload id", max = 128
);
identifier!(
    /// The id of a host (for wasmCloud hosts, a 56-character nkey public key).
    HostId, "host id", max = 128
);
identifier!(
    /// The name of a lattice: the namespace every subject of one lattice lives in.
    LatticeName, "lattice name", max = 64
);
identifier!(
    /// The name of a link, distinguishing several links of one component to one WIT package.
    LinkName, "link name", max = 128
);
identifier!(
    /// The name of a named configuration held in the lattice's configuration store.
    ConfigName, "config name", max = 128
);

impl LinkName {
    /// The name a link has when none is given: `default`.
    #[must_use]
    pub fn default_name() -> Self {
        Self("default".to_owned())
    }
}

/// The revision of a desired state, as the scheduler numbers it.
///
/// Revisions grow: a host refuses an apply whose revision is lower than the one it runs, and
/// an apply of the same revision with different content.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[serde(transparent)]
pub struct Revision(pub u64);

impl Revision {
    /// The revision after this one.
    #[must_use]
    pub const fn next(self) -> Self {
        Self(self.0.saturating_add(1))
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<u64> for Revision {
    fn from(value: u64) -> Self {
        Self(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_usual_ids_and_nkeys() {
        for ok in [
            "http-hello-world",
            "keyvalue_redis",
            "a",
            "NBCD3FXQ7ZSH6WQCE5PEK3RGYS3VSFJQYQXZDZ6FA3V7NJ6SWR6F3XQM",
        ] {
            assert!(ComponentId::new(ok).is_ok(), "{ok}");
        }
        assert_eq!(LinkName::default_name(), "default");
    }

    #[test]
    fn refuses_subject_breaking_and_odd_ids() {
        assert_eq!(
            ComponentId::new(""),
            Err(IdError::Empty {
                what: "component id"
            })
        );
        assert!(matches!(
            ComponentId::new("a.b"),
            Err(IdError::InvalidChar {
                ch: '.',
                index: 1,
                ..
            })
        ));
        assert!(matches!(
            HostId::new("h*"),
            Err(IdError::InvalidChar { ch: '*', .. })
        ));
        assert!(matches!(
            ProviderId::new("-x"),
            Err(IdError::InvalidChar {
                ch: '-',
                index: 0,
                ..
            })
        ));
        assert!(matches!(
            LatticeName::new("a b"),
            Err(IdError::InvalidChar { ch: ' ', .. })
        ));
        assert!(matches!(
            LatticeName::new("x".repeat(65)),
            Err(IdError::TooLong {
                len: 65,
                max: 64,
                ..
            })
        ));
        assert!(LatticeName::new("x".repeat(64)).is_ok());
    }

    #[test]
    fn decoding_validates() {
        let err = serde_json::from_str::<ComponentId>("\"bad>id\"").unwrap_err();
        assert!(
            err.to_string().contains("component id `bad>id` has `>`"),
            "{err}"
        );
        let id: ComponentId = serde_json::from_str("\"ok-id\"").unwrap();
        assert_eq!(id, "ok-id");
    }
}

// Components and providers share one id rule, so each is a workload id and back.
macro_rules! workload_conversions {
    ($($name:ident),+) => {$(
        impl From<$name> for WorkloadId {
            fn from(id: $name) -> Self {
                Self(id.0)
            }
        }

        impl From<WorkloadId> for $name {
            fn from(id: WorkloadId) -> Self {
                Self(id.0)
            }
        }

        impl PartialEq<$name> for WorkloadId {
            fn eq(&self, other: &$name) -> bool {
                self.0 == other.0
            }
        }
    )+};
}
workload_conversions!(ComponentId, ProviderId);
