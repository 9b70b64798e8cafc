//! The backend as a real process (the `lattice-secrets-kv` binary of this crate) and its CLI.

#![allow(dead_code, unreachable_pub)]

use std::{
    future::Future,
    io::{BufRead as _, BufReader, Write as _},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

/// Every await in a test sits under this bound.
pub const BOUND: Duration = Duration::from_secs(20);

/// Awaits `future` under [`BOUND`].
pub async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, future)
        .await
        .expect("timed out")
}

const BINARY: &str = env!("CARGO_BIN_EXE_lattice-secrets-kv");

/// A `lattice-secrets-kv run` process at debug log level, its stderr captured in a file;
/// killed on drop.
pub struct BackendProcess {
    child: Child,
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

impl BackendProcess {
    /// Starts the backend on `nats_url` with `encryption_seed` and waits for its `ready`.
    pub fn start(nats_url: &str, encryption_seed: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("backend.log");
        let mut child = Command::new(BINARY)
            .args(["--nats-url", nats_url, "run"])
            .env("ENCRYPTION_XKEY_SEED", encryption_seed)
            .env("RUST_LOG", "debug")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("the backend starts");
        let stdout = child.stdout.take().expect("stdout");
        // `ready` is printed once it answers; a backend that dies first closes stdout.
        let line = BufReader::new(stdout).lines().next();
        assert!(
            matches!(line, Some(Ok(ref l)) if l == "ready"),
            "the backend did not become ready: {line:?}\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        Self {
            child,
            log,
            _dir: dir,
        }
    }

    /// Everything it logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }

    /// Stops it (and waits until it is gone).
    pub fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.logs()
    }
}

impl Drop for BackendProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `lattice-secrets-kv ARGS` against `nats_url` with `stdin`; returns (success, stdout,
/// stderr).
pub fn cli(nats_url: &str, args: &[&str], stdin: &str) -> (bool, String, String) {
    let mut child = Command::new(BINARY)
        .args(["--nats-url", nats_url])
        .args(args)
        .env("RUST_LOG", "debug")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the CLI starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A fresh xkey seed from `keygen`.
pub fn keygen() -> String {
    let (ok, out, err) = cli("nats://127.0.0.1:1", &["keygen"], "");
    assert!(ok, "{err}");
    out.trim().to_owned()
}

/// A value no test or log would contain by accident.
pub fn marker(what: &str) -> String {
    format!(
        "{what}-MARKER-{:032x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
            ^ u128::from(std::process::id()) << 64
    )
}
