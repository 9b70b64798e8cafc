//! [`FetchError`]: why an artifact's bytes could not be had.

use lattice_status::{ReasonCode, StatusReason};
use std::{error::Error as StdError, io, path::PathBuf, time::Duration};

/// The error a registry client or transport gave, kept whole as a [`FetchError`]'s source.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Why an artifact could not be fetched, or why the fetched bytes were refused.
///
/// Every message names the artifact (as written in the spec) and says what to do about it.
/// [`FetchError::kind`] gives the cause as a small `Copy` value to match on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The file, OCI layout, tag, manifest or blob does not exist.
    #[error("artifact `{artifact}` not found: {detail}")]
    NotFound {
        /// The artifact reference as written.
        artifact: String,
        /// What is missing, where it was looked for, and what exists instead.
        detail: String,
    },
    /// Reading failed for another reason than absence (permissions, a directory, …).
    #[error(
        "artifact `{artifact}`: cannot read {}: {error}; check that the host may read it",
        path.display()
    )]
    Io {
        /// The artifact reference as written.
        artifact: String,
        /// The path that could not be read.
        path: PathBuf,
        /// The underlying error (its message is part of this error's message).
        error: io::Error,
    },
    /// This fetcher does not serve this kind of reference, or the layout uses a feature it
    /// does not support.
    #[error("artifact `{artifact}` cannot be fetched: {detail}")]
    Unsupported {
        /// The artifact reference as written.
        artifact: String,
        /// What is unsupported and what to configure instead.
        detail: String,
    },
    /// Bytes do not hash to the digest they must have: either the artifact against its
    /// spec's pin (`blob` is `None`), or a blob of an OCI layout against its descriptor.
    #[error("{}", digest_mismatch_message(.artifact.as_deref(), .blob.as_ref(), .expected, .actual))]
    DigestMismatch {
        /// The artifact reference as written, when known ([`verify_pin`](crate::verify_pin)
        /// alone does not know it; [`fetch_pinned`](crate::fetch_pinned) fills it in).
        artifact: Option<String>,
        /// The corrupt blob's path, for a blob of an OCI layout; `None` for a pin mismatch.
        blob: Option<PathBuf>,
        /// The digest the bytes must have.
        expected: String,
        /// The digest the bytes have.
        actual: String,
    },
    /// An OCI image-layout directory exists but is not a valid layout (missing `oci-layout`
    /// or `index.json`, undecodable JSON, bad descriptors, no WebAssembly layer).
    #[error("artifact `{artifact}`: invalid OCI image layout {}: {detail}", layout.display())]
    InvalidLayout {
        /// The artifact reference as written.
        artifact: String,
        /// The layout directory.
        layout: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// The OCI registry cannot be reached: the connection is refused, the name does not
    /// resolve, or TLS cannot be set up (for instance, a plain-HTTP registry reached over
    /// HTTPS).
    #[error(
        "artifact `{artifact}`: registry {registry} cannot be reached over {}: check that it \
         runs and that this host can reach it{}",
        if *.plain_http { "plain HTTP" } else { "HTTPS" },
        if *.plain_http { "" } else { "; if it serves plain HTTP, allow that with \
         `OciRegistryFetcherBuilder::insecure_registry`" }
    )]
    Unreachable {
        /// The artifact reference as written.
        artifact: String,
        /// The registry (`host[:port]`).
        registry: String,
        /// Whether the registry was reached over plain HTTP rather than HTTPS.
        plain_http: bool,
        /// The transport's error.
        #[source]
        source: BoxError,
    },
    /// The whole fetch (every request to the registry, and reading the component's bytes) did
    /// not finish within the fetcher's deadline: a registry that accepts connections but does
    /// not answer, or answers too slowly.
    #[error(
        "artifact `{artifact}`: fetching from registry {registry} did not finish within \
         {after:?}; the registry is overloaded or not answering: retry later, or raise the \
         deadline (`OciRegistryFetcherBuilder::deadline`)"
    )]
    TimedOut {
        /// The artifact reference as written.
        artifact: String,
        /// The registry (`host[:port]`).
        registry: String,
        /// The deadline that passed.
        after: Duration,
    },
    /// The registry refused access: it wants credentials and none were configured, or it
    /// refused the ones given.
    #[error("{}", unauthorized_message(.artifact, .registry, .username.as_deref()))]
    Unauthorized {
        /// The artifact reference as written.
        artifact: String,
        /// The registry (`host[:port]`).
        registry: String,
        /// The user whose credentials were sent; `None` when the pull was anonymous.
        username: Option<String>,
        /// The registry's refusal, as the registry client reported it.
        #[source]
        source: BoxError,
    },
    /// The registry failed the request in another way: a server error, an unexpected answer,
    /// or a connection lost while reading.
    #[error("artifact `{artifact}`: registry {registry} failed the request: {detail}")]
    Registry {
        /// The artifact reference as written.
        artifact: String,
        /// The registry (`host[:port]`).
        registry: String,
        /// What was being done and what went wrong.
        detail: String,
        /// The registry client's or transport's error, when there is one.
        #[source]
        source: Option<BoxError>,
    },
    /// The registry's manifest for the reference is not a WebAssembly component image: it
    /// cannot be decoded, or it has no WebAssembly layer.
    #[error("artifact `{artifact}`: invalid manifest from registry {registry}: {detail}")]
    InvalidManifest {
        /// The artifact reference as written.
        artifact: String,
        /// The registry (`host[:port]`).
        registry: String,
        /// What is wrong with the manifest.
        detail: String,
        /// The decoder's error, when there is one.
        #[source]
        source: Option<BoxError>,
    },
    /// A manifest or blob served by a registry does not hash to the digest that names it: the
    /// registry's copy is corrupt (or was tampered with on the way).
    #[error(
        "artifact `{artifact}`: {blob} from registry {registry} is corrupt: it must hash to \
         {expected} but hashes to {actual}; re-push the artifact or repair the registry's storage"
    )]
    RegistryDigestMismatch {
        /// The artifact reference as written.
        artifact: String,
        /// The registry (`host[:port]`).
        registry: String,
        /// What was served: `manifest` or `layer` and its digest.
        blob: String,
        /// The digest the content must have.
        expected: String,
        /// The digest the content has.
        actual: String,
    },
}

