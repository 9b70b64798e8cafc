//! The example components of the repository (`examples/components`), for tests and benches
//! that run real WebAssembly.

use std::path::PathBuf;

/// The path of `examples/components/{name}` (e.g. `greeter/greeter-v1.wasm`).
///
/// # Panics
///
/// When there is no such file: a test naming a missing example is wrong.
#[must_use]
pub fn example_component(name: &str) -> PathBuf {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "../../examples/components",
        name,
    ]
    .iter()
    .collect();
    path.canonicalize()
        .unwrap_or_else(|e| panic!("example component `{name}`: {e}"))
}

/// The `file://` artifact reference of `examples/components/{name}`.
///
/// # Panics
///
/// As [`example_component`].
#[must_use]
pub fn example_component_ref(name: &str) -> String {
    format!("file://{}", example_component(name).display())
}
