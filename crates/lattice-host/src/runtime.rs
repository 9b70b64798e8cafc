//! What executes an invocation: the [`ComponentRuntime`] trait (a wasmtime runtime plugs in
//! here) and [`RevisionEchoRuntime`], a small runtime for demos and tests that answers with
//! the revision that served the call.

use bytes::Bytes;
use futures::future::BoxFuture;
use lattice_artifact::ValidatedComponent;
use lattice_spec::{ComponentSpec, Revision};
use std::sync::Arc;

/// Why a component could not be instantiated or an invocation failed.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct RuntimeError {
    /// What went wrong.
    pub message: String,
}

impl RuntimeError {
    /// An error with `message`.
    #[must_use]
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

/// Turns a validated artifact into something that can serve invocations.
///
/// The host calls [`ComponentRuntime::instantiate`] for a new revision *before* pausing
/// invocations, so compilation never lengthens the pause window.
pub trait ComponentRuntime: Send + Sync + 'static {
    /// Prepares `spec`'s artifact (`bytes`, already validated as `component`) to serve
    /// invocations. `config` is the component's resolved configuration.
    fn instantiate<'a>(
        &'a self,
        spec: &'a ComponentSpec,
        component: &'a ValidatedComponent,
        bytes: Bytes,
        config: &'a std::collections::BTreeMap<String, String>,
    ) -> BoxFuture<'a, Result<Arc<dyn ComponentInstance>, RuntimeError>>;
}

/// One revision of a component, ready to serve.
pub trait ComponentInstance: Send + Sync + 'static {
    /// The revision this instance runs.
    fn revision(&self) -> Revision;

    /// Executes one invocation.
    fn invoke(&self, payload: String) -> BoxFuture<'_, Result<String, RuntimeError>>;
}

/// A runtime for demos and tests: every instance answers `"{greeting} from
/// {component}@{revision}: {payload}"`, where `greeting` comes from the component's
/// configuration (`greeting`, default `hello`). It does not execute the WebAssembly itself —
/// the artifact is still fetched and validated as a real component — so the tests can tell
/// exactly which revision answered each call.
#[derive(Clone, Copy, Debug, Default)]
pub struct RevisionEchoRuntime;

struct EchoInstance {
    component: String,
    revision: Revision,
    greeting: String,
}

impl ComponentRuntime for RevisionEchoRuntime {
    fn instantiate<'a>(
        &'a self,
        spec: &'a ComponentSpec,
        _component: &'a ValidatedComponent,
        _bytes: Bytes,
        config: &'a std::collections::BTreeMap<String, String>,
    ) -> BoxFuture<'a, Result<Arc<dyn ComponentInstance>, RuntimeError>> {
        let instance = EchoInstance {
            component: spec.id().to_string(),
            revision: spec.revision(),
            greeting: config
                .get("greeting")
                .cloned()
                .unwrap_or_else(|| "hello".to_owned()),
        };
        Box::pin(async move { Ok(Arc::new(instance) as Arc<dyn ComponentInstance>) })
    }
}

impl ComponentInstance for EchoInstance {
    fn revision(&self) -> Revision {
        self.revision
    }

    fn invoke(&self, payload: String) -> BoxFuture<'_, Result<String, RuntimeError>> {
        let answer = format!(
            "{} from {}@{}: {payload}",
            self.greeting, self.component, self.revision
        );
        Box::pin(async move { Ok(answer) })
    }
}
