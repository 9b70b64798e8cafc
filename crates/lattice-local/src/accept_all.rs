//! [`AcceptAll`]: the link handler of a stand-in provider, which accepts every link unless told
//! to refuse one, and keeps every request it was called with.

use futures::future::BoxFuture;
use lattice_link::{LinkDeleteRequest, LinkPutRequest, LinkRefusal};
use lattice_provider::LinkHandler;
use std::{
    fmt,
    sync::{Mutex, MutexGuard},
};
use tokio::sync::watch;

/// A link request an [`AcceptAll`] handler was called with.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum LinkCall {
    /// A link put.
    Put(LinkPutRequest),
    /// A link delete.
    Delete(LinkDeleteRequest),
}

/// What an [`AcceptAll`] handler tells its observer after each call: the call and how it was
/// answered.
type Observer = Box<dyn Fn(&LinkCall, Result<(), &LinkRefusal>) + Send + Sync>;

/// A put whose target configuration has `key` = `value` is refused with `refusal`.
#[derive(Clone, Debug)]
struct Refusal {
    key: String,
    value: String,
    refusal: LinkRefusal,
}

/// A [`LinkHandler`] that accepts every link put and delete, answers health checks healthy, and
/// keeps the requests it was called with, in order.
///
/// It stands in for a provider whose own work does not matter to the lattice around it: a
/// local lattice to try things in, a test of the host or of a scheduler, a benchmark. It can be
/// told to refuse the puts whose target configuration holds a given value
/// ([`refusing`](Self::refusing), or [`refuse_when`](Self::refuse_when) while it serves), as a
/// provider refuses an address already in use, and to tell an observer about every call
/// ([`on_call`](Self::on_call)).
///
/// ```
/// use lattice_link::{LinkErrorKind, LinkRefusal};
/// use lattice_local::AcceptAll;
///
/// let kv = AcceptAll::new().refusing(
///     "url",
///     "redis://refused",
///     LinkRefusal {
///         kind: LinkErrorKind::ResourceUnavailable,
///         message: "connection refused by redis".into(),
///     },
/// );
/// assert!(kv.calls().is_empty());
/// ```
#[derive(Default)]
pub struct AcceptAll {
    refusals: Mutex<Vec<Refusal>>,
    calls: watch::Sender<Vec<LinkCall>>,
    observer: Option<Observer>,
}

impl fmt::Debug for AcceptAll {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcceptAll")
            .field("refusals", &*lock(&self.refusals))
            .field("calls", &*self.calls.borrow())
            .field("observer", &self.observer.is_some())
            .finish()
    }
}

impl AcceptAll {
    /// A handler that accepts everything.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Refuses the puts whose target configuration has `key` = `value`, with `refusal`.
    #[must_use]
    pub fn refusing(self, key: &str, value: &str, refusal: LinkRefusal) -> Self {
        self.refuse_when(key, value, refusal);
        self
    }

    /// From now on, refuses the puts whose target configuration has `key` = `value`, with
    /// `refusal` (added to the refusals already set).
    ///
    /// ```
    /// use lattice_link::{LinkErrorKind, LinkRefusal};
    ///
    /// let messaging = lattice_local::AcceptAll::new();
    /// messaging.refuse_when(
    ///     "subject",
    ///     "payments",
    ///     LinkRefusal {
    ///         kind: LinkErrorKind::ResourceUnavailable,
    ///         message: "address already in use: payments".into(),
    ///     },
    /// );
    /// ```
    pub fn refuse_when(&self, key: &str, value: &str, refusal: LinkRefusal) {
        lock(&self.refusals).push(Refusal {
            key: key.to_owned(),
            value: value.to_owned(),
            refusal,
        });
    }

    /// Calls `observer` after each link request with the request and the answer, e.g. to print
    /// them or note when they arrived.
    ///
    /// ```
    /// use lattice_local::{AcceptAll, LinkCall};
    ///
    /// let printing = AcceptAll::new().on_call(|call, answer| match call {
    ///     LinkCall::Put(put) => println!("put from `{}`: {answer:?}", put.source_id),
    ///     LinkCall::Delete(delete) => println!("delete from `{}`", delete.source_id),
    ///     _ => {}
    /// });
    /// ```
    #[must_use]
    pub fn on_call(
        mut self,
        observer: impl Fn(&LinkCall, Result<(), &LinkRefusal>) + Send + Sync + 'static,
    ) -> Self {
        self.observer = Some(Box::new(observer));
        self
    }

    /// The link requests so far, in the order they were called.
    #[must_use]
    pub fn calls(&self) -> Vec<LinkCall> {
        self.calls.borrow().clone()
    }

    /// A receiver that sees the requests so far and every change, to wait for a call with
    /// [`watch::Receiver::wait_for`] (under a timeout of the caller's).
    ///
    /// ```no_run
    /// # async fn wait(kv: &lattice_local::AcceptAll) -> Result<(), tokio::sync::watch::error::RecvError> {
    /// kv.subscribe().wait_for(|calls| !calls.is_empty()).await?;
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn subscribe(&self) -> watch::Receiver<Vec<LinkCall>> {
        self.calls.subscribe()
    }

    /// Keeps `call`, tells the observer, and returns `answer`.
    fn answer(&self, call: LinkCall, answer: Result<(), LinkRefusal>) -> Result<(), LinkRefusal> {
        if let Some(observer) = &self.observer {
            observer(&call, answer.as_ref().map(|_| ()));
        }
        self.calls.send_modify(|calls| calls.push(call));
        answer
    }
}

impl LinkHandler for AcceptAll {
    fn put_link<'a>(&'a self, link: &'a LinkPutRequest) -> BoxFuture<'a, Result<(), LinkRefusal>> {
        let refused = lock(&self.refusals)
            .iter()
            .find(|r| link.target_config.get(&r.key) == Some(&r.value))
            .map(|r| r.refusal.clone());
        let answer = self.answer(LinkCall::Put(link.clone()), refused.map_or(Ok(()), Err));
        Box::pin(async move { answer })
    }

    fn delete_link<'a>(
        &'a self,
        link: &'a LinkDeleteRequest,
    ) -> BoxFuture<'a, Result<(), LinkRefusal>> {
        let answer = self.answer(LinkCall::Delete(link.clone()), Ok(()));
        Box::pin(async move { answer })
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Plain data: a panic elsewhere while holding the lock leaves nothing half-done.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
