//! A local demo lattice.
//!
//! Starts its own nats-server (JetStream on, free loopback port), two hosts and two
//! providers, applies revision 1 of a component to both hosts, then upgrades it to revision
//! 2 — new code, new configuration, a changed link and a new link — host by host while
//! invocations flow, and prints every status transition, how many invocations each revision
//! served and how many were lost. Finally it tries a revision whose new link the provider
//! refuses, and shows the previous revision still serving.
//!
//! Exits non-zero if any invocation was lost or failed.

use futures::{StreamExt, future::BoxFuture};
use lattice_client::{Client, Discover, StatusEvent};
use lattice_ctl::EventFilter;
use lattice_host::{Host, HostConfig, HostHandle, Invoker, RevisionEchoRuntime};
use lattice_link::{LinkDeleteRequest, LinkErrorKind, LinkPutRequest, LinkRefusal};
use lattice_provider::{LinkHandler, ProviderHandle, ProviderServer};
use lattice_spec::{ComponentSpec, ComponentSpecDraft, HostId, LatticeName, LinkDraft};
use lattice_test_support::NatsServer;
use std::{
    collections::BTreeMap,
    error::Error,
    process::ExitCode,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

type Result<T, E = Box<dyn Error + Send + Sync>> = std::result::Result<T, E>;

const KV: &str = "wasi:keyvalue/store@0.2.0";
const MESSAGING: &str = "wasmcloud:messaging/consumer@0.2.0";

/// A provider that accepts every link except those whose target configuration asks for an
/// address that is "already in use".
struct DemoProvider {
    name: &'static str,
    taken: Option<(&'static str, &'static str)>,
}

impl LinkHandler for DemoProvider {
    fn put_link<'a>(&'a self, link: &'a LinkPutRequest) -> BoxFuture<'a, Result<(), LinkRefusal>> {
        Box::pin(async move {
            if let Some((key, value)) = self.taken
                && link.target_config.get(key).map(String::as_str) == Some(value)
            {
                println!(
                    "  [{}] refusing link from `{}`: {key}={value} is already in use",
                    self.name, link.source_id
                );
                return Err(LinkRefusal {
                    kind: LinkErrorKind::ResourceUnavailable,
                    message: format!("address already in use: {value}"),
                });
            }
            println!(
                "  [{}] link put from `{}` with {:?}",
                self.name, link.source_id, link.target_config
            );
            Ok(())
        })
    }

    fn delete_link<'a>(
        &'a self,
        link: &'a LinkDeleteRequest,
    ) -> BoxFuture<'a, Result<(), LinkRefusal>> {
        Box::pin(async move {
            println!("  [{}] link delete from `{}`", self.name, link.source_id);
            Ok(())
        })
    }
}

fn spec(
    dir: &std::path::Path,
    revision: u64,
    imports: &[&str],
    build: impl FnOnce(ComponentSpecDraft) -> ComponentSpecDraft,
) -> Result<ComponentSpec> {
    let path = dir.join(format!("web-v{revision}.wasm"));
    std::fs::write(
        &path,
        lattice_artifact::testing::component_importing(imports),
    )?;
    let draft =
        ComponentSpecDraft::new("web", format!("file://{}", path.display())).revision(revision);
    Ok(build(draft).validate()?)
}

async fn provider(
    url: &str,
    lattice: &LatticeName,
    id: &str,
    handler: DemoProvider,
) -> Result<ProviderHandle> {
    let nats = async_nats::connect(url).await?;
    Ok(
        ProviderServer::new(nats, lattice.clone(), id.parse()?, Arc::new(handler))
            .serve()
            .await?,
    )
}

