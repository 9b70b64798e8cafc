//! Invocations over wRPC: the host serves every function each component exports on the NATS
//! transport of `wrpc-transport-nats`, and [`Invoker`] calls them.
//!
//! A component is served under the wRPC prefix `{lattice}.{component_id}` (as wasmCloud 1.x
//! addresses components), with instance and function names from its WIT exports. Hosts
//! running the same component join one queue group (the component id), so each invocation is
//! handled by exactly one host. Every invocation goes through the component's
//! [`InvocationGate`](crate::InvocationGate): held during a pause, served by exactly one
//! revision.
//!
//! Subscriptions belong to the component, not to a revision: they are made for a new
//! revision's exports before it is swapped in (so nothing is missed at the swap), and those
//! the serving revision no longer exports are dropped after it.

use crate::runtime::{ECHO_FUNCTION, ECHO_INSTANCE, ExportedFunction, Invocation};
use crate::state::ComponentSlot;
use futures::StreamExt;
use lattice_spec::{ComponentId, LatticeName};
use std::{sync::Arc, time::Duration};
use wrpc_transport::{InvokeExt as _, Serve as _, TupleDecode, TupleEncode};

/// The wRPC prefix of a component (or a provider): `{lattice}.{id}`.
#[must_use]
pub fn prefix(lattice: &LatticeName, id: &str) -> String {
    format!("{lattice}.{id}")
}

const NO_PATHS: [[Option<usize>; 0]; 0] = [];

/// Subscribes to every function in `exports` that is not served yet; returns when each new
/// subscription is confirmed by the server.
pub(crate) async fn serve_exports(
    nats: &async_nats::Client,
    lattice: &LatticeName,
    slot: &ComponentSlot,
    exports: &[ExportedFunction],
) {
    let missing: Vec<ExportedFunction> = {
        let served = slot.served_exports();
        exports
            .iter()
            .filter(|export| !served.contains_key(*export))
            .cloned()
            .collect()
    };
    if missing.is_empty() {
        return;
    }
    let wrpc = match wrpc_transport_nats::Client::new(
        nats.clone(),
        prefix(lattice, slot.id.as_str()),
        Some(slot.id.as_str().into()),
    )
    .await
    {
        Ok(wrpc) => Arc::new(wrpc),
        Err(error) => {
            tracing::error!(error = %format!("{error:#}"), component = %slot.id, "cannot create the wRPC server");
            return;
        }
    };
    let mut ready = Vec::new();
    for export in missing {
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(serve_export(
            wrpc.clone(),
            nats.clone(),
            slot.gate.clone(),
            export.clone(),
            ready_tx,
        ));
        slot.served_exports().insert(export, task);
        ready.push(ready_rx);
    }
    futures::future::join_all(ready).await;
}

/// Stops serving every function the component no longer exports.
pub(crate) fn retain_exports(slot: &ComponentSlot, exports: &[ExportedFunction]) {
    slot.served_exports().retain(|export, task| {
        let keep = exports.contains(export);
        if !keep {
            task.abort();
        }
        keep
    });
}

async fn serve_export(
    wrpc: Arc<wrpc_transport_nats::Client>,
    nats: async_nats::Client,
    gate: Arc<crate::InvocationGate>,
    export: ExportedFunction,
    ready: tokio::sync::oneshot::Sender<()>,
) {
    let invocations = match wrpc
        .serve(&export.instance, &export.function, export.paths.clone())
        .await
    {
        Ok(invocations) => invocations,
        Err(error) => {
            tracing::error!(error = %format!("{error:#}"), %export, "cannot serve an export");
            return;
        }
    };
    match lattice_nats::server_barrier(&nats).await {
        Ok(lattice_nats::Barrier::Confirmed) => {}
        Ok(_) => {
            tracing::warn!(%export, "the nats server did not confirm the invocation subscription in time")
        }
        Err(error) => tracing::warn!(?error, %export, "cannot confirm the invocation subscription"),
    }
    let _ = ready.send(());
    let mut invocations = std::pin::pin!(invocations);
    while let Some(invocation) = invocations.next().await {
        match invocation {
            Ok((context, outgoing, incoming)) => {
                let gate = gate.clone();
                let invocation = Invocation {
                    function: export.clone(),
                    context,
                    outgoing,
                    incoming,
                };
                tokio::spawn(async move {
                    if let Err(error) = gate.invoke(invocation).await {
                        tracing::debug!(%error, "an invocation failed");
                    }
                });
            }
            Err(error) => {
                tracing::warn!(error = %format!("{error:#}"), "cannot accept an invocation")
            }
        }
    }
}

