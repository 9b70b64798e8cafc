//! The command tree, the global options, and the connection they describe.
//!
//! Each command group lives in its own module and contributes one variant to [`Command`];
//! [`Cli::run`] dispatches to that module's `run` with the [`Globals`].

use crate::{
    apply, config, delete, duration,
    error::{CliError, Endpoint},
    get, host, invoke,
    nats_auth::{self, NatsAuth},
    rollout, schema, up,
};
use clap::{Args, Parser, Subcommand};
use lattice_client::{Client, PermissionWatch};
use lattice_spec::LatticeName;
use std::time::Duration;

/// The long help of `lattice --help`.
const LONG_ABOUT: &str = "\
Control plane for a wasmCloud-style WebAssembly lattice over NATS: run a local lattice, \
apply component specs to hosts and follow them to `running`, read hosts and inventories, \
and export the JSON Schemas of the wire contract.

Quick start:
  lattice up                                     # terminal 1: nats-server, two hosts
  export LATTICE_NATS_URL=nats://127.0.0.1:PORT  # terminal 2: the URL `lattice up` printed
  lattice get hosts
  lattice apply -f web.yaml --host host-1 --wait
  lattice get inventory

Exit codes:
  0  success
  1  the operation failed (an apply was rejected or its revision failed, a host refused)
  2  usage error or invalid input (bad options, an invalid spec document)
  3  NATS or the hosts cannot be reached (connection refused, no responders, timeout, the
     server refused the credentials or denied this user a subject)

A secured NATS server: one of --creds FILE, --nkey FILE|SEED, --token TOKEN or --user USER
--password PASSWORD, and --tls-ca FILE (--tls-cert FILE --tls-key FILE for client
certificates); each also from LATTICE_NATS_CREDS, _NKEY, _TOKEN, _USER, _PASSWORD, _TLS_CA,
_TLS_CERT, _TLS_KEY. A server isolating lattices may also want --inbox-prefix
(LATTICE_NATS_INBOX_PREFIX), e.g. `_INBOX_prod`. `lattice up` runs its own server and does not use them.";

/// The `lattice` command.
#[derive(Debug, Parser)]
#[command(name = "lattice", version, about, long_about = LONG_ABOUT)]
pub(crate) struct Cli {
    /// Options every command understands.
    #[command(flatten)]
    pub(crate) globals: Globals,
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Options every command understands.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Global options")]
pub(crate) struct Globals {
    /// The NATS server of the lattice.
    #[arg(
        long,
        global = true,
        env = "LATTICE_NATS_URL",
        default_value = "nats://127.0.0.1:4222",
        value_name = "URL"
    )]
    pub(crate) nats_url: String,
    /// The lattice to address.
    #[arg(
        long,
        global = true,
        env = "LATTICE_LATTICE",
        default_value = "default",
        value_name = "NAME"
    )]
    pub(crate) lattice: LatticeName,
    /// How long a request waits for its reply, and how long discovery gathers answers
    /// (`500ms`, `2s`, `1m`).
    #[arg(long, global = true, default_value = "2s", value_name = "DURATION", value_parser = duration::parse)]
    pub(crate) timeout: Duration,
    /// How to authenticate to the NATS server and secure the connection.
    #[command(flatten)]
    pub(crate) auth: NatsAuth,
    /// What the server denied on the connections made through [`Globals::connect`].
    #[arg(skip)]
    pub(crate) permissions: PermissionWatch,
}

/// The command groups.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run a local lattice in the foreground: a nats-server (JetStream on) and N hosts.
    #[command(long_about = up::LONG_ABOUT)]
    Up(up::UpArgs),
    /// Run one host (wasmtime runtime) against an existing NATS server until Ctrl-C.
    #[command(long_about = host::LONG_ABOUT)]
    Host(host::HostArgs),
    /// Call an exported function of a component over wRPC and print the answer.
    #[command(long_about = invoke::LONG_ABOUT)]
    Invoke(invoke::InvokeArgs),
    /// Read the lattice: hosts, inventories.
    #[command(subcommand)]
    Get(get::GetCommand),
    /// Apply a component spec (YAML or JSON) to one or more hosts.
    #[command(long_about = apply::LONG_ABOUT)]
    Apply(apply::ApplyArgs),
    /// Delete a component from one or more hosts.
    Delete(delete::DeleteArgs),
    /// Roll applications out and back: plan, status, history, undo, pause, resume, abort,
    /// promote.
    #[command(subcommand)]
    Rollout(rollout::RolloutCommand),
    /// The JSON Schemas of every message of the wire contract.
    #[command(subcommand)]
    Schema(schema::SchemaCommand),
    /// Named configurations: put, get, delete, list (rolled out by the next rollout).
    #[command(subcommand, long_about = config::LONG_ABOUT)]
    Config(config::ConfigCommand),
}

