//! The content of a link's encrypted secret fields.
//!
//! A link put carries `source_secrets` / `target_secrets` as opaque blobs: the JSON of a map
//! from secret name to [`SecretValue`], sealed (nkeys xkey: curve25519, xsalsa20-poly1305) by
//! the sending host's xkey for the receiving provider's xkey — exactly what a wasmCloud 1.x
//! host sends and a 1.x provider SDK opens. This crate only defines the plaintext shape; the
//! host kit seals it and the provider kit opens it.

use serde::{Deserialize, Serialize};
use std::{collections::BTreeMap, fmt};

/// One secret value, as wasmCloud's `SecretValue` encodes it: `{"kind":"String","value":…}`
/// or `{"kind":"Bytes","value":[…]}`. Its `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value")]
#[non_exhaustive]
pub enum SecretValue {
    /// A text secret (a password, a token).
    String(String),
    /// A binary secret (a key file).
    Bytes(Vec<u8>),
}

impl SecretValue {
    /// The value as text, if it is text.
    #[must_use]
    pub fn as_string(&self) -> Option<&str> {
        match self {
            Self::String(value) => Some(value),
            Self::Bytes(_) => None,
        }
    }

    /// The value as bytes, whichever kind it is.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Self::String(value) => value.as_bytes(),
            Self::Bytes(value) => value,
        }
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::String(_) => f.write_str("SecretValue::String(redacted)"),
            Self::Bytes(_) => f.write_str("SecretValue::Bytes(redacted)"),
        }
    }
}

/// The plaintext of one encrypted secret field: secret name → value.
pub type SecretMap = BTreeMap<String, SecretValue>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_encode_as_wasmcloud_does_and_never_print() {
        let map = SecretMap::from([
            ("password".to_owned(), SecretValue::String("hunter2".into())),
            ("key".to_owned(), SecretValue::Bytes(vec![1, 2])),
        ]);
        let json = serde_json::to_string(&map).unwrap();
        assert_eq!(
            json,
            r#"{"key":{"kind":"Bytes","value":[1,2]},"password":{"kind":"String","value":"hunter2"}}"#
        );
        assert_eq!(serde_json::from_str::<SecretMap>(&json).unwrap(), map);
        assert!(!format!("{map:?}").contains("hunter2"));
    }
}
