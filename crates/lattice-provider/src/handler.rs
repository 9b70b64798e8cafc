//! The trait a provider implements to answer link requests and health checks.

use lattice_link::{HealthCheckResponse, LinkDeleteRequest, LinkPutRequest, LinkRefusal};

/// A boxed, `Send` future: what [`LinkHandler`] methods return (re-exported from `futures`).
pub use futures::future::BoxFuture;

/// What a provider does when the host puts or deletes a link, or checks its health.
///
/// The trait is dyn-compatible (methods return [`BoxFuture`], no `async-trait` needed), so the
/// server holds it as `Arc<dyn LinkHandler>`. Implement a method with
/// `Box::pin(async move { … })`.
///
/// Methods are called concurrently: requests for *different* links, and health checks, run at
/// the same time, so a slow link never delays a health check. Requests for the *same* link
/// (same component, WIT namespace, WIT package and link name) are called one at a time, in the
/// order they were received; see [`ProviderServer`](crate::ProviderServer).
///
/// A method that panics does not take the server down: the host is answered with a refusal of
/// kind `internal` (or, for a health check, an unhealthy answer).
pub trait LinkHandler: Send + Sync + 'static {
    /// Establishes (or replaces) a link.
    ///
    /// Return `Err(LinkRefusal)` to refuse it; the kind and message travel to the host whole,
    /// e.g. `LinkErrorKind::ResourceUnavailable` with `address already in use: 0.0.0.0:8080`.
    fn put_link<'a>(&'a self, link: &'a LinkPutRequest) -> BoxFuture<'a, Result<(), LinkRefusal>>;

    /// Removes a link.
    ///
    /// Deleting a link the provider does not know should succeed: the host may retry a delete.
    fn delete_link<'a>(
        &'a self,
        link: &'a LinkDeleteRequest,
    ) -> BoxFuture<'a, Result<(), LinkRefusal>>;

    /// Answers a health check. The default answers healthy.
    fn health<'a>(&'a self) -> BoxFuture<'a, HealthCheckResponse> {
        Box::pin(async { HealthCheckResponse::healthy() })
    }
}
