//! 1.x control subjects: `wasmbus.ctl.v1.{lattice}.…`.

use crate::SubjectError;
use lattice_spec::{HostId, LatticeName};
use std::{fmt, str::FromStr};

/// The 1.x control subject prefix, up to and including the version.
pub const V1_PREFIX: &str = "wasmbus.ctl.v1";

/// A 1.x control subject.
///
/// ```
/// use lattice_ctl::v1::V1Subject;
///
/// let subject = V1Subject::ScaleComponent { lattice: "default".parse()?, host_id: "NHOST".parse()? };
/// assert_eq!(subject.to_string(), "wasmbus.ctl.v1.default.component.scale.NHOST");
/// assert_eq!(subject.to_string().parse::<V1Subject>().ok(), Some(subject));
/// # Ok::<(), lattice_spec::IdError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum V1Subject {
    /// `….host.ping`: every host answers with a `CtlResponse<Host>`.
    HostPing {
        /// The lattice.
        lattice: LatticeName,
    },
    /// `….host.get.{host_id}`: one host's `CtlResponse<HostInventory>`.
    HostInventory {
        /// The lattice.
        lattice: LatticeName,
        /// The host addressed.
        host_id: HostId,
    },
    /// `….component.scale.{host_id}`: a `ScaleComponentCommand`.
    ScaleComponent {
        /// The lattice.
        lattice: LatticeName,
        /// The host addressed.
        host_id: HostId,
    },
    /// `….component.update.{host_id}`: an `UpdateComponentCommand`.
    UpdateComponent {
        /// The lattice.
        lattice: LatticeName,
        /// The host addressed.
        host_id: HostId,
    },
    /// `….link.put`: a `Link`.
    LinkPut {
        /// The lattice.
        lattice: LatticeName,
    },
    /// `….link.del`: a `DeleteLinkRequest`.
    LinkDelete {
        /// The lattice.
        lattice: LatticeName,
    },
    /// `….config.put.{name}`: a JSON object of string values.
    ConfigPut {
        /// The lattice.
        lattice: LatticeName,
        /// The configuration's name. 1.x allows any subject token here.
        name: String,
    },
}

impl V1Subject {
    fn lattice(&self) -> &LatticeName {
        match self {
            Self::HostPing { lattice }
            | Self::HostInventory { lattice, .. }
            | Self::ScaleComponent { lattice, .. }
            | Self::UpdateComponent { lattice, .. }
            | Self::LinkPut { lattice }
            | Self::LinkDelete { lattice }
            | Self::ConfigPut { lattice, .. } => lattice,
        }
    }
}

impl fmt::Display for V1Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{V1_PREFIX}.{}.", self.lattice())?;
        match self {
            Self::HostPing { .. } => f.write_str("host.ping"),
            Self::HostInventory { host_id, .. } => write!(f, "host.get.{host_id}"),
            Self::ScaleComponent { host_id, .. } => write!(f, "component.scale.{host_id}"),
            Self::UpdateComponent { host_id, .. } => write!(f, "component.update.{host_id}"),
            Self::LinkPut { .. } => f.write_str("link.put"),
            Self::LinkDelete { .. } => f.write_str("link.del"),
            Self::ConfigPut { name, .. } => write!(f, "config.put.{name}"),
        }
    }
}

impl FromStr for V1Subject {
    type Err = SubjectError;

    fn from_str(subject: &str) -> Result<Self, SubjectError> {
        let shape = || SubjectError::Shape {
            subject: subject.to_owned(),
            expected: "1.x control",
        };
        let rest = subject
            .strip_prefix(V1_PREFIX)
            .and_then(|r| r.strip_prefix('.'))
            .ok_or_else(shape)?;
        let tokens: Vec<&str> = rest.split('.').collect();
        let (lattice, tail) = tokens.split_first().ok_or_else(shape)?;
        let lattice: LatticeName = lattice.parse()?;
        Ok(match tail {
            ["host", "ping"] => Self::HostPing { lattice },
            ["host", "get", host] => Self::HostInventory {
                lattice,
                host_id: host.parse()?,
            },
            ["component", "scale", host] => Self::ScaleComponent {
                lattice,
                host_id: host.parse()?,
            },
            ["component", "update", host] => Self::UpdateComponent {
                lattice,
                host_id: host.parse()?,
            },
            ["link", "put"] => Self::LinkPut { lattice },
            ["link", "del"] => Self::LinkDelete { lattice },
            ["config", "put", name] if is_subject_token(name) => Self::ConfigPut {
                lattice,
                name: (*name).to_owned(),
            },
            _ => return Err(shape()),
        })
    }
}

/// Whether `token` can stand as one subject token.
fn is_subject_token(token: &str) -> bool {
    !token.is_empty() && !token.contains(['.', '*', '>', ' ', '\t', '\r', '\n'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_match_the_1x_client_and_round_trip() {
        let lattice = LatticeName::new("default").unwrap();
        let host_id = HostId::new("NBCD").unwrap();
        let cases = [
            (
                V1Subject::HostPing {
                    lattice: lattice.clone(),
                },
                "wasmbus.ctl.v1.default.host.ping",
            ),
            (
                V1Subject::HostInventory {
                    lattice: lattice.clone(),
                    host_id: host_id.clone(),
                },
                "wasmbus.ctl.v1.default.host.get.NBCD",
            ),
            (
                V1Subject::ScaleComponent {
                    lattice: lattice.clone(),
                    host_id: host_id.clone(),
                },
                "wasmbus.ctl.v1.default.component.scale.NBCD",
            ),
            (
                V1Subject::UpdateComponent {
                    lattice: lattice.clone(),
                    host_id,
                },
                "wasmbus.ctl.v1.default.component.update.NBCD",
            ),
            (
                V1Subject::LinkPut {
                    lattice: lattice.clone(),
                },
                "wasmbus.ctl.v1.default.link.put",
            ),
            (
                V1Subject::LinkDelete {
                    lattice: lattice.clone(),
                },
                "wasmbus.ctl.v1.default.link.del",
            ),
            (
                V1Subject::ConfigPut {
                    lattice,
                    name: "redis-prod".into(),
                },
                "wasmbus.ctl.v1.default.config.put.redis-prod",
            ),
        ];
        for (subject, text) in cases {
            assert_eq!(subject.to_string(), text);
            assert_eq!(text.parse::<V1Subject>().unwrap(), subject);
        }
        assert!(
            "wasmbus.ctl.v1.default.config.put.a*b"
                .parse::<V1Subject>()
                .is_err()
        );
        assert!(
            "wasmbus.ctl.v2alpha1.default.host.ping"
                .parse::<V1Subject>()
                .is_err()
        );
    }
}
