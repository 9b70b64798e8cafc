//! Authenticating to a NATS server and securing the connection, as the `lattice` tools do:
//! one of a credentials file, an nkey seed, a token or a user and password, and TLS with a
//! private CA and client certificates. [`NatsAuth`] checks the combination, reads the files
//! (naming a bad one), and builds the [`async_nats::ConnectOptions`]; [`AuthUsed`] says what
//! was used without the secret, for a hint when the server refuses.
//!
//! With the `clap` feature, [`NatsAuth`] is a `clap::Args` group: `--creds`, `--nkey`,
//! `--token`, `--user`/`--password`, `--tls-ca`, `--tls-cert`/`--tls-key`, `--inbox-prefix`,
//! each also from a `LATTICE_NATS_*` variable; the `lattice` CLI and the example providers flatten it, so every
//! tool takes the same options. Errors name those options.
//!
//! Secrets (token, password, nkey seed) never reach a message or a `Debug` output: they are
//! held in [`Secret`].
//!
//! ```no_run
//! use lattice_client::auth::{NatsAuth, Secret};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let auth = NatsAuth { token: Some(Secret::new("s3cret")), ..NatsAuth::default() };
//! let (options, _used) = auth.connect_options()?;
//! let nats = options.connect("nats://127.0.0.1:4222").await?;
//! # Ok(()) }
//! ```

use std::{fmt, io, path::PathBuf};

/// The authentication and TLS options every command understands.
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
#[cfg_attr(
    feature = "clap",
    command(next_help_heading = "NATS authentication and TLS (global options)")
)]
pub struct NatsAuth {
    /// A NATS credentials file (user JWT and nkey seed, as written by `nsc`).
    #[cfg_attr(
        feature = "clap",
        arg(long, global = true, env = "LATTICE_NATS_CREDS", value_name = "FILE")
    )]
    pub creds: Option<PathBuf>,
    /// A file holding a user nkey seed (as written by `nk -gen user`), or the seed itself
    /// (`SU…`). Prefer the file: a seed on the command line shows in the process list.
    #[cfg_attr(feature = "clap", arg(
        long,
        global = true,
        env = "LATTICE_NATS_NKEY",
        hide_env_values = true,
        value_name = "FILE|SEED",
        value_parser = Secret::parse
    ))]
    pub nkey: Option<Secret>,
    /// A token the server's `authorization { token: … }` expects.
    #[cfg_attr(feature = "clap", arg(
        long,
        global = true,
        env = "LATTICE_NATS_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN",
        value_parser = Secret::parse
    ))]
    pub token: Option<Secret>,
    /// A user name; goes with --password.
    #[cfg_attr(
        feature = "clap",
        arg(long, global = true, env = "LATTICE_NATS_USER", value_name = "USER")
    )]
    pub user: Option<String>,
    /// The password of --user.
    #[cfg_attr(feature = "clap", arg(
        long,
        global = true,
        env = "LATTICE_NATS_PASSWORD",
        hide_env_values = true,
        value_name = "PASSWORD",
        value_parser = Secret::parse
    ))]
    pub password: Option<Secret>,
    /// A PEM file of the CA certificates that signed the server's certificate (instead of the
    /// system's). Any --tls-* option requires TLS.
    #[cfg_attr(
        feature = "clap",
        arg(long, global = true, env = "LATTICE_NATS_TLS_CA", value_name = "FILE")
    )]
    pub tls_ca: Option<PathBuf>,
    /// A PEM client certificate, for servers that verify clients; goes with --tls-key.
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            global = true,
            env = "LATTICE_NATS_TLS_CERT",
            value_name = "FILE"
        )
    )]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[cfg_attr(
        feature = "clap",
        arg(long, global = true, env = "LATTICE_NATS_TLS_KEY", value_name = "FILE")
    )]
    pub tls_key: Option<PathBuf>,
    /// The prefix of the connection's reply inboxes (default `_INBOX`). A server isolating
    /// lattices gives each lattice's users their own (`_INBOX_{lattice}`), so no user can
    /// read another lattice's replies: see the README's "Authenticated isolation".
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            global = true,
            env = "LATTICE_NATS_INBOX_PREFIX",
            value_name = "PREFIX",
            value_parser = parse_inbox_prefix
        )
    )]
    pub inbox_prefix: Option<String>,
}

