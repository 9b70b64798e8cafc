//! What serving a real component costs: one invocation of the `hello` export of
//! `examples/components/faulty/unruly.wasm` (a string in, a string out, no imports).
//!
//! - `invoke_hello/lattice_wrpc_gate` — the whole path: a caller's `Invoker` → wRPC over the
//!   bench's own nats-server → the host's subscription → the `InvocationGate` → a fresh
//!   instance from the wasmtime runtime's `InstancePre` → the results back over wRPC.
//! - `invoke_hello/wasmtime_fresh_instance` — the baseline, the same work done directly: the
//!   same component and export on wasmtime in this process, a fresh store and instance per call
//!   from an `InstancePre` (the runtime's policy), no transport.
//! - `invoke_hello/wasmtime_reused_instance` — one instance kept and called again: what a
//!   pooled-instance policy would save on instantiation.
//! - `invoke_hello/wasmtime_fresh_instance_pooling` — a fresh instance per call, as the
//!   baseline, on an engine with wasmtime's pooling allocator (what
//!   `WasmtimeRuntime::builder(..).pooling(n)` turns on) instead of on-demand allocation.
//!
//! The ratio of the first to the second is the overhead of the gate and wRPC (mostly the NATS
//! round trip). Each function's answer is checked before measuring. Writes
//! `benches/report/runtime.json`.

use criterion::Criterion;
use lattice_benches::{Comparison, Run};
use lattice_host::Invoker;
use lattice_local::LocalLattice;
use lattice_runtime_wasmtime::WasmtimeRuntime;
use lattice_spec::ComponentSpecDraft;
use std::{sync::Arc, time::Duration};
use wasmtime::component::{Component, Linker, TypedFunc};
use wasmtime::{Engine, Store};

const GREET: &str = "lattice:greeter/greet@0.1.0";
const COMPONENT: &str = "faulty/unruly.wasm";

/// The direct baseline: the component compiled once, instantiated per call or reused.
struct Direct {
    engine: Engine,
    pre: wasmtime::component::InstancePre<()>,
    index: wasmtime::component::ComponentExportIndex,
}

impl Direct {
    fn new(pooling: bool) -> Self {
        let mut config = wasmtime::Config::new();
        // The runtime's engine settings that change generated code.
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        if pooling {
            let mut pool = wasmtime::PoolingAllocationConfig::default();
            pool.total_component_instances(64)
                .total_core_instances(64)
                .total_memories(64)
                .total_tables(64)
                .max_memory_size(64 << 20);
            config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
        }
        let engine = Engine::new(&config).expect("engine");
        let component =
            Component::from_file(&engine, lattice_test_support::example_component(COMPONENT))
                .expect("compiles");
        let instance = component
            .get_export_index(None, GREET)
            .expect("exports greet");
        let index = component
            .get_export_index(Some(&instance), "hello")
            .expect("exports hello");
        let pre = Linker::new(&engine)
            .instantiate_pre(&component)
            .expect("links");
        Self { engine, pre, index }
    }

    fn store(&self) -> Store<()> {
        let mut store = Store::new(&self.engine, ());
        store.set_epoch_deadline(u64::MAX / 2);
        store
    }

    async fn instance(&self, store: &mut Store<()>) -> TypedFunc<(String,), (String,)> {
        let instance = self
            .pre
            .instantiate_async(&mut *store)
            .await
            .expect("instantiates");
        instance
            .get_typed_func::<(String,), (String,)>(&mut *store, self.index)
            .expect("typed hello")
    }

    async fn fresh(&self, name: &str) -> String {
        let mut store = self.store();
        let hello = self.instance(&mut store).await;
        let (answer,) = hello
            .call_async(&mut store, (name.to_owned(),))
            .await
            .expect("calls");
        answer
    }
}

fn main() {
    let run = Run::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let (local, invoker) = runtime.block_on(async {
        let local = LocalLattice::builder()
            .lattice("bench".parse().expect("lattice"))
            .host("host-a".parse().expect("id"))
            .runtime(|nats, lattice| Ok(Arc::new(WasmtimeRuntime::new(nats.clone(), lattice)?)))
            .start()
            .await
            .expect("the lattice starts (is nats-server on PATH?)");
        let spec = ComponentSpecDraft::new(
            "unruly",
            lattice_test_support::example_component_ref(COMPONENT),
        )
        .validate()
        .expect("spec");
        local
            .client()
            .apply_and_wait(
                &"host-a".parse().expect("id"),
                &spec,
                Duration::from_secs(30),
            )
            .await
            .expect("the component runs");
        let caller = local.connect("caller").await.expect("connect");
        let invoker = Invoker::new(caller, local.lattice(), &"unruly".parse().expect("id"))
            .await
            .expect("invoker");
        (local, invoker)
    });
    let direct = Direct::new(false);
    let pooled = Direct::new(true);
    let wrpc_hello = || async {
        let (answer,) = invoker
            .invoke::<_, (String,)>(GREET, "hello", ("Ada".to_owned(),))
            .await
            .expect("answers");
        answer
    };
    let (reused_store, reused_hello) = runtime.block_on(async {
        let mut store = direct.store();
        let hello = direct.instance(&mut store).await;
        (tokio::sync::Mutex::new(store), hello)
    });
    let reused = || async {
        let mut store = reused_store.lock().await;
        let (answer,) = reused_hello
            .call_async(&mut *store, ("Ada".to_owned(),))
            .await
            .expect("calls");
        answer
    };
    // Correctness first: the three answer the same, from the component's code.
    runtime.block_on(async {
        assert_eq!(wrpc_hello().await, "still serving");
        assert_eq!(direct.fresh("Ada").await, "still serving");
        assert_eq!(reused().await, "still serving");
        assert_eq!(pooled.fresh("Ada").await, "still serving");
    });

    let mut c = Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let mut group = c.benchmark_group("invoke_hello");
    group.bench_function("lattice_wrpc_gate", |b| {
        b.to_async(&runtime).iter(wrpc_hello)
    });
    group.bench_function("wasmtime_fresh_instance", |b| {
        b.to_async(&runtime).iter(|| direct.fresh("Ada"))
    });
    group.bench_function("wasmtime_reused_instance", |b| {
        b.to_async(&runtime).iter(reused)
    });
    group.bench_function("wasmtime_fresh_instance_pooling", |b| {
        b.to_async(&runtime).iter(|| pooled.fresh("Ada"))
    });
    group.finish();
    c.final_summary();

    let (served, _) = local.hosts()[0]
        .invocation_counters(&"unruly".parse().expect("id"))
        .expect("serving");
    assert!(served > 0, "the host served the wRPC calls");
    let comparisons = [
        Comparison {
            what: "invoke hello: gate + wRPC over NATS vs wasmtime directly (fresh instance each)",
            subject: "invoke_hello/lattice_wrpc_gate",
            baseline: "invoke_hello/wasmtime_fresh_instance",
        },
        Comparison {
            what: "invoke hello on wasmtime: fresh instance per call vs one reused instance",
            subject: "invoke_hello/wasmtime_fresh_instance",
            baseline: "invoke_hello/wasmtime_reused_instance",
        },
        Comparison {
            what: "invoke hello on wasmtime, fresh instance: pooling allocator vs on demand",
            subject: "invoke_hello/wasmtime_fresh_instance_pooling",
            baseline: "invoke_hello/wasmtime_fresh_instance",
        },
    ];
    runtime.block_on(async move {
        drop(invoker);
        local.shutdown(std::time::Duration::from_secs(5)).await;
    });
    run.finish("runtime", &comparisons, serde_json::Map::new());
}
