//! `lattice host`: one host, with the wasmtime runtime, against an existing NATS server, until
//! Ctrl-C. Also the runtime choice `lattice up` shares.

use crate::{cli::Globals, error::CliError};
use clap::{Args, ValueEnum};
use lattice_artifact::{ArtifactFetcher, DefaultFetcher, FileFetcher, OciRegistryFetcher};
use lattice_host::{ComponentRuntime, Host, HostConfig, ProviderCredentials, RevisionEchoRuntime};
use lattice_runtime_wasmtime::{Limits, WasmtimeRuntime};
use lattice_spec::{HostId, LatticeName};
use std::{sync::Arc, time::Duration};

/// How long the applies and deletes in flight get to finish when the host is interrupted.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The long help of `lattice host --help`.
pub(crate) const LONG_ABOUT: &str = "\
Run one host against the NATS server of --nats-url until Ctrl-C: it answers the v2alpha1 \
control interface of --lattice as --host-id, executes components with wasmtime (every export \
served over wRPC, linked imports called over wRPC on the link's target, WASI and wasi:config \
provided by the host). It fetches file artifacts relative to the directory it runs in, and OCI \
artifacts from their registries (as `wash oci push` pushes them; --registry-auth for private \
ones, --insecure-registry for plain HTTP beyond loopback).

On Ctrl-C it stops taking control requests, lets running invocations finish, and exits.";

/// What executes components.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum RuntimeKind {
    /// Real WebAssembly components, executed by wasmtime.
    #[default]
    Wasmtime,
    /// A stand-in that executes nothing and answers `lattice:component/handler.call` with
    /// the revision that served it (for trying the control plane without components).
    Echo,
}

/// Options of `lattice host` (and the runtime options `lattice up` shares).
#[derive(Debug, Args)]
pub(crate) struct HostArgs {
    /// The host's id (letters, digits, `-`, `_`).
    #[arg(long, value_name = "ID")]
    host_id: HostId,
    /// A label of the host (repeatable): `--label zone=eu-1`.
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_label)]
    labels: Vec<(String, String)>,
    #[command(flatten)]
    runtime: RuntimeArgs,
}

/// How components run.
#[derive(Debug, Clone, Args)]
pub(crate) struct RuntimeArgs {
    /// What executes components.
    #[arg(long, value_enum, default_value_t = RuntimeKind::Wasmtime)]
    runtime: RuntimeKind,
    /// The most linear memory one instance may have, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 64)]
    max_memory_mib: usize,
    /// How long one invocation may run (`500ms`, `30s`).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = crate::duration::parse)]
    invocation_deadline: Duration,
    /// Credentials for an OCI registry (repeatable): `ghcr.io=USER:PASSWORD`. Other
    /// registries are pulled from anonymously. Prefer the environment variable: a password on
    /// the command line shows in the process list.
    #[arg(
        long = "registry-auth",
        env = "LATTICE_REGISTRY_AUTH",
        value_delimiter = ',',
        hide_env_values = true,
        value_name = "REGISTRY=USER:PASSWORD",
        value_parser = parse_registry_auth
    )]
    registry_auth: Vec<RegistryAuth>,
    /// A registry reached over plain HTTP (repeatable). Loopback registries always are.
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    insecure_registries: Vec<String>,
    /// Preallocate this many instance slots (wasmtime's pooling allocator): cheaper
    /// instantiation, which every invocation pays, at most this many instances at once.
    #[arg(long, value_name = "N")]
    pooled_instances: Option<u32>,
    /// How long fetching one artifact from a registry may take.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = crate::duration::parse)]
    fetch_deadline: Duration,
}

/// A registry's credentials; the password never shows in `Debug`.
#[derive(Clone)]
pub(crate) struct RegistryAuth {
    registry: String,
    username: String,
    password: String,
}

impl std::fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryAuth")
            .field("registry", &self.registry)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

fn parse_registry_auth(text: &str) -> Result<RegistryAuth, String> {
    let shape = || "expected REGISTRY=USER:PASSWORD".to_owned();
    let (registry, credentials) = text.split_once('=').ok_or_else(shape)?;
    let (username, password) = credentials.split_once(':').ok_or_else(shape)?;
    if registry.is_empty() || username.is_empty() || password.is_empty() {
        return Err(shape());
    }
    Ok(RegistryAuth {
        registry: registry.to_owned(),
        username: username.to_owned(),
        password: password.to_owned(),
    })
}

fn parse_label(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .filter(|(key, _)| !key.is_empty())
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .ok_or_else(|| format!("`{text}` is not KEY=VALUE"))
}

