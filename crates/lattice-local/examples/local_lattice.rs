//! Starts a local lattice — its own nats-server, two hosts and an accept-all `kv` provider —
//! lists the hosts as a client sees them, and stops it again.
//!
//! `cargo run -p lattice-local --example local_lattice` (nats-server 2.10 or newer on `PATH`).

use lattice_client::Discover;
use lattice_local::{AcceptAll, LocalLattice};
use std::{error::Error, sync::Arc};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error + Send + Sync>> {
    let lattice = LocalLattice::builder()
        .hosts(2)
        .provider("kv".parse()?, Arc::new(AcceptAll::new()))
        .start()
        .await?;
    println!(
        "nats-server at {} (lattice `{}`)",
        lattice.url(),
        lattice.lattice()
    );
    for host in lattice
        .client()
        .discover_hosts(Discover::expecting(2))
        .await?
    {
        println!("host {} speaks {:?}", host.host_id, host.api_versions);
    }
    lattice.shutdown(std::time::Duration::from_secs(5)).await;
    Ok(())
}
