//! The check of the `oci_layout` fuzz target, shared with lattice-artifact's `fuzz_regressions`
//! test: the OCI JSON the artifact fetchers read (an image layout's `oci-layout` marker and
//! `index.json`, an image manifest from a layout or a registry) never panics the decoders; what
//! decodes encodes and decodes back to itself; a manifest is an image, an index or neither, and
//! the layer a fetch would read is one the manifest lists, with the media type asked for.

use lattice_artifact::fuzzing::{self, LayoutManifest};
use lattice_artifact::{PROVIDER_ARCHIVE_LAYER_MEDIA_TYPES, WASM_LAYER_MEDIA_TYPES};
use oci_spec::image::{ImageIndex, ImageManifest, OciLayout};

/// Runs the check on one input.
pub(crate) fn check(data: &[u8]) {
    if let Ok(marker) = fuzzing::layout_marker(data) {
        let again: OciLayout = serde_json::from_slice(&serde_json::to_vec(&marker).unwrap())
            .expect("an encoded layout marker decodes");
        assert_eq!(again, marker);
    }
    if let Ok(index) = fuzzing::layout_index(data) {
        let again: ImageIndex = serde_json::from_slice(&serde_json::to_vec(&index).unwrap())
            .expect("an encoded image index decodes");
        assert_eq!(again, index);
    }
    let image = match fuzzing::layout_manifest(data) {
        LayoutManifest::Image {
            manifest,
            wasm_layer,
        } => {
            let again: ImageManifest =
                serde_json::from_slice(&serde_json::to_vec(&manifest).unwrap())
                    .expect("an encoded image manifest decodes");
            assert_eq!(&again, manifest.as_ref());
            if let Some(digest) = &wasm_layer {
                assert!(listed(&manifest, digest, WASM_LAYER_MEDIA_TYPES));
            }
            Some(manifest)
        }
        _ => None,
    };
    for provider_archive in [false, true] {
        let layer = fuzzing::registry_manifest_layer(data, provider_archive);
        let Ok(digest) = layer else { continue };
        let manifest = image
            .as_ref()
            .expect("a registry pull only reads layers of what the layout fetcher calls an image");
        let media_types = if provider_archive {
            PROVIDER_ARCHIVE_LAYER_MEDIA_TYPES
        } else {
            WASM_LAYER_MEDIA_TYPES
        };
        assert!(listed(manifest, &digest, media_types), "{digest}");
        digest
            .parse::<lattice_spec::ContentDigest>()
            .expect("a registry pull only reads layers with a valid digest");
    }
}

/// Whether `manifest` lists a layer with `digest` and one of `media_types`.
fn listed(manifest: &ImageManifest, digest: &str, media_types: &[&str]) -> bool {
    manifest.layers().iter().any(|layer| {
        layer.digest().to_string() == digest
            && media_types.contains(&layer.media_type().to_string().as_str())
    })
}
