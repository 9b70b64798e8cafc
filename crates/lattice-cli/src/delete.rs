//! `lattice delete COMPONENT --host H …`: stop a component on hosts and remove its links.

use crate::{
    cli::Globals,
    error::{CliError, HostFailure},
};
use clap::Args;
use lattice_ctl::DeleteOutcome;
use lattice_spec::{ComponentId, HostId};

/// Options of `lattice delete`.
#[derive(Debug, Args)]
pub(crate) struct DeleteArgs {
    /// The component to delete.
    #[arg(value_name = "COMPONENT")]
    component: ComponentId,
    /// The host to delete it from; repeat for several hosts.
    #[arg(long = "host", value_name = "HOST", required = true)]
    hosts: Vec<HostId>,
}

/// Deletes the component from every host named, one after the other.
pub(crate) async fn run(globals: &Globals, args: DeleteArgs) -> Result<(), CliError> {
    let client = globals.client().await?;
    let component = &args.component;
    let mut errors = Vec::new();
    for host in &args.hosts {
        let what = format!("cannot delete `{component}` from host `{host}`");
        let failure = match client.delete(host, component).await {
            Ok(ack) => match ack.outcome {
                DeleteOutcome::Accepted => {
                    println!("{host}: deleting `{component}` (stopping, links removed)");
                    continue;
                }
                DeleteOutcome::NotFound => {
                    println!("{host}: `{component}` is not on this host; nothing to do");
                    continue;
                }
                DeleteOutcome::Rejected(rejection) => HostFailure::DeleteRejected {
                    host: host.clone(),
                    component: component.clone(),
                    rejection,
                },
                _ => {
                    println!(
                        "{host}: the host answered with an outcome this CLI does not know; \
                         `lattice get inventory --host {host}` shows what it did"
                    );
                    continue;
                }
            },
            Err(e) => HostFailure::Request(e),
        };
        errors.push(CliError::Host {
            what,
            host: host.clone(),
            endpoint: globals.endpoint(),
            failure: Box::new(failure),
        });
    }
    CliError::from_hosts(errors, args.hosts.len())
}
