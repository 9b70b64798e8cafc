//! `lattice-provider-keyvalue`: runs the in-memory key-value provider against a NATS server
//! until interrupted. Prints `ready` on stdout once its link and wRPC subscriptions are live.

use anyhow::Context as _;
use clap::Parser;
use std::{fmt, path::PathBuf};

/// An in-memory wasi:keyvalue provider for a lattice.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The NATS server.
    #[arg(
        long,
        env = "LATTICE_NATS_URL",
        default_value = "nats://127.0.0.1:4222"
    )]
    nats_url: String,
    /// The lattice.
    #[arg(long, env = "LATTICE_LATTICE", default_value = "default")]
    lattice: lattice_spec::LatticeName,
    /// The provider's id: links name it as their target.
    #[arg(long, default_value = "keyvalue")]
    provider_id: lattice_spec::ProviderId,
    #[command(flatten)]
    auth: NatsAuth,
}

/// How to authenticate to NATS and secure the connection: the options and variables of the
/// `lattice` CLI, with the same meaning (see its `--help`).
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "NATS authentication and TLS")]
struct NatsAuth {
    /// A NATS credentials file (user JWT and nkey seed).
    #[arg(long, env = "LATTICE_NATS_CREDS", value_name = "FILE")]
    creds: Option<PathBuf>,
    /// A file holding a user nkey seed, or the seed itself (`SU…`).
    #[arg(
        long,
        env = "LATTICE_NATS_NKEY",
        hide_env_values = true,
        value_name = "FILE|SEED"
    )]
    nkey: Option<Secret>,
    /// A token.
    #[arg(long, env = "LATTICE_NATS_TOKEN", hide_env_values = true)]
    token: Option<Secret>,
    /// A user name; goes with --password.
    #[arg(long, env = "LATTICE_NATS_USER")]
    user: Option<String>,
    /// The password of --user.
    #[arg(long, env = "LATTICE_NATS_PASSWORD", hide_env_values = true)]
    password: Option<Secret>,
    /// A PEM file of the CA certificates of the server. Any --tls-* option requires TLS.
    #[arg(long, env = "LATTICE_NATS_TLS_CA", value_name = "FILE")]
    tls_ca: Option<PathBuf>,
    /// A PEM client certificate; goes with --tls-key.
    #[arg(long, env = "LATTICE_NATS_TLS_CERT", value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "LATTICE_NATS_TLS_KEY", value_name = "FILE")]
    tls_key: Option<PathBuf>,
}

/// A secret option value, redacted in `Debug`.
#[derive(Clone)]
struct Secret(String);

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl NatsAuth {
    /// The connect options these options describe; a file they name is read here, so a bad
    /// one is reported by name. No message carries a secret.
    fn connect_options(&self) -> anyhow::Result<async_nats::ConnectOptions> {
        let methods = [
            self.creds.is_some(),
            self.nkey.is_some(),
            self.token.is_some(),
        ];
        anyhow::ensure!(
            methods
                .into_iter()
                .chain([self.user.is_some()])
                .filter(|m| *m)
                .count()
                <= 1,
            "--creds, --nkey, --token and --user cannot be used together: give one"
        );
        anyhow::ensure!(
            self.user.is_some() == self.password.is_some(),
            "--user and --password go together"
        );
        anyhow::ensure!(
            self.tls_cert.is_some() == self.tls_key.is_some(),
            "--tls-cert and --tls-key go together"
        );
        let mut options = async_nats::ConnectOptions::new();
        if let Some(path) = &self.creds {
            let creds = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read `{}` (--creds)", path.display()))?;
            options = options
                .credentials(&creds)
                .with_context(|| format!("`{}` is not a NATS credentials file", path.display()))?;
        }
        if let Some(Secret(nkey)) = &self.nkey {
            // A file if one exists there; else a value of seed shape is the seed itself.
            let is_seed = |text: &str| {
                text.starts_with('S')
                    && text
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
            };
            let seed = match std::fs::read_to_string(nkey) {
                Ok(text) => text
                    .lines()
                    .map(str::trim)
                    .find(|l| is_seed(l))
                    .map(str::to_owned),
                Err(_) if is_seed(nkey.trim()) => Some(nkey.trim().to_owned()),
                Err(e) => return Err(e).context(format!("cannot read `{nkey}` (--nkey)")),
            };
            options = options.nkey(seed.context("the --nkey file holds no seed (`SU…`)")?);
        }
        if let Some(Secret(token)) = &self.token {
            options = options.token(token.clone());
        }
        if let (Some(user), Some(Secret(password))) = (&self.user, &self.password) {
            options = options.user_and_password(user.clone(), password.clone());
        }
        let tls = [
            (&self.tls_ca, "--tls-ca"),
            (&self.tls_cert, "--tls-cert"),
            (&self.tls_key, "--tls-key"),
        ];
        for (path, option) in tls.iter().filter_map(|(p, o)| Some(((*p).as_ref()?, o))) {
            std::fs::File::open(path)
                .with_context(|| format!("cannot read `{}` ({option})", path.display()))?;
        }
        if let Some(ca) = &self.tls_ca {
            options = options.add_root_certificates(ca.clone());
        }
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            options = options.add_client_certificate(cert.clone(), key.clone());
        }
        Ok(options.require_tls(tls.iter().any(|(path, _)| path.is_some())))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let nats = args
        .auth
        .connect_options()?
        .name(format!("lattice-provider-keyvalue {}", args.provider_id))
        .connect(&args.nats_url)
        .await
        .with_context(|| format!("cannot connect to NATS at {}", args.nats_url))?;
    let running = lattice_provider_keyvalue::start(nats, &args.lattice, &args.provider_id).await?;
    println!("ready");
    tokio::signal::ctrl_c().await?;
    running.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(argv: &[&str]) -> Args {
        Args::try_parse_from([&["lattice-provider-keyvalue"], argv].concat()).unwrap()
    }

    #[test]
    fn authentication_options_conflict_and_secrets_stay_hidden() {
        let both = args(&["--token", "tok-123", "--user", "u", "--password", "pw-456"]);
        let error = both.auth.connect_options().unwrap_err().to_string();
        assert!(error.contains("cannot be used together"), "{error}");
        let debug = format!("{both:?}");
        assert!(
            !debug.contains("tok-123") && !debug.contains("pw-456"),
            "{debug}"
        );
        let half = args(&["--tls-cert", "c.pem"]);
        assert!(half.auth.connect_options().is_err());
        let missing = args(&["--creds", "/nonexistent/user.creds"]);
        let error = format!("{:#}", missing.auth.connect_options().unwrap_err());
        assert!(error.contains("/nonexistent/user.creds"), "{error}");
    }
}
