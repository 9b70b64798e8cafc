//! What every launcher of a local server process needs: a free loopback port, the executable
//! to run, and the tail of what the process logged when it does not come up.
//!
//! [`NatsServer`](crate::NatsServer) is built on these; so is any other launcher of a local
//! server (the test OCI registry of this workspace is one), so that each finds binaries, picks
//! ports and reports failures the same way.

use std::{
    env,
    ffi::OsStr,
    fs::File,
    io::{Read, Seek, SeekFrom},
    net::{Ipv4Addr, TcpListener},
    path::{Path, PathBuf},
};

/// The most bytes of a log file read for its tail.
const TAIL_BYTES: u64 = 8 * 1024;

/// The most lines of a log file kept in its tail.
const TAIL_LINES: usize = 30;

/// Binds loopback port 0 and releases it, returning the port the system chose.
///
/// Another process may take the port before the server binds it; a launcher should notice
/// (the server exits, see [`mentions_port_in_use`]) and try again.
///
/// ```
/// let port = lattice_local::process::free_loopback_port()?;
/// assert_ne!(port, 0);
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Errors
///
/// When no loopback socket can be bound.
pub fn free_loopback_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// How one attempt to start a server on a port ended, short of failing.
#[derive(Debug)]
pub enum PortAttempt<T> {
    /// The server is up.
    Ready(T),
    /// Another process took the port before the server bound it; holds the server's log tail.
    PortTaken(String),
}

/// Runs `attempt` (each on a fresh free port) until a server is up or `attempts` attempts lost
/// their port: `Ok(Err(log_tail))` then holds the last attempt's log tail. An attempt's own
/// error ends the retries.
///
/// ```
/// use lattice_local::process::{PortAttempt, retry_on_port_conflict};
///
/// let mut tries = 0;
/// let started = retry_on_port_conflict(3, || {
///     tries += 1;
///     Ok::<_, std::io::Error>(if tries < 2 {
///         PortAttempt::PortTaken("address already in use".into())
///     } else {
///         PortAttempt::Ready(tries)
///     })
/// })?;
/// assert_eq!(started.ok(), Some(2));
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Errors
///
/// The first error an attempt returns.
pub fn retry_on_port_conflict<T, E>(
    attempts: u32,
    mut attempt: impl FnMut() -> Result<PortAttempt<T>, E>,
) -> Result<Result<T, String>, E> {
    let mut log_tail = String::new();
    for _ in 0..attempts {
        match attempt()? {
            PortAttempt::Ready(server) => return Ok(Ok(server)),
            PortAttempt::PortTaken(tail) => log_tail = tail,
        }
    }
    Ok(Err(log_tail))
}

/// Whether a server's output says its port was already in use.
///
/// ```
/// use lattice_local::process::mentions_port_in_use;
///
/// assert!(mentions_port_in_use("listen tcp 127.0.0.1:4222: bind: address already in use"));
/// assert!(!mentions_port_in_use("bad config"));
/// ```
#[must_use]
pub fn mentions_port_in_use(log: &str) -> bool {
    let log = log.to_ascii_lowercase();
    log.contains("address already in use") || log.contains("only one usage of each socket address")
}

/// The last lines (at most 30, from the last 8 KiB) of a log file, trimmed; an empty string
/// if it is missing or empty.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let log = dir.path().join("server.log");
/// std::fs::write(&log, "starting\nready\n")?;
/// assert_eq!(lattice_local::process::log_tail(&log), "starting\nready");
/// # Ok::<(), std::io::Error>(())
/// ```
#[must_use]
pub fn log_tail(path: &Path) -> String {
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

/// Looks `name` up in each directory of a `PATH`-style list (on Windows also `name.exe`).
///
/// ```
/// use lattice_local::process::find_on_path;
///
/// let path = std::env::var_os("PATH");
/// if let Some(sh) = find_on_path("sh".as_ref(), path.as_deref()) {
///     println!("sh is {}", sh.display());
/// }
/// ```
#[must_use]
pub fn find_on_path(name: &OsStr, path: Option<&OsStr>) -> Option<PathBuf> {
    let path = path?;
    env::split_paths(path)
        .filter(|dir| !dir.as_os_str().is_empty())
        .flat_map(|dir| {
            let plain = dir.join(name);
            let exe = cfg!(windows).then(|| plain.with_extension("exe"));
            std::iter::once(plain).chain(exe)
        })
        .find(|candidate| is_executable(candidate))
}

/// Whether `path` is a file this process could execute.
///
/// ```
/// assert!(!lattice_local::process::is_executable("/nonexistent/bin/tool".as_ref()));
/// ```
#[must_use]
pub fn is_executable(path: &Path) -> bool {
    let Ok(metadata) = path.metadata() else {
        return false;
    };
    if !metadata.is_file() {
        return false;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        metadata.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_port_in_use() {
        assert!(mentions_port_in_use(
            "[1] [FTL] Error listening on port: 127.0.0.1:4222, \"listen tcp 127.0.0.1:4222: bind: address already in use\""
        ));
        assert!(!mentions_port_in_use("[1] [FTL] bad config"));
    }

    #[test]
    fn a_missing_log_has_an_empty_tail() {
        assert_eq!(log_tail(Path::new("/nonexistent/server.log")), "");
    }
}
