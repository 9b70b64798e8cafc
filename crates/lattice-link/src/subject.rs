//! The subjects a provider listens on, built and parsed in one place.
//!
//! They are the subjects wasmCloud 1.x providers already use, so an existing provider keeps
//! receiving link messages; what changes is that a lattice host sends them as requests and
//! waits (a bounded time) for a [`LinkResponse`](crate::LinkResponse).

use lattice_spec::{IdError, LatticeName, ProviderId};
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
}

impl ProviderOperation {
    const fn suffix(self) -> &'static str {
        match self {
            Self::LinkPut => "linkdefs.put",
            Self::LinkDelete => "linkdefs.del",
            Self::Health => "health",
        }
    }
}

/// A subject addressed to one provider: `wasmbus.rpc.{lattice}.{provider_id}.{operation}`.
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
        }
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
        )
    }
}

/// A string that is not a provider subject.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderSubjectError {
    /// Not of the form `wasmbus.rpc.{lattice}.{provider_id}.{linkdefs.put|linkdefs.del|health}`.
    #[error(
        "`{0}` is not a provider subject: expected \
         wasmbus.rpc.{{lattice}}.{{provider_id}}.{{linkdefs.put|linkdefs.del|health}}"
    )]
    Shape(String),
    /// The lattice or provider token is not a valid identifier.
    #[error("invalid provider subject: {0}")]
    Id(#[from] IdError),
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
        let operation = [
            ProviderOperation::LinkPut,
            ProviderOperation::LinkDelete,
            ProviderOperation::Health,
        ]
        .into_iter()
        .find(|o| o.suffix() == op)
        .ok_or_else(shape)?;
        Ok(Self {
            lattice: lattice.parse()?,
            provider_id: provider.parse()?,
            operation,
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
        }
    }

    #[test]
    fn foreign_subjects_are_refused() {
        for bad in [
            "wasmbus.rpc.default.kv.linkdefs.get",
            "wasmbus.ctl.v1.default.link.put",
            "wasmbus.rpc.default",
            "wasmbus.rpcx.default.kv.health",
        ] {
            assert!(
                matches!(
                    bad.parse::<ProviderSubject>(),
                    Err(ProviderSubjectError::Shape(_))
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            "wasmbus.rpc.default.k*v.health".parse::<ProviderSubject>(),
            Err(ProviderSubjectError::Id(_))
        ));
    }
}