/// Checks an inbox prefix: one or more subject tokens, no wildcard, no space.
///
/// # Errors
///
/// A message saying what is wrong.
pub fn parse_inbox_prefix(text: &str) -> Result<String, String> {
    let valid = !text.is_empty()
        && text.split('.').all(|token| {
            !token.is_empty()
                && token
                    .chars()
                    .all(|c| !c.is_whitespace() && c != '*' && c != '>')
        });
    if valid {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "`{text}` is not a subject prefix: tokens separated by `.`, without spaces, `*` \
             or `>` (e.g. `_INBOX_prod`)"
        ))
    }
}

/// A secret option value: printed as `<redacted>` by `Debug`, never displayed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// A secret holding `value`.
    #[must_use]
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The clap value parser: any non-empty text. The error never echoes the value.
    #[cfg_attr(not(feature = "clap"), allow(dead_code))]
    fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("must not be empty".to_owned());
        }
        Ok(Self(text.to_owned()))
    }

    /// The secret itself, for the connect options only.
    fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// How the connection authenticated, as far as a hint may tell: no secret in it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AuthMethod {
    /// No authentication option was given.
    #[default]
    None,
    /// `--creds`.
    Creds {
        /// The credentials file.
        path: PathBuf,
    },
    /// `--nkey`.
    Nkey {
        /// The public key of the seed (`U…`): what the server's config lists.
        public_key: String,
    },
    /// `--token`.
    Token,
    /// `--user` and `--password`.
    UserPassword {
        /// The user name.
        user: String,
    },
}

/// What a connection used, for the hint of a refused or failed connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthUsed {
    /// The authentication method.
    pub method: AuthMethod,
    /// Whether a --tls-* option was given (TLS required).
    pub tls: bool,
}

/// A file an option names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFile {
    /// `--creds`.
    Creds,
    /// `--nkey`.
    Nkey,
    /// `--tls-ca`.
    TlsCa,
    /// `--tls-cert`.
    TlsCert,
    /// `--tls-key`.
    TlsKey,
}

impl AuthFile {
    /// The option and its variable, as a user writes them.
    pub fn option(self) -> &'static str {
        match self {
            Self::Creds => "--creds / LATTICE_NATS_CREDS",
            Self::Nkey => "--nkey / LATTICE_NATS_NKEY",
            Self::TlsCa => "--tls-ca / LATTICE_NATS_TLS_CA",
            Self::TlsCert => "--tls-cert / LATTICE_NATS_TLS_CERT",
            Self::TlsKey => "--tls-key / LATTICE_NATS_TLS_KEY",
        }
    }
}

/// The authentication options are wrong, or a file they name cannot be used. All are usage
/// errors, found before any connection is made.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// More than one way to authenticate was given.
    #[error(
        "{} cannot be used together: give one way to authenticate",
        join(given)
    )]
    Conflict {
        /// The options given, e.g. `["--token", "--user"]`.
        given: Vec<&'static str>,
    },
    /// One option of a pair was given without the other.
    #[error("{given} needs {missing}")]
    Incomplete {
        /// The option given.
        given: &'static str,
        /// The option missing.
        missing: &'static str,
    },
    /// A file named by an option cannot be read.
    #[error("cannot read `{}` ({})", path.display(), file.option())]
    ReadFile {
        /// Which option.
        file: AuthFile,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The credentials file is not in the NATS credentials format.
    #[error("`{}` (--creds) is not a NATS credentials file", path.display())]
    InvalidCreds {
        /// The file.
        path: PathBuf,
        /// What async-nats found wrong (never the file's content).
        #[source]
        source: io::Error,
    },
    /// `--nkey` does not hold a usable user seed.
    #[error("{}", invalid_seed(path.as_ref(), problem))]
    InvalidSeed {
        /// The file it came from, if it came from one.
        path: Option<PathBuf>,
        /// What is wrong, without the seed.
        problem: String,
    },
}

