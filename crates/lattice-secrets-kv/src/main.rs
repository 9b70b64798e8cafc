//! `lattice-secrets-kv`: runs the secrets backend (`run`, printing `ready` on stdout once it
//! answers) and writes to one (`put`, `delete`, `allow`, `revoke`); `keygen` prints a fresh
//! xkey seed. Takes the NATS authentication and TLS options of the `lattice` CLI.
//!
//! Secret values are read from stdin or an environment variable, never from the command line
//! (where `ps` would show them), and are never printed or logged.

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use lattice_client::auth::NatsAuth;
use lattice_link::SecretValue;
use lattice_secrets_kv::{SecretsAdmin, SecretsServer, ServerConfig};
use nkeys::XKey;
use std::io::Read as _;

/// A secrets backend on NATS JetStream, speaking wasmCloud's secrets protocol.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The NATS server.
    #[arg(
        long,
        global = true,
        env = "LATTICE_NATS_URL",
        default_value = "nats://127.0.0.1:4222"
    )]
    nats_url: String,
    /// The subject prefix.
    #[arg(long, global = true, default_value = "wasmcloud.secrets")]
    subject_base: String,
    /// The backend's name: what secret references name as their `backend`.
    #[arg(long, global = true, default_value = "nats-kv")]
    name: String,
    #[command(flatten)]
    auth: NatsAuth,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serves the backend until interrupted.
    Run {
        /// The seed of the xkey stored values are sealed with (`SX…`; `keygen` makes one).
        /// Keep it: the bucket cannot be read without it.
        #[arg(long, env = "ENCRYPTION_XKEY_SEED", hide_env_values = true)]
        encryption_seed: String,
        /// The seed of the transit xkey requests are sealed for; fresh when not given.
        #[arg(long, env = "TRANSIT_XKEY_SEED", hide_env_values = true)]
        transit_seed: Option<String>,
        /// The bucket secrets are stored in.
        #[arg(long, default_value = lattice_secrets_kv::DEFAULT_SECRETS_BUCKET)]
        secrets_bucket: String,
        /// How many values of one secret are kept.
        #[arg(long, default_value_t = lattice_secrets_kv::DEFAULT_MAX_HISTORY)]
        max_secret_history: i64,
        /// The queue group prefix replicas share.
        #[arg(long, default_value = lattice_secrets_kv::DEFAULT_QUEUE_BASE)]
        queue_base: String,
    },
    /// Stores a secret read from stdin (or `--from-env`); prints its version.
    Put {
        /// The secret's key.
        key: String,
        /// Read the value from this environment variable instead of stdin.
        #[arg(long, value_name = "VAR")]
        from_env: Option<String>,
        /// Store the bytes as they are (by default the value is text, and a trailing newline
        /// from stdin is dropped).
        #[arg(long)]
        binary: bool,
    },
    /// Deletes a secret.
    Delete {
        /// The secret's key.
        key: String,
    },
    /// Lets an entity (a component or provider id) read secrets.
    Allow {
        /// The component or provider id.
        entity: String,
        /// The secrets' keys.
        #[arg(required = true)]
        keys: Vec<String>,
    },
    /// Takes secrets away from an entity.
    Revoke {
        /// The component or provider id.
        entity: String,
        /// The secrets' keys.
        #[arg(required = true)]
        keys: Vec<String>,
    },
    /// Prints a fresh xkey seed (for `--encryption-seed`).
    Keygen,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    if let Command::Keygen = args.command {
        println!("{}", XKey::new().seed().context("cannot encode the seed")?);
        return Ok(());
    }
    let (options, _) = args.auth.connect_options()?;
    let nats = options
        .name(format!("lattice-secrets-kv {}", args.name))
        .connect(&args.nats_url)
        .await
        .with_context(|| format!("cannot connect to NATS at {}", args.nats_url))?;
    let admin = SecretsAdmin::new(nats.clone())
        .with_subject_base(&args.subject_base)
        .with_name(&args.name);
    match args.command {
        Command::Run {
            encryption_seed,
            transit_seed,
            secrets_bucket,
            max_secret_history,
            queue_base,
        } => {
            let encryption = XKey::from_seed(&encryption_seed)
                .context("--encryption-seed / ENCRYPTION_XKEY_SEED is not an xkey seed (SX…)")?;
            let mut config = ServerConfig::new(encryption)
                .subject_base(&args.subject_base)
                .name(&args.name)
                .secrets_bucket(secrets_bucket)
                .max_history(max_secret_history)
                .queue_base(queue_base);
            if let Some(seed) = transit_seed {
                config = config.transit_key(
                    XKey::from_seed(&seed)
                        .context("--transit-seed / TRANSIT_XKEY_SEED is not an xkey seed (SX…)")?,
                );
            }
            let server = SecretsServer::start(nats, config).await?;
            println!("ready");
            tokio::signal::ctrl_c().await?;
            drop(server);
        }
        Command::Put {
            key,
            from_env,
            binary,
        } => {
            let mut bytes = match from_env {
                Some(var) => std::env::var_os(&var)
                    .with_context(|| format!("the environment variable {var} is not set"))?
                    .into_encoded_bytes(),
                None => {
                    let mut bytes = Vec::new();
                    std::io::stdin()
                        .read_to_end(&mut bytes)
                        .context("cannot read the value from stdin")?;
                    if !binary && bytes.ends_with(b"\n") {
                        bytes.pop();
                    }
                    bytes
                }
            };
            if bytes.is_empty() {
                bail!("the value is empty");
            }
            let value = if binary {
                SecretValue::Bytes(std::mem::take(&mut bytes))
            } else {
                SecretValue::String(
                    String::from_utf8(std::mem::take(&mut bytes))
                        .context("the value is not UTF-8 text (use --binary)")?,
                )
            };
            let revision = admin.put(&key, &value).await?;
            println!("{revision}");
        }
        Command::Delete { key } => admin.delete(&key).await?,
        Command::Allow { entity, keys } => {
            admin
                .allow(
                    &entity,
                    &keys.iter().map(String::as_str).collect::<Vec<_>>(),
                )
                .await?;
        }
        Command::Revoke { entity, keys } => {
            admin
                .revoke(
                    &entity,
                    &keys.iter().map(String::as_str).collect::<Vec<_>>(),
                )
                .await?;
        }
        Command::Keygen => {} // handled before connecting
    }
    Ok(())
}
