//! `lattice apply -f app.yaml` (an application manifest) and `lattice rollout …`.
//!
//! The CLI embeds the scheduler (`lattice_rollout::Scheduler`): the process that starts a
//! rollout drives it, storing every step in the lattice's rollout bucket. Other terminals read
//! and steer it through that bucket (`status`, `pause`, `resume`, `abort`, `promote`); if the
//! driving process dies, `lattice rollout recover APP` continues from what was stored.
//!
//! No NATS code here: events come from `Scheduler::watch`, commands go through
//! `Scheduler::{pause, resume, abort, promote}`.

use crate::{
    cli::Globals,
    error::{CliError, Failure},
    output::{OutputArgs, OutputFormat, Table, print_structured},
    progress::{RolloutProgress, failed_hosts_summary, progress_line},
};
use clap::{Args, Subcommand};
use futures::StreamExt;
use lattice_rollout::{
    AppName, Control, Manifest, RolloutError, RolloutEvents, RolloutOptions, RolloutRecord,
    RolloutStore, Scheduler, Strategy,
};
use lattice_spec::Revision;
use lattice_status::RolloutState;
use std::path::{Path, PathBuf};

/// Revisions kept per application in the rollout bucket.
const HISTORY: usize = 20;

/// `lattice rollout …`
#[derive(Debug, Subcommand)]
pub(crate) enum RolloutCommand {
    /// Print the plan of rolling a manifest out (a dry run: nothing is touched).
    Plan {
        /// The application manifest (YAML or JSON).
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: PathBuf,
    },
    /// Show a rollout's state, step and per-host progress; `-w` follows it to the end.
    Status(StatusArgs),
    /// List the stored revisions of an application, with the desired and stable ones marked.
    History(AppArgs),
    /// Roll back to a stored revision (default: the one stable before the current one).
    Undo(UndoArgs),
    /// Stop a rollout before its next step.
    Pause(AppArgs),
    /// Continue a paused rollout.
    Resume(AppArgs),
    /// Stop a rollout and roll it back.
    Abort(AppArgs),
    /// Pass a gate that waits for promotion (canary steps, blue-green release).
    Promote(AppArgs),
    /// Continue, in this process, a rollout whose scheduler stopped.
    Recover(RecoverArgs),
}

/// An application name and an output format.
#[derive(Debug, Args)]
pub(crate) struct AppArgs {
    /// The application.
    app: AppName,
    #[command(flatten)]
    output: OutputArgs,
}

/// `rollout recover`
#[derive(Debug, Args)]
pub(crate) struct RecoverArgs {
    /// The application.
    app: AppName,
    /// Print one line per host as its progress changes.
    #[arg(short = 'v', long)]
    verbose: bool,
}

/// `rollout status`
#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// The application.
    app: AppName,
    /// Follow the rollout until it ends; exit non-zero unless it succeeded.
    #[arg(short = 'w', long)]
    watch: bool,
    /// With -w: print one line per host as its progress changes.
    #[arg(short = 'v', long, requires = "watch")]
    verbose: bool,
    #[command(flatten)]
    output: OutputArgs,
}

/// `rollout undo`
#[derive(Debug, Args)]
pub(crate) struct UndoArgs {
    /// The application.
    app: AppName,
    /// The stored revision to return to.
    #[arg(long = "to-revision", value_name = "N")]
    to_revision: Option<u64>,
    /// Print one line per host as its progress changes.
    #[arg(short = 'v', long)]
    verbose: bool,
}

fn failed(message: impl Into<String>, hint: impl Into<String>, failure: Failure) -> CliError {
    CliError::Rollout {
        message: message.into(),
        hint: hint.into(),
        failure,
        source: None,
    }
}

/// A failure caused by a library's `error`, kept as the source.
fn caused_by(
    message: impl Into<String>,
    hint: impl Into<String>,
    failure: Failure,
    error: impl std::error::Error + Send + Sync + 'static,
) -> CliError {
    CliError::Rollout {
        message: message.into(),
        hint: hint.into(),
        failure,
        source: Some(Box::new(error)),
    }
}

/// A store failure: the connection, or what the store says.
fn store_failed(error: lattice_rollout::StoreError) -> CliError {
    caused_by(
        error.to_string(),
        "check the NATS connection",
        Failure::Store(error.kind()),
        error,
    )
}

