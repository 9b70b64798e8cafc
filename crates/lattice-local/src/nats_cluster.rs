//! [`NatsCluster`]: N `nats-server` processes on loopback, JetStream on, routed to each other
//! as one cluster, each with its own client, cluster and monitoring port and store directory;
//! one can be killed (SIGKILL) and restarted on the same ports and store. All are killed and
//! reaped on drop, and the directory holding their stores is removed.

use crate::NATS_SERVER_BIN_ENV;
use crate::StartError;
use crate::binary::{check_version, resolve_binary};
use crate::process::{log_tail, mentions_port_in_use};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{self, Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use std::{env, thread};

/// How long a cluster (or one restarted server) may take to form and elect a meta leader.
const FORM_TIMEOUT: Duration = Duration::from_secs(30);

/// The pause between readiness polls, inside the deadline.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// The longest a single monitoring request may block.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// How many sets of free ports are tried when a port is taken meanwhile.
const MAX_ATTEMPTS: u32 = 5;

/// The most bytes read from one monitoring response.
const MAX_RESPONSE_LEN: u64 = 4 * 1024 * 1024;

/// Makes cluster names unique within this process.
static NEXT_CLUSTER: AtomicU64 = AtomicU64::new(0);

/// A running cluster of `nats-server`s (three by default) on loopback with JetStream on, so
/// that streams and key-value buckets can be replicated (R3). Killed and reaped on drop, its
/// store directories removed.
///
/// Each server has its own free client port ([`ClusterServer::url`]), cluster (route) port
/// and monitoring port ([`ClusterServer::monitoring_url`]: `/varz`, `/subsz`, `/connz`,
/// `/jsz` …), its own server name and store directory. [`NatsCluster::start`] returns once
/// every server routes to every other, reports healthy, and JetStream has a meta leader.
///
/// [`NatsCluster::kill`] SIGKILLs one server; [`NatsCluster::restart`] starts it again on the
/// same ports with the same store directory and waits until it has rejoined.
///
/// The binary is found as for [`NatsServer`](crate::NatsServer): [`NatsClusterBuilder::binary`],
/// else `NATS_SERVER_BIN`, else `nats-server` on `PATH`, 2.10 or newer. Everything here is
/// plain blocking `std`; from async code, call it through `tokio::task::spawn_blocking`.
///
/// ```no_run
/// use lattice_local::NatsCluster;
///
/// let mut cluster = NatsCluster::start()?; // three servers
/// // A client given every URL fails over when its server goes.
/// println!("connect to {}", cluster.urls().join(","));
/// cluster.kill(0)?; // SIGKILL, as a crash would
/// cluster.wait_until_formed()?; // the other two elect a meta leader
/// cluster.restart(0)?; // same ports, same store; returns once it has rejoined
/// drop(cluster); // kills and reaps all three, removes their stores
/// # Ok::<(), lattice_local::StartError>(())
/// ```
#[derive(Debug)]
pub struct NatsCluster {
    name: String,
    binary: PathBuf,
    servers: Vec<ClusterServer>,
    // Declared last so the directory is removed only after `drop` has reaped the children.
    dir: tempfile::TempDir,
}

/// One server of a [`NatsCluster`]; from [`NatsCluster::server`].
#[derive(Debug)]
pub struct ClusterServer {
    name: String,
    port: u16,
    cluster_port: u16,
    monitoring_port: u16,
    config_path: PathBuf,
    store_dir: PathBuf,
    log_path: PathBuf,
    output_path: PathBuf,
    child: Option<Child>,
}

impl ClusterServer {
    /// The server's name (`server_name`), unique in the cluster.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The client URL, `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The loopback port the server listens on for clients.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The loopback port the server listens on for routes from the other servers.
    pub fn cluster_port(&self) -> u16 {
        self.cluster_port
    }

    /// The loopback port of the server's HTTP monitoring endpoint.
    pub fn monitoring_port(&self) -> u16 {
        self.monitoring_port
    }

    /// The monitoring endpoint, `http://127.0.0.1:PORT` (append `/varz`, `/subsz`, `/jsz` …).
    pub fn monitoring_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.monitoring_port)
    }

    /// The server's JetStream store directory; it survives [`NatsCluster::kill`] and
    /// [`NatsCluster::restart`] and is removed when the cluster is dropped.
    pub fn store_dir(&self) -> &Path {
        &self.store_dir
    }

    /// The server's log file; a restarted server appends to it.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The process id, or `None` while the server is killed.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the server was started and not killed since.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// The end of the server's log file and of its stdout/stderr.
    fn log_tail(&self) -> String {
        let parts: Vec<String> = [&self.output_path, &self.log_path]
            .into_iter()
            .map(|path| log_tail(path))
            .filter(|tail| !tail.is_empty())
            .collect();
        if parts.is_empty() {
            format!("{}: (no log output)", self.name)
        } else {
            format!("{}:\n{}", self.name, parts.join("\n"))
        }
    }

    /// Spawns the process from its configuration file.
    fn spawn(&mut self, binary: &Path) -> Result<(), StartError> {
        let output_error = |source| StartError::Io {
            action: "open the nats-server output file",
            source,
        };
        let stdout = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.output_path)
            .map_err(output_error)?;
        let stderr = stdout.try_clone().map_err(output_error)?;
        let child = Command::new(binary)
            .arg("-c")
            .arg(&self.config_path)
            .arg("-l")
            .arg(&self.log_path)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(|source| StartError::Spawn {
                binary: binary.to_owned(),
                source,
            })?;
        self.child = Some(child);
        Ok(())
    }

    /// SIGKILLs and reaps the process, if running.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Killing fails only if the child has already exited; waiting reaps it either way.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether the process has exited on its own; reaps it then.
    fn exited(&mut self) -> Result<Option<std::process::ExitStatus>, StartError> {
        let Some(child) = self.child.as_mut() else {
            return Ok(None);
        };
        let status = child.try_wait().map_err(|source| StartError::Io {
            action: "check whether nats-server is still running",
            source,
        })?;
        if status.is_some() {
            self.child = None;
        }
        Ok(status)
    }
}

