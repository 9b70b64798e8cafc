//! `lattice get …`: read the lattice — the hosts that answer discovery, and their inventories.

use crate::{
    cli::Globals,
    duration,
    error::{CliError, HostFailure},
    output::{self, OutputArgs, OutputFormat, Table},
};
use clap::{Args, Subcommand};
use lattice_client::{Client, Discover};
use lattice_ctl::{ComponentInventory, HostInventory, HostSummary, RevisionStatus};
use lattice_spec::HostId;
use lattice_status::LinkState;
use std::time::Duration;

/// What to read.
#[derive(Debug, Subcommand)]
pub(crate) enum GetCommand {
    /// Every live host (as soon as each host the host directory lists answered; --timeout at
    /// most): id, labels, version, API versions, uptime.
    Hosts(HostsArgs),
    /// One host's inventory, or every discovered host's: per component the desired and the
    /// serving revision with their states, links, and the failure reason if any.
    Inventory(InventoryArgs),
}

/// Options of `lattice get hosts`.
#[derive(Debug, Args)]
pub(crate) struct HostsArgs {
    #[command(flatten)]
    output: OutputArgs,
}

/// Options of `lattice get inventory`.
#[derive(Debug, Args)]
pub(crate) struct InventoryArgs {
    /// Only this host (default: every host that answers discovery).
    #[arg(long, value_name = "HOST")]
    host: Option<HostId>,
    #[command(flatten)]
    output: OutputArgs,
}

/// Runs a `get` command.
pub(crate) async fn run(globals: &Globals, command: GetCommand) -> Result<(), CliError> {
    let client = globals.client().await?;
    match command {
        GetCommand::Hosts(args) => hosts(globals, &client, args).await,
        GetCommand::Inventory(args) => inventory(globals, &client, args).await,
    }
}

/// Every live host, sorted by id; none is an error. Returns as soon as every host the host
/// directory lists answered (plus a short quiet period), within the timeout at most; a listed
/// host that did not answer is named in a warning on stderr, not silently left out.
pub(crate) async fn discover(
    globals: &Globals,
    client: &Client,
) -> Result<Vec<HostSummary>, CliError> {
    let discovery = client
        .discover(Discover::live().window(globals.timeout))
        .await
        .map_err(|source| CliError::Discover {
            endpoint: globals.endpoint(),
            source,
        })?;
    if !discovery.unanswered.is_empty() {
        let names: Vec<String> = discovery
            .unanswered
            .iter()
            .map(ToString::to_string)
            .collect();
        eprintln!(
            "warning: {} host(s) the host directory lists as live did not answer within {}: {} \
             (a host killed without stopping leaves the directory after {} missed heartbeats)",
            names.len(),
            duration::human(discovery.window),
            names.join(", "),
            lattice_client::directory::STALE_AFTER_HEARTBEATS,
        );
    }
    let mut hosts = discovery.hosts;
    if hosts.is_empty() {
        return Err(CliError::NoHosts {
            endpoint: globals.endpoint(),
            window: globals.timeout,
        });
    }
    hosts.sort_by(|a, b| a.host_id.cmp(&b.host_id));
    Ok(hosts)
}

async fn hosts(globals: &Globals, client: &Client, args: HostsArgs) -> Result<(), CliError> {
    let hosts = discover(globals, client).await?;
    if args.output.format != OutputFormat::Table {
        return output::print_structured(args.output.format, &hosts);
    }
    let mut table = Table::new(&["HOST", "LABELS", "VERSION", "API VERSIONS", "UPTIME"]);
    for host in &hosts {
        table.row(vec![
            host.host_id.to_string(),
            output::key_values(&host.labels),
            output::or_dash(host.version.clone()),
            output::or_dash(host.api_versions.join(",")),
            duration::human(Duration::from_secs(host.uptime_seconds)),
        ]);
    }
    table.print();
    Ok(())
}

