//! How long `Discover::live` takes over N real host kits (echo runtime) on a local
//! nats-server: `cargo run --release -p lattice-host --example discovery_timing -- 100 10000`.
//!
//! Each count starts its own nats-server and lattice, creates the host directory, starts
//! the hosts (spread over 64 NATS connections), waits until the directory lists every one,
//! then times ten discoveries and prints min / median / max, the hosts found and the hosts
//! the directory listed. Not a test: numbers depend on the machine.

use lattice_client::{Client, Discover};
use lattice_host::{Host, HostConfig, RevisionEchoRuntime};
use std::{sync::Arc, time::Duration};
use tokio::time::Instant;

const CONNECTIONS: usize = 64;
const RUNS: usize = 10;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let counts: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let counts = if counts.is_empty() { vec![100] } else { counts };
    for n in counts {
        measure(n).await?;
    }
    Ok(())
}

async fn measure(n: usize) -> Result<(), Box<dyn std::error::Error>> {
    let server = tokio::task::spawn_blocking(lattice_local::NatsServer::start).await??;
    let lattice: lattice_spec::LatticeName = "timing".parse()?;
    let client = Client::new(async_nats::connect(server.url()).await?, lattice.clone());
    client.host_directory().await?;
    let mut connections = Vec::new();
    for _ in 0..CONNECTIONS.min(n) {
        connections.push(async_nats::connect(server.url()).await?);
    }
    let started = Instant::now();
    let mut hosts = Vec::with_capacity(n);
    for i in 0..n {
        let config = HostConfig::new(format!("host-{i:05}").parse()?, lattice.clone());
        let nats = connections[i % connections.len()].clone();
        hosts.push(
            Host::new(nats, config, Arc::new(RevisionEchoRuntime))
                .start()
                .await?,
        );
    }
    eprintln!("{n} hosts started in {:?}", started.elapsed());
    loop {
        let listed = client.host_directory().await?;
        if listed.iter().filter(|h| h.is_expected()).count() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut times = Vec::new();
    let mut found = 0;
    let mut listed = None;
    for _ in 0..RUNS {
        let at = Instant::now();
        let discovery = client
            .discover(Discover::live().window(Duration::from_secs(10)))
            .await?;
        times.push(at.elapsed());
        found = discovery.hosts.len();
        listed = discovery.directory;
        assert!(
            discovery.unanswered.is_empty(),
            "{:?}",
            discovery.unanswered
        );
    }
    times.sort();
    let mut floor = Vec::new();
    for _ in 0..RUNS {
        let at = Instant::now();
        let hosts = client
            .discover_hosts(Discover::expecting(n).window(Duration::from_secs(10)))
            .await?;
        floor.push(at.elapsed());
        assert_eq!(hosts.len(), n);
    }
    floor.sort();
    println!(
        "{n} hosts: Discover::expecting({n}) (no directory, no quiet period: the gather floor) median {:?}",
        floor[RUNS / 2]
    );
    let at = Instant::now();
    let directory = client.host_directory().await?.len();
    let directory_read = at.elapsed();
    println!(
        "{n} hosts: Discover::live min {:?} median {:?} max {:?} over {RUNS} runs; found {found}, directory listed {listed:?}; directory read alone ({directory} entries) {directory_read:?}",
        times[0],
        times[RUNS / 2],
        times[RUNS - 1],
    );
    drop(hosts);
    Ok(())
}