/// What is wrong with the authentication options, as a value to `match` on. All are usage
/// errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthErrorKind {
    /// See [`AuthError::Conflict`].
    Conflict,
    /// See [`AuthError::Incomplete`].
    Incomplete,
    /// See [`AuthError::ReadFile`].
    ReadFile,
    /// See [`AuthError::InvalidCreds`].
    InvalidCreds,
    /// See [`AuthError::InvalidSeed`].
    InvalidSeed,
}

impl AuthError {
    /// The kind of problem.
    #[must_use]
    pub fn kind(&self) -> AuthErrorKind {
        match self {
            Self::Conflict { .. } => AuthErrorKind::Conflict,
            Self::Incomplete { .. } => AuthErrorKind::Incomplete,
            Self::ReadFile { .. } => AuthErrorKind::ReadFile,
            Self::InvalidCreds { .. } => AuthErrorKind::InvalidCreds,
            Self::InvalidSeed { .. } => AuthErrorKind::InvalidSeed,
        }
    }
}

fn join(given: &[&str]) -> String {
    match given {
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
        [] => String::new(),
    }
}

fn invalid_seed(path: Option<&PathBuf>, problem: &str) -> String {
    match path {
        Some(path) => format!(
            "the nkey file `{}` (--nkey) holds no usable user seed: {problem}",
            path.display()
        ),
        None => format!("--nkey is neither a file nor a usable user nkey seed: {problem}"),
    }
}

