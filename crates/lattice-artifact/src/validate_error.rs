//! [`ValidationError`]: why fetched bytes will not run as the spec's component.

use lattice_status::{ReasonCode, StatusReason};

/// Why a component's bytes were refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// The bytes are not a WebAssembly component: a core module, WebAssembly text, or
    /// something else entirely.
    #[error("{}", .found.message())]
    NotAComponent {
        /// What the bytes are instead.
        found: ArtifactFormat,
    },
    /// The bytes claim to be a component but do not validate.
    #[error(
        "invalid WebAssembly component: {message} (at byte offset {offset}); rebuild the \
         component with a toolchain that targets the component model"
    )]
    Invalid {
        /// wasmparser's message.
        message: String,
        /// Where in the binary the problem is.
        offset: u64,
    },
    /// The component imports something neither a link of the spec nor the host provides.
    #[error(
        "the component imports {} that neither a link of the spec nor the host provides: {}",
        plural(.missing.len()),
        .hints.join("; ")
    )]
    UnsatisfiedImports {
        /// Every unsatisfied import, as the component names it (e.g. `wasi:keyvalue/store@0.2.0`).
        missing: Vec<String>,
        /// For each of `missing`, in the same order: the import and what would cover it.
        hints: Vec<String>,
    },
    /// An incoming link (a provider calling the component) names an interface the component
    /// does not export.
    #[error(
        "the component does not export {} that an incoming link names: {}; it exports [{}]",
        plural(.missing.len()),
        .missing.join(", "),
        .exports.join(", ")
    )]
    MissingExports {
        /// Every interface named by an incoming link and not exported (e.g.
        /// `wasi:http/incoming-handler`, from provider `http-server`).
        missing: Vec<String>,
        /// What the component does export.
        exports: Vec<String>,
    },
}

fn plural(count: usize) -> String {
    if count == 1 {
        "1 item".to_owned()
    } else {
        format!("{count} items")
    }
}

/// What bytes that are not a component are instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ArtifactFormat {
    /// A core WebAssembly module.
    CoreModule,
    /// WebAssembly text (`(component …)` or `(module …)`), not a binary.
    WasmText,
    /// Not WebAssembly at all (no `\0asm` header).
    NotWasm,
}

impl ArtifactFormat {
    fn message(self) -> &'static str {
        match self {
            Self::CoreModule => {
                "this is a core WebAssembly module, not a component: build it for the component \
                 model (e.g. the `wasm32-wasip2` target) or wrap it with `wasm-tools component new`"
            }
            Self::WasmText => {
                "this is WebAssembly text, not a binary component: compile it first (e.g. \
                 `wasm-tools parse`)"
            }
            Self::NotWasm => {
                "this is not a WebAssembly binary (no `\\0asm` header): the artifact must be a \
                 compiled WebAssembly component"
            }
        }
    }
}

/// The cause of a [`ValidationError`], to match on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ValidationErrorKind {
    /// See [`ValidationError::NotAComponent`].
    NotAComponent,
    /// See [`ValidationError::Invalid`].
    Invalid,
    /// See [`ValidationError::UnsatisfiedImports`].
    UnsatisfiedImports,
    /// See [`ValidationError::MissingExports`].
    MissingExports,
}

impl ValidationError {
    /// The cause, as a `Copy` value.
    #[must_use]
    pub fn kind(&self) -> ValidationErrorKind {
        match self {
            Self::NotAComponent { .. } => ValidationErrorKind::NotAComponent,
            Self::Invalid { .. } => ValidationErrorKind::Invalid,
            Self::UnsatisfiedImports { .. } => ValidationErrorKind::UnsatisfiedImports,
            Self::MissingExports { .. } => ValidationErrorKind::MissingExports,
        }
    }

    /// The unsatisfied imports; empty for other errors.
    #[must_use]
    pub fn missing_imports(&self) -> &[String] {
        match self {
            Self::UnsatisfiedImports { missing, .. } => missing,
            _ => &[],
        }
    }
}

/// The reason a host reports when validation fails: [`ReasonCode::InvalidArtifact`] for bytes
/// that are not a valid component, [`ReasonCode::UnsatisfiedImports`] for missing imports,
/// [`ReasonCode::MissingExports`] for exports an incoming link needs;
/// the message is the error's.
impl From<&ValidationError> for StatusReason {
    fn from(error: &ValidationError) -> Self {
        let code = match error.kind() {
            ValidationErrorKind::UnsatisfiedImports => ReasonCode::UnsatisfiedImports,
            ValidationErrorKind::MissingExports => ReasonCode::MissingExports,
            ValidationErrorKind::NotAComponent | ValidationErrorKind::Invalid => {
                ReasonCode::InvalidArtifact
            }
        };
        StatusReason::new(code, error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_their_reason_codes() {
        let core = ValidationError::NotAComponent {
            found: ArtifactFormat::CoreModule,
        };
        let reason = StatusReason::from(&core);
        assert_eq!(reason.code, ReasonCode::InvalidArtifact);
        assert!(
            reason
                .message
                .starts_with("this is a core WebAssembly module, not a component"),
            "{reason}"
        );
        let invalid = ValidationError::Invalid {
            message: "type mismatch".into(),
            offset: 12,
        };
        assert_eq!(
            StatusReason::from(&invalid).code,
            ReasonCode::InvalidArtifact
        );
        let missing = ValidationError::UnsatisfiedImports {
            missing: vec!["a:b/c".into()],
            hints: vec!["`a:b/c` (add a link)".into()],
        };
        let reason = StatusReason::from(&missing);
        assert_eq!(reason.code, ReasonCode::UnsatisfiedImports);
        assert_eq!(
            reason.message,
            "the component imports 1 item that neither a link of the spec nor the host provides: \
             `a:b/c` (add a link)"
        );
        assert_eq!(missing.missing_imports(), ["a:b/c"]);
        assert!(invalid.missing_imports().is_empty());
    }
}
