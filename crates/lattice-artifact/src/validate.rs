//! [`ComponentValidator`] and [`WasmComponentValidator`]: is this a component, and will its
//! imports be there?

use crate::{ArtifactFormat, ValidationError};
use lattice_spec::{ComponentSpec, ContentDigest, LinkSpec, is_wit_identifier};
use wasmparser::{Encoding, Parser, Payload, Validator, WasmFeatures};

/// Checks fetched bytes before a host runs them as `spec`'s component.
///
/// Synchronous and CPU-bound: a host calls it inside `spawn_blocking`.
pub trait ComponentValidator: Send + Sync + 'static {
    /// Validates `bytes` as the component `spec` describes.
    ///
    /// # Errors
    ///
    /// [`ValidationError`]: not a component, an invalid one, or imports nothing provides.
    fn validate(
        &self,
        bytes: &[u8],
        spec: &ComponentSpec,
    ) -> Result<ValidatedComponent, ValidationError>;
}

/// A component that passed validation: what it imports and exports, and what it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatedComponent {
    /// The component's top-level imports, in order, as named in the binary
    /// (`wasi:keyvalue/store@0.2.0`, `greeting`).
    pub imports: Vec<String>,
    /// The component's top-level exports, in order (`wasi:http/incoming-handler@0.2.0`).
    pub exports: Vec<String>,
    /// The sha256 digest of the bytes.
    pub digest: ContentDigest,
    /// The size of the bytes.
    pub size: usize,
}

impl ValidatedComponent {
    /// A validated component for `bytes` with the given imports and exports (digest and size
    /// computed); for validators of one's own and test doubles.
    #[must_use]
    pub fn new(bytes: &[u8], imports: Vec<String>, exports: Vec<String>) -> Self {
        Self {
            imports,
            exports,
            digest: ContentDigest::sha256_of(bytes),
            size: bytes.len(),
        }
    }
}

/// What a WebAssembly runtime provides to components itself, whatever their links: the WASI
/// interfaces of the `io`, `clocks`, `random`, `cli`, `filesystem`, `sockets` and `logging`
/// packages, `wasi:config/store` (the component's own configuration) and `wasmcloud:secrets`
/// (the component's own secrets, `store` and `reveal`). The default of
/// [`WasmComponentValidator::new`].
pub const DEFAULT_HOST_PROVIDED: &[&str] = &[
    "wasi:config/store",
    "wasi:io/*",
    "wasi:clocks/*",
    "wasi:random/*",
    "wasi:cli/*",
    "wasi:filesystem/*",
    "wasi:sockets/*",
    "wasi:logging/*",
    "wasmcloud:secrets/*",
];

/// The shipped [`ComponentValidator`]: the bytes must be a valid WebAssembly component
/// (checked by `wasmparser` with the component model enabled, including its async ABI) and
/// every top-level import must be provided.
///
/// **Coverage.** An interface import `ns:pkg/iface[@version]` is covered when a link of the
/// spec has WIT namespace `ns`, package `pkg` and `iface` among its interfaces — versions are
/// ignored, since the link names none — or when it matches a host-provided pattern.
///
/// **Host-provided patterns** are what the host's runtime serves itself,
/// [`DEFAULT_HOST_PROVIDED`] unless changed. A pattern is an import name, with a trailing `*`
/// matching any rest (`wasi:logging/*`, `wasi:*`, `*`); versions are ignored on both sides.
///
/// **Imports that are not interfaces** — plain names such as an imported function
/// `greeting` — cannot be provided by any link, so they must be host-provided: they are
/// unsatisfied unless a pattern names them. Ignoring them would let a component through that
/// fails to instantiate on the host later, after the old revision was already replaced.
///
/// ```
/// use lattice_artifact::{ComponentValidator, ValidationErrorKind, WasmComponentValidator, testing};
/// use lattice_spec::ComponentSpecDraft;
///
/// let spec = ComponentSpecDraft::new("greeter", "./greeter.wasm").validate()?;
/// let bytes = testing::component_importing(&["greeting", "acme:log/sink@1.0.0"]);
///
/// let strict = WasmComponentValidator::new().validate(&bytes, &spec).unwrap_err();
/// assert_eq!(strict.kind(), ValidationErrorKind::UnsatisfiedImports);
/// assert_eq!(strict.missing_imports(), ["greeting", "acme:log/sink@1.0.0"]);
///
/// let host = WasmComponentValidator::new().host_provides("greeting").host_provides("acme:log/*");
/// assert!(host.validate(&bytes, &spec).is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct WasmComponentValidator {
    host_provided: Vec<String>,
}

impl Default for WasmComponentValidator {
    fn default() -> Self {
        Self::new()
    }
}

impl WasmComponentValidator {
    /// A validator with [`DEFAULT_HOST_PROVIDED`] as host-provided patterns.
    #[must_use]
    pub fn new() -> Self {
        Self {
            host_provided: DEFAULT_HOST_PROVIDED
                .iter()
                .map(|&p| p.to_owned())
                .collect(),
        }
    }

