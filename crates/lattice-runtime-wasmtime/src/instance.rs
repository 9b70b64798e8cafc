//! One prepared revision: the compiled component, pre-instantiated with its imports linked,
//! and the table of the functions it exports. Each invocation runs in a fresh instance.

use crate::imports::{ImportCtx, LinkRouter, link_imports};
use crate::limits::{Limiter, Limits};
use crate::store::Ctx;
use crate::{RuntimeInner, logging};
use bytes::Bytes;
use futures::future::BoxFuture;
use lattice_host::{
    ComponentInstance, ExportedFunction, Invocation, RuntimeError, RuntimeErrorKind,
};
use lattice_spec::{ComponentSpec, ContentDigest, Revision};
use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
    time::Duration,
};
use wasmtime::component::{
    Component, ComponentExportIndex, InstancePre, Linker, ResourceTable, ResourceType, Type,
    types::ComponentItem,
};
use wasmtime::{Store, Trap};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi_config::{WasiConfig, WasiConfigVariables};
use wrpc_runtime_wasmtime::SharedResourceTable;

/// How to call one exported function.
struct Export {
    index: ComponentExportIndex,
    params: Arc<[Type]>,
    results: Arc<[Type]>,
}

/// A revision ready to serve.
pub(crate) struct WasmtimeInstance {
    revision: Revision,
    component_id: Arc<str>,
    runtime: Arc<RuntimeInner>,
    pre: InstancePre<Ctx>,
    router: Arc<LinkRouter>,
    config: Arc<WasiConfigVariables>,
    secrets: Arc<lattice_host::SecretMap>,
    limits: Limits,
    import_timeout: Duration,
    functions: Vec<ExportedFunction>,
    exports: HashMap<ExportedFunction, Export>,
    io_streams: Arc<[ResourceType]>,
}

fn instantiate_error(what: &str) -> impl Fn(wasmtime::Error) -> RuntimeError + '_ {
    move |e| RuntimeError::with_kind(RuntimeErrorKind::Instantiate, format!("{what}: {e:#}"))
}

impl WasmtimeInstance {
    /// Compiles (once per engine and `digest`), links, pre-instantiates and trial-instantiates
    /// `spec`'s component.
    #[allow(clippy::too_many_arguments)] // Crate-private: each is one piece of the revision.
    pub(crate) async fn prepare(
        runtime: Arc<RuntimeInner>,
        spec: &ComponentSpec,
        digest: &ContentDigest,
        bytes: Bytes,
        config: &BTreeMap<String, String>,
        secrets: &lattice_host::SecretMap,
        limits: Limits,
        import_timeout: Duration,
    ) -> Result<Self, RuntimeError> {
        // Compilation is CPU-bound: it runs on the blocking pool, before the host pauses, and
        // once per engine and artifact digest.
        let component = runtime
            .shared
            .compiled
            .get_or_compile(&runtime.engine, digest, bytes)
            .await?;

        let mut linker = Linker::<Ctx>::new(&runtime.engine);
        // Links win over host-provided interfaces of the same name.
        linker.allow_shadowing(true);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(instantiate_error("cannot link WASI"))?;
        wasmtime_wasi_config::add_to_linker(&mut linker, |ctx: &mut Ctx| {
            WasiConfig::from(&*ctx.config)
        })
        .map_err(instantiate_error("cannot link wasi:config"))?;
        logging::add_to_linker::<Ctx, wasmtime::component::HasSelf<Ctx>>(&mut linker, |ctx| ctx)
            .map_err(instantiate_error("cannot link wasi:logging"))?;
        crate::secrets::add_to_linker(&mut linker)
            .map_err(instantiate_error("cannot link wasmcloud:secrets"))?;
        let router = link_imports(&runtime, &mut linker, &component, spec).await?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(instantiate_error("cannot link the component's imports"))?;

        let (functions, exports) = exported_functions(&runtime, &component)?;
        let io_streams = wrpc_runtime_wasmtime::paths::wasi_io_stream_resources(
            &runtime.engine,
            &component.component_type(),
        )
        .into();
        let instance = Self {
            revision: spec.revision(),
            component_id: spec.id().as_str().into(),
            runtime,
            pre,
            router,
            config: Arc::new(
                config
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect(),
            ),
            secrets: Arc::new(secrets.clone()),
            limits,
            import_timeout,
            functions,
            exports,
            io_streams,
        };
        // A trial instantiation: a start function that traps, or memory beyond the limit,
        // fails the apply here instead of every invocation later.
        let mut store = instance.store();
        instance
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| classify(e, &store, RuntimeErrorKind::Instantiate))?;
        Ok(instance)
    }

    /// A fresh store with the limits applied.
    fn store(&self) -> Store<Ctx> {
        let wasi = WasiCtxBuilder::new()
            .inherit_stdout()
            .inherit_stderr()
            .build();
        let ctx = Ctx {
            wasi,
            table: ResourceTable::new(),
            config: self.config.clone(),
            secrets: self.secrets.clone(),
            imports: ImportCtx {
                router: self.router.clone(),
                source_id: self.component_id.clone(),
                shared: SharedResourceTable::default(),
                timeout: self.import_timeout,
            },
            limiter: Limiter::new(self.limits),
        };
        let mut store = Store::new(&self.runtime.engine, ctx);
        store.limiter(|ctx| &mut ctx.limiter);
        let ticks = self.limits.deadline.as_millis() / crate::EPOCH_TICK.as_millis();
        store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX).max(1));
        store.epoch_deadline_trap();
        if let Some(fuel) = self.limits.fuel {
            // Fails only when the engine meters no fuel: then there is nothing to limit.
            let _ = store.set_fuel(fuel);
        }
        store
    }
}

