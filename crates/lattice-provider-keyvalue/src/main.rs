//! `lattice-provider-keyvalue`: runs the in-memory key-value provider against a NATS server
//! until interrupted. Prints `ready` on stdout once its link and wRPC subscriptions are live.
//! Takes the NATS authentication and TLS options of the `lattice` CLI
//! ([`lattice_client::auth::NatsAuth`]).
//!
//! **Started by a host.** With `--host-data`, or with **no arguments at all while stdin is not
//! a terminal** — exactly how a lattice host or a wasmCloud 1.x host starts a provider (no
//! arguments, cleared environment, host data on stdin) — it reads its lattice, id, NATS URL
//! and credentials, host id and instance xkey from the host data
//! ([`lattice_provider::host_data`]) instead of from arguments, and also stops when its host
//! sends the shutdown request (`wasmbus.rpc.{lattice}.{id}.default.shutdown`).

use anyhow::Context as _;
use clap::Parser;
use lattice_client::auth::NatsAuth;

/// An in-memory wasi:keyvalue provider for a lattice.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The NATS server.
    #[arg(
        long,
        env = "LATTICE_NATS_URL",
        default_value = "nats://127.0.0.1:4222"
    )]
    nats_url: String,
    /// The lattice.
    #[arg(long, env = "LATTICE_LATTICE", default_value = "default")]
    lattice: lattice_spec::LatticeName,
    /// The provider's id: links name it as their target.
    #[arg(long, default_value = "keyvalue")]
    provider_id: lattice_spec::ProviderId,
    #[command(flatten)]
    auth: NatsAuth,
    /// Read the host data a host writes on stdin (as wasmCloud 1.x hosts start providers)
    /// instead of taking the lattice, id and NATS settings from arguments. Implied when the
    /// process gets no arguments and stdin is not a terminal.
    #[arg(long, conflicts_with_all = ["nats_url", "lattice", "provider_id"])]
    host_data: bool,
}

/// Whether to start from host data: asked for, or started as hosts start providers.
fn started_by_host(host_data_flag: bool) -> bool {
    use std::io::IsTerminal as _;
    host_data_flag || (std::env::args_os().len() == 1 && !std::io::stdin().is_terminal())
}

async fn run_from_host_data() -> anyhow::Result<()> {
    let data = lattice_provider::host_data::read_host_data().await?;
    let nats = lattice_provider::host_data::connect(
        &data,
        &format!("lattice-provider-keyvalue {}", data.provider_key),
    )
    .await?;
    let mut shutdown =
        lattice_provider::host_data::ShutdownListener::subscribe(nats.clone(), &data).await?;
    let running = lattice_provider_keyvalue::start_from_host_data(nats.clone(), &data).await?;
    println!("ready");
    tokio::select! {
        () = shutdown.requested() => tracing::info!("shutdown requested by the host"),
        result = tokio::signal::ctrl_c() => result?,
        () = terminated() => tracing::info!("terminated"),
    }
    let cut_off = running.shutdown().await;
    if cut_off > 0 {
        tracing::warn!(cut_off, "invocations were cut off by the drain bound");
    }
    nats.flush().await?;
    Ok(())
}

#[cfg(unix)]
async fn terminated() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut signal) => {
            signal.recv().await;
        }
        Err(_) => std::future::pending().await,
    }
}

#[cfg(not(unix))]
async fn terminated() {
    std::future::pending().await
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    if started_by_host(args.host_data) {
        return run_from_host_data().await;
    }
    let (options, _) = args.auth.connect_options()?;
    let nats = options
        .name(format!("lattice-provider-keyvalue {}", args.provider_id))
        .connect(&args.nats_url)
        .await
        .with_context(|| format!("cannot connect to NATS at {}", args.nats_url))?;
    let running = lattice_provider_keyvalue::start(nats, &args.lattice, &args.provider_id).await?;
    println!("ready");
    tokio::signal::ctrl_c().await?;
    running.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(argv: &[&str]) -> Args {
        Args::try_parse_from([&["lattice-provider-keyvalue"], argv].concat()).unwrap()
    }

    #[test]
    fn the_cli_authentication_options_conflict_and_secrets_stay_hidden() {
        let both = args(&["--token", "tok-123", "--user", "u", "--password", "pw-456"]);
        let error = both.auth.connect_options().unwrap_err().to_string();
        assert!(error.contains("cannot be used together"), "{error}");
        let debug = format!("{both:?}");
        assert!(
            !debug.contains("tok-123") && !debug.contains("pw-456"),
            "{debug}"
        );
        assert!(
            args(&["--tls-cert", "c.pem"])
                .auth
                .connect_options()
                .is_err()
        );
        let missing = args(&["--creds", "/nonexistent/user.creds"]);
        let error = missing.auth.connect_options().unwrap_err().to_string();
        assert!(error.contains("/nonexistent/user.creds"), "{error}");
    }
}