    /// A validator for which the host provides nothing: every import needs a link.
    #[must_use]
    pub fn without_host_defaults() -> Self {
        Self {
            host_provided: Vec::new(),
        }
    }

    /// Adds a host-provided pattern (see the type's documentation for the syntax).
    #[must_use]
    pub fn host_provides(mut self, pattern: impl Into<String>) -> Self {
        self.host_provided.push(pattern.into());
        self
    }

    /// The host-provided patterns.
    #[must_use]
    pub fn host_provided(&self) -> &[String] {
        &self.host_provided
    }

    /// Whether the host provides the import `name`.
    #[must_use]
    pub fn is_host_provided(&self, name: &str) -> bool {
        self.host_provided
            .iter()
            .any(|pattern| pattern_matches(pattern, name))
    }

    /// The features the validator enables: wasmparser's defaults (which include the
    /// component model and its async ABI), plus the component model explicitly and
    /// `error-context`, which async components use.
    #[must_use]
    pub fn features() -> WasmFeatures {
        WasmFeatures::default()
            | WasmFeatures::COMPONENT_MODEL
            | WasmFeatures::CM_ASYNC
            | WasmFeatures::CM_ERROR_CONTEXT
    }

    /// Checks that `bytes` are a valid component and lists its top-level imports and exports,
    /// without looking at any spec.
    ///
    /// # Errors
    ///
    /// [`ValidationError::NotAComponent`] or [`ValidationError::Invalid`].
    pub fn inspect(bytes: &[u8]) -> Result<ValidatedComponent, ValidationError> {
        check_format(bytes)?;
        Validator::new_with_features(Self::features())
            .validate_all(bytes)
            .map_err(invalid)?;
        let names = top_level_names(bytes)?;
        let imports = names.imports.into_iter().map(|(name, _)| name).collect();
        Ok(ValidatedComponent::new(bytes, imports, names.exports))
    }

    fn hint(&self, name: &str, interface: &str, links: &[LinkSpec]) -> String {
        let Some((ns, pkg, iface)) = parse_interface(interface) else {
            return format!(
                "`{name}` (not a WIT interface, so no link can provide it, and the host does \
                 not: it provides [{}])",
                self.host_provided.join(", ")
            );
        };
        let same_package: Vec<&LinkSpec> = links
            .iter()
            .filter(|l| l.wit_namespace() == ns && l.wit_package() == pkg)
            .collect();
        match same_package.as_slice() {
            [] => format!(
                "`{name}` (add a link with wit_namespace `{ns}`, wit_package `{pkg}` and \
                 interface `{iface}`)"
            ),
            existing => {
                let names: Vec<String> = existing
                    .iter()
                    .map(|l| format!("`{}` (target `{}`)", l.name(), l.peer().id()))
                    .collect();
                format!(
                    "`{name}` (add interface `{iface}` to the {ns}:{pkg} link {})",
                    names.join(" or ")
                )
            }
        }
    }
}

impl ComponentValidator for WasmComponentValidator {
    fn validate(
        &self,
        bytes: &[u8],
        spec: &ComponentSpec,
    ) -> Result<ValidatedComponent, ValidationError> {
        check_format(bytes)?;
        Validator::new_with_features(Self::features())
            .validate_all(bytes)
            .map_err(invalid)?;
        let names = top_level_names(bytes)?;
        // Outgoing links cover imports; incoming ones (a provider calling in) need exports.
        let outgoing: Vec<LinkSpec> = spec
            .links()
            .iter()
            .filter(|l| !l.is_incoming())
            .cloned()
            .collect();
        let (mut missing, mut hints) = (Vec::new(), Vec::new());
        for (name, interface) in &names.imports {
            let covered = outgoing.iter().any(|link| link_covers(link, interface));
            if !covered && !self.is_host_provided(interface) && !self.is_host_provided(name) {
                hints.push(self.hint(name, interface, &outgoing));
                missing.push(name.clone());
            }
        }
        if !missing.is_empty() {
            return Err(ValidationError::UnsatisfiedImports { missing, hints });
        }
        let exports = &names.exports;
        let unexported: Vec<String> = spec
            .links()
            .iter()
            .filter_map(|link| Some((link, link.incoming_source()?)))
            .flat_map(|(link, source)| {
                link.interfaces().iter().filter_map(move |iface| {
                    let exported = exports.iter().any(|export| {
                        parse_interface(export).is_some_and(|(ns, pkg, name)| {
                            ns == link.wit_namespace() && pkg == link.wit_package() && name == iface
                        })
                    });
                    (!exported).then(|| {
                        format!(
                            "`{}:{}/{iface}` (from provider `{source}`)",
                            link.wit_namespace(),
                            link.wit_package()
                        )
                    })
                })
            })
            .collect();
        if !unexported.is_empty() {
            return Err(ValidationError::MissingExports {
                missing: unexported,
                exports: names.exports.clone(),
            });
        }
        let imports = names.imports.into_iter().map(|(name, _)| name).collect();
        Ok(ValidatedComponent::new(bytes, imports, names.exports))
    }
}