impl NatsCluster {
    /// Starts a three-server cluster with the default settings of [`NatsCluster::builder`].
    ///
    /// ```no_run
    /// let cluster = lattice_local::NatsCluster::start()?;
    /// assert_eq!(cluster.len(), 3);
    /// # Ok::<(), lattice_local::StartError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// See [`NatsClusterBuilder::start`].
    pub fn start() -> Result<NatsCluster, StartError> {
        NatsCluster::builder().start()
    }

    /// Returns a builder to configure the cluster before starting it.
    pub fn builder() -> NatsClusterBuilder {
        NatsClusterBuilder::default()
    }

    /// The cluster's name (the `cluster { name }` every server shares).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many servers the cluster has, running or killed.
    pub fn len(&self) -> usize {
        self.servers.len()
    }

    /// Always false: a cluster has at least two servers.
    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    /// Every server's client URL, in server order; give them all to a client so that it fails
    /// over when its server goes.
    pub fn urls(&self) -> Vec<String> {
        self.servers.iter().map(ClusterServer::url).collect()
    }

    /// The temporary directory holding every server's configuration file, log and store,
    /// removed on drop.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The servers, in order.
    pub fn servers(&self) -> &[ClusterServer] {
        &self.servers
    }

    /// Server `index`.
    ///
    /// # Panics
    ///
    /// If `index >= self.len()`.
    pub fn server(&self, index: usize) -> &ClusterServer {
        &self.servers[index]
    }

    /// SIGKILLs server `index` (as a crash would) and reaps it; its ports close, its store
    /// stays. Killing a killed server does nothing. It does not wait for the others to elect a
    /// new meta leader: call [`NatsCluster::wait_until_formed`] for that.
    ///
    /// ```no_run
    /// let mut cluster = lattice_local::NatsCluster::start()?;
    /// cluster.kill(1)?;
    /// assert!(!cluster.server(1).is_running());
    /// # Ok::<(), lattice_local::StartError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// None today; fallible so that a platform where killing can fail can say so.
    ///
    /// # Panics
    ///
    /// If `index >= self.len()`.
    pub fn kill(&mut self, index: usize) -> Result<(), StartError> {
        self.servers[index].kill();
        Ok(())
    }

