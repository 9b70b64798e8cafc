//! The one error type of the CLI, its exit code, and how it is printed: `error: …`, the
//! causes, and a `hint: …` line saying what to do next (see `hints`).
//!
//! Every error has a [`Failure`] kind — the libraries' own `Copy` kinds where a library error
//! is the cause — and [`exit_code`] chooses the exit code from it in one `match`.

use crate::{
    hints,
    nats_auth::{AuthError, AuthUsed},
};
use lattice_client::{
    ApplyError, ApplyErrorKind, DiscoverErrorKind, RequestError, RequestErrorKind, WaitError,
    WaitErrorKind,
};
use lattice_ctl::Rejection;
use lattice_host::InvokeCallErrorKind;
use lattice_rollout::{RolloutErrorKind, StoreErrorKind};
use lattice_spec::{ComponentId, HostId, LatticeName};
use std::{error::Error as _, path::PathBuf, time::Duration};

/// Exit code: the operation failed (rejected, failed revision, a host's error).
pub(crate) const EXIT_FAILED: u8 = 1;
/// Exit code: usage error or invalid input.
pub(crate) const EXIT_USAGE: u8 = 2;
/// Exit code: NATS or the hosts cannot be reached.
pub(crate) const EXIT_UNREACHABLE: u8 = 3;

/// What went wrong, as the one value the exit code is chosen from (see [`exit_code`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Failure {
    /// Invalid input: options, a spec or manifest document, a function's arguments.
    Usage,
    /// The operation ran and did not succeed: nothing to do, a rollout that rolled back.
    Failed,
    /// The NATS connection could not be made.
    Connect(async_nats::ConnectErrorKind),
    /// No host answered the discovery ping.
    NoHosts,
    /// A request to a host failed.
    Request(RequestErrorKind),
    /// An apply failed.
    Apply(ApplyErrorKind),
    /// An apply-and-wait did not end with the revision running.
    Wait(WaitErrorKind),
    /// The discovery ping could not be sent.
    Discover(DiscoverErrorKind),
    /// A rollout could not start or continue.
    Rollout(RolloutErrorKind),
    /// The scheduler's store failed.
    Store(StoreErrorKind),
    /// An invocation failed.
    Invoke(InvokeCallErrorKind),
    /// A configuration-bucket operation failed.
    Config(lattice_client::ConfigBucketErrorKind),
    /// The NATS server denied the user a subject the command needed.
    PermissionDenied,
}

/// Whether `failure` is a subject the server denied, directly or inside another kind.
pub(crate) fn is_denied(failure: Failure) -> bool {
    match failure {
        Failure::PermissionDenied | Failure::Request(RequestErrorKind::PermissionDenied) => true,
        Failure::Apply(ApplyErrorKind::Request(kind))
        | Failure::Wait(WaitErrorKind::Follow(kind)) => is_denied(Failure::Request(kind)),
        Failure::Wait(WaitErrorKind::Apply(kind)) => is_denied(Failure::Apply(kind)),
        _ => false,
    }
}

/// The process exit code of a failure: the documented classes (`lattice --help`).
pub(crate) fn exit_code(failure: Failure) -> u8 {
    match failure {
        // A kind wrapping another's decides as the inner one.
        Failure::Apply(ApplyErrorKind::Request(kind))
        | Failure::Wait(WaitErrorKind::Follow(kind)) => exit_code(Failure::Request(kind)),
        Failure::Wait(WaitErrorKind::Apply(kind)) => exit_code(Failure::Apply(kind)),
        Failure::Rollout(RolloutErrorKind::Store(kind)) => exit_code(Failure::Store(kind)),
        Failure::Rollout(RolloutErrorKind::Discover(kind)) => exit_code(Failure::Discover(kind)),
        Failure::Rollout(RolloutErrorKind::Config(kind)) => exit_code(Failure::Config(kind)),
        Failure::Usage
        | Failure::Connect(async_nats::ConnectErrorKind::ServerParse)
        | Failure::Rollout(
            RolloutErrorKind::Plan | RolloutErrorKind::Spec | RolloutErrorKind::Preflight,
        ) => EXIT_USAGE,
        Failure::Connect(_)
        | Failure::PermissionDenied
        | Failure::Request(RequestErrorKind::PermissionDenied)
        | Failure::NoHosts
        | Failure::Discover(_)
        | Failure::Request(
            RequestErrorKind::TimedOut
            | RequestErrorKind::NoResponders
            | RequestErrorKind::Transport,
        )
        | Failure::Rollout(RolloutErrorKind::Subscribe)
        | Failure::Config(lattice_client::ConfigBucketErrorKind::Unavailable)
        | Failure::Store(StoreErrorKind::TimedOut | StoreErrorKind::JetStream) => EXIT_UNREACHABLE,
        // Rejections, failed revisions, a host's error reply, lost races, running rollouts,
        // nothing to undo, a failed invocation, and what a newer library adds.
        _ => EXIT_FAILED,
    }
}