fn unauthorized_message(artifact: &str, registry: &str, username: Option<&str>) -> String {
    match username {
        None => format!(
            "artifact `{artifact}`: registry {registry} refused an anonymous pull: configure \
             credentials for it (`OciRegistryFetcherBuilder::basic_auth`)"
        ),
        Some(username) => format!(
            "artifact `{artifact}`: registry {registry} refused the credentials of user \
             `{username}`: check the username and password configured for it and that the \
             user may pull this repository"
        ),
    }
}

fn digest_mismatch_message(
    artifact: Option<&str>,
    blob: Option<&PathBuf>,
    expected: &str,
    actual: &str,
) -> String {
    let subject = match artifact {
        Some(artifact) => format!("artifact `{artifact}`"),
        None => "the artifact".to_owned(),
    };
    match blob {
        None => format!(
            "{subject} does not match its pinned digest: expected {expected}, got {actual}; \
             the artifact changed since the spec was pinned: update the spec's `digest` or \
             republish the pinned artifact"
        ),
        Some(blob) => format!(
            "{subject}: blob {} is corrupt: its descriptor says {expected} but its content \
             hashes to {actual}; rewrite or re-pull the OCI layout",
            blob.display()
        ),
    }
}

/// The cause of a [`FetchError`], to match on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FetchErrorKind {
    /// See [`FetchError::NotFound`].
    NotFound,
    /// See [`FetchError::Io`].
    Io,
    /// See [`FetchError::Unsupported`].
    Unsupported,
    /// See [`FetchError::DigestMismatch`].
    DigestMismatch,
    /// See [`FetchError::InvalidLayout`].
    InvalidLayout,
    /// See [`FetchError::Unreachable`].
    Unreachable,
    /// See [`FetchError::TimedOut`].
    TimedOut,
    /// See [`FetchError::Unauthorized`].
    Unauthorized,
    /// See [`FetchError::Registry`].
    Registry,
    /// See [`FetchError::InvalidManifest`].
    InvalidManifest,
}

impl FetchError {
    /// The cause, as a `Copy` value.
    #[must_use]
    pub fn kind(&self) -> FetchErrorKind {
        match self {
            Self::NotFound { .. } => FetchErrorKind::NotFound,
            Self::Io { .. } => FetchErrorKind::Io,
            Self::Unsupported { .. } => FetchErrorKind::Unsupported,
            Self::DigestMismatch { .. } | Self::RegistryDigestMismatch { .. } => {
                FetchErrorKind::DigestMismatch
            }
            Self::InvalidLayout { .. } => FetchErrorKind::InvalidLayout,
            Self::Unreachable { .. } => FetchErrorKind::Unreachable,
            Self::TimedOut { .. } => FetchErrorKind::TimedOut,
            Self::Unauthorized { .. } => FetchErrorKind::Unauthorized,
            Self::Registry { .. } => FetchErrorKind::Registry,
            Self::InvalidManifest { .. } => FetchErrorKind::InvalidManifest,
        }
    }

