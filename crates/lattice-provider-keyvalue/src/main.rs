//! `lattice-provider-keyvalue`: runs the in-memory key-value provider against a NATS server
//! until interrupted. Prints `ready` on stdout once its link and wRPC subscriptions are live.
//! Takes the NATS authentication and TLS options of the `lattice` CLI
//! ([`lattice_client::auth::NatsAuth`]).

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
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
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