/// Where the CLI was talking to, for hints.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    /// The NATS URL.
    pub(crate) url: String,
    /// The lattice.
    pub(crate) lattice: LatticeName,
}

/// Everything that can go wrong in a command.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// The spec document cannot be read.
    #[error("cannot read the spec document `{}`", path.display())]
    ReadSpec {
        /// The path (`-` for stdin).
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The spec document is not YAML / JSON of the right shape.
    #[error("`{}` is not a valid {format} document: {message}", path.display())]
    ParseSpec {
        /// The path.
        path: PathBuf,
        /// `YAML` or `JSON`.
        format: &'static str,
        /// The parser's message.
        message: String,
    },
    /// The spec document decodes but has problems; every one is listed.
    #[error(
        "`{}` is not a valid component spec ({} problem{}):{}",
        path.display(),
        problems.len(),
        if problems.len() == 1 { "" } else { "s" },
        problems.iter().map(|(p, m)| format!("\n  {p}: {m}")).collect::<String>()
    )]
    InvalidSpec {
        /// The path.
        path: PathBuf,
        /// Every problem: field path and message.
        problems: Vec<(String, String)>,
    },
    /// The authentication options conflict, or a file they name cannot be used.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The NATS connection could not be made (or the server refused the credentials).
    #[error("cannot connect to NATS at {url}")]
    Connect {
        /// The URL.
        url: String,
        /// How the connection authenticated (no secrets), for the hint.
        auth: AuthUsed,
        /// What async-nats said.
        #[source]
        source: async_nats::ConnectError,
    },
    /// Discovery found no host.
    #[error("no host answered the ping on lattice `{}` within {window:?}", endpoint.lattice)]
    NoHosts {
        /// Where.
        endpoint: Endpoint,
        /// How long discovery gathered answers.
        window: Duration,
    },
    /// The discovery ping could not be sent.
    #[error("cannot ping the hosts of lattice `{}`", endpoint.lattice)]
    Discover {
        /// Where.
        endpoint: Endpoint,
        /// Why.
        #[source]
        source: lattice_client::DiscoverError,
    },
    /// An operation on one host failed.
    #[error("{what}")]
    Host {
        /// What was attempted, as a sentence.
        what: String,
        /// The host.
        host: HostId,
        /// Where.
        endpoint: Endpoint,
        /// Why.
        #[source]
        failure: Box<HostFailure>,
    },
    /// Some hosts of a multi-host command failed; each error is reported on its own.
    #[error("{} of {total} hosts failed", errors.len())]
    Several {
        /// Every failure.
        errors: Vec<CliError>,
        /// How many hosts the command addressed.
        total: usize,
    },
    /// Writing a schema file failed.
    #[error("cannot write `{}`", path.display())]
    WriteSchema {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The local lattice of `lattice up` could not start.
    #[error("{message}")]
    LocalLattice {
        /// What went wrong.
        message: String,
        /// What to do.
        hint: String,
    },
    /// A rollout command failed, or a rollout ended without succeeding.
    #[error("{message}")]
    Rollout {
        /// What went wrong, as a sentence.
        message: String,
        /// What to do.
        hint: String,
        /// The kind, for the exit code.
        failure: Failure,
        /// The library's error, when one is the cause.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// `lattice invoke` failed: bad arguments, or the call failed.
    #[error("{message}")]
    Invoke {
        /// What went wrong, as a sentence.
        message: String,
        /// What to do.
        hint: String,
        /// The kind, for the exit code.
        failure: Failure,
        /// The invoker's error, when one is the cause.
        #[source]
        source: Option<lattice_host::InvokeCallError>,
    },
    /// `lattice config` failed: bad input, a missing or invalid configuration, or the bucket
    /// cannot be reached.
    #[error("{message}")]
    Config {
        /// What went wrong, as a sentence.
        message: String,
        /// What to do.
        hint: String,
        /// The kind, for the exit code.
        failure: Failure,
        /// The bucket's error, when one is the cause.
        #[source]
        source: Option<Box<lattice_client::ConfigBucketError>>,
    },
    /// The NATS server denied the user a subject the command needed (its `permissions`).
    #[error("{violation} (connected as {who})")]
    PermissionDenied {
        /// What the server refused.
        violation: Box<lattice_client::PermissionViolation>,
        /// Where.
        endpoint: Endpoint,
        /// Who the connection authenticated as, without secrets (`user `alice``).
        who: String,
        /// The failure the denial caused, when the command ended with one first.
        #[source]
        after: Option<Box<CliError>>,
    },
    /// A result could not be printed as JSON or YAML.
    #[error("cannot print the result: {message}")]
    Output {
        /// The serializer's message.
        message: String,
    },
}

/// Why an operation on one host failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HostFailure {
    /// A request (inventory, delete) failed.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// An apply failed before the host acknowledged it, or was rejected.
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// An apply-and-wait did not end with the revision running.
    #[error(transparent)]
    Wait(#[from] WaitError),
    /// The host refused a delete.
    #[error("host `{host}` refused to delete `{component}`: {} ({})", rejection.message, rejection.code)]
    DeleteRejected {
        /// The host.
        host: HostId,
        /// The component.
        component: ComponentId,
        /// The host's rejection.
        rejection: Rejection,
    },
}

impl CliError {
    /// The result of a command addressed to `total` hosts that failed on the hosts of
    /// `errors`: success when there are none, the error itself for a single host.
    pub(crate) fn from_hosts(mut errors: Vec<CliError>, total: usize) -> Result<(), CliError> {
        match errors.len() {
            0 => Ok(()),
            1 if total == 1 => Err(errors.remove(0)),
            _ => Err(CliError::Several { errors, total }),
        }
    }

    /// The kind of failure; for several hosts, that of the first host's error with the
    /// highest exit code.
    pub(crate) fn failure(&self) -> Failure {
        match self {
            Self::ReadSpec { .. }
            | Self::ParseSpec { .. }
            | Self::InvalidSpec { .. }
            | Self::Auth(_) => Failure::Usage,
            Self::Connect { source, .. } => Failure::Connect(source.kind()),
            Self::NoHosts { .. } => Failure::NoHosts,
            Self::Discover { source, .. } => Failure::Discover(source.kind()),
            Self::Host { failure, .. } => failure.failure(),
            Self::Several { errors, .. } => errors
                .iter()
                .map(Self::failure)
                .rev()
                .max_by_key(|failure| exit_code(*failure))
                .unwrap_or(Failure::Failed),
            Self::Rollout { failure, .. }
            | Self::Invoke { failure, .. }
            | Self::Config { failure, .. } => *failure,
            Self::WriteSchema { .. } | Self::LocalLattice { .. } | Self::Output { .. } => {
                Failure::Failed
            }
            Self::PermissionDenied { .. } => Failure::PermissionDenied,
        }
    }

    /// Whether the error is (or, for several hosts, includes) a subject the server denied.
    pub(crate) fn is_permission_denied(&self) -> bool {
        match self {
            Self::Several { errors, .. } => errors.iter().any(Self::is_permission_denied),
            _ => is_denied(self.failure()),
        }
    }

    /// The process exit code for this error.
    pub(crate) fn exit_code(&self) -> u8 {
        exit_code(self.failure())
    }
}

impl HostFailure {
    fn failure(&self) -> Failure {
        match self {
            Self::Request(e) => Failure::Request(e.kind()),
            Self::Apply(e) => Failure::Apply(e.kind()),
            Self::Wait(e) => Failure::Wait(e.kind()),
            Self::DeleteRejected { .. } => Failure::Failed,
        }
    }
}

/// Prints `error` to stderr: `error: …`, each cause not already said, and `hint: …`.
pub(crate) fn report(error: &CliError) {
    if let CliError::Several { errors, .. } = error {
        for inner in errors {
            report(inner);
        }
        eprintln!("error: {error}");
        return;
    }
    let mut said = error.to_string();
    eprintln!("error: {said}");
    let mut cause = error.source();
    while let Some(current) = cause {
        let text = current.to_string();
        if !said.contains(&text) {
            eprintln!("  caused by: {text}");
            said.push_str(&text);
        }
        cause = current.source();
    }
    if let Some(hint) = hints::hint(error) {
        eprintln!("hint: {hint}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint() -> Endpoint {
        Endpoint {
            url: "nats://127.0.0.1:4222".into(),
            lattice: "default".parse().unwrap(),
        }
    }

    #[test]
    fn library_kinds_choose_the_documented_exit_codes() {
        let unreachable = [
            Failure::Request(RequestErrorKind::TimedOut),
            Failure::Apply(ApplyErrorKind::Request(RequestErrorKind::NoResponders)),
            Failure::Wait(WaitErrorKind::Follow(RequestErrorKind::Transport)),
            Failure::Rollout(RolloutErrorKind::Store(StoreErrorKind::TimedOut)),
            Failure::Rollout(RolloutErrorKind::Discover(DiscoverErrorKind::Transport)),
            Failure::Store(StoreErrorKind::JetStream),
            Failure::Config(lattice_client::ConfigBucketErrorKind::Unavailable),
        ];
        for failure in unreachable {
            assert_eq!(exit_code(failure), EXIT_UNREACHABLE, "{failure:?}");
        }
        // A denied subject exits as the refused credentials do, however deep it is.
        for failure in [
            Failure::PermissionDenied,
            Failure::Request(RequestErrorKind::PermissionDenied),
            Failure::Wait(WaitErrorKind::Apply(ApplyErrorKind::Request(
                RequestErrorKind::PermissionDenied,
            ))),
        ] {
            assert_eq!(exit_code(failure), EXIT_UNREACHABLE, "{failure:?}");
            assert!(is_denied(failure), "{failure:?}");
        }
        assert!(!is_denied(Failure::Request(RequestErrorKind::TimedOut)));
        // A rollout already running, or another scheduler's win, is not an outage.
        let failed = [
            Failure::Rollout(RolloutErrorKind::Store(StoreErrorKind::Conflict)),
            Failure::Store(StoreErrorKind::Changed),
            Failure::Rollout(RolloutErrorKind::Nothing),
            Failure::Apply(ApplyErrorKind::Rejected),
            Failure::Wait(WaitErrorKind::Apply(ApplyErrorKind::Request(
                RequestErrorKind::Host,
            ))),
            Failure::Wait(WaitErrorKind::Failed),
            Failure::Invoke(InvokeCallErrorKind::Component),
            Failure::Config(lattice_client::ConfigBucketErrorKind::Missing),
            Failure::Rollout(RolloutErrorKind::Config(
                lattice_client::ConfigBucketErrorKind::Invalid,
            )),
        ];
        for failure in failed {
            assert_eq!(exit_code(failure), EXIT_FAILED, "{failure:?}");
        }
        for failure in [
            Failure::Rollout(RolloutErrorKind::Preflight),
            Failure::Connect(async_nats::ConnectErrorKind::ServerParse),
        ] {
            assert_eq!(exit_code(failure), EXIT_USAGE, "{failure:?}");
        }
    }

    #[test]
    fn exit_codes_follow_the_documented_classes() {
        let unreachable = CliError::Host {
            what: "x".into(),
            host: "h".parse().unwrap(),
            endpoint: endpoint(),
            failure: Box::new(HostFailure::Request(RequestError::NoResponders {
                subject: "s".into(),
            })),
        };
        assert_eq!(unreachable.exit_code(), EXIT_UNREACHABLE);
        let invalid = CliError::InvalidSpec {
            path: "a.yaml".into(),
            problems: vec![("id".into(), "bad".into())],
        };
        assert_eq!(invalid.exit_code(), EXIT_USAGE);
        assert!(invalid.to_string().contains("\n  id: bad"));
        let rejected = CliError::Host {
            what: "x".into(),
            host: "h".parse().unwrap(),
            endpoint: endpoint(),
            failure: Box::new(HostFailure::DeleteRejected {
                host: "h".parse().unwrap(),
                component: "web".parse().unwrap(),
                rejection: Rejection::new(lattice_ctl::RejectionCode::StaleRevision, "old"),
            }),
        };
        assert_eq!(rejected.exit_code(), EXIT_FAILED);
        let several = CliError::Several {
            errors: vec![rejected, unreachable],
            total: 3,
        };
        assert_eq!(several.exit_code(), EXIT_UNREACHABLE);
        assert_eq!(several.to_string(), "2 of 3 hosts failed");
    }
}