async fn inventory(
    globals: &Globals,
    client: &Client,
    args: InventoryArgs,
) -> Result<(), CliError> {
    let hosts: Vec<HostId> = match args.host {
        Some(host) => vec![host],
        None => discover(globals, client)
            .await?
            .into_iter()
            .map(|h| h.host_id)
            .collect(),
    };
    let results = futures::future::join_all(hosts.iter().map(|host| async move {
        client.inventory(host).await.map_err(|e| CliError::Host {
            what: format!("cannot read the inventory of host `{host}`"),
            host: host.clone(),
            endpoint: globals.endpoint(),
            failure: Box::new(HostFailure::Request(e)),
        })
    }))
    .await;
    let total = results.len();
    let (mut inventories, mut errors) = (Vec::new(), Vec::new());
    for result in results {
        match result {
            Ok(inventory) => inventories.push(inventory),
            Err(error) => errors.push(error),
        }
    }
    if !inventories.is_empty() {
        match args.output.format {
            OutputFormat::Table => inventory_table(&inventories).print(),
            format => output::print_structured(format, &inventories)?,
        }
    }
    CliError::from_hosts(errors, total)
}

/// One row per component (or one per host without components).
fn inventory_table(inventories: &[HostInventory]) -> Table {
    let mut table = Table::new(&["HOST", "COMPONENT", "DESIRED", "SERVING", "LINKS", "REASON"]);
    for inventory in inventories {
        if inventory.components.is_empty() {
            table.row(vec![inventory.host_id.to_string(), "(none)".into()]);
        }
        for component in &inventory.components {
            table.row(vec![
                inventory.host_id.to_string(),
                component.component_id.to_string(),
                revision(Some(&component.desired)),
                revision(component.serving.as_ref()),
                links(component),
                reason(component),
            ]);
        }
    }
    table
}

/// `3 running`, or `-`.
fn revision(status: Option<&RevisionStatus>) -> String {
    status.map_or("-".to_owned(), |s| {
        format!("{} {}", s.revision, s.status.state)
    })
}

/// `established/total`, or `-` for a component without links.
fn links(component: &ComponentInventory) -> String {
    if component.links.is_empty() {
        return "-".to_owned();
    }
    let established = component
        .links
        .iter()
        .filter(|l| l.status.state == LinkState::Established)
        .count();
    format!("{established}/{}", component.links.len())
}

/// The desired revision's reason, else a failed link's, else the serving revision's.
fn reason(component: &ComponentInventory) -> String {
    component
        .desired
        .status
        .reason
        .as_ref()
        .or_else(|| {
            component
                .links
                .iter()
                .find_map(|l| l.status.reason.as_ref())
        })
        .or_else(|| component.serving.as_ref()?.status.reason.as_ref())
        .map_or("-".to_owned(), ToString::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lattice_status::{ComponentState, ComponentStatus, ReasonCode, StatusReason};

    #[test]
    fn a_failed_upgrade_shows_both_revisions_and_the_reason() {
        let spec = lattice_spec::ComponentSpecDraft::new("web", "ghcr.io/acme/web:1")
            .validate()
            .unwrap();
        let status = |revision: u64, status| {
            RevisionStatus::new(
                revision.into(),
                spec.digest(),
                spec.artifact().clone(),
                status,
            )
        };
        let mut component = ComponentInventory::new(
            spec.id().clone(),
            status(
                2,
                ComponentStatus::failed(StatusReason::new(ReasonCode::FetchFailed, "404")),
            ),
            1,
        );
        component.serving = Some(status(1, ComponentStatus::new(ComponentState::Running)));
        let mut inventory =
            HostInventory::new("host-1".parse().unwrap(), "default".parse().unwrap());
        inventory.components.push(component);
        let text = inventory_table(&[inventory]).render();
        let row = text.lines().nth(1).unwrap();
        assert!(row.starts_with("host-1"), "{text}");
        assert!(row.contains("2 failed"), "{text}");
        assert!(row.contains("1 running"), "{text}");
        assert!(row.contains("fetch_failed: 404"), "{text}");
    }
}
