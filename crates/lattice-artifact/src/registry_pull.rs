//! One pull from an OCI registry: reading the manifest, verifying what the registry serves,
//! and turning the registry client's errors into [`FetchError`]s a caller can act on.

use crate::{
    FetchError,
    fetch::digest_with,
    fetch_error::BoxError,
    oci_layout::{NotAnImage, decode_image_manifest, wasm_layer},
};
use lattice_spec::ContentDigest;
use oci_client::errors::{DigestError, OciDistributionError, OciEnvelope, OciErrorCode};
use oci_spec::image::Descriptor;
use std::fmt;

/// Whether a fetch failed because a connection was lost mid-exchange (not refused, not
/// answered with an error): the connection may have been a stale pooled one.
pub(crate) fn is_lost_connection(error: &FetchError) -> bool {
    let FetchError::Registry {
        source: Some(source),
        ..
    } = error
    else {
        return false;
    };
    if let Some(OciDistributionError::RequestError(error)) = source.downcast_ref() {
        return !error.is_connect() && !error.is_timeout() && !error.is_status();
    }
    // Reading a layer's bytes failed (a digest mismatch is classified before this).
    source.downcast_ref::<std::io::Error>().is_some()
}

/// Which layer a pull is for.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Wanted {
    /// A WebAssembly component ([`crate::WASM_LAYER_MEDIA_TYPES`]).
    Component,
    /// A provider archive ([`crate::PROVIDER_ARCHIVE_LAYER_MEDIA_TYPES`]).
    ProviderArchive,
}

/// What a request was for, to say what is missing.
pub(crate) enum Step {
    Manifest,
    Layer(String),
}

/// One fetch: what errors are about.
pub(crate) struct Pull {
    /// The artifact reference as written.
    pub(crate) artifact: String,
    /// The registry (`host[:port]`).
    pub(crate) registry: String,
    /// The repository within it.
    pub(crate) repository: String,
    /// Whether the registry is reached over plain HTTP.
    pub(crate) plain_http: bool,
    /// The user whose credentials are sent; `None` for anonymous pulls.
    pub(crate) username: Option<String>,
}

impl Pull {
    /// The first WebAssembly layer of an image manifest.
    #[cfg(test)]
    pub(crate) fn wasm_layer(
        &self,
        manifest: &[u8],
        digest: &str,
    ) -> Result<Descriptor, FetchError> {
        self.layer(manifest, digest, Wanted::Component)
    }

    /// The first layer of an image manifest holding what is `wanted`.
    pub(crate) fn layer(
        &self,
        manifest: &[u8],
        digest: &str,
        wanted: Wanted,
    ) -> Result<Descriptor, FetchError> {
        let image = match decode_image_manifest(manifest) {
            Ok(image) => image,
            Err(NotAnImage::Undecodable(error)) => {
                return Err(self.invalid_manifest(
                    format!("cannot decode manifest {digest}"),
                    Some(Box::new(error)),
                ));
            }
            Err(NotAnImage::Index) => {
                return Err(FetchError::Unsupported {
                    artifact: self.artifact.clone(),
                    detail: format!(
                        "{digest} in {}/{} is an image index (a multi-platform image); only single \
                     image manifests are supported: reference the WebAssembly manifest by digest",
                        self.registry, self.repository
                    ),
                });
            }
        };
        let found =
            match wanted {
                Wanted::Component => wasm_layer(image.layers()),
                Wanted::ProviderArchive => crate::PROVIDER_ARCHIVE_LAYER_MEDIA_TYPES
                    .iter()
                    .find_map(|par| {
                        image
                            .layers()
                            .iter()
                            .find(|layer| layer.media_type().as_ref() == *par)
                    }),
            };
        let (what, media_types, hint) = match wanted {
            Wanted::Component => (
                "WebAssembly",
                crate::WASM_LAYER_MEDIA_TYPES,
                "push the component with `wash oci push`",
            ),
            Wanted::ProviderArchive => (
                "provider archive",
                crate::PROVIDER_ARCHIVE_LAYER_MEDIA_TYPES,
                "push the provider archive (.par) as wasmCloud 1.x `wash push` does",
            ),
        };
        let Some(layer) = found else {
            let found: Vec<&str> = image
                .layers()
                .iter()
                .map(|l| l.media_type().as_ref())
                .collect();
            return Err(self.invalid_manifest(
                format!(
                    "manifest {digest} has no {what} layer (media type {}); its layers \
                     are: [{}]; {hint}",
                    media_types.join(" or "),
                    found.join(", ")
                ),
                None,
            ));
        };
        // Checked before the digest becomes part of a URL.
        if let Err(error) = ContentDigest::new(layer.digest().as_ref()) {
            return Err(self.invalid_manifest(
                format!("the {what} layer's digest is invalid: {error}"),
                None,
            ));
        }
        Ok(layer.clone())
    }