    /// Starts server `index` again (killing it first if it runs) on the same ports with the
    /// same store directory, and waits until every running server routes to every other and
    /// JetStream has a meta leader again.
    ///
    /// ```no_run
    /// let mut cluster = lattice_local::NatsCluster::start()?;
    /// let port = cluster.server(2).port();
    /// cluster.kill(2)?;
    /// cluster.restart(2)?;
    /// assert_eq!(cluster.server(2).port(), port);
    /// # Ok::<(), lattice_local::StartError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`StartError::PortInUse`] if another process took one of its ports meanwhile;
    /// [`StartError::Exited`] or [`StartError::NotReady`] (with log tails) if it does not
    /// rejoin; [`StartError::Spawn`] if the binary cannot be run.
    ///
    /// # Panics
    ///
    /// If `index >= self.len()`.
    pub fn restart(&mut self, index: usize) -> Result<(), StartError> {
        self.servers[index].kill();
        self.servers[index].spawn(&self.binary)?;
        match self.wait_formed(FORM_TIMEOUT)? {
            Formed::Yes => Ok(()),
            Formed::PortTaken(log_tail) => {
                self.servers[index].kill();
                Err(StartError::PortInUse {
                    port: self.servers[index].port,
                    log_tail,
                })
            }
        }
    }

    /// Waits (up to 30 s) until every running server routes to every other running server,
    /// reports healthy, and names a running server as JetStream meta leader — after
    /// [`NatsCluster::kill`], until the survivors have elected one (which needs a majority).
    ///
    /// ```no_run
    /// let mut cluster = lattice_local::NatsCluster::start()?;
    /// cluster.kill(0)?;
    /// cluster.wait_until_formed()?;
    /// # Ok::<(), lattice_local::StartError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`StartError::NotReady`] with every server's log tail if the deadline passes;
    /// [`StartError::Exited`] if a server exits meanwhile.
    pub fn wait_until_formed(&mut self) -> Result<(), StartError> {
        match self.wait_formed(FORM_TIMEOUT)? {
            Formed::Yes => Ok(()),
            Formed::PortTaken(log_tail) => Err(StartError::PortConflict {
                attempts: 1,
                log_tail,
            }),
        }
    }

    /// The log tails of every server, for errors.
    fn log_tails(&self) -> String {
        self.servers
            .iter()
            .map(ClusterServer::log_tail)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Polls until the running servers form a cluster with a meta leader, one exits, or the
    /// deadline passes.
    fn wait_formed(&mut self, timeout: Duration) -> Result<Formed, StartError> {
        let started = Instant::now();
        let deadline = started + timeout;
        loop {
            for index in 0..self.servers.len() {
                if let Some(status) = self.servers[index].exited()? {
                    let log_tail = self.log_tails();
                    return if mentions_port_in_use(&self.servers[index].log_tail()) {
                        Ok(Formed::PortTaken(log_tail))
                    } else {
                        Err(StartError::Exited { status, log_tail })
                    };
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(StartError::NotReady {
                    after: started.elapsed(),
                    log_tail: self.log_tails(),
                });
            }
            if self.is_formed((deadline - now).min(PROBE_TIMEOUT)) {
                return Ok(Formed::Yes);
            }
            // A readiness poll of processes this code does not control, inside the deadline.
            let now = Instant::now();
            if now < deadline {
                thread::sleep(POLL_INTERVAL.min(deadline - now));
            }
        }
    }

    /// One poll: every running server is healthy, routes to all other running servers, and
    /// names a running server as meta leader.
    fn is_formed(&self, timeout: Duration) -> bool {
        let running: BTreeSet<&str> = self
            .servers
            .iter()
            .filter(|server| server.is_running())
            .map(ClusterServer::name)
            .collect();
        if running.is_empty() {
            return false;
        }
        self.servers
            .iter()
            .filter(|server| server.is_running())
            .all(|server| {
                let port = server.monitoring_port;
                let Some(health) = http_get_json(port, "/healthz", timeout) else {
                    return false;
                };
                if health.get("status").and_then(serde_json::Value::as_str) != Some("ok") {
                    return false;
                }
                let Some(routes) = http_get_json(port, "/routez", timeout) else {
                    return false;
                };
                let routed: BTreeSet<&str> = routes
                    .get("routes")
                    .and_then(serde_json::Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|route| route.get("remote_name")?.as_str())
                    .collect();
                let others_routed = running
                    .iter()
                    .filter(|name| **name != server.name)
                    .all(|name| routed.contains(name));
                if !others_routed {
                    return false;
                }
                let Some(jsz) = http_get_json(port, "/jsz", timeout) else {
                    return false;
                };
                jsz.pointer("/meta_cluster/leader")
                    .and_then(serde_json::Value::as_str)
                    .is_some_and(|leader| running.contains(leader))
            })
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for server in &mut self.servers {
            server.kill();
        }
    }
}

/// How waiting for the cluster ended, short of failing.
enum Formed {
    Yes,
    /// A server exited because one of its ports was taken; holds the log tails.
    PortTaken(String),
}

/// Configures and starts a [`NatsCluster`]; from [`NatsCluster::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct NatsClusterBuilder {
    binary: Option<PathBuf>,
    servers: usize,
}

impl Default for NatsClusterBuilder {
    fn default() -> Self {
        NatsClusterBuilder {
            binary: None,
            servers: 3,
        }
    }
}

impl NatsClusterBuilder {
    /// Runs this binary instead of looking one up via `NATS_SERVER_BIN` or `PATH`.
    pub fn binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.binary = Some(path.into());
        self
    }

