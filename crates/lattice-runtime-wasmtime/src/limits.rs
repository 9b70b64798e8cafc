//! Resource limits of one instance: memory, fuel and an execution deadline, and the limiter
//! that enforces the memory limit and remembers which limit was hit.

use std::time::Duration;
use wasmtime::ResourceLimiter;

/// How much one instance may use. Every invocation runs in a fresh instance, so these are
/// per invocation (and per trial instantiation when a revision is prepared).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// The most linear memory an instance may have, in bytes, over all its memories
    /// (default 64 MiB). A component whose initial memory is larger fails to instantiate
    /// with `resource_limit`; a `memory.grow` beyond it traps.
    pub max_memory_bytes: usize,
    /// The most table elements an instance may have (default 100,000).
    pub max_table_elements: usize,
    /// Fuel (roughly, WebAssembly instructions) one instance may consume; `None` (the
    /// default) turns fuel metering off, which makes execution faster.
    pub fuel: Option<u64>,
    /// How long one instance may run, wall clock, including the time it waits on imports
    /// (default 30 s). Checked at WebAssembly loop headers and function entries, with the
    /// runtime's epoch tick (10 ms) as resolution.
    pub deadline: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_memory_bytes: 64 << 20,
            max_table_elements: 100_000,
            fuel: None,
            deadline: Duration::from_secs(30),
        }
    }
}

impl Limits {
    /// Sets [`Limits::max_memory_bytes`].
    #[must_use]
    pub fn max_memory_bytes(mut self, bytes: usize) -> Self {
        self.max_memory_bytes = bytes;
        self
    }

    /// Sets [`Limits::fuel`].
    #[must_use]
    pub fn fuel(mut self, fuel: Option<u64>) -> Self {
        self.fuel = fuel;
        self
    }

    /// Sets [`Limits::deadline`].
    #[must_use]
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }
}

/// Which limit stopped an instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LimitHit {
    Memory { wanted: usize, limit: usize },
    Tables { wanted: usize, limit: usize },
}

impl std::fmt::Display for LimitHit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Memory { wanted, limit } => write!(
                f,
                "memory limit exceeded: the instance wanted {wanted} bytes, the limit is {limit}"
            ),
            Self::Tables { wanted, limit } => write!(
                f,
                "table limit exceeded: the instance wanted {wanted} elements, the limit is {limit}"
            ),
        }
    }
}

/// Enforces [`Limits`] on memories and tables and records the first limit hit, so an error
/// is reported as `resource_limit` whatever message wasmtime wraps it in.
pub(crate) struct Limiter {
    limits: Limits,
    memory: usize,
    pub(crate) hit: Option<LimitHit>,
}

impl Limiter {
    pub(crate) fn new(limits: Limits) -> Self {
        Self {
            limits,
            memory: 0,
            hit: None,
        }
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let wanted = self.memory - current + desired;
        if wanted > self.limits.max_memory_bytes {
            let hit = LimitHit::Memory {
                wanted,
                limit: self.limits.max_memory_bytes,
            };
            self.hit.get_or_insert(hit);
            // An error (not `false`) traps the instance: a component that cannot have its
            // memory cannot do its job, and the trap names the limit.
            return Err(wasmtime::Error::msg(hit.to_string()));
        }
        self.memory = wanted;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limits.max_table_elements {
            let hit = LimitHit::Tables {
                wanted: desired,
                limit: self.limits.max_table_elements,
            };
            self.hit.get_or_insert(hit);
            return Err(wasmtime::Error::msg(hit.to_string()));
        }
        Ok(true)
    }
}
