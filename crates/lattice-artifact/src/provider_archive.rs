//! Provider archives (PAR): the format wasmCloud 1.x (`wash par create`, `wash push`) ships
//! capability-provider executables in.
//!
//! A PAR is a tar archive, optionally gzip-compressed (recognised by the gzip magic `1f 8b`),
//! holding `claims.jwt` and one `{target}.bin` per target (`x86_64-linux.bin`,
//! `aarch64-macos.bin`, …; the target is `{ARCH}-{OS}` from [`std::env::consts`]). The JWT's
//! payload lists, under `wascap.target_hashes`, the uppercase-hex SHA-256 of every binary.
//!
//! **The JWT's signature is not verified**: lattice does not (yet) hold the issuer keys to
//! check it against. The payload is decoded only to check that the binary is the one the
//! archive's author listed, which catches a corrupt or hand-edited archive, not a forged one.
//! Authenticity comes from the registry (credentials, TLS) and the spec's digest pin.

use base64::Engine as _;
use sha2::Digest as _;
use std::{collections::BTreeMap, io::Read};

/// The OCI layer media types whose blob is a whole provider archive, as a wasmCloud 1.x host
/// accepts them; `wash push` uses the first.
pub const PROVIDER_ARCHIVE_LAYER_MEDIA_TYPES: &[&str] = &[
    "application/vnd.wasmcloud.provider.archive.layer.v1+par",
    "application/vnd.oci.image.layer.v1.tar",
];

/// The config blob media type `wash push` gives a provider archive's manifest.
pub const PROVIDER_ARCHIVE_CONFIG_MEDIA_TYPE: &str =
    "application/vnd.wasmcloud.provider.archive.config";

/// The target this process runs on, as a provider archive names it: `{ARCH}-{OS}`
/// (`x86_64-linux`, `aarch64-macos`).
#[must_use]
pub fn current_target() -> String {
    format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS)
}

/// Why a provider archive cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderArchiveError {
    /// The bytes are not a (gzip-compressed) tar archive.
    #[error("not a provider archive (a tar, optionally gzip-compressed): {detail}")]
    NotAnArchive {
        /// What went wrong reading it.
        detail: String,
        /// The read error.
        #[source]
        source: std::io::Error,
    },
    /// The archive has no `claims.jwt`, or its payload cannot be read.
    #[error("the provider archive's claims are missing or unreadable: {detail}")]
    NoClaims {
        /// What is missing.
        detail: String,
    },
    /// The archive has no binary for the target asked for.
    #[error(
        "the provider archive has no binary for target `{target}`; it has [{}]: add a \
         `{target}.bin` (`wash par insert`)",
        present.join(", ")
    )]
    NoBinaryForTarget {
        /// The target asked for.
        target: String,
        /// The targets it has binaries for.
        present: Vec<String>,
    },
    /// The binary's SHA-256 is not the one the claims list (or they list none).
    #[error(
        "the `{target}` binary's SHA-256 is {actual}, but claims.jwt lists {expected} for it: \
         the archive is corrupt or was edited after it was signed; rebuild it"
    )]
    HashMismatch {
        /// The target.
        target: String,
        /// The hash the claims list (`(none)` when they list none).
        expected: String,
        /// The binary's hash.
        actual: String,
    },
}

/// What kind of [`ProviderArchiveError`] this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProviderArchiveErrorKind {
    /// [`ProviderArchiveError::NotAnArchive`].
    NotAnArchive,
    /// [`ProviderArchiveError::NoClaims`].
    NoClaims,
    /// [`ProviderArchiveError::NoBinaryForTarget`].
    NoBinaryForTarget,
    /// [`ProviderArchiveError::HashMismatch`].
    HashMismatch,
}

