//! The subjects a provider listens on, built and parsed in one place.
//!
//! They are the subjects wasmCloud 1.x providers already use, so an existing provider keeps
//! receiving link messages; what changes is that a lattice host sends them as requests and
//! waits (a bounded time) for a [`LinkResponse`](crate::LinkResponse).
//!
//! # One instance answers for its host
//!
//! A provider usually runs one instance per host, and every instance must serve every link a
//! component on its host uses. If a host asked on the lattice-wide subject, the first answer
//! would win and one instance's refusal ("address in use") could hide behind another's
//! acceptance. So the link subjects also exist **host-scoped**,
//! `wasmbus.rpc.{lattice}.{provider_id}.linkdefs.put.{host_id}`: an instance that knows its
//! host (a 1.x host hands it `host_id` when it starts the provider) subscribes to its host's
//! subjects, and a lattice host sends a link request there first, so the answer it gets is
//! the one of the instance on its own host. Only when no instance answers there (a provider
//! running on no host, or elsewhere) does the host ask on the lattice-wide subject, where any
//! one instance answers. 1.x providers, which subscribe to the lattice-wide subjects only,
//! keep receiving everything 1.x hosts publish.

use lattice_spec::{HostId, IdError, LatticeName, ProviderId};
use std::fmt;

const PREFIX: &str = "wasmbus.rpc";

/// Which provider operation a subject addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProviderOperation {
    /// `linkdefs.put`: establish or replace a link.
    LinkPut,
    /// `linkdefs.del`: remove a link.
    LinkDelete,
    /// `health`: health check.
    Health,
    /// `default.shutdown`: the host asks the provider process it started to shut down, with
    /// body `{"host_id": "…"}` — the host id of the provider's host data — and a reply
    /// subject (wasmCloud 1.x SDKs ignore a request without either: `wasmcloud-provider-sdk`
    /// `src/provider.rs`; the subject is `wasmcloud-core` `src/rpc.rs`
    /// `provider_rpc_shutdown_subject`, with the link name `default`).
    Shutdown,
}

impl ProviderOperation {
    const fn suffix(self) -> &'static str {
        match self {
            Self::LinkPut => "linkdefs.put",
            Self::LinkDelete => "linkdefs.del",
            Self::Health => "health",
            Self::Shutdown => "default.shutdown",
        }
    }
}

/// A subject addressed to one provider: `wasmbus.rpc.{lattice}.{provider_id}.{operation}`,
/// or to its instance on one host: `….{operation}.{host_id}` (see the module docs).
///
/// ```
/// use lattice_link::{ProviderOperation, ProviderSubject};
///
/// let subject = ProviderSubject::new("default".parse()?, "http-server".parse()?, ProviderOperation::LinkPut);
/// assert_eq!(subject.to_string(), "wasmbus.rpc.default.http-server.linkdefs.put");
/// assert_eq!(subject.to_string().parse::<ProviderSubject>().ok(), Some(subject));
/// # Ok::<(), lattice_spec::IdError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ProviderSubject {
    /// The lattice.
    pub lattice: LatticeName,
    /// The provider addressed.
    pub provider_id: ProviderId,
    /// The operation.
    pub operation: ProviderOperation,
    /// The host whose instance is addressed; `None` for the lattice-wide subject.
    pub host: Option<HostId>,
}

impl ProviderSubject {
    /// The subject for `operation` on `provider_id` in `lattice`.
    #[must_use]
    pub fn new(
        lattice: LatticeName,
        provider_id: ProviderId,
        operation: ProviderOperation,
    ) -> Self {
        Self {
            lattice,
            provider_id,
            operation,
            host: None,
        }
    }

    /// The subject of the instance on `host` (see the module docs).
    ///
    /// ```
    /// use lattice_link::{ProviderOperation, ProviderSubject};
    ///
    /// let subject = ProviderSubject::new("default".parse()?, "http-server".parse()?, ProviderOperation::LinkPut)
    ///     .on_host("host-a".parse()?);
    /// assert_eq!(subject.to_string(), "wasmbus.rpc.default.http-server.linkdefs.put.host-a");
    /// assert_eq!(subject.to_string().parse::<ProviderSubject>().ok(), Some(subject));
    /// # Ok::<(), lattice_spec::IdError>(())
    /// ```
    #[must_use]
    pub fn on_host(mut self, host: HostId) -> Self {
        self.host = Some(host);
        self
    }
}

impl fmt::Display for ProviderSubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{PREFIX}.{}.{}.{}",
            self.lattice,
            self.provider_id,
            self.operation.suffix()
        )?;
        match &self.host {
            Some(host) => write!(f, ".{host}"),
            None => Ok(()),
        }
    }
}

