//! What the integration tests share: the `lattice` binary run as a user runs it, under a
//! deadline, and a nats-server with hosts served in-process by the host kit.

// Each test binary (`cli`, `auth`) uses a part of this module.
#![allow(dead_code)]

use lattice_host::{Host, HostConfig, HostHandle, RevisionEchoRuntime};
use lattice_test_support::NatsServer;
use serde_json::Value;
use std::{
    io::{BufRead, BufReader, Read, Write},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, mpsc},
    time::Duration,
};

/// The longest any one `lattice` invocation may take.
pub(crate) const DEADLINE: Duration = Duration::from_secs(60);

/// The longest a host may take to connect and start.
const HOST_START: Duration = Duration::from_secs(30);

/// What a finished `lattice` invocation printed.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) status: ExitStatus,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    pub(crate) fn code(&self) -> Option<i32> {
        self.status.code()
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }
}

/// The `lattice` binary with no `LATTICE_*` variable of the test's environment, so only what
/// a test passes counts.
pub(crate) fn command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lattice"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("LATTICE_") {
            command.env_remove(name);
        }
    }
    command
}

/// Runs `lattice args…` (with `stdin` piped in if given) and waits for it, at most [`DEADLINE`].
pub(crate) fn lattice(args: &[&str], stdin: Option<&str>) -> Run {
    lattice_with_env(args, stdin, &[])
}

/// [`lattice`] with these environment variables set.
pub(crate) fn lattice_with_env(args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Run {
    let mut child = command()
        .args(args)
        .envs(env.iter().copied())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the lattice binary starts");
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes()).expect("write stdin");
    }
    finish(child)
}

/// Sends `signal` to `target` (a pid, or `-pgid` for a process group) with `kill(1)`.
pub(crate) fn kill(signal: &str, target: &str) {
    let _ = Command::new("kill")
        .args([signal, "--", target])
        .stderr(Stdio::null())
        .status();
}

/// Waits for a spawned child under [`DEADLINE`], killing it on expiry.
pub(crate) fn finish(child: Child) -> Run {
    let pid = child.id();
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    let output = match finished.recv_timeout(DEADLINE) {
        Ok(output) => output.expect("wait for lattice"),
        Err(_) => {
            kill("-KILL", &pid.to_string());
            panic!("a lattice process ran past {DEADLINE:?}");
        }
    };
    Run {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A nats-server and hosts served in-process on their own runtime.
/// Fields drop in order: hosts, then their runtime, then the server.
pub(crate) struct Lattice {
    _hosts: Vec<HostHandle>,
    _runtime: tokio::runtime::Runtime,
    pub(crate) server: NatsServer,
}

impl Lattice {
    /// A nats-server with JetStream and these hosts of lattice `default`.
    pub(crate) fn start(host_ids: &[&str]) -> Self {
        let server = NatsServer::start().expect("nats-server starts");
        Self::start_on(server, async_nats::ConnectOptions::new, host_ids)
    }

    /// These hosts of lattice `default` on `server`, each connected with `options()`.
    pub(crate) fn start_on(
        server: NatsServer,
        options: impl Fn() -> async_nats::ConnectOptions,
        host_ids: &[&str],
    ) -> Self {
        let mut lattice = Self {
            _hosts: Vec::new(),
            _runtime: tokio::runtime::Runtime::new().expect("runtime"),
            server,
        };
        lattice.add_hosts(options, "default", host_ids);
        lattice
    }

    /// Starts these hosts of `lattice_name` on the server, each connected with `options()`
    /// (a server may hold several lattices).
    pub(crate) fn add_hosts(
        &mut self,
        options: impl Fn() -> async_nats::ConnectOptions,
        lattice_name: &str,
        host_ids: &[&str],
    ) {
        let url = self.server.url();
        let hosts = self._runtime.block_on(async {
            let mut hosts = Vec::new();
            for id in host_ids {
                let start = async {
                    let nats = options().connect(url.as_str()).await.expect("connect");
                    let config =
                        HostConfig::new(id.parse().unwrap(), lattice_name.parse().unwrap());
                    Host::new(nats, config, Arc::new(RevisionEchoRuntime))
                        .start()
                        .await
                        .expect("host starts")
                };
                let host = tokio::time::timeout(HOST_START, start)
                    .await
                    .unwrap_or_else(|_| panic!("host {id} did not start within {HOST_START:?}"));
                hosts.push(host);
            }
            hosts
        });
        self._hosts.extend(hosts);
    }

    /// `lattice --nats-url URL --timeout 2s args…`.
    pub(crate) fn run(&self, args: &[&str]) -> Run {
        self.run_with_stdin(args, None)
    }

    pub(crate) fn run_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Run {
        let url = self.server.url();
        let mut all = vec!["--nats-url", url.as_str(), "--timeout", "2s"];
        all.extend_from_slice(args);
        lattice(&all, stdin)
    }
}

/// The first line `pipe` gives, within [`DEADLINE`]; the rest is read and dropped,
/// so the writer never meets a closed pipe.
pub(crate) fn first_line(pipe: impl Read + Send + 'static) -> String {
    first_line_starting_with(pipe, "")
}

/// The first line `pipe` gives that starts with `prefix`, within [`DEADLINE`] (the lines
/// before it are skipped; empty when the pipe ends first); the rest is read and dropped, so
/// the writer never meets a closed pipe.
pub(crate) fn first_line_starting_with(
    pipe: impl Read + Send + 'static,
    prefix: &'static str,
) -> String {
    let (line, received) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut next = String::new();
        while reader.read_line(&mut next).is_ok_and(|read| read > 0) && !next.starts_with(prefix) {
            next.clear();
        }
        let _ = line.send(next);
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
    received
        .recv_timeout(DEADLINE)
        .expect("a line within the deadline")
}

/// The `lattice-provider-keyvalue` executable (the provider kit's binary), built by cargo next
/// to this test's binary (`CARGO_BIN_EXE_*` only names a test's own package's binaries).
pub(crate) fn provider_binary() -> std::path::PathBuf {
    static BUILT: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
            let status = Command::new(cargo)
                .args([
                    "build",
                    "--quiet",
                    "-p",
                    "lattice-provider-keyvalue",
                    "--bin",
                    "lattice-provider-keyvalue",
                ])
                .status()
                .expect("cargo runs");
            assert!(status.success(), "cargo builds lattice-provider-keyvalue");
            // target/debug/deps/auth-… -> target/debug/lattice-provider-keyvalue
            let exe = std::env::current_exe().unwrap();
            let path = exe
                .parent()
                .and_then(|deps| deps.parent())
                .unwrap()
                .join("lattice-provider-keyvalue");
            assert!(path.exists(), "{} exists", path.display());
            path
        })
        .clone()
}

/// `binary args…` with no `LATTICE_*` variable of the test's environment, its output piped.
pub(crate) fn spawn(binary: &std::path::Path, args: &[&str]) -> Child {
    let mut command = Command::new(binary);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("LATTICE_") {
            command.env_remove(name);
        }
    }
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{} starts: {e}", binary.display()))
}