async fn scheduler(globals: &Globals) -> Result<Scheduler, CliError> {
    let client = globals.client().await?;
    let store = RolloutStore::open(client.nats().clone(), &globals.lattice, HISTORY).await.map_err(|e| {
        caused_by(
            "cannot open the rollout bucket",
            "the scheduler keeps its state in JetStream: run nats-server with JetStream on (-js)",
            Failure::Store(e.kind()),
            e,
        )
    })?;
    Ok(Scheduler::new(client, store))
}

fn load_manifest(path: &Path) -> Result<Manifest, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        failed(
            format!("cannot read `{}`: {e}", path.display()),
            "check the path",
            Failure::Usage,
        )
    })?;
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let parsed = if is_json {
        serde_json::from_str(&text).map_err(|e| e.to_string())
    } else {
        serde_yaml_ng::from_str(&text).map_err(|e| e.to_string())
    };
    parsed.map_err(|e| {
        failed(
            format!("`{}` is not an application manifest: {e}", path.display()),
            "a manifest has `name`, `components` (each a `spec` and `hosts`), and optionally `providers` (each a `spec` and `hosts`), `strategy` and `options`",
            Failure::Usage,
        )
    })
}

type Validated = (
    AppName,
    Vec<lattice_rollout::Placement>,
    Vec<lattice_rollout::ProviderPlacement>,
);

fn validated(manifest: &Manifest, path: &Path) -> Result<Validated, CliError> {
    let problems = |problems: Vec<String>| {
        failed(
            format!(
                "`{}` is not a valid manifest:\n  {}",
                path.display(),
                problems.join("\n  ")
            ),
            "fix every listed field and apply again; nothing was touched",
            Failure::Usage,
        )
    };
    let (app, components) = manifest.validate().map_err(problems)?;
    let providers = manifest.validate_providers().map_err(problems)?;
    Ok((app, components, providers))
}

/// `lattice apply -f app.yaml`: rolls the manifest out, showing progress (one line per host
/// with `verbose`), and exits non-zero unless the rollout succeeded.
pub(crate) async fn apply_manifest(
    globals: &Globals,
    path: &Path,
    verbose: bool,
) -> Result<(), CliError> {
    let manifest = load_manifest(path)?;
    let (app, components, providers) = validated(&manifest, path)?;
    let scheduler = scheduler(globals).await?;
    let progress = follow(&scheduler, &app, verbose).await?;
    let result = scheduler
        .rollout_with_providers(
            &app,
            components,
            providers,
            manifest.strategy,
            manifest.options,
        )
        .await;
    progress.end().await;
    let record = result.map_err(|e| {
        let hint = if matches!(e.kind(), lattice_rollout::RolloutErrorKind::Config(kind)
            if kind != lattice_client::ConfigBucketErrorKind::Unavailable)
        {
            "nothing was touched; write the configuration with `lattice config put NAME \
             KEY=VALUE…` (`lattice config list` shows what there is) and apply again"
        } else if e.is_retryable() {
            "check the NATS connection and apply again; `lattice rollout status` shows whether it started"
        } else {
            "nothing was touched; see the message for what to change"
        };
        caused_by(
            format!("the rollout of `{app}` did not start"),
            hint,
            Failure::Rollout(e.kind()),
            e,
        )
    })?;
    print_record(&record);
    finished(&record)
}

/// Shows `app`'s rollout as its status events arrive, until [`Following::end`].
struct Following {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Following {
    /// Stops following, and clears a live bar so the summary prints in its place.
    async fn end(self) {
        drop(self.stop);
        let _ = self.task.await;
    }
}

/// Follows `app`'s rollout with a [`RolloutProgress`] for this process's output.
async fn follow(
    scheduler: &Scheduler,
    app: &AppName,
    verbose: bool,
) -> Result<Following, CliError> {
    let mut events = watch(scheduler, app).await?;
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let mut progress = RolloutProgress::new(verbose);
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                event = events.next() => match event {
                    // An event that cannot be read (a newer scheduler's) is skipped: the
                    // store stays the source of truth.
                    Some(Ok(event)) => progress.update(&event.rollout),
                    Some(Err(_)) => {}
                    None => break,
                },
            }
        }
        progress.finish();
    });
    Ok(Following { stop, task })
}

/// `app`'s rollout events, the stored record first.
async fn watch(scheduler: &Scheduler, app: &AppName) -> Result<RolloutEvents, CliError> {
    scheduler.watch(app).await.map_err(|e| match e {
        RolloutError::Store(e) => store_failed(e),
        e => caused_by(
            "cannot follow the rollout",
            "check the NATS connection",
            Failure::Rollout(e.kind()),
            e,
        ),
    })
}