impl Cli {
    /// Runs the chosen command.
    pub(crate) async fn run(self) -> Result<(), CliError> {
        let globals = self.globals;
        // Conflicting authentication options are usage errors before anything else happens;
        // `up` (its own server) and `schema` (no server) do not connect to the user's server.
        if !matches!(self.command, Command::Up(_) | Command::Schema(_)) {
            globals.auth.check()?;
        }
        // A host serves on (its violations are logged); every other command stops at the
        // first subject the server denies, instead of waiting out a timeout.
        let stop_when_denied = !matches!(
            self.command,
            Command::Up(_) | Command::Schema(_) | Command::Host(_)
        );
        let is_host = matches!(self.command, Command::Host(_));
        let run = async {
            match self.command {
                Command::Up(args) => up::run(&globals, args).await,
                Command::Host(args) => host::run(&globals, args).await,
                Command::Invoke(args) => invoke::run(&globals, args).await,
                Command::Get(command) => get::run(&globals, command).await,
                Command::Apply(args) => apply::run(&globals, args).await,
                Command::Delete(args) => delete::run(&globals, args).await,
                Command::Rollout(command) => rollout::run(&globals, command).await,
                Command::Schema(command) => schema::run(command),
                Command::Config(command) => config::run(&globals, command).await,
            }
        };
        if is_host {
            // A host keeps serving what it may; each denial is said on stderr.
            let watch = globals.permissions.clone();
            let lattice = globals.lattice.clone();
            let report = async move {
                for mark in 0.. {
                    let violation = watch.next_violation(mark).await;
                    eprintln!(
                        "warning: {violation}\nhint: {}",
                        nats_auth::denied_hint(&violation, &lattice)
                    );
                }
            };
            return tokio::select! {
                result = run => result,
                () = report => Ok(()),
            };
        }
        if !stop_when_denied {
            return run.await;
        }
        let watch = globals.permissions.clone();
        let denied = |violation, after| CliError::PermissionDenied {
            violation: Box::new(violation),
            endpoint: globals.endpoint(),
            who: nats_auth::who(&globals.auth),
            after,
        };
        tokio::select! {
            result = run => match result {
                // A failure that followed a denial (a timeout, nothing found) is reported as
                // the denial it came from.
                Err(error) if !error.is_permission_denied() => match watch.find(0, |_| true) {
                    Some(violation) => Err(denied(violation, Some(Box::new(error)))),
                    None => Err(error),
                },
                other => other,
            },
            violation = watch.next_violation(0) => Err(denied(violation, None)),
        }
    }
}

impl Globals {
    /// Where the globals point, for error hints.
    pub(crate) fn endpoint(&self) -> Endpoint {
        Endpoint {
            url: self.nats_url.clone(),
            lattice: self.lattice.clone(),
        }
    }

    /// Connects to the user's NATS server under the connection name `name`, authenticated
    /// and secured as the global options say. Every connection the CLI makes to that server
    /// goes through here.
    pub(crate) async fn connect(&self, name: &str) -> Result<async_nats::Client, CliError> {
        let (options, auth) = self.auth.connect_options()?;
        self.permissions
            .install(options)
            .name(name)
            .connection_timeout(self.timeout)
            .connect(self.nats_url.as_str())
            .await
            .map_err(|source| CliError::Connect {
                url: self.nats_url.clone(),
                auth,
                source,
            })
    }

    /// Connects to NATS and returns a client for the lattice, with the request timeout set
    /// and the 1.x fallback on (the CLI drives mixed lattices).
    pub(crate) async fn client(&self) -> Result<Client, CliError> {
        let nats = self.connect("lattice-cli").await?;
        Ok(Client::new(nats, self.lattice.clone())
            .with_timeout(self.timeout)
            .with_v1_fallback(true)
            .with_permission_watch(self.permissions.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_tree_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_options_parse_anywhere() {
        let cli = Cli::try_parse_from([
            "lattice",
            "get",
            "hosts",
            "--timeout",
            "250ms",
            "--lattice",
            "prod",
            "-o",
            "json",
        ])
        .unwrap();
        assert_eq!(cli.globals.timeout, Duration::from_millis(250));
        assert_eq!(cli.globals.lattice.as_str(), "prod");
    }

    #[test]
    fn authentication_options_are_global_and_redacted() {
        let cli = Cli::try_parse_from([
            "lattice",
            "get",
            "hosts",
            "--user",
            "alice",
            "--password",
            "hunter2",
            "--tls-ca",
            "ca.pem",
        ])
        .unwrap();
        assert_eq!(cli.globals.auth.user.as_deref(), Some("alice"));
        assert!(cli.globals.auth.check().is_ok());
        let debug = format!("{cli:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("alice"), "{debug}");
    }

    #[test]
    fn an_empty_secret_is_refused_by_clap() {
        let error = Cli::try_parse_from(["lattice", "--token", "", "get", "hosts"]).unwrap_err();
        assert_eq!(error.exit_code(), 2);
    }

    #[test]
    fn invalid_host_ids_are_usage_errors() {
        let error =
            Cli::try_parse_from(["lattice", "delete", "web", "--host", "bad.host"]).unwrap_err();
        assert_eq!(error.exit_code(), 2);
    }
}
