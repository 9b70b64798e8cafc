//! What executes an invocation: the [`ComponentRuntime`] trait (the wasmtime runtime in
//! `lattice-runtime-wasmtime` plugs in here), the [`Invocation`] it is handed, and
//! [`RevisionEchoRuntime`], a stand-in for unit tests that answers with the revision that
//! served the call without executing anything.

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{SinkExt as _, TryStreamExt as _};
use lattice_artifact::ValidatedComponent;
use lattice_spec::{ComponentSpec, Revision};
use std::{collections::BTreeMap, fmt, sync::Arc};
use tokio::io::AsyncWriteExt as _;
use tokio_util::codec::{FramedRead, FramedWrite};
use wrpc_transport::{Decode, Encode};

/// What kind of failure a [`RuntimeError`] is: what the host reports and a caller matches on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RuntimeErrorKind {
    /// The artifact could not be compiled, linked or instantiated (a start function trapped,
    /// an import could not be satisfied at link time). The host reports `instantiate_failed`.
    Instantiate,
    /// A resource limit was exceeded: memory, fuel or the execution deadline. The host
    /// reports `resource_limit`.
    ResourceLimit,
    /// The component trapped while handling an invocation.
    Trap,
    /// The invocation's parameters or results could not be read or written.
    Transport,
    /// The invocation names a function the serving revision does not export.
    NoSuchExport,
    /// Anything else.
    Other,
}

impl RuntimeErrorKind {
    /// The status reason code a host reports for an apply that failed with this kind.
    #[must_use]
    pub fn reason_code(self) -> lattice_status::ReasonCode {
        use lattice_status::ReasonCode;
        match self {
            Self::Instantiate => ReasonCode::InstantiateFailed,
            Self::ResourceLimit => ReasonCode::ResourceLimit,
            _ => ReasonCode::StartFailed,
        }
    }
}

/// Why a component could not be instantiated or an invocation failed.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct RuntimeError {
    kind: RuntimeErrorKind,
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl RuntimeError {
    /// An error of kind [`RuntimeErrorKind::Other`] with `message`.
    #[must_use]
    pub fn new(message: impl Into<String>) -> Self {
        Self::with_kind(RuntimeErrorKind::Other, message)
    }

    /// An error of `kind` with `message`.
    #[must_use]
    pub fn with_kind(kind: RuntimeErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Keeps `source` as the cause.
    #[must_use]
    pub fn source(mut self, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// What kind of failure this is.
    #[must_use]
    pub fn kind(&self) -> RuntimeErrorKind {
        self.kind
    }

    /// The message, without the cause.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// The wRPC paths of a function's asynchronous parameters (streams and futures), as
/// `wrpc_transport::Serve::serve` takes them; empty for a function without any.
pub type AsyncPaths = Arc<[Box<[Option<usize>]>]>;

/// One function a component exports, as it is served over wRPC: the exported instance (empty
/// for a function exported by the component itself) and the function's wRPC name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExportedFunction {
    /// The exported instance, as named in the component (`wasi:http/incoming-handler@0.2.0`).
    pub instance: String,
    /// The function's name within it (`handle`).
    pub function: String,
    /// Paths of asynchronous parameters the transport must multiplex.
    pub paths: AsyncPaths,
}

impl ExportedFunction {
    /// A function without asynchronous parameters.
    #[must_use]
    pub fn new(instance: impl Into<String>, function: impl Into<String>) -> Self {
        Self {
            instance: instance.into(),
            function: function.into(),
            paths: Arc::new([]),
        }
    }
}

impl fmt::Display for ExportedFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.instance.is_empty() {
            f.write_str(&self.function)
        } else {
            write!(f, "{}.{}", self.instance, self.function)
        }
    }
}

/// One wRPC invocation as it arrived: the function it addresses and its byte streams. The
/// instance reads the parameters from `incoming` and writes the results to `outgoing`;
/// dropping `outgoing` without results ends the call with an error on the caller's side.
pub struct Invocation {
    /// The function invoked.
    pub function: ExportedFunction,
    /// The transport's context (the NATS headers: trace context, `source-id`, …).
    pub context: wrpc_transport_nats::NatsContext,
    /// Where the results go.
    pub outgoing: wrpc_transport_nats::SubjectWriter,
    /// Where the parameters come from.
    pub incoming: wrpc_transport_nats::Reader,
}

