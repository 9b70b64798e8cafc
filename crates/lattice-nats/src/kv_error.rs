//! The one error type of a failed JetStream key-value operation, shared by every bucket
//! lattice keeps (the configuration bucket here, the scheduler's rollout store).

use async_nats::jetstream::{self, kv};

/// The async-nats error of a failed key-value operation, whole.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KvError {
    /// Looking the bucket up failed.
    #[error(transparent)]
    Bucket(#[from] jetstream::context::KeyValueError),
    /// Creating the bucket failed.
    #[error(transparent)]
    CreateBucket(#[from] jetstream::context::CreateKeyValueError),
    /// Reading an entry failed.
    #[error(transparent)]
    Entry(#[from] kv::EntryError),
    /// Creating an entry failed.
    #[error(transparent)]
    Create(#[from] kv::CreateError),
    /// Updating (or purging) an entry failed.
    #[error(transparent)]
    Update(#[from] kv::UpdateError),
    /// Writing an entry failed.
    #[error(transparent)]
    Put(#[from] kv::PutError),
    /// Starting a watch, a history or a key listing failed.
    #[error(transparent)]
    Watch(#[from] kv::WatchError),
    /// A watch, a history or a key listing failed on the way.
    #[error(transparent)]
    Watcher(#[from] kv::WatcherError),
}

impl KvError {
    /// The async-nats error this one wraps, then each of its sources.
    fn chain(&self) -> impl Iterator<Item = &(dyn std::error::Error + 'static)> {
        let error: &(dyn std::error::Error + 'static) = match self {
            Self::Bucket(e) => e,
            Self::CreateBucket(e) => e,
            Self::Entry(e) => e,
            Self::Create(e) => e,
            Self::Update(e) => e,
            Self::Put(e) => e,
            Self::Watch(e) => e,
            Self::Watcher(e) => e,
        };
        std::iter::successors(Some(error), |e| e.source())
    }

    /// Whether JetStream did not answer in time (anywhere in the async-nats error chain: a
    /// `create` reports a timed-out update as `Publish`, a `put` a timed-out publish as `Ack`).
    #[must_use]
    pub fn is_timeout(&self) -> bool {
        self.chain().any(timed_out)
    }

    /// Whether JetStream had no one to answer (no responders to the request, a publish
    /// acknowledged "stream not found"): what a replicated bucket answers while its cluster
    /// elects a new stream leader after losing a server. Worth trying again shortly.
    #[must_use]
    pub fn is_unavailable(&self) -> bool {
        self.chain().any(unanswered)
    }

    /// Whether this is a lost compare-and-swap: `wrong last revision` on an update,
    /// `already exists` on a create.
    #[must_use]
    pub fn is_lost_swap(&self) -> bool {
        match self {
            Self::Create(e) => e.kind() == kv::CreateErrorKind::AlreadyExists,
            Self::Update(e) => e.kind() == kv::UpdateErrorKind::WrongLastRevision,
            _ => false,
        }
    }
}

/// Whether `error` itself is an async-nats timeout.
fn timed_out(error: &(dyn std::error::Error + 'static)) -> bool {
    use jetstream::context::{
        CreateKeyValueErrorKind, PublishError, PublishErrorKind, RequestError as JsRequestError,
        RequestErrorKind as JsRequestErrorKind,
    };
    if let Some(e) = error.downcast_ref::<kv::EntryError>() {
        e.kind() == kv::EntryErrorKind::TimedOut
    } else if let Some(e) = error.downcast_ref::<kv::UpdateError>() {
        e.kind() == kv::UpdateErrorKind::TimedOut
    } else if let Some(e) = error.downcast_ref::<kv::WatchError>() {
        e.kind() == kv::WatchErrorKind::TimedOut
    } else if let Some(e) = error.downcast_ref::<jetstream::context::CreateKeyValueError>() {
        e.kind() == CreateKeyValueErrorKind::TimedOut
    } else if let Some(e) = error.downcast_ref::<PublishError>() {
        e.kind() == PublishErrorKind::TimedOut
    } else if let Some(e) = error.downcast_ref::<JsRequestError>() {
        e.kind() == JsRequestErrorKind::TimedOut
    } else if let Some(e) = error.downcast_ref::<async_nats::RequestError>() {
        e.kind() == async_nats::RequestErrorKind::TimedOut
    } else {
        false
    }
}

/// Whether `error` itself says nobody answered: no responders, or a publish to no stream.
fn unanswered(error: &(dyn std::error::Error + 'static)) -> bool {
    use jetstream::context::{
        PublishError, PublishErrorKind, RequestError as JsRequestError,
        RequestErrorKind as JsRequestErrorKind,
    };
    if let Some(e) = error.downcast_ref::<PublishError>() {
        e.kind() == PublishErrorKind::StreamNotFound
    } else if let Some(e) = error.downcast_ref::<JsRequestError>() {
        e.kind() == JsRequestErrorKind::NoResponders
    } else if let Some(e) = error.downcast_ref::<async_nats::RequestError>() {
        e.kind() == async_nats::RequestErrorKind::NoResponders
    } else {
        false
    }
}
