//! Starting the way a wasmCloud 1.x provider starts: from the [`HostData`] its host writes on
//! stdin.
//!
//! A host (a lattice host or a 1.x one) that starts a provider process passes no arguments
//! and a cleared environment; everything the provider needs — lattice, provider id, NATS
//! URL and credentials, its host's id, its instance xkey, its configuration — is in the
//! host data on stdin (see [`lattice_link::HostData`] for the exact 1.x facts). With it:
//!
//! 1. [`read_host_data`] reads and decodes the line;
//! 2. [`connect`] opens the NATS connection it names (JWT + seed when given);
//! 3. [`ProviderServer::from_host_data`] serves the provider's subjects as the instance on
//!    its host, with its instance xkey;
//! 4. [`ShutdownListener`] waits for its host's shutdown request
//!    (`wasmbus.rpc.{lattice}.{provider}.default.shutdown`), answered as 1.x SDKs answer it.

use crate::{LinkHandler, ProviderError, ProviderServer};
use async_nats::{Client, Subscriber};
use futures::StreamExt;
use lattice_link::{HostData, HostDataError, ProviderOperation, ProviderSubject};
use lattice_spec::{HostId, LatticeName, ProviderId};
use std::sync::Arc;
use tokio::io::AsyncBufReadExt;

/// Where a provider connects when its host data names no URL (as the 1.x SDK does).
pub const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";

