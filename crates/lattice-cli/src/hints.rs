//! What to do next: the `hint:` line printed under every error.

use crate::{
    error::{CliError, Endpoint, HostFailure},
    nats_auth,
};
use lattice_client::{ApplyError, RequestError, RequestErrorKind, WaitError};
use lattice_ctl::{Rejection, RejectionCode};
use lattice_spec::HostId;
use lattice_status::{ReasonCode, StatusReason};

/// Said when a revision failed: a failed upgrade never replaces what was serving.
const KEEPS_SERVING: &str = "the previous revision, if any, keeps serving";

/// The hint for `error`, if there is something useful to say.
pub(crate) fn hint(error: &CliError) -> Option<String> {
    Some(match error {
        CliError::LocalLattice { hint, .. }
        | CliError::Rollout { hint, .. }
        | CliError::Invoke { hint, .. }
        | CliError::Config { hint, .. } => hint.clone(),
        CliError::ReadSpec { .. } => {
            "check the path of -f (`-f -` reads a YAML spec from stdin)".to_owned()
        }
        CliError::ParseSpec { .. } => "fix the syntax at the position above; the ComponentSpec \
             schema (`lattice schema export`, v2alpha1/component-spec.json) describes every field"
            .to_owned(),
        CliError::InvalidSpec { .. } => "fix every field listed above and apply again; \
             `lattice schema export` writes the ComponentSpec schema \
             (v2alpha1/component-spec.json) for your editor"
            .to_owned(),
        CliError::Auth(error) => nats_auth::error_hint(error),
        CliError::Connect { url, auth, source } if nats_auth::is_tls_failure(source) => {
            nats_auth::tls_hint(url, auth)
        }
        CliError::Connect { url, auth, source } => match source.kind() {
            async_nats::ConnectErrorKind::ServerParse => {
                format!("`{url}` is not a NATS URL: write it as nats://HOST:PORT")
            }
            async_nats::ConnectErrorKind::AuthorizationViolation => {
                nats_auth::refused_hint(url, auth)
            }
            async_nats::ConnectErrorKind::Authentication => nats_auth::signing_hint(auth),
            _ => nats_unreachable(url),
        },
        CliError::NoHosts { endpoint, .. } => format!(
            "no host answered: is `lattice up` running, and is LATTICE_NATS_URL right (now \
             {})? Do the hosts belong to lattice `{}` (--lattice / LATTICE_LATTICE)? Slow \
             hosts need a longer --timeout.",
            endpoint.url, endpoint.lattice
        ),
        CliError::Discover { endpoint, .. } => nats_unreachable(&endpoint.url),
        CliError::Host {
            host,
            endpoint,
            failure,
            ..
        } => host_failure(host, endpoint, failure)?,
        CliError::PermissionDenied {
            violation,
            endpoint,
            ..
        } => nats_auth::denied_hint(violation, &endpoint.lattice),
        CliError::WriteSchema { .. } => "check that the directory is writable".to_owned(),
        CliError::Several { .. } | CliError::Output { .. } => return None,
    })
}

fn nats_unreachable(url: &str) -> String {
    format!(
        "is nats-server reachable at {url}? Start a local lattice with `lattice up`, or point \
         --nats-url / LATTICE_NATS_URL at your NATS server"
    )
}

fn host_failure(host: &HostId, endpoint: &Endpoint, failure: &HostFailure) -> Option<String> {
    match failure {
        HostFailure::Request(e)
        | HostFailure::Apply(ApplyError::Request(e))
        | HostFailure::Wait(WaitError::Apply(ApplyError::Request(e)))
        | HostFailure::Wait(WaitError::Follow { source: e, .. }) => {
            Some(request(host, endpoint, e))
        }
        HostFailure::Apply(ApplyError::Rejected { rejection, .. })
        | HostFailure::Wait(WaitError::Apply(ApplyError::Rejected { rejection, .. })) => {
            Some(rejected(host, rejection))
        }
        HostFailure::Apply(ApplyError::FallbackRefused { .. })
        | HostFailure::Wait(WaitError::Apply(ApplyError::FallbackRefused { .. })) => Some(
            "the wasmCloud 1.x host refused one of the fallback operations (its message is \
             above); a v2alpha1 host reports typed errors and keeps the previous revision \
             serving"
                .to_owned(),
        ),
        HostFailure::Wait(WaitError::Failed { reason, .. }) => Some(failed(host, reason)),
        HostFailure::Wait(WaitError::DeadlineExceeded { .. }) => Some(format!(
            "the host may still be working on it: follow it with `lattice get inventory \
             --host {host}`, or apply again with a longer --deadline"
        )),
        HostFailure::DeleteRejected { rejection, .. } => Some(rejected(host, rejection)),
        _ => None,
    }
}