/// The health subject of one provider **process**:
/// `wasmbus.rpc.{lattice}.{provider_id}.health.instance.{instance_id}`, with the
/// `instance_id` of the host data it was started with.
///
/// The provider-id health subject is answered by every process of the provider (on every
/// host, and on one host while an upgrade runs the new revision beside the old one), first
/// answer wins; a host judging the process it just started asks this one. Lattice kit
/// providers answer it; 1.x providers do not (no responders), and a host then falls back to
/// the provider-id subject.
///
/// ```
/// let subject = lattice_link::instance_health_subject(&"default".parse()?, &"kv".parse()?, "i-1");
/// assert_eq!(subject, "wasmbus.rpc.default.kv.health.instance.i-1");
/// # Ok::<(), lattice_spec::IdError>(())
/// ```
#[must_use]
pub fn instance_health_subject(
    lattice: &LatticeName,
    provider_id: &ProviderId,
    instance_id: &str,
) -> String {
    format!("{PREFIX}.{lattice}.{provider_id}.health.instance.{instance_id}")
}

/// A string that is not a provider subject.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderSubjectError {
    /// Not of the form `wasmbus.rpc.{lattice}.{provider_id}.{linkdefs.put|linkdefs.del|health}`.
    #[error(
        "`{0}` is not a provider subject: expected \
         wasmbus.rpc.{{lattice}}.{{provider_id}}.{{linkdefs.put|linkdefs.del|health}}[.{{host_id}}]"
    )]
    Shape(String),
    /// The lattice or provider token is not a valid identifier.
    #[error("invalid provider subject: {0}")]
    Id(#[from] IdError),
}

/// What is wrong with a provider subject, as a value to `match` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProviderSubjectErrorKind {
    /// See [`ProviderSubjectError::Shape`].
    Shape,
    /// See [`ProviderSubjectError::Id`].
    Id,
}

impl ProviderSubjectError {
    /// The kind of problem.
    #[must_use]
    pub fn kind(&self) -> ProviderSubjectErrorKind {
        match self {
            Self::Shape(_) => ProviderSubjectErrorKind::Shape,
            Self::Id(_) => ProviderSubjectErrorKind::Id,
        }
    }
}

impl std::str::FromStr for ProviderSubject {
    type Err = ProviderSubjectError;

    fn from_str(subject: &str) -> Result<Self, Self::Err> {
        let shape = || ProviderSubjectError::Shape(subject.to_owned());
        let rest = subject
            .strip_prefix(PREFIX)
            .and_then(|r| r.strip_prefix('.'))
            .ok_or_else(shape)?;
        let (lattice, rest) = rest.split_once('.').ok_or_else(shape)?;
        let (provider, op) = rest.split_once('.').ok_or_else(shape)?;
        let (operation, host) = [
            ProviderOperation::LinkPut,
            ProviderOperation::LinkDelete,
            ProviderOperation::Health,
            ProviderOperation::Shutdown,
        ]
        .into_iter()
        .find_map(|o| {
            let host = op.strip_prefix(o.suffix())?;
            match host.strip_prefix('.') {
                Some(host) => Some((o, Some(host))),
                None => host.is_empty().then_some((o, None)),
            }
        })
        .ok_or_else(shape)?;
        Ok(Self {
            lattice: lattice.parse()?,
            provider_id: provider.parse()?,
            operation,
            host: host.map(str::parse).transpose()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_round_trips() {
        for operation in [
            ProviderOperation::LinkPut,
            ProviderOperation::LinkDelete,
            ProviderOperation::Health,
            ProviderOperation::Shutdown,
        ] {
            let subject = ProviderSubject::new(
                LatticeName::new("default").unwrap(),
                ProviderId::new("kv-redis").unwrap(),
                operation,
            );
            assert_eq!(
                subject.to_string().parse::<ProviderSubject>().unwrap(),
                subject
            );
            let scoped = subject.on_host(HostId::new("NAB3").unwrap());
            assert_eq!(
                scoped.to_string().parse::<ProviderSubject>().unwrap(),
                scoped
            );
        }
    }

    #[test]
    fn foreign_subjects_are_refused() {
        for bad in [
            "wasmbus.rpc.default.kv.linkdefs.get",
            "wasmbus.ctl.v1.default.link.put",
            "wasmbus.rpc.default",
            "wasmbus.rpcx.default.kv.health",
            "wasmbus.rpc.default.kv.linkdefs.putx",
            "wasmbus.rpc.default.kv.healthy",
        ] {
            assert!(
                matches!(
                    bad.parse::<ProviderSubject>(),
                    Err(ProviderSubjectError::Shape(_))
                ),
                "{bad}"
            );
        }
        for bad in [
            "wasmbus.rpc.default.k*v.health",
            "wasmbus.rpc.default.kv.linkdefs.put.a.b",
        ] {
            assert!(
                matches!(
                    bad.parse::<ProviderSubject>(),
                    Err(ProviderSubjectError::Id(_))
                ),
                "{bad}"
            );
        }
    }
}
