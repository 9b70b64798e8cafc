//! `lattice apply -f SPEC --host H … [--wait] [-v]`: apply a component spec to hosts, and with
//! `--wait` follow each host to `running` or `failed`, printing every state on its way (for
//! several hosts only with `-v`; without it, one summary line).

use crate::{
    cli::Globals,
    duration,
    error::{CliError, HostFailure},
    spec_file,
};
use clap::Args;
use futures::StreamExt;
use lattice_client::{Applied, Client, StatusEvent, WaitReport};
use lattice_ctl::{ApplyComponentSpecAck, ApplyOutcome, EventFilter};
use lattice_spec::{ComponentSpec, HostId};
use lattice_status::StatusReason;
use std::{path::PathBuf, time::Duration};
use tokio::{task::JoinHandle, time::Instant};

/// The long help of `lattice apply --help`.
pub(crate) const LONG_ABOUT: &str = "\
Apply a component spec to one or more hosts.

The spec document is YAML (.yaml, .yml, or `-f -` for stdin) or JSON (.json) with the fields \
of the ComponentSpec schema (`lattice schema export`, v2alpha1/component-spec.json): id, \
revision, artifact, scale, and optionally digest, config, secrets (references only), links \
and annotations. It is validated before anything is sent: every problem is listed by field \
path and the command exits with 2.

Without --wait, prints each host's acknowledgement: accepted (the revision is pending and the \
host works on it), unchanged (the host already has exactly this spec), or rejected with its \
code (exit 1). Against a wasmCloud 1.x host the spec is applied with 1.x operations, and what \
1.x cannot honour is listed.

With --wait, follows every host until the new revision is running, printing each state as it \
happens. A revision that fails leaves the previous one serving; the host's reason and what to \
do next are printed and the command exits with 1.

Relative file artifacts (`./web.wasm`) are read by the host, from its working directory.

Example spec:
  id: web
  revision: 2
  artifact: file:///srv/web-2.wasm
  scale: 1
  links:
    - target: kv-redis
      wit_namespace: wasi
      wit_package: keyvalue
      interfaces: [store]";

/// Options of `lattice apply`.
#[derive(Debug, Args)]
pub(crate) struct ApplyArgs {
    /// The spec document: YAML (.yaml/.yml) or JSON (.json); `-` reads YAML from stdin.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: PathBuf,
    /// The host to apply a component spec to; repeat for several hosts (applied
    /// concurrently). Without `--host`, the file is an application manifest and is rolled out
    /// by the scheduler (see `lattice rollout --help`).
    #[arg(long = "host", value_name = "HOST")]
    hosts: Vec<HostId>,
    /// Follow each host until the new revision is running or failed.
    #[arg(long)]
    wait: bool,
    /// With --wait: how long each host may take to reach `running`.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = duration::parse, requires = "wait")]
    deadline: Duration,
    /// One line per host: every state each host goes through (with --wait on several hosts),
    /// or each host's progress in a rollout (a manifest). Without it, several hosts are
    /// summed up.
    #[arg(short = 'v', long)]
    verbose: bool,
}

/// Validates the spec, then applies it to every host concurrently.
pub(crate) async fn run(globals: &Globals, args: ApplyArgs) -> Result<(), CliError> {
    if args.hosts.is_empty() {
        return crate::rollout::apply_manifest(globals, &args.file, args.verbose).await;
    }
    let loaded = spec_file::load(&args.file)?;
    for warning in &loaded.warnings {
        eprintln!("warning: {warning}");
    }
    let spec = loaded.spec;
    let client = globals.client().await?;
    let started = Instant::now();
    let (client, spec) = (&client, &spec);
    // One host, or -v: every host's states as they happen. Several hosts: one summary line.
    let per_host = args.verbose || args.hosts.len() == 1;
    let results = futures::future::join_all(args.hosts.iter().map(|host| async move {
        let outcome = if args.wait {
            apply_and_wait(client, host, spec, args.deadline, started, per_host).await
        } else {
            apply(client, host, spec).await
        };
        outcome.map_err(|failure| CliError::Host {
            what: format!(
                "apply of revision {} of `{}` to host `{host}` failed",
                spec.revision(),
                spec.id()
            ),
            host: host.clone(),
            endpoint: globals.endpoint(),
            failure: Box::new(failure),
        })
    }))
    .await;
    let errors: Vec<CliError> = results.into_iter().filter_map(Result::err).collect();
    if args.wait && !per_host {
        println!(
            "{} revision {} of `{}` is running on {} of {} hosts{}",
            stamp(started),
            spec.revision(),
            spec.id(),
            args.hosts.len() - errors.len(),
            args.hosts.len(),
            if errors.is_empty() {
                String::new()
            } else {
                format!("; {} failed (below)", errors.len())
            }
        );
    }
    CliError::from_hosts(errors, args.hosts.len())
}