impl RuntimeArgs {
    /// Where artifacts come from: files relative to the working directory, OCI image
    /// layouts, and OCI registries with the configured credentials.
    pub(crate) fn fetcher(&self) -> Arc<dyn ArtifactFetcher> {
        let mut registry = OciRegistryFetcher::builder().deadline(self.fetch_deadline);
        for auth in &self.registry_auth {
            registry = registry.basic_auth(&auth.registry, &auth.username, &auth.password);
        }
        for host in &self.insecure_registries {
            registry = registry.insecure_registry(host);
        }
        Arc::new(
            DefaultFetcher::new()
                .with_files(FileFetcher::new("."))
                .with_registry(registry.build()),
        )
    }

    /// The runtime these options describe, over `nats`.
    pub(crate) fn build(
        &self,
        nats: &async_nats::Client,
        lattice: &LatticeName,
    ) -> Result<Arc<dyn ComponentRuntime>, CliError> {
        Ok(match self.runtime {
            RuntimeKind::Echo => Arc::new(RevisionEchoRuntime),
            RuntimeKind::Wasmtime => {
                let limits = Limits::default()
                    .max_memory_bytes(self.max_memory_mib.saturating_mul(1 << 20))
                    .deadline(self.invocation_deadline);
                let mut builder = WasmtimeRuntime::builder(nats.clone(), lattice).limits(limits);
                if let Some(instances) = self.pooled_instances {
                    builder = builder.pooling(instances);
                }
                let runtime = builder.build().map_err(|e| CliError::LocalLattice {
                    message: format!("cannot start wasmtime: {e}"),
                    hint: "run with --runtime echo to try the control plane without it".to_owned(),
                })?;
                Arc::new(runtime)
            }
        })
    }
}

/// What the providers this host starts are handed to reach the server: the user JWT and seed
/// of `--creds`, the one kind of credentials wasmCloud 1.x host data carries. A host that
/// authenticates another way warns that its providers get none.
fn provider_credentials(globals: &Globals) -> Result<Option<ProviderCredentials>, CliError> {
    let auth = &globals.auth;
    if let Some(path) = &auth.creds {
        // Already read and accepted by the connection; read again for the two parts.
        let contents = std::fs::read_to_string(path).map_err(|e| CliError::LocalLattice {
            message: format!(
                "cannot read `{}` again for the providers: {e}",
                path.display()
            ),
            hint: "keep the credentials file readable while the host starts".to_owned(),
        })?;
        let credentials =
            ProviderCredentials::from_creds(&contents).map_err(|e| CliError::LocalLattice {
                message: format!("`{}` (--creds): {e}", path.display()),
                hint: "pass the .creds file `nsc generate creds` writes".to_owned(),
            })?;
        return Ok(Some(credentials));
    }
    if auth.nkey.is_some() || auth.token.is_some() || auth.user.is_some() {
        eprintln!(
            "warning: providers this host starts connect without credentials: host data carries \
             only a user JWT and seed (as in wasmCloud 1.x); connect the host with --creds to \
             hand them on"
        );
    }
    Ok(None)
}

/// Runs the host until interrupted.
pub(crate) async fn run(globals: &Globals, args: HostArgs) -> Result<(), CliError> {
    let nats = globals
        .connect(&format!("lattice-host {}", args.host_id))
        .await?;
    let runtime = args.runtime.build(&nats, &globals.lattice)?;
    let mut config = HostConfig::new(args.host_id.clone(), globals.lattice.clone());
    if let Some(credentials) = provider_credentials(globals)? {
        config.providers = config.providers.credentials(credentials);
    }
    for (key, value) in args.labels {
        config = config.label(key, value);
    }
    let host = Host::new(nats, config, runtime)
        .fetcher(args.runtime.fetcher())
        .start()
        .await
        .map_err(|e| CliError::LocalLattice {
            message: format!("host `{}` cannot start: {e}", args.host_id),
            hint: format!(
                "is {} reachable, and may this user subscribe?",
                globals.nats_url
            ),
        })?;
    println!(
        "host {} serving lattice `{}` at {} ({:?} runtime); Ctrl-C (or SIGTERM) stops it",
        host.host_id(),
        globals.lattice,
        globals.nats_url,
        args.runtime.runtime
    );
    crate::signal::stop_requested().await;
    println!(
        "interrupted; stopping host {} (applies in flight get {} to finish)",
        host.host_id(),
        humantime::format_duration(SHUTDOWN_GRACE)
    );
    let shutdown = host.shutdown(SHUTDOWN_GRACE).await;
    if shutdown.cancelled > 0 {
        println!("cancelled {} unfinished task(s)", shutdown.cancelled);
    }
    Ok(())
}
