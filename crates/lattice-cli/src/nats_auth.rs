//! How the CLI authenticates to the user's NATS server: the options are
//! [`lattice_client::auth::NatsAuth`] (flattened into the global options), shared with the
//! providers' binaries; this module holds the hints for what goes wrong with them (`hints`
//! defers to these).

use lattice_client::PermissionViolation;
pub(crate) use lattice_client::auth::{AuthError, AuthMethod, AuthUsed, NatsAuth};
use lattice_spec::LatticeName;
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

/// Who a connection made with `auth` authenticates as, for messages: no secret in it.
pub(crate) fn who(auth: &NatsAuth) -> String {
    if let Some(user) = &auth.user {
        format!("user `{user}` (--user)")
    } else if let Some(path) = &auth.creds {
        format!("the user of `{}` (--creds)", path.display())
    } else if auth.nkey.is_some() {
        "the user of --nkey".to_owned()
    } else if auth.token.is_some() {
        "the user of --token".to_owned()
    } else if auth.tls_cert.is_some() {
        "the user of the client certificate (--tls-cert)".to_owned()
    } else {
        "the server's default user".to_owned()
    }
}

/// The hint for a subject the server denied: which lattice the user may be for, the inbox
/// prefix, where the permission template is.
pub(crate) fn denied_hint(violation: &PermissionViolation, lattice: &LatticeName) -> String {
    let subject = &violation.subject;
    let template = "the README's \"Authenticated isolation\" lists the subjects a lattice's \
         users need";
    if subject.starts_with("_INBOX") {
        return format!(
            "the server does not let this user use the reply inbox `{subject}`: pass the prefix the user was given with --inbox-prefix (or \
             LATTICE_NATS_INBOX_PREFIX), e.g. `_INBOX_{lattice}`; {template}"
        );
    }
    let tokens: Vec<&str> = subject.split('.').collect();
    let names_lattice = tokens.contains(&lattice.as_str())
        || tokens.iter().any(|t| t.ends_with(&format!("_{lattice}")));
    if names_lattice {
        format!(
            "this user may not {} `{subject}`, a subject of lattice `{lattice}`: is --lattice \
             (LATTICE_LATTICE, now `{lattice}`) the lattice the user was given? Otherwise ask \
             for the lattice's permissions; {template}",
            violation.operation
        )
    } else {
        format!(
            "this user may not {} `{subject}`: ask the server's operator to allow it; \
             {template}",
            violation.operation
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lattice_client::PermissionOperation;

    #[test]
    fn a_denied_subject_hint_points_at_the_lattice_or_the_inbox_prefix() {
        let lattice: LatticeName = "b".parse().unwrap();
        let control = PermissionViolation::new(
            PermissionOperation::Publish,
            "wasmbus.ctl.v2alpha1.b.host.ping",
        );
        let hint = denied_hint(&control, &lattice);
        assert!(
            hint.contains("`wasmbus.ctl.v2alpha1.b.host.ping`"),
            "{hint}"
        );
        assert!(hint.contains("--lattice"), "{hint}");
        let bucket = PermissionViolation::new(
            PermissionOperation::Publish,
            "$JS.API.STREAM.INFO.KV_CONFIGDATA_b",
        );
        assert!(denied_hint(&bucket, &lattice).contains("--lattice"));
        let inbox = PermissionViolation::new(PermissionOperation::Subscribe, "_INBOX.abc.*");
        let hint = denied_hint(&inbox, &lattice);
        assert!(hint.contains("--inbox-prefix"), "{hint}");
        assert!(hint.contains("`_INBOX_b`"), "{hint}");
        let other = PermissionViolation::new(PermissionOperation::Publish, "elsewhere.x");
        assert!(!denied_hint(&other, &lattice).contains("--lattice"));
    }

    #[test]
    fn who_names_the_user_without_a_secret() {
        let auth = NatsAuth {
            user: Some("alice".into()),
            password: Some(lattice_client::auth::Secret::new("pw-123")),
            ..NatsAuth::default()
        };
        assert_eq!(who(&auth), "user `alice` (--user)");
        let token = NatsAuth {
            token: Some(lattice_client::auth::Secret::new("tok-123")),
            ..NatsAuth::default()
        };
        assert!(!who(&token).contains("tok-123"));
    }
}
