//! Provider kit for lattice: answers the host's link puts, link deletes and health checks over
//! NATS with typed replies, instead of swallowing errors.
//!
//! A capability provider implements [`LinkHandler`] and starts a [`ProviderServer`] on its own
//! NATS connection. The server subscribes to the provider's subjects
//! (`wasmbus.rpc.{lattice}.{provider_id}.linkdefs.put|linkdefs.del|health`, and per host
//! `….linkdefs.put|del.{host_id}` for an instance [`on_host`](ProviderServer::on_host)),
//! decodes each request — a lattice host's (versioned, answered with a
//! [`LinkResponse`](lattice_link::LinkResponse): accepted, or refused with the handler's kind
//! and message, which travel whole to the host's status and the scheduler's rollout) or a
//! wasmCloud 1.x host's (no version, fire-and-forget: handled, not answered) — and calls the
//! handler. A request that cannot be decoded is refused with the reason, never ignored. Link
//! secrets open with [`secrets::open_link`].
//!
//! A provider's WIT interfaces are served over wRPC with the bindings `wit-bindgen-wrpc`
//! generates and the helpers of [`wrpc`], under the addressing 1.x hosts use.
//!
//! Requests run concurrently; requests for the same link run one at a time, in order (see
//! [`ProviderServer`]). Each request is handled in a `tracing` span (`link_request` with the
//! subject, link name and source id, or `health_check`) whose parent is the W3C trace context
//! (`traceparent`, `tracestate`) of the request's NATS headers, when the host sent one: with
//! `tracing-opentelemetry` installed, a link put belongs to the trace of the apply that caused
//! it. This crate installs no subscriber.
//!
//! # Example
//!
//! An HTTP-server-like provider — the **source** of its links, which deliver requests to a
//! component, so its listen address is in `source_config` — that refuses a link whose
//! `address` is already taken by another link:
//!
//! ```no_run
//! use lattice_link::{LinkDeleteRequest, LinkErrorKind, LinkPutRequest, LinkRefusal};
//! use lattice_provider::{BoxFuture, LinkHandler, ProviderServer};
//! use std::collections::HashMap;
//! use std::sync::{Arc, Mutex};
//!
//! /// Which link (component and link name) listens on each address.
//! #[derive(Default)]
//! struct HttpServer {
//!     listeners: Mutex<HashMap<String, (String, String)>>,
//! }
//!
//! impl LinkHandler for HttpServer {
//!     fn put_link<'a>(&'a self, link: &'a LinkPutRequest) -> BoxFuture<'a, Result<(), LinkRefusal>> {
//!         Box::pin(async move {
//!             let Some(address) = link.source_config.get("address") else {
//!                 return Err(LinkRefusal {
//!                     kind: LinkErrorKind::InvalidConfiguration,
//!                     message: "source_config has no `address`".into(),
//!                 });
//!             };
//!             // The link's target is the component the requests go to.
//!             let owner = (link.target.to_string(), link.name.to_string());
//!             let mut listeners = self.listeners.lock().unwrap();
//!             match listeners.get(address) {
//!                 Some(other) if *other != owner => Err(LinkRefusal {
//!                     kind: LinkErrorKind::ResourceUnavailable,
//!                     message: format!("address already in use: {address}"),
//!                 }),
//!                 _ => {
//!                     listeners.insert(address.clone(), owner);
//!                     Ok(())
//!                 }
//!             }
//!         })
//!     }
//!
//!     fn delete_link<'a>(&'a self, link: &'a LinkDeleteRequest) -> BoxFuture<'a, Result<(), LinkRefusal>> {
//!         Box::pin(async move {
//!             let owner = (link.target.to_string(), link.name.to_string());
//!             self.listeners.lock().unwrap().retain(|_, listener| *listener != owner);
//!             Ok(())
//!         })
//!     }
//!     // `health` defaults to healthy.
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = async_nats::connect("nats://127.0.0.1:4222").await?;
//! let server = ProviderServer::new(
//!     client,
//!     "default".parse()?,
//!     "http-server".parse()?,
//!     Arc::new(HttpServer::default()),
//! );
//! let handle = server.serve().await?;
//! // … serve until the provider is told to stop …
//! handle.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod dispatch;
mod error;
mod handler;
pub mod host_data;
pub mod secrets;
mod server;
pub mod wrpc;

pub use error::{ProviderError, ProviderErrorKind};
pub use handler::{BoxFuture, LinkHandler};
pub use server::{ProviderHandle, ProviderServer};