fn print_record(record: &RolloutRecord) {
    println!("{}", progress_line(record));
    if let Some(failure) = &record.failure {
        let mut line = format!("failure: {} — {}", failure.code, failure.message);
        if let Some(host) = &failure.host {
            line.push_str(&format!(" (host {host}"));
            if let Some(component) = &failure.component {
                line.push_str(&format!(", component {component}"));
            }
            if let Some((link, provider)) = &failure.link {
                line.push_str(&format!(", link {link} to {provider}"));
            }
            if let Some(provider) = &failure.provider {
                line.push_str(&format!(", provider {provider}"));
            }
            line.push(')');
        }
        println!("{line}");
    }
    for line in failed_hosts_summary(record) {
        println!("{line}");
    }
    if let Some(revision) = record.rollback_revision {
        println!(
            "rolled back: revision {revision} restores the last stable revision and is now desired"
        );
    }
}

fn finished(record: &RolloutRecord) -> Result<(), CliError> {
    match record.state {
        RolloutState::Succeeded => Ok(()),
        state => Err(failed(
            format!(
                "the rollout of `{}` to revision {} ended {state}",
                record.app, record.plan.to
            ),
            match state {
                RolloutState::RolledBack => {
                    "every host touched is back on the last stable revision; fix the cause above and apply a new revision"
                }
                RolloutState::Aborted => {
                    "aborted by an operator; the last stable revision is serving"
                }
                _ => {
                    "some hosts could not be rolled back: check `lattice get inventory` and `lattice rollout status`"
                }
            },
            Failure::Failed,
        )),
    }
}

/// Runs a `lattice rollout …` command.
pub(crate) async fn run(globals: &Globals, command: RolloutCommand) -> Result<(), CliError> {
    match command {
        RolloutCommand::Plan { file } => {
            let manifest = load_manifest(&file)?;
            let (app, components, providers) = validated(&manifest, &file)?;
            let plan = scheduler(globals)
                .await?
                .plan_with_providers(
                    &app,
                    components,
                    providers,
                    &manifest.strategy,
                    &manifest.options,
                )
                .await
                .map_err(|e| {
                    caused_by(
                        format!("cannot plan the rollout of `{app}`"),
                        "nothing was touched",
                        Failure::Rollout(e.kind()),
                        e,
                    )
                })?;
            println!("{plan}");
            Ok(())
        }
        RolloutCommand::Status(args) => status(globals, args).await,
        RolloutCommand::History(args) => history(globals, args).await,
        RolloutCommand::Undo(args) => {
            let scheduler = scheduler(globals).await?;
            let progress = follow(&scheduler, &args.app, args.verbose).await?;
            let result = scheduler
                .undo(
                    &args.app,
                    args.to_revision.map(Revision),
                    Strategy::AllAtOnce,
                    RolloutOptions::default(),
                )
                .await;
            progress.end().await;
            let record = result.map_err(|e| {
                caused_by(
                    format!("cannot undo `{}`", args.app),
                    "see `lattice rollout history`",
                    Failure::Rollout(e.kind()),
                    e,
                )
            })?;
            print_record(&record);
            finished(&record)
        }
        RolloutCommand::Recover(args) => {
            let scheduler = scheduler(globals).await?;
            let progress = follow(&scheduler, &args.app, args.verbose).await?;
            let result = scheduler.recover(&args.app).await;
            progress.end().await;
            let record = result.map_err(|e| {
                caused_by(
                    e.to_string(),
                    "see `lattice rollout status`",
                    Failure::Rollout(e.kind()),
                    e,
                )
            })?;
            print_record(&record);
            finished(&record)
        }
        RolloutCommand::Pause(args) => control(globals, args, Control::Pause).await,
        RolloutCommand::Resume(args) => control(globals, args, Control::Resume).await,
        RolloutCommand::Abort(args) => control(globals, args, Control::Abort).await,
        RolloutCommand::Promote(args) => control(globals, args, Control::Promote).await,
    }
}

