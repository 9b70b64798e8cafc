//! `lattice-provider-keyvalue`: runs the in-memory key-value provider against a NATS server
//! until interrupted. Prints `ready` on stdout once its link and wRPC subscriptions are live.

use clap::Parser;
use futures::StreamExt as _;
use lattice_host::wrpc_transport_nats;
use lattice_provider::ProviderServer;
use lattice_provider_keyvalue::KeyValueProvider;
use std::sync::Arc;

/// An in-memory wasi:keyvalue provider for a lattice.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The NATS server.
    #[arg(long, env = "LATTICE_NATS_URL", default_value = "nats://127.0.0.1:4222")]
    nats_url: String,
    /// The lattice.
    #[arg(long, env = "LATTICE_NAME", default_value = "default")]
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
    let provider = KeyValueProvider::new();

    let links = ProviderServer::new(
        nats.clone(),
        args.lattice.clone(),
        args.provider_id.clone(),
        Arc::new(provider.clone()),
    )
    .serve()
    .await?;

    // Every provider instance joins one queue group, so each call reaches one of them.
    let wrpc = wrpc_transport_nats::Client::new(
        nats.clone(),
        lattice_host::wrpc::prefix(&args.lattice, args.provider_id.as_str()),
        Some(args.provider_id.as_str().into()),
    )
    .await?;
    let exports = lattice_provider_keyvalue::serve(&wrpc, provider).await?;
    let mut invocations = futures::stream::select_all(exports.into_iter().map(
        |(instance, name, stream)| stream.map(move |invocation| (instance, name, invocation)),
    ));
    // The subscriptions are live once the server echoes a probe sent after them.
    let inbox = nats.new_inbox();
    let mut probe = nats.subscribe(inbox.clone()).await?;
    nats.publish(inbox, bytes::Bytes::new()).await?;
    probe.next().await;
    println!("ready");

    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            invocation = invocations.next() => match invocation {
                Some((_, _, Ok(call))) => {
                    tokio::spawn(async move {
                        if let Err(error) = call.await {
                            tracing::warn!(error = %format!("{error:#}"), "an invocation failed");
                        }
                    });
                }
                Some((instance, name, Err(error))) => {
                    tracing::warn!(instance, name, error = %format!("{error:#}"), "cannot accept an invocation");
                }
                None => break,
            },
        }
    }
    links.shutdown().await;
    Ok(())
}