/// Names a failure: a limit the limiter saw or a fuel/deadline trap is `ResourceLimit`,
/// anything else is `otherwise`.
fn classify(
    error: wasmtime::Error,
    store: &Store<Ctx>,
    otherwise: RuntimeErrorKind,
) -> RuntimeError {
    if let Some(hit) = store.data().limiter.hit {
        return RuntimeError::with_kind(RuntimeErrorKind::ResourceLimit, hit.to_string());
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => RuntimeError::with_kind(
            RuntimeErrorKind::ResourceLimit,
            "fuel exhausted: the instance ran longer than its fuel allows",
        ),
        Some(Trap::Interrupt) => RuntimeError::with_kind(
            RuntimeErrorKind::ResourceLimit,
            "deadline exceeded: the instance ran longer than its deadline allows",
        ),
        _ if error.is::<wasmtime::PoolConcurrencyLimitError>() => RuntimeError::with_kind(
            RuntimeErrorKind::ResourceLimit,
            format!("the host runs as many instances as its pool holds: {error}"),
        ),
        _ => RuntimeError::with_kind(otherwise, format!("{error:#}")),
    }
}

/// The functions `component` exports, with what it takes to call each.
fn exported_functions(
    runtime: &RuntimeInner,
    component: &Component,
) -> Result<(Vec<ExportedFunction>, HashMap<ExportedFunction, Export>), RuntimeError> {
    let engine = &runtime.engine;
    let ty = component.component_type();
    let io_streams = wrpc_runtime_wasmtime::paths::wasi_io_stream_resources(engine, &ty);
    let mut functions = Vec::new();
    let mut exports = HashMap::new();
    let mut add = |instance: &str, name: &str, func: wasmtime::component::types::ComponentFunc| {
        // Functions of exported resources need the resource's instance to outlive the call.
        if name.starts_with('[') {
            return Ok(());
        }
        let instance_index = (!instance.is_empty())
            .then(|| component.get_export_index(None, instance))
            .flatten();
        let Some(index) = component.get_export_index(instance_index.as_ref(), name) else {
            return Err(RuntimeError::with_kind(
                RuntimeErrorKind::Instantiate,
                format!("export `{instance}.{name}` has no index"),
            ));
        };
        let params: Arc<[Type]> = func.params().map(|(_, ty)| ty).collect();
        // Asynchronous parameters (streams, futures, `wasi:io` streams) need transport paths
        // that `wrpc-runtime-wasmtime` computes privately; such functions are left out.
        if let Some(param) = params.iter().position(|ty| carries_async(ty, &io_streams)) {
            tracing::warn!(
                instance,
                function = name,
                param,
                "not served: a parameter carries a stream or future"
            );
            return Ok(());
        }
        let exported = ExportedFunction::new(instance, name);
        functions.push(exported.clone());
        exports.insert(
            exported,
            Export {
                index,
                params,
                results: func.results().collect(),
            },
        );
        Ok(())
    };
    for (name, item) in ty.exports(engine) {
        match item {
            ComponentItem::ComponentFunc(func) => add("", name, func)?,
            ComponentItem::ComponentInstance(instance) => {
                for (function, item) in instance.exports(engine) {
                    if let ComponentItem::ComponentFunc(func) = item {
                        add(name, function, func)?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok((functions, exports))
}

/// Whether a value of `ty` carries a stream or a future (including `wasi:io` streams).
fn carries_async(ty: &Type, io_streams: &[ResourceType]) -> bool {
    match ty {
        Type::Future(_) | Type::Stream(_) => true,
        Type::Own(resource) | Type::Borrow(resource) => io_streams.contains(resource),
        Type::List(list) => carries_async(&list.ty(), io_streams),
        Type::Option(option) => carries_async(&option.ty(), io_streams),
        Type::Result(result) => [result.ok(), result.err()]
            .iter()
            .flatten()
            .any(|ty| carries_async(ty, io_streams)),
        Type::Record(record) => record
            .fields()
            .any(|field| carries_async(&field.ty, io_streams)),
        Type::Tuple(tuple) => tuple.types().any(|ty| carries_async(&ty, io_streams)),
        Type::Variant(variant) => variant.cases().any(|case| {
            case.ty
                .as_ref()
                .is_some_and(|ty| carries_async(ty, io_streams))
        }),
        _ => false,
    }
}

impl ComponentInstance for WasmtimeInstance {
    fn revision(&self) -> Revision {
        self.revision
    }

    fn exports(&self) -> &[ExportedFunction] {
        &self.functions
    }

    fn invoke(&self, invocation: Invocation) -> BoxFuture<'_, Result<(), RuntimeError>> {
        Box::pin(async move {
            let Some(export) = self.exports.get(&invocation.function) else {
                return Err(RuntimeError::with_kind(
                    RuntimeErrorKind::NoSuchExport,
                    format!(
                        "revision {} does not export `{}`",
                        self.revision, invocation.function
                    ),
                ));
            };
            let mut store = self.store();
            let instance = match self.pre.instantiate_async(&mut store).await {
                Ok(instance) => instance,
                Err(e) => return Err(classify(e, &store, RuntimeErrorKind::Instantiate)),
            };
            let Some(func) = instance.get_func(&mut store, export.index) else {
                return Err(RuntimeError::with_kind(
                    RuntimeErrorKind::NoSuchExport,
                    format!("`{}` is not a function", invocation.function),
                ));
            };
            let result = wrpc_runtime_wasmtime::call(
                &mut store,
                invocation.incoming,
                invocation.outgoing,
                &[],
                &HashMap::new(),
                &self.io_streams,
                export.params.iter(),
                &export.results,
                func,
            )
            .await;
            result.map_err(|e| {
                use wrpc_runtime_wasmtime::CallError;
                match e {
                    CallError::Call(error) | CallError::PostReturn(error) => {
                        classify(error, &store, RuntimeErrorKind::Trap)
                    }
                    other => {
                        RuntimeError::with_kind(RuntimeErrorKind::Transport, other.to_string())
                    }
                }
            })
        })
    }
}
