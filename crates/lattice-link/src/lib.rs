//! Link messages of the lattice wire contract: the provider side.
//!
//! A host asks a provider to establish a link with a [`LinkPutRequest`] and to remove one with
//! a [`LinkDeleteRequest`], on the provider's own subjects ([`ProviderSubject`]). The provider
//! answers with a [`LinkResponse`]: accepted, or refused with a [`LinkErrorKind`] and its own
//! message ("address already in use", "certificate not found"), which travels to the host's
//! status and the scheduler's rollout status whole.
//!
//! No I/O, no async runtime: a provider in any framework can use these types.

mod message;
mod secret;
pub mod secrets_api;
mod subject;

pub use lattice_status::LinkErrorKind;
pub use message::{
    HealthCheckResponse, LinkDeleteRequest, LinkGeneration, LinkPutRequest, LinkRefusal,
    LinkResponse, LinkResult, Received,
};
pub use secret::{SecretMap, SecretValue};
pub use subject::{
    ProviderOperation, ProviderSubject, ProviderSubjectError, ProviderSubjectErrorKind,
};