fn request(host: &HostId, endpoint: &Endpoint, error: &RequestError) -> String {
    match error.kind() {
        RequestErrorKind::NoResponders => format!(
            "no host `{host}` answered on lattice `{}`: check the id with `lattice get hosts`; \
             is `lattice up` running, and is LATTICE_NATS_URL right (now {})?",
            endpoint.lattice, endpoint.url
        ),
        RequestErrorKind::TimedOut => format!(
            "host `{host}` did not answer in time: raise --timeout, or check that the host is \
             not stuck"
        ),
        RequestErrorKind::Transport => nats_unreachable(&endpoint.url),
        RequestErrorKind::VersionUnsupported => format!(
            "host `{host}` does not speak this CLI's API version: `lattice get hosts` lists the \
             versions each host speaks; upgrade the host or use a matching CLI"
        ),
        RequestErrorKind::PermissionDenied => match error.permission_violation() {
            Some(violation) => nats_auth::denied_hint(violation, &endpoint.lattice),
            None => "the NATS server denied this user the request".to_owned(),
        },
        RequestErrorKind::Decode => format!(
            "host `{host}` answered with a message this CLI cannot read: compare versions with \
             `lattice get hosts`"
        ),
        _ => match error.host_error() {
            Some(e) if e.retryable => {
                "the host could not process the request (its message is above); it says \
                 trying again later may succeed"
                    .to_owned()
            }
            _ => "the host could not process the request; its message is above".to_owned(),
        },
    }
}

fn rejected(host: &HostId, rejection: &Rejection) -> String {
    match rejection.code {
        RejectionCode::StaleRevision => match rejection.current_revision {
            Some(current) => format!(
                "host `{host}` already has revision {current}: set `revision` above it and \
                 apply again"
            ),
            None => format!(
                "host `{host}` has a newer revision: `lattice get inventory --host {host}` \
                 shows it; set `revision` above it and apply again"
            ),
        },
        RejectionCode::RevisionConflict => format!(
            "host `{host}` has this revision with other content: a changed spec needs a new \
             revision; raise `revision` and apply again"
        ),
        RejectionCode::InvalidSpec => "fix every field the host listed and apply again".to_owned(),
        RejectionCode::UnsupportedArtifact => format!(
            "host `{host}` cannot fetch this kind of artifact: use a reference it can read \
             (a local file or an OCI image layout for hosts started by `lattice up`)"
        ),
        RejectionCode::NotFound => {
            format!("`lattice get inventory --host {host}` shows the components host `{host}` has")
        }
        _ => format!(
            "the host's message is above; `lattice get inventory --host {host}` shows what the \
             host has"
        ),
    }
}

