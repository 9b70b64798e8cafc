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
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let url = server.url();
        let hosts = runtime.block_on(async {
            let mut hosts = Vec::new();
            for id in host_ids {
                let start = async {
                    let nats = options().connect(url.as_str()).await.expect("connect");
                    let config = HostConfig::new(id.parse().unwrap(), "default".parse().unwrap());
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
        Self {
            _hosts: hosts,
            _runtime: runtime,
            server,
        }
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
    let (line, received) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut first = String::new();
        let _ = reader.read_line(&mut first);
        let _ = line.send(first);
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
    received
        .recv_timeout(DEADLINE)
        .expect("a line within the deadline")
}