    /// Checks that `bytes` hash to `expected` (`sha256:`/`sha512:`).
    pub(crate) fn verify(
        &self,
        blob: String,
        expected: &str,
        bytes: &[u8],
    ) -> Result<(), FetchError> {
        let algorithm = expected
            .split_once(':')
            .map_or("", |(algorithm, _)| algorithm);
        // Digests of other algorithms were checked by oci-client; sha256 and sha512 are the
        // ones `ContentDigest` admits.
        let Some(actual) = digest_with(algorithm, bytes) else {
            return Ok(());
        };
        if actual == expected {
            Ok(())
        } else {
            Err(FetchError::RegistryDigestMismatch {
                artifact: self.artifact.clone(),
                registry: self.registry.clone(),
                blob,
                expected: expected.to_owned(),
                actual,
            })
        }
    }

    /// Turns a registry client's error into the fetch error a caller can act on.
    pub(crate) fn classify(&self, step: &Step, error: OciDistributionError) -> FetchError {
        use OciDistributionError as E;
        match error {
            E::RequestError(error) if error.is_connect() => self.unreachable(Box::new(error)),
            E::RequestError(error) => self.registry_error(
                format!("the connection was lost while fetching the {step}"),
                Some(Box::new(E::RequestError(error))),
            ),
            E::UnauthorizedError { .. } | E::AuthenticationFailure(_) => {
                self.unauthorized(Box::new(error))
            }
            E::ServerError {
                code: 401 | 403, ..
            } => self.unauthorized(Box::new(error)),
            E::ServerError {
                code: 404,
                ref message,
                ..
            } => {
                let said = message.trim().to_owned();
                self.not_found(step, &said)
            }
            E::RegistryError { ref envelope, .. } if has_code(envelope, is_denial) => {
                self.unauthorized(Box::new(error))
            }
            E::RegistryError { ref envelope, .. } if has_code(envelope, is_absence) => {
                self.not_found(step, &said(envelope))
            }
            E::DigestError(DigestError::VerificationError { expected, actual }) => {
                FetchError::RegistryDigestMismatch {
                    artifact: self.artifact.clone(),
                    registry: self.registry.clone(),
                    blob: step.to_string(),
                    expected,
                    actual,
                }
            }
            E::ManifestParsingError(_)
            | E::VersionedParsingError(_)
            | E::UnsupportedMediaTypeError(_)
            | E::UnsupportedSchemaVersionError(_)
            | E::ManifestEncodingError(_)
            | E::JsonError(_) => {
                self.invalid_manifest(format!("cannot read the {step}"), Some(Box::new(error)))
            }
            error => self.registry_error(format!("fetching the {step}"), Some(Box::new(error))),
        }
    }

    /// Classifies an error while reading a layer's bytes (oci-client wraps them in `io::Error`).
    pub(crate) fn classify_read(&self, step: &Step, error: std::io::Error) -> FetchError {
        let Some(inner) = error.get_ref() else {
            return self.registry_error(format!("reading the {step}"), Some(Box::new(error)));
        };
        if let Some(DigestError::VerificationError { expected, actual }) = inner.downcast_ref() {
            return FetchError::RegistryDigestMismatch {
                artifact: self.artifact.clone(),
                registry: self.registry.clone(),
                blob: step.to_string(),
                expected: expected.clone(),
                actual: actual.clone(),
            };
        }
        self.registry_error(format!("reading the {step}"), Some(Box::new(error)))
    }

    fn not_found(&self, step: &Step, said: &str) -> FetchError {
        let what = match step {
            Step::Manifest => "no such manifest (tag or digest)".to_owned(),
            Step::Layer(digest) => format!("the manifest's layer {digest} is missing"),
        };
        let said = if said.is_empty() {
            String::new()
        } else {
            format!(" (the registry said: {said})")
        };
        FetchError::NotFound {
            artifact: self.artifact.clone(),
            detail: format!(
                "{what} in repository `{}` of registry {}{said}",
                self.repository, self.registry
            ),
        }
    }

    fn unreachable(&self, source: BoxError) -> FetchError {
        FetchError::Unreachable {
            artifact: self.artifact.clone(),
            registry: self.registry.clone(),
            plain_http: self.plain_http,
            source,
        }
    }

    fn unauthorized(&self, source: BoxError) -> FetchError {
        FetchError::Unauthorized {
            artifact: self.artifact.clone(),
            registry: self.registry.clone(),
            username: self.username.clone(),
            source,
        }
    }

    pub(crate) fn registry_error(&self, detail: String, source: Option<BoxError>) -> FetchError {
        FetchError::Registry {
            artifact: self.artifact.clone(),
            registry: self.registry.clone(),
            detail,
            source,
        }
    }

    fn invalid_manifest(&self, detail: String, source: Option<BoxError>) -> FetchError {
        FetchError::InvalidManifest {
            artifact: self.artifact.clone(),
            registry: self.registry.clone(),
            detail,
            source,
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Manifest => f.write_str("manifest"),
            Step::Layer(digest) => write!(f, "layer {digest}"),
        }
    }
}