impl ProviderArchiveError {
    /// What kind of error this is.
    #[must_use]
    pub fn kind(&self) -> ProviderArchiveErrorKind {
        match self {
            Self::NotAnArchive { .. } => ProviderArchiveErrorKind::NotAnArchive,
            Self::NoClaims { .. } => ProviderArchiveErrorKind::NoClaims,
            Self::NoBinaryForTarget { .. } => ProviderArchiveErrorKind::NoBinaryForTarget,
            Self::HashMismatch { .. } => ProviderArchiveErrorKind::HashMismatch,
        }
    }
}

/// Reads a provider archive and returns the binary for `target` (see [`current_target`]),
/// checked against the hash its claims list.
///
/// A provider archive (wasmCloud 1.x `wash par create`) is a tar, gzip-compressed or not
/// (gzip magic `1f 8b`), holding `claims.jwt` and one `{target}.bin` per target; the JWT's
/// payload lists each binary's uppercase-hex SHA-256 under `wascap.target_hashes`.
///
/// **The JWT's signature is not verified**: lattice holds no issuer keys to check it against.
/// The payload is decoded only to check that the binary is the one the archive's author
/// listed, which catches a corrupt or edited archive, not a forged one; authenticity comes
/// from the registry (credentials, TLS) and the spec's digest pin.
///
/// ```
/// use lattice_artifact::{ProviderArchiveErrorKind, provider_archive_binary};
///
/// let error = provider_archive_binary(b"#!/bin/sh\n", "x86_64-linux").unwrap_err();
/// assert_eq!(error.kind(), ProviderArchiveErrorKind::NotAnArchive);
/// ```
///
/// # Errors
///
/// [`ProviderArchiveError`]: not a tar, no (readable) claims, no binary for `target`, or a
/// binary whose hash is not the listed one.
pub fn provider_archive_binary(
    archive: &[u8],
    target: &str,
) -> Result<Vec<u8>, ProviderArchiveError> {
    let reader: Box<dyn Read + '_> = if archive.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::GzDecoder::new(archive))
    } else {
        Box::new(archive)
    };
    let not_an_archive = |detail: &str, source| ProviderArchiveError::NotAnArchive {
        detail: detail.to_owned(),
        source,
    };
    let mut tar = tar::Archive::new(reader);
    let mut claims = None;
    let mut binary = None;
    let mut present = Vec::new();
    let entries = tar
        .entries()
        .map_err(|e| not_an_archive("cannot list its entries", e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| not_an_archive("cannot read an entry", e))?;
        let path = entry
            .path()
            .map_err(|e| not_an_archive("an entry has an unreadable name", e))?
            .to_string_lossy()
            .into_owned();
        let name = path.rsplit('/').next().unwrap_or(&path).to_owned();
        if name == "claims.jwt" {
            let mut text = String::new();
            entry
                .read_to_string(&mut text)
                .map_err(|e| not_an_archive("cannot read claims.jwt", e))?;
            claims = Some(text);
        } else if let Some(found) = name.strip_suffix(".bin") {
            present.push(found.to_owned());
            if found == target {
                let mut bytes = Vec::new();
                entry
                    .read_to_end(&mut bytes)
                    .map_err(|e| not_an_archive("cannot read a binary", e))?;
                binary = Some(bytes);
            }
        }
    }
    if claims.is_none() && present.is_empty() {
        // An empty or foreign tar (or random bytes the tar reader took for an empty one).
        return Err(not_an_archive(
            "it has neither claims.jwt nor any `{target}.bin`",
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "no provider archive entries",
            ),
        ));
    }
    let claims = claims.ok_or_else(|| ProviderArchiveError::NoClaims {
        detail: "it has no claims.jwt".to_owned(),
    })?;
    let hashes = target_hashes(&claims)?;
    let Some(binary) = binary else {
        present.sort();
        return Err(ProviderArchiveError::NoBinaryForTarget {
            target: target.to_owned(),
            present,
        });
    };
    let actual = format!("{:X}", sha2::Sha256::digest(&binary));
    let expected = hashes.get(target).cloned();
    if expected.as_deref().map(str::to_ascii_uppercase).as_deref() != Some(actual.as_str()) {
        return Err(ProviderArchiveError::HashMismatch {
            target: target.to_owned(),
            expected: expected.unwrap_or_else(|| "(none)".to_owned()),
            actual,
        });
    }
    Ok(binary)
}