async fn host(url: &str, lattice: &LatticeName, id: &str) -> Result<HostHandle> {
    let nats = async_nats::connect(url).await?;
    let config = HostConfig::new(id.parse()?, lattice.clone())
        .label("zone", if id.ends_with('a') { "eu-1" } else { "eu-2" });
    Ok(Host::new(nats, config, Arc::new(RevisionEchoRuntime))
        .start()
        .await?)
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("demo failed: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<bool> {
    println!("== starting a local lattice");
    let server = tokio::task::spawn_blocking(NatsServer::start).await??;
    println!("nats-server (JetStream on) at {}", server.url());
    let lattice: LatticeName = "demo".parse()?;
    let dir = tempfile::tempdir()?;
    let _kv = provider(
        &server.url(),
        &lattice,
        "kv-redis",
        DemoProvider {
            name: "kv-redis",
            taken: None,
        },
    )
    .await?;
    let _messaging = provider(
        &server.url(),
        &lattice,
        "nats-messaging",
        DemoProvider {
            name: "nats-messaging",
            taken: Some(("subject", "payments")),
        },
    )
    .await?;
    let hosts = [
        host(&server.url(), &lattice, "host-a").await?,
        host(&server.url(), &lattice, "host-b").await?,
    ];
    let nats = async_nats::connect(server.url()).await?;
    let client = Client::new(nats.clone(), lattice.clone());
    for summary in client.discover_hosts(Discover::expecting(2)).await? {
        println!(
            "host {} labels {:?} speaks {:?}",
            summary.host_id, summary.labels, summary.api_versions
        );
    }

    let mut events = client.events(&EventFilter::all(&lattice)).await?;
    tokio::spawn(async move {
        while let Some(event) = events.next().await {
            match event {
                Ok(StatusEvent::Component(e)) => println!(
                    "  event #{:<3} {} {}@{}: {} -> {}{}",
                    e.origin.sequence,
                    e.origin.host_id,
                    e.component_id,
                    e.revision,
                    e.previous.map_or("-".to_owned(), |p| p.to_string()),
                    e.status.state,
                    e.status
                        .reason
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                ),
                Ok(StatusEvent::Link(e)) => println!(
                    "  event #{:<3} {} link {}:{} -> {}: {}",
                    e.origin.sequence,
                    e.origin.host_id,
                    e.wit_namespace,
                    e.wit_package,
                    e.target,
                    e.status.state
                ),
                _ => {}
            }
        }
    });

    let v1 = spec(dir.path(), 1, &[KV], |d| {
        d.config_value("greeting", "hello").link(
            LinkDraft::new("kv-redis", "wasi", "keyvalue", ["store"])
                .target_config_value("url", "redis://cache-1:6379"),
        )
    })?;
    let v2 = spec(dir.path(), 2, &[KV, MESSAGING], |d| {
        d.config_value("greeting", "bonjour")
            .link(
                LinkDraft::new("kv-redis", "wasi", "keyvalue", ["store"])
                    .target_config_value("url", "redis://cache-2:6379"),
            )
            .link(
                LinkDraft::new("nats-messaging", "wasmcloud", "messaging", ["consumer"])
                    .target_config_value("subject", "orders"),
            )
    })?;
    let v3 = spec(dir.path(), 3, &[KV, MESSAGING], |d| {
        d.config_value("greeting", "hallo")
            .link(
                LinkDraft::new("kv-redis", "wasi", "keyvalue", ["store"])
                    .target_config_value("url", "redis://cache-2:6379"),
            )
            .link(
                LinkDraft::new("nats-messaging", "wasmcloud", "messaging", ["consumer"])
                    .target_config_value("subject", "payments"),
            )
    })?;
    let host_ids: Vec<HostId> = hosts.iter().map(|h| h.host_id().clone()).collect();

    println!("\n== revision 1 on both hosts");
    for host_id in &host_ids {
        let report = client
            .apply_and_wait(host_id, &v1, Duration::from_secs(10))
            .await?;
        println!(
            "{host_id}: {} in {:?} via {:?}",
            report.status.state, report.elapsed, report.transitions
        );
    }

    println!(
        "\n== revision 2 (new code, greeting, kv url, new messaging link), host by host, under load"
    );
    let stop = Arc::new(AtomicBool::new(false));
    let mut callers = Vec::new();
    for caller in 0..4 {
        let invoker = Invoker::new(nats.clone(), &lattice, v1.id()).await?;
        let stop = stop.clone();
        callers.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                answers.push(
                    invoker
                        .call(format!("call from caller {caller}"))
                        .await
                        .map_err(|e| e.to_string()),
                );
            }
            answers
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_millis(300)).await; // load generator: traffic before the upgrade
    for host_id in &host_ids {
        let report = client
            .apply_and_wait(host_id, &v2, Duration::from_secs(10))
            .await?;
        println!(
            "{host_id}: {} in {:?} via {:?}",
            report.status.state, report.elapsed, report.transitions
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await; // load generator: traffic after the upgrade
    stop.store(true, Ordering::Relaxed);

    let mut by_revision: BTreeMap<String, u64> = BTreeMap::new();
    let (mut total, mut failed) = (0u64, 0u64);
    for caller in callers {
        for answer in caller.await? {
            total += 1;
            match answer {
                Ok(text) => {
                    let revision = text
                        .split_once('@')
                        .and_then(|(_, r)| r.split(':').next())
                        .unwrap_or("?")
                        .to_owned();
                    *by_revision.entry(revision).or_default() += 1;
                }
                Err(error) => {
                    failed += 1;
                    eprintln!("  invocation failed: {error}");
                }
            }
        }
    }
    let elapsed = started.elapsed();
    println!("\n== invocations during the upgrade");
    println!(
        "sent {total} in {elapsed:.2?} ({:.0}/s)",
        total as f64 / elapsed.as_secs_f64()
    );
    for (revision, count) in &by_revision {
        println!("  revision {revision} served {count}");
    }
    let answered: u64 = by_revision.values().sum();
    println!("  lost: {}", total - answered - failed);
    println!("  failed: {failed}");
    for host in &hosts {
        println!(
            "  {} paused invocations for {:?}",
            host.host_id(),
            host.last_pause_window(v1.id()).unwrap_or_default()
        );
    }

    println!("\n== revision 3: the messaging provider refuses the new subject");
    match client
        .apply_and_wait(&host_ids[0], &v3, Duration::from_secs(10))
        .await
    {
        Ok(report) => println!("unexpectedly {}", report.status.state),
        Err(error) => println!("{error}"),
    }
    let answer = Invoker::new(nats.clone(), &lattice, v1.id())
        .await?
        .call("who is serving?")
        .await?;
    println!("still serving: {answer}");
    println!(
        "\nThe lattice shuts down with the demo; nothing was written outside a temporary directory."
    );
    Ok(failed == 0 && answered == total)
}