impl NatsAuth {
    /// Checks the combination of options without reading any file.
    ///
    /// # Errors
    ///
    /// [`AuthError::Conflict`] for more than one of --creds, --nkey, --token, --user;
    /// [`AuthError::Incomplete`] for --user without --password (or the reverse) and for
    /// --tls-cert without --tls-key (or the reverse).
    pub fn check(&self) -> Result<(), AuthError> {
        let given: Vec<&'static str> = [
            (self.creds.is_some(), "--creds"),
            (self.nkey.is_some(), "--nkey"),
            (self.token.is_some(), "--token"),
            (self.user.is_some(), "--user"),
        ]
        .into_iter()
        .filter_map(|(set, name)| set.then_some(name))
        .collect();
        if given.len() > 1 {
            return Err(AuthError::Conflict { given });
        }
        let pairs = [
            (
                self.user.is_some(),
                self.password.is_some(),
                "--user",
                "--password",
            ),
            (
                self.tls_cert.is_some(),
                self.tls_key.is_some(),
                "--tls-cert",
                "--tls-key",
            ),
        ];
        for (first, second, first_name, second_name) in pairs {
            match (first, second) {
                (true, false) => {
                    return Err(AuthError::Incomplete {
                        given: first_name,
                        missing: second_name,
                    });
                }
                (false, true) => {
                    return Err(AuthError::Incomplete {
                        given: second_name,
                        missing: first_name,
                    });
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Whether any --tls-* option was given.
    fn tls(&self) -> bool {
        self.tls_ca.is_some() || self.tls_cert.is_some() || self.tls_key.is_some()
    }

    /// The connect options these options describe, and what they used (for hints). Reads the
    /// credentials and nkey files and checks that the TLS files are readable, so a bad file is
    /// reported by name before any connection is tried.
    ///
    /// # Errors
    ///
    /// Any [`AuthError`]: see [`NatsAuth::check`], and a file that cannot be read or does not
    /// hold what it should.
    pub fn connect_options(&self) -> Result<(async_nats::ConnectOptions, AuthUsed), AuthError> {
        self.check()?;
        let mut options = async_nats::ConnectOptions::new();
        let mut method = AuthMethod::None;
        if let Some(path) = &self.creds {
            let contents = read(AuthFile::Creds, path)?;
            options = options
                .credentials(&contents)
                .map_err(|source| AuthError::InvalidCreds {
                    path: path.clone(),
                    source,
                })?;
            method = AuthMethod::Creds { path: path.clone() };
        }
        if let Some(nkey) = &self.nkey {
            let (seed, public_key) = user_seed(nkey)?;
            options = options.nkey(seed);
            method = AuthMethod::Nkey { public_key };
        }
        if let Some(token) = &self.token {
            options = options.token(token.expose().to_owned());
            method = AuthMethod::Token;
        }
        if let (Some(user), Some(password)) = (&self.user, &self.password) {
            options = options.user_and_password(user.clone(), password.expose().to_owned());
            method = AuthMethod::UserPassword { user: user.clone() };
        }
        if let Some(ca) = &self.tls_ca {
            read(AuthFile::TlsCa, ca)?;
            options = options.add_root_certificates(ca.clone());
        }
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            read(AuthFile::TlsCert, cert)?;
            read(AuthFile::TlsKey, key)?;
            options = options.add_client_certificate(cert.clone(), key.clone());
        }
        let tls = self.tls();
        if tls {
            options = options.require_tls(true);
        }
        if let Some(prefix) = &self.inbox_prefix {
            options = options.custom_inbox_prefix(prefix);
        }
        Ok((options, AuthUsed { method, tls }))
    }
}

/// Reads a file an option names.
fn read(file: AuthFile, path: &PathBuf) -> Result<String, AuthError> {
    std::fs::read_to_string(path).map_err(|source| AuthError::ReadFile {
        file,
        path: path.clone(),
        source,
    })
}

/// Whether `text` has the shape of an nkey seed: `S` and base32 (no path would).
fn looks_like_seed(text: &str) -> bool {
    text.starts_with('S')
        && text
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
}

/// The user seed of `--nkey` and its public key. The value is a file if one exists at that
/// path; otherwise it must be the seed itself. A file may hold the seed alone or among other
/// lines (the first line of seed shape counts).
fn user_seed(nkey: &Secret) -> Result<(String, String), AuthError> {
    let value = nkey.expose();
    let path = PathBuf::from(value);
    let (seed, from) = if !looks_like_seed(value.trim()) || path.is_file() {
        let contents = read(AuthFile::Nkey, &path)?;
        let seed = contents
            .lines()
            .map(str::trim)
            .find(|line| looks_like_seed(line))
            .ok_or_else(|| AuthError::InvalidSeed {
                path: Some(path.clone()),
                problem: "no line holds a seed (`SU…`)".to_owned(),
            })?
            .to_owned();
        (seed, Some(path))
    } else {
        (value.trim().to_owned(), None)
    };
    let invalid = |problem: String| AuthError::InvalidSeed {
        path: from.clone(),
        problem,
    };
    // nkeys' errors describe the problem (checksum, length), never the seed.
    let key_pair = nkeys::KeyPair::from_seed(&seed).map_err(|e| invalid(e.to_string()))?;
    if key_pair.key_pair_type() != nkeys::KeyPairType::User {
        return Err(invalid(format!(
            "it is a {:?} seed; a client connects with a user seed (`SU…`)",
            key_pair.key_pair_type()
        )));
    }
    Ok((seed, key_pair.public_key()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_inbox_prefix_is_subject_tokens_without_wildcards() {
        for good in ["_INBOX_a", "_I.lattice-a", "x"] {
            assert_eq!(parse_inbox_prefix(good).as_deref(), Ok(good));
        }
        for bad in ["", "_INBOX.", "a..b", "a.*", "a.>", "a b"] {
            let error = parse_inbox_prefix(bad).unwrap_err();
            assert!(error.contains("not a subject prefix"), "{bad}: {error}");
        }
    }

    const SEED_SHAPE: &str = "SUAXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX";

    fn secret(text: &str) -> Option<Secret> {
        Some(Secret(text.to_owned()))
    }

    #[test]
    fn one_way_to_authenticate_at_a_time() {
        let auth = NatsAuth {
            token: secret("t"),
            user: Some("u".into()),
            password: secret("p"),
            ..NatsAuth::default()
        };
        let error = auth.check().unwrap_err();
        assert_eq!(
            error.to_string(),
            "--token and --user cannot be used together: give one way to authenticate"
        );
        let auth = NatsAuth {
            creds: Some("a.creds".into()),
            nkey: secret("n"),
            token: secret("t"),
            ..NatsAuth::default()
        };
        assert!(
            auth.check()
                .unwrap_err()
                .to_string()
                .starts_with("--creds, --nkey and --token cannot")
        );
    }

    #[test]
    fn pairs_go_together() {
        let user = NatsAuth {
            user: Some("u".into()),
            ..NatsAuth::default()
        };
        assert_eq!(
            user.check().unwrap_err().to_string(),
            "--user needs --password"
        );
        let password = NatsAuth {
            password: secret("p"),
            ..NatsAuth::default()
        };
        assert_eq!(
            password.check().unwrap_err().to_string(),
            "--password needs --user"
        );
        let key = NatsAuth {
            tls_key: Some("k.pem".into()),
            ..NatsAuth::default()
        };
        assert_eq!(
            key.check().unwrap_err().to_string(),
            "--tls-key needs --tls-cert"
        );
    }

    #[test]
    fn secrets_never_show_in_debug_or_errors() {
        let auth = NatsAuth {
            token: secret("tok-123"),
            user: Some("alice".into()),
            password: secret("pw-456"),
            nkey: secret(SEED_SHAPE),
            ..NatsAuth::default()
        };
        let debug = format!("{auth:?}");
        for secret in ["tok-123", "pw-456", SEED_SHAPE] {
            assert!(!debug.contains(secret), "{debug}");
        }
        let error = user_seed(&Secret(SEED_SHAPE.to_owned())).unwrap_err();
        let text = format!("{error} {error:?}");
        assert!(!text.contains(SEED_SHAPE), "{text}");
        assert!(text.contains("neither a file nor"), "{text}");
    }

    #[test]
    fn an_nkey_is_a_file_or_a_seed() {
        let key_pair = nkeys::KeyPair::new_user();
        let seed = key_pair.seed().unwrap();
        let (_, public_key) = user_seed(&Secret(seed.clone())).unwrap();
        assert_eq!(public_key, key_pair.public_key());

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("user.nk");
        std::fs::write(&file, format!("# a comment\n{seed}\n")).unwrap();
        let (from_file, public_key) =
            user_seed(&Secret(file.to_str().unwrap().to_owned())).unwrap();
        assert_eq!((from_file, public_key), (seed, key_pair.public_key()));

        let missing = dir.path().join("missing.nk");
        let error = user_seed(&Secret(missing.to_str().unwrap().to_owned())).unwrap_err();
        assert!(matches!(error, AuthError::ReadFile { .. }), "{error:?}");
        assert!(error.to_string().contains("missing.nk"), "{error}");

        let account = nkeys::KeyPair::new_account().seed().unwrap();
        let error = user_seed(&Secret(account)).unwrap_err();
        assert!(error.to_string().contains("user seed"), "{error}");
    }

    #[test]
    fn tls_options_require_tls_and_read_their_files() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "not checked here").unwrap();
        let auth = NatsAuth {
            tls_ca: Some(ca),
            ..NatsAuth::default()
        };
        let (_, used) = auth.connect_options().unwrap();
        assert_eq!(
            used,
            AuthUsed {
                method: AuthMethod::None,
                tls: true
            }
        );
        let auth = NatsAuth {
            tls_ca: Some(dir.path().join("gone.pem")),
            ..NatsAuth::default()
        };
        let error = auth.connect_options().unwrap_err();
        assert!(error.to_string().contains("gone.pem"), "{error}");
        assert!(error.to_string().contains("--tls-ca"), "{error}");
    }
}
