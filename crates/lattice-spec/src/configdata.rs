//! The layout of a lattice's named-configuration bucket, shared by everything that reads or
//! writes it (the scheduler and `lattice config` write, hosts only read).
//!
//! - **Bucket** [`bucket_name`]: `CONFIGDATA_{lattice}`, the JetStream key-value bucket
//!   wasmCloud 1.x hosts use, so 1.x tools (`wash config put`) and hosts see the same
//!   configurations.
//! - **Current value**: key = the configuration's name, value = a JSON object of string to
//!   string (`{"url":"redis://…","ttl":"30"}`), exactly as in 1.x. Writing it changes nothing
//!   that runs until a rollout pins the new content.
//! - **Pinned copy** [`pinned_key`]: `_pinned.{name}.{hex}`, where `sha256:{hex}` is the
//!   [`content_digest`] of the value. Written (once, never overwritten or deleted by lattice)
//!   before a spec is pinned to that digest, so a rollback to an older spec finds the older
//!   content after the name was overwritten. A configuration name never starts with `_`
//!   ([`ConfigName`]), so a pinned key never collides with a name, and the key uses only
//!   characters NATS KV keys allow (`[-/_=.a-zA-Z0-9]`).
//! - **Content digest** [`content_digest`]: `sha256` of the canonical JSON of the map (keys
//!   sorted, no whitespace, serde_json escaping), so the same content has the same digest
//!   whatever the writer's key order or whitespace.
//!
//! Keys of 1.x secret references (`SECRET_…`, whose values are not string maps) live in the
//! same bucket; [`parse_entry`] refuses them as configuration, and listings skip them.

use crate::{ConfigName, ContentDigest, LatticeName};
use std::collections::BTreeMap;

/// The prefix of every pinned copy's key.
pub const PINNED_PREFIX: &str = "_pinned.";

/// The prefix 1.x gives secret references stored in the configuration bucket.
pub const SECRET_PREFIX: &str = "SECRET";

/// The configuration bucket of `lattice`: `CONFIGDATA_{lattice}` (as in wasmCloud 1.x).
#[must_use]
pub fn bucket_name(lattice: &LatticeName) -> String {
    format!("CONFIGDATA_{lattice}")
}

/// The sha256 digest of `values`' canonical JSON (sorted keys, no whitespace).
///
/// ```
/// use std::collections::BTreeMap;
/// let values = BTreeMap::from([("b".to_owned(), "2".to_owned()), ("a".to_owned(), "1".to_owned())]);
/// assert_eq!(
///     lattice_spec::configdata::content_digest(&values),
///     lattice_spec::ContentDigest::sha256_of(br#"{"a":"1","b":"2"}"#),
/// );
/// ```
#[must_use]
pub fn content_digest(values: &BTreeMap<String, String>) -> ContentDigest {
    ContentDigest::sha256_of(&canonical_json(values))
}

/// The canonical JSON of `values`: what [`content_digest`] hashes and what writers store.
#[must_use]
pub fn canonical_json(values: &BTreeMap<String, String>) -> Vec<u8> {
    // A BTreeMap serializes in key order, whatever serde_json's features.
    serde_json::to_vec(values).unwrap_or_else(|e| unreachable!("a string map serializes: {e}"))
}

/// The key of the immutable copy of `name`'s content with `digest`.
///
/// `None` for a digest that is not sha256 (pins are always sha256).
#[must_use]
pub fn pinned_key(name: &ConfigName, digest: &ContentDigest) -> Option<String> {
    let hex = digest.as_str().strip_prefix("sha256:")?;
    Some(format!("{PINNED_PREFIX}{name}.{hex}"))
}

/// Whether `key` of the bucket holds a configuration a user named (not a pinned copy, not a
/// 1.x secret reference).
#[must_use]
pub fn is_config_key(key: &str) -> bool {
    !key.starts_with(PINNED_PREFIX) && !key.starts_with(SECRET_PREFIX)
}

/// Why an entry of the bucket is not a configuration. Never carries a value of the entry.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "configuration `{name}` is not a JSON object of string values: {message} at line {line} \
     column {column}"
)]
#[non_exhaustive]
pub struct EntryError {
    /// The configuration.
    pub name: String,
    /// What is wrong, without the offending text.
    pub message: String,
    /// Where (1-based; 0 when the entry is empty).
    pub line: usize,
    /// Where (1-based; 0 when the entry is empty).
    pub column: usize,
}

/// Parses the stored value of configuration `name`: a JSON object of string to string.
///
/// # Errors
///
/// [`EntryError`] with the position of the problem and serde_json's category of it — never
/// the entry's text, which may be a credential.
pub fn parse_entry(name: &str, bytes: &[u8]) -> Result<BTreeMap<String, String>, EntryError> {
    serde_json::from_slice(bytes).map_err(|e| EntryError {
        name: name.to_owned(),
        message: match e.classify() {
            serde_json::error::Category::Syntax => "invalid JSON syntax",
            serde_json::error::Category::Eof => "the JSON ends early",
            serde_json::error::Category::Data => "a value that is not a string, or not an object",
            serde_json::error::Category::Io => "unreadable",
        }
        .to_owned(),
        line: e.line(),
        column: e.column(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_does_not_depend_on_order_or_whitespace() {
        let a = parse_entry("a", br#"{ "b": "2", "a": "1" }"#).unwrap();
        let b = parse_entry("a", br#"{"a":"1","b":"2"}"#).unwrap();
        assert_eq!(content_digest(&a), content_digest(&b));
        assert_ne!(
            content_digest(&a),
            content_digest(&BTreeMap::from([("a".into(), "1".into())]))
        );
    }

    #[test]
    fn a_bad_entry_names_the_config_and_the_position_but_never_the_value() {
        let e = parse_entry("creds", br#"{"password": 12345}"#).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("`creds`") && text.contains("line 1"),
            "{text}"
        );
        assert!(!text.contains("12345"), "{text}");
        let e = parse_entry("creds", b"hunter2").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    #[test]
    fn pinned_keys_are_nats_kv_keys_and_never_names() {
        let digest = ContentDigest::sha256_of(b"{}");
        let key = pinned_key(&"creds".parse().unwrap(), &digest).unwrap();
        assert!(key.starts_with("_pinned.creds."));
        assert!(
            key.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-/_=.".contains(&b))
        );
        assert!(key.parse::<ConfigName>().is_err());
        assert!(!is_config_key(&key));
        assert!(!is_config_key("SECRET_db"));
        assert!(is_config_key("creds"));
    }
}
