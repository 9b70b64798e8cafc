//! How the CLI authenticates to the user's NATS server: the options are
//! [`lattice_client::auth::NatsAuth`] (flattened into the global options), shared with the
//! providers' binaries; this module holds the hints for what goes wrong with them (`hints`
//! defers to these).

pub(crate) use lattice_client::auth::{AuthError, AuthMethod, AuthUsed, NatsAuth};
use std::io;

/// The hint for an [`AuthError`].
pub(crate) fn error_hint(error: &AuthError) -> String {
    match error {
        AuthError::Conflict { .. } => "keep one of --creds, --nkey, --token or --user/--password; \
             each may also come from its LATTICE_NATS_* environment variable, so unset the \
             ones you do not mean (`env | grep LATTICE_NATS_`)"
            .to_owned(),
        AuthError::Incomplete { given, missing } => format!(
            "add {missing} (or its LATTICE_NATS_* environment variable), or drop {given}; \
             `lattice --help` lists the authentication options"
        ),
        AuthError::ReadFile { file, .. } => format!(
            "check the path and the permissions of the file named by {}",
            file.option()
        ),
        AuthError::InvalidCreds { .. } => "--creds takes the .creds file `nsc generate creds` \
             writes: a user JWT block and a user nkey seed block"
            .to_owned(),
        AuthError::InvalidSeed { .. } => "--nkey takes a file holding a user nkey seed (`nk -gen \
             user` writes one; it starts with `SU`), or the seed itself"
            .to_owned(),
    }
}

/// The hint for a connection the server refused (`authorization violation`), by method used.
pub(crate) fn refused_hint(url: &str, used: &AuthUsed) -> String {
    match &used.method {
        AuthMethod::None => format!(
            "the server at {url} requires authentication: pass --creds, --nkey, --token or \
             --user/--password (or set LATTICE_NATS_CREDS, _NKEY, _TOKEN or _USER/_PASSWORD)"
        ),
        AuthMethod::Token => format!(
            "the server at {url} refused the token of --token / LATTICE_NATS_TOKEN: check that \
             it is the token in the server's `authorization` block"
        ),
        AuthMethod::UserPassword { user } => format!(
            "the server at {url} refused user `{user}` (--user / --password): check the user \
             name and the password, and that the server's `authorization` block lists the user"
        ),
        AuthMethod::Nkey { public_key } => format!(
            "the server at {url} refused the nkey of --nkey: check that its `authorization` \
             block lists this seed's public key {public_key}"
        ),
        AuthMethod::Creds { path } => format!(
            "the server at {url} refused the credentials of `{}` (--creds): check that the \
             user JWT is not expired or revoked and that its account is trusted by the server's \
             operator",
            path.display()
        ),
    }
}

/// Whether a failed connection failed in TLS: async-nats says so for its own TLS setup, and
/// reports the handshake's failures (an unknown issuer, a refused client certificate) as I/O
/// errors that carry the rustls error.
pub(crate) fn is_tls_failure(error: &async_nats::ConnectError) -> bool {
    use std::error::Error as _;
    error.kind() == async_nats::ConnectErrorKind::Tls
        || error
            .source()
            .and_then(|source| source.downcast_ref::<io::Error>())
            .and_then(io::Error::get_ref)
            .is_some_and(|inner| inner.is::<async_nats::rustls::Error>())
}

/// The hint for a TLS failure.
pub(crate) fn tls_hint(url: &str, used: &AuthUsed) -> String {
    if used.tls {
        format!(
            "the TLS handshake with {url} failed: check that the server has TLS on, that \
             --tls-ca holds the CA that signed the server's certificate, that the certificate \
             names the host of the URL, and that --tls-cert/--tls-key (if the server verifies \
             clients) are a PEM certificate and its key"
        )
    } else {
        format!(
            "the TLS handshake with {url} failed: if the server's certificate is signed by a \
             private CA, pass it with --tls-ca FILE (or LATTICE_NATS_TLS_CA)"
        )
    }
}

/// The hint when the client could not sign the server's challenge with its key.
pub(crate) fn signing_hint(used: &AuthUsed) -> String {
    match &used.method {
        AuthMethod::Creds { path } => format!(
            "the seed in `{}` (--creds) could not sign the server's challenge: regenerate the \
             credentials file",
            path.display()
        ),
        _ => "the nkey could not sign the server's challenge: check --nkey".to_owned(),
    }
}
