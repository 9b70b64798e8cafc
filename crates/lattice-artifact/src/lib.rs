//! Fetching and validating component artifacts for a lattice host.
//!
//! Before a host runs a new revision of a component it needs the component's bytes and some
//! assurance that they will run: that they are a WebAssembly **component** and that every
//! interface the component imports will be there. This crate owns those two steps, as two
//! pluggable traits the host holds as `Arc<dyn …>`, and the implementations it ships:
//!
//! | step | trait | shipped implementations |
//! |---|---|---|
//! | get the bytes | [`ArtifactFetcher`] (async, returns a boxed future) | [`FileFetcher`] (local files), [`OciLayoutFetcher`] (local OCI image-layout directories), [`OciRegistryFetcher`] (OCI registries, as `wash oci push` pushes components), [`DefaultFetcher`] (routes to them) |
//! | check the bytes | [`ComponentValidator`] (synchronous; call it from `spawn_blocking`) | [`WasmComponentValidator`] (wasmparser, plus import coverage by the spec's links) |
//!
//! A spec may pin its artifact's digest; [`verify_pin`] checks bytes against a pin and
//! [`fetch_pinned`] fetches and checks in one call. Both error types convert into the
//! [`StatusReason`](lattice_status::StatusReason) a host reports when a rollout fails:
//! [`FetchError`] to `fetch_failed` (or `invalid_artifact` for bytes that are not the pinned
//! ones), [`ValidationError`] to `invalid_artifact` or `unsatisfied_imports`.
//!
//! [`testing`] (the `testing` feature) builds real component binaries from WAT text and writes
//! OCI image layouts, for tests and demos.
//!
//! ```
//! use lattice_artifact::{ComponentValidator, WasmComponentValidator, testing};
//! use lattice_spec::{ComponentSpecDraft, LinkDraft};
//!
//! let spec = ComponentSpecDraft::new("counter", "ghcr.io/acme/counter:1.0.0")
//!     .link(LinkDraft::new("redis", "wasi", "keyvalue", ["store"]))
//!     .validate()?;
//! let bytes = testing::component_importing(&["wasi:keyvalue/store@0.2.0", "wasi:io/streams@0.2.0"]);
//!
//! // wasi:keyvalue/store is covered by the link, wasi:io/streams by the host itself.
//! let component = WasmComponentValidator::new().validate(&bytes, &spec)?;
//! assert_eq!(component.imports, ["wasi:keyvalue/store@0.2.0", "wasi:io/streams@0.2.0"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod fetch;
mod fetch_error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod oci_layout;
mod oci_registry;
mod provider_archive;
mod registry_pull;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod validate;
mod validate_error;

pub use fetch::{ArtifactFetcher, DefaultFetcher, FileFetcher, fetch_pinned, verify_pin};
pub use fetch_error::{BoxError, FetchError, FetchErrorKind};
pub use oci_layout::{OciLayoutFetcher, WASM_LAYER_MEDIA_TYPES};
pub use oci_registry::{DEFAULT_REGISTRY_DEADLINE, OciRegistryFetcher, OciRegistryFetcherBuilder};
pub use provider_archive::{
    PROVIDER_ARCHIVE_CONFIG_MEDIA_TYPE, PROVIDER_ARCHIVE_LAYER_MEDIA_TYPES, ProviderArchiveError,
    ProviderArchiveErrorKind, current_target, provider_archive_binary,
};
pub use validate::{
    ComponentValidator, DEFAULT_HOST_PROVIDED, ValidatedComponent, WasmComponentValidator,
};
pub use validate_error::{ArtifactFormat, ValidationError, ValidationErrorKind};