#[derive(serde::Deserialize)]
struct Payload {
    wascap: Wascap,
}

#[derive(serde::Deserialize)]
struct Wascap {
    #[serde(default)]
    target_hashes: BTreeMap<String, String>,
}

/// `wascap.target_hashes` from the JWT's payload (its signature is not checked).
fn target_hashes(jwt: &str) -> Result<BTreeMap<String, String>, ProviderArchiveError> {
    let no_claims = |detail: String| ProviderArchiveError::NoClaims { detail };
    let payload =
        jwt.trim().split('.').nth(1).ok_or_else(|| {
            no_claims("claims.jwt is not a JWT (header.payload.signature)".into())
        })?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|e| no_claims(format!("claims.jwt's payload is not base64url: {e}")))?;
    let payload: Payload = serde_json::from_slice(&json).map_err(|e| {
        no_claims(format!(
            "claims.jwt's payload has no readable `wascap.target_hashes`: {e}"
        ))
    })?;
    Ok(payload.wascap.target_hashes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::provider_archive;

    #[test]
    fn plain_and_gzip_archives_yield_the_targets_binary() {
        let exe = b"#!/bin/sh\nexit 0\n";
        let plain = provider_archive(&[("x86_64-linux", exe)], None, false);
        assert_eq!(
            provider_archive_binary(&plain, "x86_64-linux").unwrap(),
            exe
        );
        let gzip = provider_archive(&[("x86_64-linux", exe)], None, true);
        assert_eq!(&gzip[..2], &[0x1f, 0x8b]);
        assert_eq!(provider_archive_binary(&gzip, "x86_64-linux").unwrap(), exe);
    }

    #[test]
    fn a_missing_target_names_the_targets_present() {
        let archive = provider_archive(
            &[("aarch64-macos", b"a"), ("x86_64-windows", b"b")],
            None,
            true,
        );
        let error = provider_archive_binary(&archive, "x86_64-linux").unwrap_err();
        assert_eq!(error.kind(), ProviderArchiveErrorKind::NoBinaryForTarget);
        assert!(
            error.to_string().contains(
                "no binary for target `x86_64-linux`; it has [aarch64-macos, x86_64-windows]"
            ),
            "{error}"
        );
    }

    #[test]
    fn a_wrong_hash_no_claims_and_non_archives_are_refused() {
        let archive = provider_archive(&[("x86_64-linux", b"real")], Some("00AB"), false);
        let error = provider_archive_binary(&archive, "x86_64-linux").unwrap_err();
        assert_eq!(error.kind(), ProviderArchiveErrorKind::HashMismatch);
        assert!(
            error.to_string().contains("claims.jwt lists 00AB"),
            "{error}"
        );

        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(1);
        header.set_cksum();
        builder
            .append_data(&mut header, "x86_64-linux.bin", &b"x"[..])
            .unwrap();
        let no_claims = builder.into_inner().unwrap();
        let error = provider_archive_binary(&no_claims, "x86_64-linux").unwrap_err();
        assert_eq!(error.kind(), ProviderArchiveErrorKind::NoClaims);

        let error = provider_archive_binary(b"\x7fELF not a tar", "x86_64-linux").unwrap_err();
        assert_eq!(error.kind(), ProviderArchiveErrorKind::NotAnArchive);
    }

    #[test]
    fn the_current_target_is_arch_dash_os() {
        let target = current_target();
        assert!(target.starts_with(std::env::consts::ARCH), "{target}");
        assert!(target.ends_with(std::env::consts::OS), "{target}");
    }
}
