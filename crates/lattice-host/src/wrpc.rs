//! Invocations over wRPC: the host serves each component on the NATS transport of
//! `wrpc-transport-nats`, and [`Invoker`] calls it.
//!
//! Each component is served under the wRPC prefix `{lattice}.{component_id}` (as wasmCloud
//! addresses components), instance [`INSTANCE`], function [`FUNCTION`], taking a string and
//! returning `result<string, string>`. Hosts running the same component join one queue group
//! (the component id), so each invocation is handled by exactly one host. Every invocation
//! goes through the component's [`InvocationGate`](crate::InvocationGate): held during a
//! pause, served by exactly one revision.

use crate::state::{ComponentSlot, HostState};
use futures::StreamExt;
use lattice_spec::{ComponentId, LatticeName};
use std::{sync::Arc, time::Duration};
use wrpc_transport::{InvokeExt as _, ServeExt as _};

/// The wRPC instance every component is served as.
pub const INSTANCE: &str = "lattice:component/handler";
/// The wRPC function invoked.
pub const FUNCTION: &str = "call";

/// The wRPC prefix of a component.
#[must_use]
pub fn prefix(lattice: &LatticeName, component: &ComponentId) -> String {
    format!("{lattice}.{component}")
}

const NO_PATHS: [[Option<usize>; 0]; 0] = [];

/// Starts serving the component's invocations, once; returns when the subscription is live.
pub(crate) async fn ensure_serving(state: &HostState, slot: &ComponentSlot) {
    if slot
        .invocations
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .is_some()
    {
        return;
    }
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let nats = state.nats.clone();
    let prefix = prefix(&state.config.lattice, &slot.id);
    let group: Arc<str> = slot.id.as_str().into();
    let gate = slot.gate.clone();
    let task = tokio::spawn(async move {
        let wrpc = match wrpc_transport_nats::Client::new(nats.clone(), prefix.clone(), Some(group))
            .await
        {
            Ok(wrpc) => wrpc,
            Err(error) => {
                tracing::error!(%error, %prefix, "cannot create the wRPC server");
                return;
            }
        };
        let invocations = match wrpc
            .serve_values::<(String,), (Result<String, String>,)>(
                INSTANCE,
                FUNCTION,
                Vec::<Box<[Option<usize>]>>::new(),
            )
            .await
        {
            Ok(invocations) => invocations,
            Err(error) => {
                tracing::error!(%error, %prefix, "cannot serve invocations");
                return;
            }
        };
        if let Err(error) = crate::state::server_barrier(&nats).await {
            tracing::warn!(%error, %prefix, "cannot confirm the invocation subscription");
        }
        let _ = ready_tx.send(());
        let mut invocations = std::pin::pin!(invocations);
        while let Some(invocation) = invocations.next().await {
            match invocation {
                Ok((_cx, (payload,), _deferred, respond)) => {
                    let gate = gate.clone();
                    tokio::spawn(async move {
                        let result = gate
                            .invoke(payload)
                            .await
                            .map(|(_, answer)| answer)
                            .map_err(|e| e.to_string());
                        if let Err(error) = respond((result,)).await {
                            tracing::warn!(%error, "cannot answer an invocation");
                        }
                    });
                }
                Err(error) => tracing::warn!(%error, "cannot accept an invocation"),
            }
        }
    });
    *slot.invocations.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
    let _ = ready_rx.await;
}

/// Why an invocation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InvokeCallError {
    /// The wRPC transport failed (no host serves the component, connection lost, …).
    #[error("wRPC transport: {0}")]
    Transport(String),
    /// No answer within the timeout.
    #[error("no answer within {0:?}")]
    TimedOut(Duration),
    /// The component (or the host) answered with an error.
    #[error("component error: {0}")]
    Component(String),
}

/// Calls components over wRPC, as a component or a provider in the lattice would.
#[derive(Clone)]
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
        let wrpc = wrpc_transport_nats::Client::new(nats, prefix(lattice, component), None)
            .await
            .map_err(|e| InvokeCallError::Transport(format!("{e:#}")))?;
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

    /// Invokes the component with `payload` and returns its answer.
    ///
    /// # Errors
    ///
    /// [`InvokeCallError`]: transport, timeout, or the component's error.
    pub async fn call(&self, payload: impl Into<String>) -> Result<String, InvokeCallError> {
        let call = self
            .wrpc
            .invoke_values_blocking::<_, (String,), (Result<String, String>,)>(
                None,
                INSTANCE,
                FUNCTION,
                (payload.into(),),
                NO_PATHS,
            );
        match tokio::time::timeout(self.timeout, call).await {
            Err(_) => Err(InvokeCallError::TimedOut(self.timeout)),
            Ok(Err(e)) => Err(InvokeCallError::Transport(format!("{e:#}"))),
            Ok(Ok((Err(message),))) => Err(InvokeCallError::Component(message)),
            Ok(Ok((Ok(answer),))) => Ok(answer),
        }
    }
}