    /// How many servers; default 3 (what R3 needs; 3 or 5 keep a majority when one is lost).
    ///
    /// # Panics
    ///
    /// If `count < 2`: one server is a [`NatsServer`](crate::NatsServer), not a cluster.
    pub fn servers(mut self, count: usize) -> Self {
        assert!(
            count >= 2,
            "a NatsCluster needs at least two servers, got {count}"
        );
        self.servers = count;
        self
    }

    /// Starts the servers and waits until they form a cluster and JetStream has a meta leader.
    ///
    /// ```no_run
    /// let cluster = lattice_local::NatsCluster::builder().servers(5).start()?;
    /// assert_eq!(cluster.urls().len(), 5);
    /// # Ok::<(), lattice_local::StartError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`StartError::NotFound`] or [`StartError::TooOld`] if no suitable binary is found;
    /// [`StartError::NotReady`] or [`StartError::Exited`] (with every server's log tail) if
    /// the cluster does not form; [`StartError::PortConflict`] if every set of free ports tried
    /// had one taken by another process before the servers bound them; others for I/O
    /// failures.
    pub fn start(self) -> Result<NatsCluster, StartError> {
        let binary = resolve_binary(
            self.binary.as_deref(),
            env::var_os(NATS_SERVER_BIN_ENV),
            env::var_os("PATH"),
        )?;
        check_version(&binary)?;
        let mut last_tail = String::new();
        for _ in 0..MAX_ATTEMPTS {
            let mut cluster = self.prepare(&binary)?;
            for index in 0..cluster.servers.len() {
                cluster.servers[index].spawn(&binary)?;
            }
            // Dropping `cluster` on any error kills and reaps the servers started.
            match cluster.wait_formed(FORM_TIMEOUT)? {
                Formed::Yes => return Ok(cluster),
                Formed::PortTaken(log_tail) => last_tail = log_tail,
            }
        }
        Err(StartError::PortConflict {
            attempts: MAX_ATTEMPTS,
            log_tail: last_tail,
        })
    }