fn invalid(error: wasmparser::BinaryReaderError) -> ValidationError {
    ValidationError::Invalid {
        message: error.message().to_owned(),
        offset: error.offset(),
    }
}

/// Refuses bytes that are not a component binary, saying what they are instead.
fn check_format(bytes: &[u8]) -> Result<(), ValidationError> {
    match Parser::new(0).parse(bytes, true) {
        Ok(wasmparser::Chunk::Parsed {
            payload: Payload::Version { encoding, .. },
            ..
        }) => match encoding {
            Encoding::Component => Ok(()),
            Encoding::Module => Err(ValidationError::NotAComponent {
                found: ArtifactFormat::CoreModule,
            }),
        },
        // A `\0asm` header with an unknown version: let wasmparser say what is wrong.
        Err(error) if bytes.starts_with(b"\0asm") => Err(invalid(error)),
        _ => {
            let text = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]);
            let start = text
                .lines()
                .map(str::trim_start)
                .find(|line| !line.is_empty() && !line.starts_with(";;"))
                .unwrap_or_default();
            let found = if start.starts_with("(component") || start.starts_with("(module") {
                ArtifactFormat::WasmText
            } else {
                ArtifactFormat::NotWasm
            };
            Err(ValidationError::NotAComponent { found })
        }
    }
}

/// The top-level imports (name, and the interface it stands for) and exports of a component.
struct Names {
    imports: Vec<(String, String)>,
    exports: Vec<String>,
}

fn top_level_names(bytes: &[u8]) -> Result<Names, ValidationError> {
    let mut names = Names {
        imports: Vec::new(),
        exports: Vec::new(),
    };
    // Nested modules and components are parsed inline, each between its own `Version` and
    // `End`; only the outermost component's sections (depth 1) count.
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(invalid)? {
            Payload::Version { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if depth == 1 => {
                for import in reader {
                    let name = import.map_err(invalid)?.name;
                    let interface = name.full_implements().unwrap_or_else(|| name.full_name());
                    names
                        .imports
                        .push((name.full_name().into_owned(), interface.into_owned()));
                }
            }
            Payload::ComponentExportSection(reader) if depth == 1 => {
                for export in reader {
                    names
                        .exports
                        .push(export.map_err(invalid)?.name.full_name().into_owned());
                }
            }
            _ => {}
        }
    }
    Ok(names)
}

fn strip_version(name: &str) -> &str {
    name.split_once('@').map_or(name, |(base, _)| base)
}

/// `ns:pkg/iface[@version]` split into its parts; `None` for any other kind of name.
fn parse_interface(name: &str) -> Option<(&str, &str, &str)> {
    let (ns, rest) = strip_version(name).split_once(':')?;
    let (pkg, iface) = rest.split_once('/')?;
    [ns, pkg, iface]
        .iter()
        .all(|part| is_wit_identifier(part))
        .then_some((ns, pkg, iface))
}

fn link_covers(link: &LinkSpec, interface: &str) -> bool {
    parse_interface(interface).is_some_and(|(ns, pkg, iface)| {
        link.wit_namespace() == ns
            && link.wit_package() == pkg
            && link.interfaces().iter().any(|i| i == iface)
    })
}

fn pattern_matches(pattern: &str, name: &str) -> bool {
    let name = strip_version(name);
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == strip_version(pattern),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names_are_split_and_versions_dropped() {
        assert_eq!(
            parse_interface("wasi:keyvalue/store@0.2.0-draft"),
            Some(("wasi", "keyvalue", "store"))
        );
        assert_eq!(
            parse_interface("wasi:http/incoming-handler"),
            Some(("wasi", "http", "incoming-handler"))
        );
        assert_eq!(parse_interface("greeting"), None);
        assert_eq!(parse_interface("unlocked-dep=<a:b>"), None);
        assert_eq!(parse_interface("a:b/c/d"), None);
    }

    #[test]
    fn patterns_match_prefixes_and_ignore_versions() {
        assert!(pattern_matches(
            "wasi:logging/*",
            "wasi:logging/logging@0.1.0-draft"
        ));
        assert!(!pattern_matches("wasi:logging/*", "wasi:loggingx/logging"));
        assert!(pattern_matches("wasi:*", "wasi:keyvalue/store"));
        assert!(pattern_matches("*", "greeting"));
        assert!(pattern_matches("greeting", "greeting"));
        assert!(!pattern_matches("greeting", "greetings"));
        assert!(pattern_matches("acme:x/y@2.0.0", "acme:x/y@1.0.0"));
    }

    #[test]
    fn default_host_patterns_cover_wasi_runtime_interfaces_only() {
        let validator = WasmComponentValidator::new();
        assert!(validator.is_host_provided("wasi:io/streams@0.2.0"));
        assert!(validator.is_host_provided("wasi:clocks/monotonic-clock@0.2.3"));
        assert!(!validator.is_host_provided("wasi:keyvalue/store@0.2.0-draft"));
        assert!(!validator.is_host_provided("wasi:http/outgoing-handler@0.2.0"));
        assert!(!WasmComponentValidator::without_host_defaults().is_host_provided("wasi:io/poll"));
    }
}
