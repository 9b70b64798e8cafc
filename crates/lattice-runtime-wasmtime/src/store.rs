//! What a store carries: WASI, the component's configuration for `wasi:config`, the wRPC
//! context of its linked imports, and the limiter.

use crate::imports::{ImportCtx, LinkRouter};
use crate::limits::Limiter;
use std::sync::Arc;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_config::WasiConfigVariables;
use wrpc_runtime_wasmtime::{WrpcCtxView, WrpcView};

/// The data of one store (one instance).
pub(crate) struct Ctx {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) config: Arc<WasiConfigVariables>,
    /// The component's secrets, for `wasmcloud:secrets` (never logged).
    pub(crate) secrets: Arc<lattice_host::SecretMap>,
    pub(crate) imports: ImportCtx,
    pub(crate) limiter: Limiter,
}

impl WasiView for Ctx {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WrpcView for Ctx {
    type Invoke = LinkRouter;

    fn wrpc(&mut self) -> WrpcCtxView<'_, Self::Invoke> {
        WrpcCtxView {
            ctx: &mut self.imports,
            table: &mut self.table,
        }
    }
}