    /// Picks ports and writes every server's configuration file, without starting any.
    fn prepare(&self, binary: &Path) -> Result<NatsCluster, StartError> {
        let dir = tempfile::Builder::new()
            .prefix("lattice-nats-cluster-")
            .tempdir()
            .map_err(|source| StartError::Io {
                action: "create a temporary directory for the cluster",
                source,
            })?;
        let ports = distinct_free_ports(self.servers * 3).map_err(|source| StartError::Io {
            action: "find free loopback ports",
            source,
        })?;
        let name = format!(
            "lattice-cluster-{}-{}",
            process::id(),
            NEXT_CLUSTER.fetch_add(1, Ordering::Relaxed)
        );
        let cluster_ports: Vec<u16> = ports.chunks(3).map(|p| p[1]).collect();
        let mut routes = String::new();
        for port in &cluster_ports {
            let _ = write!(routes, "\"nats-route://127.0.0.1:{port}\", ");
        }
        let mut servers = Vec::with_capacity(self.servers);
        for (index, chunk) in ports.chunks(3).enumerate() {
            let server_dir = dir.path().join(format!("n{index}"));
            let store_dir = server_dir.join("store");
            fs::create_dir_all(&store_dir).map_err(|source| StartError::Io {
                action: "create a server's store directory",
                source,
            })?;
            let server = ClusterServer {
                name: format!("{name}-n{index}"),
                port: chunk[0],
                cluster_port: chunk[1],
                monitoring_port: chunk[2],
                config_path: server_dir.join("nats-server.conf"),
                store_dir,
                log_path: server_dir.join("nats-server.log"),
                output_path: server_dir.join("nats-server.out"),
                child: None,
            };
            // JSON strings are valid NATS config strings, paths included.
            let config = format!(
                "server_name: {server_name}\n\
                 listen: \"127.0.0.1:{port}\"\n\
                 http: \"127.0.0.1:{http}\"\n\
                 jetstream {{ store_dir: {store} }}\n\
                 cluster {{\n  name: {cluster}\n  listen: \"127.0.0.1:{cluster_port}\"\n  \
                 routes: [{routes}]\n}}\n",
                server_name = serde_json::Value::from(server.name.as_str()),
                port = server.port,
                http = server.monitoring_port,
                store = serde_json::Value::from(server.store_dir.to_string_lossy().as_ref()),
                cluster = serde_json::Value::from(name.as_str()),
                cluster_port = server.cluster_port,
            );
            File::create(&server.config_path)
                .and_then(|mut file| file.write_all(config.as_bytes()))
                .map_err(|source| StartError::Io {
                    action: "write a server's configuration file",
                    source,
                })?;
            servers.push(server);
        }
        Ok(NatsCluster {
            name,
            binary: binary.to_owned(),
            servers,
            dir,
        })
    }
}

/// `count` distinct free loopback ports: all bound at once so none repeats, then released.
fn distinct_free_ports(count: usize) -> std::io::Result<Vec<u16>> {
    let listeners = (0..count)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<std::io::Result<Vec<_>>>()?;
    let ports = listeners
        .iter()
        .map(|listener| Ok(listener.local_addr()?.port()))
        .collect::<std::io::Result<Vec<u16>>>()?;
    Ok(ports)
}

/// A minimal blocking HTTP/1.0 GET of a monitoring endpoint on loopback, parsed as JSON;
/// `None` on any failure or a non-200 status.
fn http_get_json(port: u16, path: &str, timeout: Duration) -> Option<serde_json::Value> {
    let timeout = timeout.max(Duration::from_millis(1));
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.set_write_timeout(Some(timeout)).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut response = Vec::new();
    stream
        .take(MAX_RESPONSE_LEN)
        .read_to_end(&mut response)
        .ok()?;
    parse_http_json(&response)
}

/// Splits an HTTP response into status and body; the body as JSON if the status is 200.
fn parse_http_json(response: &[u8]) -> Option<serde_json::Value> {
    let text = std::str::from_utf8(response).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.lines().next()?.split_whitespace().nth(1)?;
    if status != "200" {
        return None;
    }
    serde_json::from_str(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_monitoring_responses() {
        let ok = b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{\"status\":\"ok\"}";
        assert_eq!(
            parse_http_json(ok),
            Some(serde_json::json!({"status": "ok"}))
        );
        let unavailable = b"HTTP/1.0 503 Service Unavailable\r\n\r\n{\"status\":\"unavailable\"}";
        assert_eq!(parse_http_json(unavailable), None);
        assert_eq!(parse_http_json(b"HTTP/1.0 200 OK\r\n\r\nnot json"), None);
        assert_eq!(parse_http_json(b"garbage"), None);
    }

    #[test]
    fn picks_distinct_ports() {
        let ports = distinct_free_ports(9).unwrap();
        let distinct: BTreeSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), 9);
    }
}
