//! Typed async client for the lattice control interface, over the caller's async-nats
//! connection.
//!
//! Every v2alpha1 operation: [`Client::discover_hosts`] (returns as soon as the expected hosts
//! answered), [`Client::inventory`], [`Client::apply`] (the host's acknowledgement),
//! [`Client::apply_and_wait`] (follows the component to `running` or `failed` under a
//! deadline), [`Client::delete`], [`Client::events`], and link put/delete for tools. Against a
//! host that only speaks the wasmCloud 1.x control interface, [`Client::apply`] falls back to
//! 1.x operations and says so.
//!
//! Each operation has its own error with a `kind()` to `match` on; a host's or provider's
//! refusal travels inside the error whole.

mod apply;
pub mod auth;
mod client;
mod error;
mod events;

/// W3C trace context in NATS headers: the client's requests carry the current span's.
pub use lattice_trace as trace;

pub use apply::{Applied, WaitReport};
pub use client::{Client, DEFAULT_TIMEOUT, Discover, LinkError, LinkErrorKind};
pub use error::{
    ApplyError, ApplyErrorKind, DiscoverError, DiscoverErrorKind, RequestError, RequestErrorKind,
    SubscribeError, SubscribeErrorKind, WaitError, WaitErrorKind,
};
pub use events::{EventError, EventErrorKind, EventStream, StatusEvent};