    /// The artifact reference the error is about, when known.
    #[must_use]
    pub fn artifact(&self) -> Option<&str> {
        match self {
            Self::NotFound { artifact, .. }
            | Self::Io { artifact, .. }
            | Self::Unsupported { artifact, .. }
            | Self::InvalidLayout { artifact, .. }
            | Self::Unreachable { artifact, .. }
            | Self::TimedOut { artifact, .. }
            | Self::Unauthorized { artifact, .. }
            | Self::Registry { artifact, .. }
            | Self::InvalidManifest { artifact, .. }
            | Self::RegistryDigestMismatch { artifact, .. } => Some(artifact),
            Self::DigestMismatch { artifact, .. } => artifact.as_deref(),
        }
    }

    /// Whether this is a pin mismatch: the artifact was fetched whole, but it is not the one
    /// the spec pinned.
    #[must_use]
    pub fn is_pin_mismatch(&self) -> bool {
        matches!(self, Self::DigestMismatch { blob: None, .. })
    }

    /// Names the artifact in an error that does not know it yet (a pin mismatch from
    /// [`verify_pin`](crate::verify_pin)); other errors are returned unchanged.
    #[must_use]
    pub fn for_artifact(mut self, name: &str) -> Self {
        if let Self::DigestMismatch { artifact, .. } = &mut self
            && artifact.is_none()
        {
            *artifact = Some(name.to_owned());
        }
        self
    }
}

/// The reason a host reports when fetching fails.
///
/// Every fetch error is [`ReasonCode::FetchFailed`] — including a corrupt blob in an OCI
/// layout or a registry, a storage or transport fault that re-pushing or repairing fixes —
/// **except a pin mismatch** ([`FetchError::is_pin_mismatch`]): then the bytes were fetched
/// whole but are not the pinned ones, which `lattice-status` documents as
/// [`ReasonCode::InvalidArtifact`].
///
/// The message is the error's, followed by its sources (a registry client's or transport's
/// error, such as `connection refused`), so the reason says what happened without the error
/// value.
impl From<&FetchError> for StatusReason {
    fn from(error: &FetchError) -> Self {
        let code = if error.is_pin_mismatch() {
            ReasonCode::InvalidArtifact
        } else {
            ReasonCode::FetchFailed
        };
        let mut message = error.to_string();
        let mut next = StdError::source(error);
        while let Some(cause) = next {
            let text = cause.to_string();
            // Some errors repeat their source's message in their own; say it once.
            if !message.contains(&text) {
                message.push_str(": ");
                message.push_str(&text);
            }
            next = cause.source();
        }
        StatusReason::new(code, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_mismatch_is_an_invalid_artifact_and_blob_corruption_a_fetch_failure() {
        let pin = FetchError::DigestMismatch {
            artifact: None,
            blob: None,
            expected: "sha256:aa".into(),
            actual: "sha256:bb".into(),
        }
        .for_artifact("ghcr.io/acme/app:1.0.0");
        let reason = StatusReason::from(&pin);
        assert_eq!(reason.code, ReasonCode::InvalidArtifact);
        assert!(
            reason
                .message
                .starts_with("artifact `ghcr.io/acme/app:1.0.0` does not match its pinned digest"),
            "{reason}"
        );
        let blob = FetchError::DigestMismatch {
            artifact: Some("a".into()),
            blob: Some(PathBuf::from("/l/blobs/sha256/aa")),
            expected: "sha256:aa".into(),
            actual: "sha256:bb".into(),
        };
        assert_eq!(StatusReason::from(&blob).code, ReasonCode::FetchFailed);
        assert_eq!(blob.kind(), FetchErrorKind::DigestMismatch);
        assert!(
            blob.to_string().contains("/l/blobs/sha256/aa is corrupt"),
            "{blob}"
        );
    }

    #[test]
    fn other_errors_are_fetch_failures_with_their_message() {
        let error = FetchError::NotFound {
            artifact: "./app.wasm".into(),
            detail: "no file at /srv/app.wasm".into(),
        };
        let reason = StatusReason::from(&error);
        assert_eq!(reason.code, ReasonCode::FetchFailed);
        assert_eq!(
            reason.message,
            "artifact `./app.wasm` not found: no file at /srv/app.wasm"
        );
        assert_eq!(error.artifact(), Some("./app.wasm"));
        assert_eq!(error.for_artifact("other").artifact(), Some("./app.wasm"));
    }
}
