//! Compiled components, kept per engine and keyed by the artifact's content digest: a
//! component is compiled once per engine however many hosts (runtimes sharing the engine, see
//! [`WasmtimeRuntime::for_host`](crate::WasmtimeRuntime::for_host)) or revisions apply it,
//! and hosts that ask for one being compiled wait for that compilation instead of starting
//! their own. A compilation failure is kept too: the same bytes fail the same way.

use bytes::Bytes;
use lattice_host::{RuntimeError, RuntimeErrorKind};
use lattice_spec::ContentDigest;
use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};
use tokio::sync::OnceCell;
use wasmtime::{Engine, component::Component};

/// How many compiled components an engine keeps: enough for every revision a host moves
/// between in a rollout and its rollback; the least recently used goes first.
pub(crate) const CAPACITY: usize = 16;

/// A compilation's outcome as kept: the component, or why it failed.
type Compiled = Result<Component, (RuntimeErrorKind, String)>;

/// One cache entry: the (possibly still running) compilation and when it was last asked for.
struct Entry {
    cell: Arc<OnceCell<Compiled>>,
    last_used: u64,
}

/// The compiled components of one engine.
#[derive(Default)]
pub(crate) struct CompiledCache {
    entries: Mutex<HashMap<ContentDigest, Entry>>,
    clock: AtomicU64,
    compilations: AtomicU64,
}

impl CompiledCache {
    /// How many compilations ran (a cache hit does not count).
    pub(crate) fn compilations(&self) -> u64 {
        self.compilations.load(Ordering::Relaxed)
    }

    /// The component of `digest`: from the cache, from a compilation another caller is
    /// running, or compiled from `bytes` now (on the blocking pool, since it is CPU-bound).
    pub(crate) async fn get_or_compile(
        &self,
        engine: &Engine,
        digest: &ContentDigest,
        bytes: Bytes,
    ) -> Result<Component, RuntimeError> {
        let cell = self.cell(digest);
        let compiled = cell
            .get_or_init(|| async {
                self.compilations.fetch_add(1, Ordering::Relaxed);
                let engine = engine.clone();
                match tokio::task::spawn_blocking(move || Component::new(&engine, &bytes)).await {
                    Ok(Ok(component)) => Ok(component),
                    Ok(Err(e)) => Err(classify(&e)),
                    Err(e) => Err((
                        RuntimeErrorKind::Other,
                        format!("the compilation task failed: {e}"),
                    )),
                }
            })
            .await;
        compiled
            .clone()
            .map_err(|(kind, message)| RuntimeError::with_kind(kind, message))
    }

    /// The entry of `digest`, made if missing (evicting the least recently used beyond
    /// [`CAPACITY`]), marked as just used.
    fn cell(&self, digest: &ContentDigest) -> Arc<OnceCell<Compiled>> {
        let now = self.clock.fetch_add(1, Ordering::Relaxed);
        // A panic while the lock is held cannot leave the map inconsistent (each step is one
        // map operation), so a poisoned lock is used as it is.
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(entry) = entries.get_mut(digest) {
            entry.last_used = now;
            return entry.cell.clone();
        }
        if entries.len() >= CAPACITY {
            let oldest = entries
                .iter()
                .min_by_key(|(_, entry)| entry.last_used)
                .map(|(digest, _)| digest.clone());
            if let Some(oldest) = oldest {
                entries.remove(&oldest);
            }
        }
        let cell = Arc::new(OnceCell::new());
        entries.insert(
            digest.clone(),
            Entry {
                cell: cell.clone(),
                last_used: now,
            },
        );
        cell
    }

    /// How many components are kept.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries
            .lock()
            .map(|entries| entries.len())
            .unwrap_or(0)
    }
}

/// What a compilation error is: with the pooling allocator, a module whose memories or tables
/// exceed the pool's slots is refused at compilation (wasmtime has no typed error for it, only
/// this wording); anything else is a component that cannot be compiled.
fn classify(e: &wasmtime::Error) -> (RuntimeErrorKind, String) {
    let detail = format!("{e:#}");
    if detail.contains("pooling allocator") {
        (
            RuntimeErrorKind::ResourceLimit,
            format!("the component does not fit the host's instance pool: {detail}"),
        )
    } else {
        (
            RuntimeErrorKind::Instantiate,
            format!("cannot compile the component: {detail}"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example greeter, made different for each `n` by a custom section at its end.
    fn component(n: u32) -> Bytes {
        let path = lattice_test_support::example_component("greeter/greeter-v1.wasm");
        let mut bytes = std::fs::read(path).unwrap();
        let name = format!("variant-{n:04}");
        let payload_len = u8::try_from(1 + name.len()).unwrap();
        bytes.extend([0, payload_len, u8::try_from(name.len()).unwrap()]);
        bytes.extend(name.as_bytes());
        Bytes::from(bytes)
    }

    fn digest(bytes: &[u8]) -> ContentDigest {
        lattice_artifact::ValidatedComponent::new(bytes, vec![], vec![]).digest
    }

    fn engine() -> Engine {
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        Engine::new(&config).unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_callers_share_one_compilation_per_digest() {
        let (engine, cache) = (engine(), Arc::new(CompiledCache::default()));
        let bytes = component(0);
        let key = digest(&bytes);
        let calls = (0..50).map(|_| {
            let (engine, cache, bytes, key) =
                (engine.clone(), cache.clone(), bytes.clone(), key.clone());
            tokio::spawn(async move { cache.get_or_compile(&engine, &key, bytes).await })
        });
        for call in futures::future::join_all(calls).await {
            call.unwrap().expect("compiles");
        }
        assert_eq!(cache.compilations(), 1);
        let other = component(1);
        cache
            .get_or_compile(&engine, &digest(&other), other)
            .await
            .unwrap();
        assert_eq!(cache.compilations(), 2);
    }

    #[tokio::test]
    async fn a_failure_is_kept_and_the_oldest_entry_goes_beyond_capacity() {
        let (engine, cache) = (engine(), CompiledCache::default());
        let garbage = Bytes::from_static(b"not wasm");
        let key = digest(&garbage);
        for _ in 0..3 {
            let Err(err) = cache.get_or_compile(&engine, &key, garbage.clone()).await else {
                panic!("garbage compiled");
            };
            assert_eq!(err.kind(), RuntimeErrorKind::Instantiate, "{err}");
        }
        assert_eq!(cache.compilations(), 1, "the failure is not recompiled");

        for n in 0..u32::try_from(CAPACITY).unwrap() {
            let bytes = component(n);
            cache
                .get_or_compile(&engine, &digest(&bytes), bytes)
                .await
                .unwrap();
        }
        assert_eq!(cache.len(), CAPACITY);
        // The failure was the least recently used: it was evicted, so it compiles again.
        let before = cache.compilations();
        let _ = cache.get_or_compile(&engine, &key, garbage).await;
        assert_eq!(cache.compilations(), before + 1);
    }
}