/// Applies and prints the host's acknowledgement.
async fn apply(client: &Client, host: &HostId, spec: &ComponentSpec) -> Result<(), HostFailure> {
    match client.apply(host, spec).await? {
        Applied::V2Alpha1(ack) => print_ack(host, spec, &ack),
        Applied::V1Fallback { lost } => print_fallback(host, &lost),
        _ => println!("{host}: applied (by a route this CLI does not know)"),
    }
    Ok(())
}

fn print_ack(host: &HostId, spec: &ComponentSpec, ack: &ApplyComponentSpecAck) {
    let (id, revision) = (spec.id(), spec.revision());
    match &ack.outcome {
        ApplyOutcome::Accepted => println!(
            "{host}: accepted revision {revision} of `{id}`; it is pending — follow it with \
             `lattice get inventory --host {host}`, or apply with --wait"
        ),
        ApplyOutcome::Unchanged => println!(
            "{host}: unchanged: revision {revision} of `{id}` is already applied; nothing was \
             restarted"
        ),
        _ => println!(
            "{host}: the host answered with an outcome this CLI does not know; `lattice get \
             inventory --host {host}` shows what it did"
        ),
    }
}

fn print_fallback(host: &HostId, lost: &[&str]) {
    println!(
        "{host}: speaks only the wasmCloud 1.x control interface: applied with 1.x operations \
         (config puts, link puts, scale); 1.x has no link replies, no status events and no \
         rollback"
    );
    if lost.is_empty() {
        println!("{host}: nothing of the spec was lost in the fallback");
    }
    for item in lost {
        println!("{host}: lost in the fallback: {item}");
    }
}

/// Applies, prints every state as it happens, and the outcome.
async fn apply_and_wait(
    client: &Client,
    host: &HostId,
    spec: &ComponentSpec,
    deadline: Duration,
    started: Instant,
    per_host: bool,
) -> Result<(), HostFailure> {
    // Subscribed before the apply is sent on the same connection, so no event is missed.
    let progress = if per_host {
        watch(client, host, spec, started).await
    } else {
        None
    };
    let result = client.apply_and_wait(host, spec, deadline).await;
    if let Some(progress) = progress {
        progress.abort();
    }
    let report = result?;
    if per_host {
        print_report(host, spec, &report, started);
    }
    Ok(())
}

fn print_report(host: &HostId, spec: &ComponentSpec, report: &WaitReport, started: Instant) {
    match &report.applied {
        Applied::V1Fallback { lost } => print_fallback(host, lost),
        applied if applied.is_unchanged() => println!(
            "{host}: unchanged: revision {} of `{}` was already applied; nothing was restarted",
            spec.revision(),
            spec.id()
        ),
        _ => {}
    }
    let path = report
        .transitions
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" → ");
    println!(
        "{} {host}: revision {} of `{}` is {} after {} ({path})",
        stamp(started),
        spec.revision(),
        spec.id(),
        report.status.state,
        duration::human(report.elapsed),
    );
}

/// Prints every status event of the component on `host` until aborted.
async fn watch(
    client: &Client,
    host: &HostId,
    spec: &ComponentSpec,
    started: Instant,
) -> Option<JoinHandle<()>> {
    let filter = EventFilter::component(client.lattice(), spec.id()).on_host(host);
    let mut events = match client.events(&filter).await {
        Ok(events) => events,
        Err(e) => {
            eprintln!("warning: no live progress for host `{host}`: {e}");
            return None;
        }
    };
    let (host, id) = (host.clone(), spec.id().clone());
    Some(tokio::spawn(async move {
        while let Some(event) = events.next().await {
            let (revision, line) = match event {
                Ok(StatusEvent::Component(e)) => (
                    e.revision,
                    format!("{}{}", e.status.state, because(e.status.reason.as_ref())),
                ),
                Ok(StatusEvent::Link(e)) => (
                    e.revision,
                    format!(
                        "link `{}` to `{}` ({}:{}): {}{}",
                        e.name,
                        e.target,
                        e.wit_namespace,
                        e.wit_package,
                        e.status.state,
                        because(e.status.reason.as_ref())
                    ),
                ),
                _ => continue,
            };
            println!("{} {host}  {id}@{revision}  {line}", stamp(started));
        }
    }))
}

/// ` (reason)`, or nothing.
fn because(reason: Option<&StatusReason>) -> String {
    reason.map(|r| format!(" ({r})")).unwrap_or_default()
}

/// `[  1.23s]`: time since the command started.
fn stamp(started: Instant) -> String {
    format!("[{:>7.2}s]", started.elapsed().as_secs_f64())
}