fn failed(host: &HostId, reason: &StatusReason) -> String {
    let link = match (&reason.link_name, &reason.provider_id) {
        (Some(link), Some(provider)) => format!(" of link `{link}` (provider `{provider}`)"),
        _ => String::new(),
    };
    let provider = reason
        .provider_id
        .as_deref()
        .map_or("the provider".to_owned(), |p| format!("provider `{p}`"));
    match reason.code {
        ReasonCode::LinkRefused => {
            format!("{KEEPS_SERVING}; fix the link configuration{link} and apply a new revision")
        }
        ReasonCode::LinkUnacknowledged => format!(
            "{KEEPS_SERVING}; {provider} did not answer the link request: is it running on \
             this lattice? Start it, then apply a new revision"
        ),
        ReasonCode::FetchFailed => format!(
            "{KEEPS_SERVING}; check the artifact reference (relative file paths are read from \
             the host's working directory, e.g. where `lattice up` runs) and apply a new \
             revision"
        ),
        ReasonCode::InvalidArtifact => format!(
            "{KEEPS_SERVING}; the artifact is not a WebAssembly component (or not the pinned \
             `digest`): fix it and apply a new revision"
        ),
        ReasonCode::UnsatisfiedImports => format!(
            "{KEEPS_SERVING}; add a link for every interface the component imports (the \
             message names them) and apply a new revision"
        ),
        ReasonCode::FetchTimeout => format!(
            "{KEEPS_SERVING}; the artifact did not arrive within the host's fetch deadline: \
             check that its registry answers from the host, or raise the deadline \
             (`HostDeadlines`), then apply a new revision"
        ),
        ReasonCode::ValidateTimeout | ReasonCode::InstantiateTimeout => format!(
            "{KEEPS_SERVING}; the component took longer than the host's deadline to validate \
             or start (the message says which): check its size and start-up work, or raise \
             the deadline (`HostDeadlines`), then apply a new revision"
        ),
        ReasonCode::DrainTimeout => format!(
            "{KEEPS_SERVING}; invocations in flight did not finish within the host's drain \
             deadline: look for a long-running call, or raise the deadline (`HostDeadlines`), \
             then apply again"
        ),
        ReasonCode::SecretNotFound => format!(
            "{KEEPS_SERVING}; store the secret the message names in its backend (with \
             `lattice-secrets-kv put KEY`, the value on stdin) or fix the reference, and apply \
             a new revision"
        ),
        ReasonCode::SecretDenied => format!(
            "{KEEPS_SERVING}; let the component read the secret (`lattice-secrets-kv allow \
             COMPONENT KEY`) and apply a new revision"
        ),
        ReasonCode::SecretsUnavailable => format!(
            "{KEEPS_SERVING}; is the secrets backend the message names running on this NATS \
             server (`lattice-secrets-kv run`), and does the host have one configured? Then \
             apply a new revision"
        ),
        ReasonCode::Superseded => format!(
            "a newer revision was applied to host `{host}` meanwhile: `lattice get inventory \
             --host {host}` shows it"
        ),
        _ => format!(
            "{KEEPS_SERVING}; `lattice get inventory --host {host}` shows both revisions; fix \
             the cause and apply a new revision"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lattice_status::LinkErrorKind;

    #[test]
    fn a_refused_link_says_what_to_do_next() {
        let reason = StatusReason::link_refused(
            "http",
            "default",
            LinkErrorKind::ResourceUnavailable,
            "address in use",
        );
        let hint = failed(&"host-1".parse().unwrap(), &reason);
        assert!(hint.contains("keeps serving"), "{hint}");
        assert!(hint.contains("fix the link configuration"), "{hint}");
        assert!(hint.contains("apply a new revision"), "{hint}");
    }

    #[test]
    fn a_host_deadline_names_the_deadline_to_raise() {
        let host = "host-1".parse().unwrap();
        for code in [
            ReasonCode::FetchTimeout,
            ReasonCode::ValidateTimeout,
            ReasonCode::InstantiateTimeout,
            ReasonCode::DrainTimeout,
        ] {
            let hint = failed(&host, &StatusReason::new(code, "took too long"));
            assert!(hint.contains("HostDeadlines"), "{code:?}: {hint}");
            assert!(hint.contains("keeps serving"), "{code:?}: {hint}");
        }
    }

    #[test]
    fn a_missing_secret_says_where_to_store_it() {
        let reason = StatusReason::new(
            ReasonCode::SecretNotFound,
            "secret `token`: secret `web/token` not found in backend `nats-kv`",
        );
        let hint = failed(&"host-1".parse().unwrap(), &reason);
        assert!(hint.contains("keeps serving"), "{hint}");
        assert!(hint.contains("lattice-secrets-kv put"), "{hint}");
    }

    #[test]
    fn no_responders_points_at_the_lattice_setup() {
        let endpoint = Endpoint {
            url: "nats://127.0.0.1:4222".into(),
            lattice: "default".parse().unwrap(),
        };
        let error = RequestError::NoResponders {
            subject: "x".into(),
        };
        let hint = request(&"ghost".parse().unwrap(), &endpoint, &error);
        assert!(hint.contains("is `lattice up` running"), "{hint}");
        assert!(hint.contains("LATTICE_NATS_URL"), "{hint}");
    }
}
