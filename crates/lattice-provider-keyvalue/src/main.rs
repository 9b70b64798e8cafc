//! `lattice-provider-keyvalue`: runs the in-memory key-value provider against a NATS server
//! until interrupted. Prints `ready` on stdout once its link and wRPC subscriptions are live.

use clap::Parser;

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
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let nats = async_nats::connect(&args.nats_url).await?;
    let running = lattice_provider_keyvalue::start(nats, &args.lattice, &args.provider_id).await?;
    println!("ready");
    tokio::signal::ctrl_c().await?;
    running.shutdown().await;
    Ok(())
}
