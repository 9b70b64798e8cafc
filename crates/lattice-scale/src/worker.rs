//! A worker process: `count` real hosts (wasmtime runtime, one engine shared by the process's
//! hosts, each host its own NATS connection), named `host-{first}` onwards. It prints
//! `baseline` (its RSS before any host) and `ready` (once every host started) on stdout, and
//! stops its hosts when stdin closes.

use lattice_host::{Host, HostConfig, HostHandle};
use lattice_runtime_wasmtime::WasmtimeRuntime;
use lattice_spec::LatticeName;
use std::{error::Error, io::BufRead as _, sync::Arc, time::Instant};

/// How many hosts a worker starts at once.
const START_CONCURRENCY: usize = 32;

/// Runs the worker until stdin closes.
pub(crate) async fn run(
    urls: String,
    lattice: LatticeName,
    first: usize,
    count: usize,
) -> Result<(), Box<dyn Error + Send + Sync>> {
    use futures::StreamExt as _;

    let template_nats = async_nats::ConnectOptions::new()
        .name("lattice-scale worker")
        .connect(urls.split(',').collect::<Vec<_>>())
        .await?;
    let template = WasmtimeRuntime::new(template_nats, &lattice)?;
    println!("baseline {}", crate::measure::rss_kib(std::process::id()));

    let started = Instant::now();
    let hosts: Vec<HostHandle> = futures::stream::iter(first..first + count)
        .map(|n| {
            let (urls, lattice, template) = (urls.clone(), lattice.clone(), template.clone());
            async move {
                let id = format!("host-{n:05}").parse()?;
                let nats = async_nats::ConnectOptions::new()
                    .name(format!("lattice-scale host-{n:05}"))
                    .connect(urls.split(',').collect::<Vec<_>>())
                    .await?;
                let runtime = template.for_host(nats.clone(), &lattice);
                let host = Host::new(nats, HostConfig::new(id, lattice), Arc::new(runtime))
                    .start()
                    .await?;
                Ok::<_, Box<dyn Error + Send + Sync>>(host)
            }
        })
        .buffer_unordered(START_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    println!("ready {}", started.elapsed().as_millis());

    // Answers `compilations` until stdin closes.
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    while let Some(line) = lines.recv().await {
        if line.trim() == "compilations" {
            println!("compilations {}", template.compilations());
        }
    }
    // The coordinator is done: stop the hosts without waiting for graceful drains.
    drop(hosts);
    Ok(())
}