/// Why an invocation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InvokeCallError {
    /// The wRPC transport failed (no host serves the component, connection lost, a component
    /// that trapped, …).
    #[error("wRPC transport")]
    Transport(
        /// What wRPC said, its causes kept (wRPC reports `anyhow` errors, which have no
        /// concrete type to name here).
        #[source]
        Box<dyn std::error::Error + Send + Sync>,
    ),
    /// No answer within the timeout.
    #[error("no answer within {0:?}")]
    TimedOut(Duration),
    /// The component (or the host) answered with an error: its `result::err` value, whole.
    #[error("component error: {0}")]
    Component(String),
}

/// What went wrong with an invocation, as a value to `match` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvokeCallErrorKind {
    /// See [`InvokeCallError::Transport`].
    Transport,
    /// See [`InvokeCallError::TimedOut`].
    TimedOut,
    /// See [`InvokeCallError::Component`].
    Component,
}

impl InvokeCallErrorKind {
    /// Whether the same call may succeed if made again: a timeout (a paused component
    /// answers after its swap). A transport failure also covers a component that trapped,
    /// and a component's error is its answer, so neither is.
    #[must_use]
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::TimedOut)
    }
}

impl InvokeCallError {
    /// The kind of failure.
    #[must_use]
    pub fn kind(&self) -> InvokeCallErrorKind {
        match self {
            Self::Transport(_) => InvokeCallErrorKind::Transport,
            Self::TimedOut(_) => InvokeCallErrorKind::TimedOut,
            Self::Component(_) => InvokeCallErrorKind::Component,
        }
    }
}

/// Calls a component's exports over wRPC, as a component or a provider in the lattice would.
#[derive(Clone, Debug)]
pub struct Invoker {
    wrpc: wrpc_transport_nats::Client,
    timeout: Duration,
}

impl Invoker {
    /// An invoker of `component` in `lattice`, over `nats`.
    ///
    /// # Errors
    ///
    /// [`InvokeCallError::Transport`] when the wRPC client cannot subscribe its inbox.
    pub async fn new(
        nats: async_nats::Client,
        lattice: &LatticeName,
        component: &ComponentId,
    ) -> Result<Self, InvokeCallError> {
        let wrpc =
            wrpc_transport_nats::Client::new(nats, prefix(lattice, component.as_str()), None)
                .await
                .map_err(|e| InvokeCallError::Transport(e.into()))?;
        Ok(Self {
            wrpc,
            timeout: Duration::from_secs(5),
        })
    }

    /// Sets how long a call may take.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Calls `instance.function` with `params` and decodes its results as `R` — both tuples
    /// of the Rust types of the WIT signature (`(String,)` for `hello: func(name: string) ->
    /// string`).
    ///
    /// # Errors
    ///
    /// [`InvokeCallError`]: transport (including a component that trapped: its host ends the
    /// call without results), timeout.
    pub async fn invoke<P, R>(
        &self,
        instance: &str,
        function: &str,
        params: P,
    ) -> Result<R, InvokeCallError>
    where
        P: TupleEncode<wrpc_transport_nats::ParamWriter> + Send + 'static,
        R: TupleDecode<wrpc_transport_nats::Reader> + Send + 'static,
        <P::Encoder as tokio_util::codec::Encoder<P>>::Error:
            std::error::Error + Send + Sync + 'static,
        <R::Decoder as tokio_util::codec::Decoder>::Error:
            std::error::Error + Send + Sync + 'static,
    {
        let call = self
            .wrpc
            .invoke_values_blocking::<_, P, R>(None, instance, function, params, NO_PATHS);
        match tokio::time::timeout(self.timeout, call).await {
            Err(_) => Err(InvokeCallError::TimedOut(self.timeout)),
            Ok(Err(e)) => Err(InvokeCallError::Transport(e.into())),
            Ok(Ok(results)) => Ok(results),
        }
    }

    /// Calls the `lattice:component/handler.call(string) -> result<string, string>` export of
    /// [`RevisionEchoRuntime`](crate::RevisionEchoRuntime) instances.
    ///
    /// # Errors
    ///
    /// [`InvokeCallError`]: transport, timeout, or the component's error.
    pub async fn call(&self, payload: impl Into<String>) -> Result<String, InvokeCallError> {
        let (result,) = self
            .invoke::<_, (Result<String, String>,)>(ECHO_INSTANCE, ECHO_FUNCTION, (payload.into(),))
            .await?;
        result.map_err(InvokeCallError::Component)
    }
}