impl fmt::Debug for Invocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Invocation")
            .field("function", &self.function)
            .finish_non_exhaustive()
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
        config: &'a BTreeMap<String, String>,
    ) -> BoxFuture<'a, Result<Arc<dyn ComponentInstance>, RuntimeError>>;

    /// [`instantiate`](Self::instantiate) with the component's resolved secrets (name →
    /// value), which the host calls. A runtime that can hand secrets to components (such as
    /// `wasmcloud:secrets/store` in `lattice-runtime-wasmtime`) overrides it and keeps them
    /// out of every log and error; the default refuses a component with secrets rather than
    /// start it without them.
    fn instantiate_with_secrets<'a>(
        &'a self,
        spec: &'a ComponentSpec,
        component: &'a ValidatedComponent,
        bytes: Bytes,
        config: &'a BTreeMap<String, String>,
        secrets: &'a lattice_link::SecretMap,
    ) -> BoxFuture<'a, Result<Arc<dyn ComponentInstance>, RuntimeError>> {
        if secrets.is_empty() {
            return self.instantiate(spec, component, bytes, config);
        }
        Box::pin(async {
            Err(RuntimeError::with_kind(
                RuntimeErrorKind::Instantiate,
                "the component names secrets, and this runtime cannot hand secrets to \
                 components",
            ))
        })
    }
}

/// One revision of a component, ready to serve.
pub trait ComponentInstance: Send + Sync + 'static {
    /// The revision this instance runs.
    fn revision(&self) -> Revision;

    /// Every function this revision serves; the host subscribes to each before the revision
    /// is swapped in.
    fn exports(&self) -> &[ExportedFunction];

    /// Executes one invocation: reads its parameters, runs, writes its results.
    fn invoke(&self, invocation: Invocation) -> BoxFuture<'_, Result<(), RuntimeError>>;
}

/// The function every [`RevisionEchoRuntime`] instance exports.
pub const ECHO_INSTANCE: &str = "lattice:component/handler";
/// The function's name: `call(string) -> result<string, string>`.
pub const ECHO_FUNCTION: &str = "call";

/// A stand-in runtime for unit tests and protocol benchmarks — **it executes no WebAssembly**.
/// Every instance exports [`ECHO_INSTANCE`]`.`[`ECHO_FUNCTION`] and answers
/// `"{greeting} from {component}@{revision}: {payload}"`, where `greeting` comes from the
/// component's configuration (`greeting`, default `hello`). The artifact is still fetched and
/// validated as a real component, so tests of the control plane can tell exactly which
/// revision answered each call. Real hosts use `lattice-runtime-wasmtime`.
#[derive(Clone, Copy, Debug, Default)]
pub struct RevisionEchoRuntime;

struct EchoInstance {
    component: String,
    revision: Revision,
    greeting: String,
    exports: [ExportedFunction; 1],
}

impl ComponentRuntime for RevisionEchoRuntime {
    fn instantiate<'a>(
        &'a self,
        spec: &'a ComponentSpec,
        _component: &'a ValidatedComponent,
        _bytes: Bytes,
        config: &'a BTreeMap<String, String>,
    ) -> BoxFuture<'a, Result<Arc<dyn ComponentInstance>, RuntimeError>> {
        let instance = EchoInstance {
            component: spec.id().to_string(),
            revision: spec.revision(),
            greeting: config
                .get("greeting")
                .cloned()
                .unwrap_or_else(|| "hello".to_owned()),
            exports: [ExportedFunction::new(ECHO_INSTANCE, ECHO_FUNCTION)],
        };
        Box::pin(async move { Ok(Arc::new(instance) as Arc<dyn ComponentInstance>) })
    }
}

impl ComponentInstance for EchoInstance {
    fn revision(&self) -> Revision {
        self.revision
    }

    fn exports(&self) -> &[ExportedFunction] {
        &self.exports
    }

    fn invoke(&self, invocation: Invocation) -> BoxFuture<'_, Result<(), RuntimeError>> {
        Box::pin(async move {
            let transport = |e: &dyn fmt::Display| {
                RuntimeError::with_kind(RuntimeErrorKind::Transport, e.to_string())
            };
            let mut params = FramedRead::new(
                invocation.incoming,
                <(String,) as Decode<wrpc_transport_nats::Reader>>::Decoder::default(),
            );
            let (payload,) = params
                .try_next()
                .await
                .map_err(|e| transport(&e))?
                .ok_or_else(|| transport(&"the parameters ended early"))?;
            let answer: (Result<String, String>,) = (Ok(format!(
                "{} from {}@{}: {payload}",
                self.greeting, self.component, self.revision
            )),);
            let mut results = FramedWrite::new(
                invocation.outgoing,
                <(Result<String, String>,) as Encode<
                    wrpc_transport_nats::SubjectWriter,
                >>::Encoder::default(),
            );
            results.send(answer).await.map_err(|e| transport(&e))?;
            results
                .into_inner()
                .shutdown()
                .await
                .map_err(|e| transport(&e))
        })
    }
}