fn has_code(envelope: &OciEnvelope, matches: fn(&OciErrorCode) -> bool) -> bool {
    envelope.errors.iter().any(|error| matches(&error.code))
}

fn is_denial(code: &OciErrorCode) -> bool {
    matches!(code, OciErrorCode::Unauthorized | OciErrorCode::Denied)
}

fn is_absence(code: &OciErrorCode) -> bool {
    matches!(
        code,
        OciErrorCode::ManifestUnknown
            | OciErrorCode::NameUnknown
            | OciErrorCode::BlobUnknown
            | OciErrorCode::ManifestBlobUnknown
            | OciErrorCode::NotFound
    )
}

/// The registry's own messages, joined.
fn said(envelope: &OciEnvelope) -> String {
    let messages: Vec<&str> = envelope
        .errors
        .iter()
        .map(|error| error.message.as_str())
        .filter(|message| !message.is_empty())
        .collect();
    messages.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pull() -> Pull {
        Pull {
            artifact: "localhost:5000/app:1".into(),
            registry: "localhost:5000".into(),
            repository: "app".into(),
            plain_http: true,
            username: None,
        }
    }

    #[test]
    fn manifests_without_a_wasm_layer_and_indexes_are_refused() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let config = format!(
            r#""config":{{"mediaType":"application/vnd.wasm.config.v0+json","digest":"{digest}","size":2}}"#
        );
        let image = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",{config},
            "layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{digest}","size":1}}]}}"#
        );
        let error = pull()
            .wasm_layer(image.as_bytes(), "sha256:aa")
            .unwrap_err();
        assert_eq!(error.kind(), crate::FetchErrorKind::InvalidManifest);
        assert!(
            error
                .to_string()
                .contains("its layers are: [application/vnd.oci.image.layer.v1.tar]"),
            "{error}"
        );
        let index = br#"{"schemaVersion":2,"manifests":[]}"#;
        let error = pull().wasm_layer(index, "sha256:aa").unwrap_err();
        assert_eq!(error.kind(), crate::FetchErrorKind::Unsupported);
        let legacy = format!(
            r#"{{"schemaVersion":2,{config},"layers":[{{"mediaType":"application/vnd.module.wasm.content.layer.v1+wasm","digest":"{digest}","size":4}}]}}"#
        );
        let layer = pull().wasm_layer(legacy.as_bytes(), "sha256:aa").unwrap();
        assert_eq!(layer.size(), 4);
        let traversal = format!(
            r#"{{"schemaVersion":2,{config},"layers":[{{"mediaType":"application/wasm","digest":"sha256:../../x","size":4}}]}}"#
        );
        let error = pull()
            .wasm_layer(traversal.as_bytes(), "sha256:aa")
            .unwrap_err();
        assert_eq!(error.kind(), crate::FetchErrorKind::InvalidManifest);
        let not_a_manifest = br#"{"schemaVersion":2,"layers":"none"}"#;
        let error = pull().wasm_layer(not_a_manifest, "sha256:aa").unwrap_err();
        assert_eq!(error.kind(), crate::FetchErrorKind::InvalidManifest);
    }

    #[test]
    fn registry_errors_are_classified() {
        let not_found = pull().classify(
            &Step::Manifest,
            OciDistributionError::RegistryError {
                envelope: serde_json::from_str(
                    r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#,
                )
                .unwrap(),
                url: "http://localhost:5000/v2/app/manifests/1".into(),
            },
        );
        assert_eq!(not_found.kind(), crate::FetchErrorKind::NotFound);
        assert!(
            not_found
                .to_string()
                .contains("(the registry said: manifest unknown)"),
            "{not_found}"
        );
        let denied = pull().classify(
            &Step::Manifest,
            OciDistributionError::ServerError {
                code: 403,
                url: "u".into(),
                message: "denied".into(),
            },
        );
        assert_eq!(denied.kind(), crate::FetchErrorKind::Unauthorized);
        assert!(denied.to_string().contains("anonymous"), "{denied}");
        let corrupt = pull().classify(
            &Step::Layer("sha256:aa".into()),
            DigestError::VerificationError {
                expected: "sha256:aa".into(),
                actual: "sha256:bb".into(),
            }
            .into(),
        );
        assert_eq!(corrupt.kind(), crate::FetchErrorKind::DigestMismatch);
        assert!(!corrupt.is_pin_mismatch());
        let server = pull().classify(
            &Step::Manifest,
            OciDistributionError::ServerError {
                code: 503,
                url: "u".into(),
                message: "down for maintenance".into(),
            },
        );
        assert_eq!(server.kind(), crate::FetchErrorKind::Registry);
        let reason = lattice_status::StatusReason::from(&server);
        assert!(reason.message.contains("down for maintenance"), "{reason}");
    }
}
