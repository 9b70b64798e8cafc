//! Link messages of the lattice wire contract: the provider side.
//!
//! A host asks a provider to establish a link with a [`LinkPutRequest`] and to remove one with
//! a [`LinkDeleteRequest`], on the provider's own subjects ([`ProviderSubject`]). The provider
//! answers with a [`LinkResponse`]: accepted, or refused with a [`LinkErrorKind`] and its own
//! message ("address already in use", "certificate not found"), which travels to the host's
//! status and the scheduler's rollout status whole.
//!
//! A host starting a provider process hands it [`HostData`] on stdin, as wasmCloud 1.x hosts
//! do.
//!
//! No I/O, no async runtime: a provider in any framework can use these types.

mod host_data;
mod message;
mod secret;
pub mod secrets_api;
mod subject;

pub use host_data::{HostData, HostDataError, HostDataErrorKind, HostLinkDefinition};
pub use lattice_status::LinkErrorKind;
pub use message::{
    HealthCheckResponse, LinkDeleteRequest, LinkGeneration, LinkPutRequest, LinkRefusal,
    LinkResponse, LinkResult, Received,
};
pub use secret::{SecretMap, SecretValue};
pub use subject::{
    ProviderOperation, ProviderSubject, ProviderSubjectError, ProviderSubjectErrorKind,
    instance_health_subject,
};