async fn control(globals: &Globals, args: AppArgs, control: Control) -> Result<(), CliError> {
    let scheduler = scheduler(globals).await?;
    let app = &args.app;
    let sent = match control {
        Control::Pause => scheduler.pause(app).await,
        Control::Resume => scheduler.resume(app).await,
        Control::Abort => scheduler.abort(app).await,
        _ => scheduler.promote(app).await,
    };
    sent.map_err(|e| match e {
        RolloutError::NoRollout { .. } => failed(
            format!("no rollout of `{app}` is in progress"),
            "see `lattice rollout status`",
            Failure::Failed,
        ),
        e => caused_by(
            format!("cannot send {control} to the rollout of `{app}`"),
            "check the NATS connection",
            Failure::Rollout(e.kind()),
            e,
        ),
    })?;
    println!("sent {control} to the rollout of `{app}`");
    Ok(())
}

async fn status(globals: &Globals, args: StatusArgs) -> Result<(), CliError> {
    let scheduler = scheduler(globals).await?;
    let missing = || {
        failed(
            format!("`{}` has no rollout", args.app),
            "start one with `lattice apply -f app.yaml`",
            Failure::Failed,
        )
    };
    let mut record = scheduler
        .store()
        .rollout(&args.app)
        .await
        .map_err(store_failed)?
        .map(|(record, _)| record)
        .ok_or_else(missing)?;
    if args.watch {
        // The stored record again first (a change since the read above is not missed), then
        // every change, until the rollout ends.
        let mut events = watch(&scheduler, &args.app).await?;
        let mut progress =
            (args.output.format == OutputFormat::Table).then(|| RolloutProgress::new(args.verbose));
        while !record.is_finished() {
            let Some(event) = events.next().await else {
                break;
            };
            // An event of a newer scheduler is skipped; the next readable one says where it is.
            if let Ok(event) = event {
                record = event.rollout;
                if let Some(progress) = &mut progress {
                    progress.update(&record);
                }
            }
        }
        if let Some(progress) = progress {
            progress.finish();
        }
    }
    match args.output.format {
        OutputFormat::Table => print_record(&record),
        format => print_structured(format, &record)?,
    }
    if args.watch {
        finished(&record)
    } else {
        Ok(())
    }
}

async fn history(globals: &Globals, args: AppArgs) -> Result<(), CliError> {
    let scheduler = scheduler(globals).await?;
    let store = scheduler.store();
    let (desired, stable) = (
        store.desired(&args.app).await.map_err(store_failed)?,
        store.stable(&args.app).await.map_err(store_failed)?,
    );
    let mut revisions = Vec::new();
    for revision in store.revisions(&args.app).await.map_err(store_failed)? {
        if let Some(stored) = store
            .revision(&args.app, revision)
            .await
            .map_err(store_failed)?
        {
            revisions.push(stored);
        }
    }
    if revisions.is_empty() {
        return Err(failed(
            format!("`{}` has no stored revision", args.app),
            "start one with `lattice apply -f app.yaml`",
            Failure::Failed,
        ));
    }
    if args.output.format != OutputFormat::Table {
        return print_structured(args.output.format, &revisions);
    }
    let mut table = Table::new(&["REVISION", "MARK", "COMPONENTS", "NOTE"]);
    for stored in &revisions {
        let mut marks = Vec::new();
        if Some(stored.revision) == desired {
            marks.push("desired");
        }
        if Some(stored.revision) == stable {
            marks.push("stable");
        }
        let components: Vec<String> = stored
            .components
            .iter()
            .map(|p| format!("{} ({})", p.spec.id(), p.spec.artifact()))
            .collect();
        table.row(vec![
            stored.revision.to_string(),
            marks.join(", "),
            components.join(", "),
            stored
                .restores
                .map(|r| format!("rollback: restores revision {r}"))
                .unwrap_or_default(),
        ]);
    }
    table.print();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The manifest shown in the README parses and validates.
    #[test]
    fn the_readme_manifest_is_valid() {
        let readme = include_str!("../../../README.md");
        let start = readme
            .find("```yaml\nname: shop")
            .expect("the README shows a manifest")
            + "```yaml\n".len();
        let end = start + readme[start..].find("```").unwrap();
        let manifest: Manifest = serde_yaml_ng::from_str(&readme[start..end]).unwrap();
        let (name, placements) = manifest.validate().unwrap();
        assert_eq!(name.as_str(), "shop");
        assert_eq!(placements.len(), 1);
        assert!(matches!(manifest.strategy, Strategy::Canary { ref steps } if steps.len() == 2));
        assert_eq!(
            manifest.options.min_healthy,
            std::time::Duration::from_secs(5)
        );
    }
}