/// The host data could not be read or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostDataReadError {
    /// Reading stdin failed.
    #[error("cannot read the host data from stdin")]
    Io(#[source] std::io::Error),
    /// The line is not host data.
    #[error(transparent)]
    Decode(#[from] HostDataError),
    /// A field is not a valid lattice identifier.
    #[error("the host data's `{field}` is not valid: {source}")]
    Invalid {
        /// The host data field.
        field: &'static str,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The NATS connection it names could not be opened.
    #[error("cannot connect to NATS at `{url}` as the host data says")]
    Connect {
        /// The URL.
        url: String,
        /// What async-nats said.
        #[source]
        source: async_nats::ConnectError,
    },
}

/// What went wrong with the host data, as a value to `match` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostDataReadErrorKind {
    /// See [`HostDataReadError::Io`].
    Io,
    /// See [`HostDataReadError::Decode`].
    Decode,
    /// See [`HostDataReadError::Invalid`].
    Invalid,
    /// See [`HostDataReadError::Connect`].
    Connect,
}

impl HostDataReadError {
    /// The kind of failure.
    #[must_use]
    pub fn kind(&self) -> HostDataReadErrorKind {
        match self {
            Self::Io(_) => HostDataReadErrorKind::Io,
            Self::Decode(_) => HostDataReadErrorKind::Decode,
            Self::Invalid { .. } => HostDataReadErrorKind::Invalid,
            Self::Connect { .. } => HostDataReadErrorKind::Connect,
        }
    }
}

/// Reads the host data from stdin: one line, as 1.x SDKs read it.
///
/// # Errors
///
/// [`HostDataReadError::Io`] or [`HostDataReadError::Decode`] (e.g. stdin empty: the
/// process was not started by a host).
pub async fn read_host_data() -> Result<HostData, HostDataReadError> {
    let mut line = String::new();
    tokio::io::BufReader::new(tokio::io::stdin())
        .read_line(&mut line)
        .await
        .map_err(HostDataReadError::Io)?;
    Ok(HostData::from_stdin_line(line.as_bytes())?)
}

/// The lattice, provider id and (when it is a valid lattice host id) host id the host data
/// names.
///
/// # Errors
///
/// [`HostDataReadError::Invalid`] naming the field.
pub fn identity(
    data: &HostData,
) -> Result<(LatticeName, ProviderId, Option<HostId>), HostDataReadError> {
    let lattice = data
        .lattice_rpc_prefix
        .parse::<LatticeName>()
        .map_err(|e| HostDataReadError::Invalid {
            field: "lattice_rpc_prefix",
            source: Box::new(e),
        })?;
    let provider =
        data.provider_key
            .parse::<ProviderId>()
            .map_err(|e| HostDataReadError::Invalid {
                field: "provider_key",
                source: Box::new(e),
            })?;
    Ok((lattice, provider, data.host_id.parse().ok()))
}

/// Connects to the NATS server the host data names (the default URL when empty), with its
/// JWT and seed when both are set.
///
/// # Errors
///
/// [`HostDataReadError::Invalid`] for an unusable seed, [`HostDataReadError::Connect`].
pub async fn connect(data: &HostData, name: &str) -> Result<Client, HostDataReadError> {
    let url = if data.lattice_rpc_url.is_empty() {
        DEFAULT_NATS_URL.to_owned()
    } else {
        data.lattice_rpc_url.clone()
    };
    let mut options = async_nats::ConnectOptions::new().name(name);
    if !data.lattice_rpc_user_jwt.is_empty() && !data.lattice_rpc_user_seed.is_empty() {
        let key = Arc::new(
            nkeys::KeyPair::from_seed(&data.lattice_rpc_user_seed).map_err(|e| {
                HostDataReadError::Invalid {
                    field: "lattice_rpc_user_seed",
                    source: Box::new(e),
                }
            })?,
        );
        options = options.jwt(data.lattice_rpc_user_jwt.clone(), move |nonce| {
            let key = key.clone();
            async move { key.sign(&nonce).map_err(async_nats::AuthError::new) }
        });
    }
    options
        .connect(&url)
        .await
        .map_err(|source| HostDataReadError::Connect { url, source })
}

impl ProviderServer {
    /// A server configured from host data: its lattice and provider id, as the instance on
    /// its host (when `host_id` is a valid lattice host id), receiving link puts on its
    /// instance xkey's subject too (when the host data carries a seed), and answering health
    /// on its own instance subject (see [`ProviderServer::instance_id`]).
    ///
    /// # Errors
    ///
    /// [`HostDataReadError::Invalid`] naming the field that is not usable.
    pub fn from_host_data(
        client: Client,
        data: &HostData,
        handler: Arc<dyn LinkHandler>,
    ) -> Result<Self, HostDataReadError> {
        let (lattice, provider, host) = identity(data)?;
        let mut server = Self::new(client, lattice, provider, handler);
        if let Some(host) = host {
            server = server.on_host(host);
        }
        let token_safe = |s: &str| {
            !s.is_empty()
                && !s
                    .chars()
                    .any(|c| c == '.' || c == '*' || c == '>' || c.is_whitespace())
        };
        if token_safe(&data.instance_id) {
            server = server.instance_id(data.instance_id.clone());
        }
        if !data.provider_xkey_private_key.is_empty() {
            let key = nkeys::XKey::from_seed(&data.provider_xkey_private_key).map_err(|e| {
                HostDataReadError::Invalid {
                    field: "provider_xkey_private_key",
                    source: Box::new(e),
                }
            })?;
            server = server.instance_xkey(&key);
        }
        Ok(server)
    }
}

/// Waits for the host's request to shut down, on
/// `wasmbus.rpc.{lattice}.{provider}.default.shutdown`.
///
/// As 1.x SDKs do, it only honours a request that has a reply subject and whose body names the
/// host id of the host data (`{"host_id": "…"}`), and answers it `shutting down`: another
/// host's request for the same provider id is ignored.
#[derive(Debug)]
pub struct ShutdownListener {
    client: Client,
    subscriber: Subscriber,
    host_id: String,
}

impl ShutdownListener {
    /// Subscribes to the provider's shutdown subject.
    ///
    /// # Errors
    ///
    /// [`HostDataReadError::Invalid`] for unusable host data, [`ProviderError`] (as
    /// `Invalid { field: "shutdown" }`) when the subscription fails.
    pub async fn subscribe(client: Client, data: &HostData) -> Result<Self, HostDataReadError> {
        let (lattice, provider, _) = identity(data)?;
        let subject =
            ProviderSubject::new(lattice, provider, ProviderOperation::Shutdown).to_string();
        let subscriber =
            client
                .subscribe(subject.clone())
                .await
                .map_err(|e| HostDataReadError::Invalid {
                    field: "shutdown",
                    source: Box::new(ProviderError::Subscribe {
                        subject,
                        source: Box::new(e),
                    }),
                })?;
        Ok(Self {
            client,
            subscriber,
            host_id: data.host_id.clone(),
        })
    }

    /// Resolves when this provider's host asks it to shut down (having answered the request),
    /// or when the subscription ends (the connection closed).
    pub async fn requested(&mut self) {
        #[derive(serde::Deserialize, Default)]
        struct ShutdownMessage {
            #[serde(default)]
            host_id: String,
        }
        while let Some(message) = self.subscriber.next().await {
            let Some(reply) = message.reply else { continue };
            let body: ShutdownMessage =
                serde_json::from_slice(&message.payload).unwrap_or_default();
            if body.host_id != self.host_id {
                tracing::debug!(from = %body.host_id, "ignoring another host's shutdown request");
                continue;
            }
            if let Err(error) = self.client.publish(reply, "shutting down".into()).await {
                tracing::warn!(%error, "cannot answer the shutdown request");
            }
            let _ = self.client.flush().await;
            return;
        }
    }
}
