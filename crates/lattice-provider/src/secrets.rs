//! Opening a link's secrets: the `source_secrets` / `target_secrets` blobs of a link put,
//! sealed by the sending host's xkey for this provider's xkey (as wasmCloud 1.x hosts seal
//! them, so the same code opens what either generation sends).
//!
//! ```
//! use lattice_link::{SecretMap, SecretValue};
//! use lattice_provider::secrets::{XKey, open};
//!
//! // What a host does (the host kit's `LinkSecrets`), then what the provider does.
//! let (host, provider) = (XKey::new(), XKey::new());
//! let values = SecretMap::from([("token".to_owned(), SecretValue::String("s3cr3t".into()))]);
//! let sealed = host.seal(&serde_json::to_vec(&values)?, &XKey::from_public_key(&provider.public_key())?)?;
//!
//! let opened = open(&sealed, &provider, &host.public_key())?;
//! assert_eq!(opened["token"].as_string(), Some("s3cr3t"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use lattice_link::{LinkPutRequest, SecretMap};
pub use nkeys::XKey;

/// Why a link's secrets could not be opened. Never contains a secret value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenSecretsError {
    /// The put carries secrets but does not say which host key sealed them.
    #[error("the link carries secrets but not the xkey of the host that sealed them")]
    UnknownSender,
    /// The sender's key is not a public xkey.
    #[error("`{0}` is not a public xkey")]
    InvalidSender(String),
    /// The blob does not open with this provider's key (sealed for another instance, or
    /// tampered with).
    #[error("the link's secrets do not open with this provider's xkey")]
    Open(#[source] nkeys::error::Error),
    /// The opened bytes are not a secret map.
    #[error("the link's secrets are not a map of secret values")]
    Decode(#[source] serde_json::Error),
}

/// Why a link's secrets could not be opened, as a value to `match` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OpenSecretsErrorKind {
    /// See [`OpenSecretsError::UnknownSender`].
    UnknownSender,
    /// See [`OpenSecretsError::InvalidSender`].
    InvalidSender,
    /// See [`OpenSecretsError::Open`].
    Open,
    /// See [`OpenSecretsError::Decode`].
    Decode,
}

impl OpenSecretsError {
    /// The kind of failure.
    #[must_use]
    pub fn kind(&self) -> OpenSecretsErrorKind {
        match self {
            Self::UnknownSender => OpenSecretsErrorKind::UnknownSender,
            Self::InvalidSender(_) => OpenSecretsErrorKind::InvalidSender,
            Self::Open(_) => OpenSecretsErrorKind::Open,
            Self::Decode(_) => OpenSecretsErrorKind::Decode,
        }
    }
}

/// Opens one sealed blob with `provider_key`, sealed by the host whose public xkey is
/// `sealed_by`.
///
/// # Errors
///
/// [`OpenSecretsError`] when the key or the blob is wrong.
pub fn open(
    sealed: &[u8],
    provider_key: &XKey,
    sealed_by: &str,
) -> Result<SecretMap, OpenSecretsError> {
    let sender = XKey::from_public_key(sealed_by)
        .map_err(|_| OpenSecretsError::InvalidSender(sealed_by.to_owned()))?;
    let plaintext = provider_key
        .open(sealed, &sender)
        .map_err(OpenSecretsError::Open)?;
    serde_json::from_slice(&plaintext).map_err(OpenSecretsError::Decode)
}

/// Opens both ends' secrets of `put` (empty maps where there are none), with the sender named
/// in the put or, failing that, `host_key` — the host key a 1.x provider gets in its host data.
///
/// # Errors
///
/// [`OpenSecretsError`] when a blob is present and cannot be opened.
pub fn open_link(
    put: &LinkPutRequest,
    provider_key: &XKey,
    host_key: Option<&str>,
) -> Result<(SecretMap, SecretMap), OpenSecretsError> {
    let sender = put.secrets_sealed_by.as_deref().or(host_key);
    let open_one = |blob: Option<&[u8]>| match (blob, sender) {
        (None, _) => Ok(SecretMap::new()),
        (Some(_), None) => Err(OpenSecretsError::UnknownSender),
        (Some(blob), Some(sender)) => open(blob, provider_key, sender),
    };
    Ok((
        open_one(put.source_secrets.as_deref())?,
        open_one(put.target_secrets.as_deref())?,
    ))
}
