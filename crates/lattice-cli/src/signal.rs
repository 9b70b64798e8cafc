//! Waiting for the signal that stops a long-running command (`lattice host`, `lattice up`).

/// Waits for Ctrl-C (SIGINT) or, on Unix, SIGTERM — what `kill`, systemd and container
/// runtimes send — so both stop the command gracefully: a host's applies in flight finish and
/// the provider processes it supervises are stopped, not left running without it. If no
/// handler can be installed, waits forever (the process then ends only by being killed).
pub(crate) async fn stop_requested() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                interrupted = tokio::signal::ctrl_c() => {
                    if interrupted.is_err() {
                        terminate.recv().await;
                    }
                }
                _ = terminate.recv() => {}
            }
            return;
        }
    }
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}
