//! Entry points for the fuzz targets in `fuzz/` (the `fuzzing` feature): the decoders the
//! fetchers run on bytes read from an OCI image layout or served by a registry, callable without
//! either. Not a stable API.

use crate::FetchError;
use crate::oci_layout::{NotAnImage, decode_image_manifest, wasm_layer};
use crate::registry_pull::{Pull, Wanted};
use oci_spec::image::{ImageIndex, ImageManifest, OciLayout};

/// What the layout fetcher makes of manifest bytes.
#[derive(Debug)]
#[non_exhaustive]
pub enum LayoutManifest {
    /// An image manifest, and the digest of the WebAssembly layer it would fetch, if it has one.
    Image {
        /// The decoded manifest.
        manifest: Box<ImageManifest>,
        /// The digest of the layer the fetcher would read.
        wasm_layer: Option<String>,
    },
    /// An image index (refused: nested indexes are not supported).
    Index,
    /// Neither.
    Undecodable,
}

/// Decodes manifest bytes as [`OciLayoutFetcher`](crate::OciLayoutFetcher) does.
#[must_use]
pub fn layout_manifest(bytes: &[u8]) -> LayoutManifest {
    match decode_image_manifest(bytes) {
        Ok(manifest) => {
            let wasm_layer = wasm_layer(manifest.layers()).map(|l| l.digest().to_string());
            LayoutManifest::Image {
                manifest: Box::new(manifest),
                wasm_layer,
            }
        }
        Err(NotAnImage::Index) => LayoutManifest::Index,
        Err(NotAnImage::Undecodable(_)) => LayoutManifest::Undecodable,
    }
}

/// Decodes a layout's `oci-layout` marker as the layout fetcher does.
///
/// # Errors
///
/// When the bytes are not a marker.
pub fn layout_marker(bytes: &[u8]) -> Result<OciLayout, serde_json::Error> {
    serde_json::from_slice(bytes)
}

/// Decodes a layout's `index.json` as the layout fetcher does.
///
/// # Errors
///
/// When the bytes are not an image index.
pub fn layout_index(bytes: &[u8]) -> Result<ImageIndex, serde_json::Error> {
    serde_json::from_slice(bytes)
}

/// The digest of the layer a registry pull would fetch from `manifest`: the WebAssembly layer,
/// or with `provider_archive` the provider archive's, as
/// [`OciRegistryFetcher`](crate::OciRegistryFetcher) reads it.
///
/// # Errors
///
/// The [`FetchError`] the fetcher would return.
pub fn registry_manifest_layer(
    manifest: &[u8],
    provider_archive: bool,
) -> Result<String, FetchError> {
    let pull = Pull {
        artifact: "registry.test/fuzz:1".to_owned(),
        registry: "registry.test".to_owned(),
        repository: "fuzz".to_owned(),
        plain_http: false,
        username: None,
    };
    let wanted = if provider_archive {
        Wanted::ProviderArchive
    } else {
        Wanted::Component
    };
    pull.layer(manifest, "sha256:fuzz", wanted)
        .map(|layer| layer.digest().to_string())
}
