//! A test binary's own tracing output, captured so a test can search it (e.g. for a secret
//! that must never be logged).

use std::{
    io::Write,
    sync::{Arc, Mutex, OnceLock},
};

/// Everything this test binary logs through `tracing` from the first call on, at the levels
/// `filter` enables (an `EnvFilter` directive such as `"debug"` or `"debug,async_nats=info"`),
/// without colours. The subscriber is global to the process, so the first call's `filter`
/// holds for every test of the binary; the buffer holds every test's output.
///
/// # Panics
///
/// When another global `tracing` subscriber is already installed.
#[must_use]
pub fn captured_logs(filter: &str) -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_ansi(false)
            .with_writer(move || Sink(sink.clone()))
            .init();
        logs
    })
    .clone()
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
