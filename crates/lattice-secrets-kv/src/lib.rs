//! A secrets backend for lattice (and wasmCloud 1.x) hosts: secrets live in a JetStream
//! key-value bucket, each value sealed with the backend's own *encryption* xkey (only this
//! backend can read the bucket), and are served over wasmCloud's `v1alpha1` secrets protocol
//! ([`lattice_link::secrets_api`]) — the protocol and storage of wasmCloud's
//! `secrets-nats-kv`, so it reads that backend's bucket given the same encryption seed. Who
//! may read differs (see below): it refuses a wasmCloud host's JWT-only request, as
//! `secrets-nats-kv` refuses a lattice host's.
//!
//! **Subjects**, all request/reply on `{subject_base}.v1alpha1.{name}.{operation}` (a queue
//! group, so several replicas share the load):
//!
//! | operation | body | reply |
//! |---|---|---|
//! | `server_xkey` | empty | the transit public xkey |
//! | `get` | [`SecretRequest`] sealed for the transit key, requester key in `WasmCloud-Host-Xkey` | a sealed `SecretResponse` with `Server-Response-Xkey`, or a plaintext error |
//! | `put_secret` | [`PutSecretRequest`] sealed for the transit key, sender key in `WasmCloud-Host-Xkey` | [`PutSecretResponse`] |
//! | `delete_secret` | the key, as text | `ok` or the error |
//! | `add_mapping.{entity}` | JSON array of keys `entity` may read | `ok` or the error |
//! | `remove_mapping.{entity}` | JSON array of keys to take away | `ok` or the error |
//!
//! **Who may read what.** An allow-list in the bucket `SECRETS_{name}_state`: key = entity,
//! value = JSON array of the secret keys it may read. A `get` is answered only if the entity
//! it names may read the key. *Deviation from `secrets-nats-kv`*: wasmCloud names the entity
//! by a signed wascap JWT and keys the list by the JWT's subject; lattice entities have no
//! JWTs, so a lattice host names the component or provider id in the request context's
//! `lattice_entity`, and the list is keyed by that id. As in wasmCloud, a host is trusted to
//! name the entity honestly: who may send `get` (and the admin operations) is decided by NATS
//! permissions on these subjects. `delete_secret` is lattice's addition; `remove_mapping`
//! removes the keys given (wasmCloud's is a no-op).

use bytes::Bytes;
use futures::StreamExt as _;
use lattice_link::SecretValue;
use lattice_link::secrets_api::{
    DEFAULT_SECRETS_PREFIX, GetSecretError, HOST_XKEY_HEADER, RESPONSE_XKEY_HEADER, Secret,
    SecretRequest, SecretResponse, secrets_subject,
};
use nkeys::XKey;
use serde::{Deserialize, Serialize};
use std::{collections::BTreeSet, fmt, sync::Arc, time::Duration};

use async_nats::jetstream::{self, kv};

/// The backend name a reference's `backend` uses by default (`secrets-nats-kv`'s).
pub const DEFAULT_BACKEND_NAME: &str = "nats-kv";
/// The bucket secrets are stored in by default (`secrets-nats-kv`'s).
pub const DEFAULT_SECRETS_BUCKET: &str = "WASMCLOUD_SECRETS";
/// The queue group prefix replicas share by default.
pub const DEFAULT_QUEUE_BASE: &str = "wasmcloud_secrets";
/// How many values of one secret the bucket keeps by default.
pub const DEFAULT_MAX_HISTORY: i64 = 64;

/// The allow-list bucket of backend `name`.
#[must_use]
pub fn state_bucket(name: &str) -> String {
    format!("SECRETS_{name}_state")
}

/// What `put_secret` carries (sealed): `secrets-nats-kv`'s `PutSecretRequest`. Its `Debug`
/// never shows the value.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutSecretRequest {
    /// The key to store the value under.
    pub key: String,
    /// A version label (ignored: the bucket's revision is the version).
    #[serde(default)]
    pub version: String,
    /// A text value.
    #[serde(default)]
    pub string_secret: Option<String>,
    /// A binary value.
    #[serde(default)]
    pub binary_secret: Option<Vec<u8>>,
}

impl fmt::Debug for PutSecretRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PutSecretRequest")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// The reply to `put_secret`: the revision written, or why not.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutSecretResponse {
    /// The bucket revision of the value written (its version).
    #[serde(default)]
    pub revision: u64,
    /// Why nothing was written (`InvalidPayload`, `InvalidHeaders`, `InvalidXKey`,
    /// `DecryptionError`, `NoSecretProvided`, or a store error's text).
    #[serde(default)]
    pub error: Option<serde_json::Value>,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// A bucket could not be opened or created.
    #[error("cannot open or create the bucket `{bucket}`: {message}")]
    Bucket {
        /// The bucket.
        bucket: String,
        /// What went wrong.
        message: String,
    },
    /// The subscription could not be made.
    #[error("cannot subscribe to `{subject}`: {source}")]
    Subscribe {
        /// The subject.
        subject: String,
        /// Why.
        #[source]
        source: async_nats::SubscribeError,
    },
}

/// What kind of failure a [`ServerError`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ServerErrorKind {
    /// See [`ServerError::Bucket`].
    Bucket,
    /// See [`ServerError::Subscribe`].
    Subscribe,
}

impl ServerError {
    /// The kind of failure.
    #[must_use]
    pub fn kind(&self) -> ServerErrorKind {
        match self {
            Self::Bucket { .. } => ServerErrorKind::Bucket,
            Self::Subscribe { .. } => ServerErrorKind::Subscribe,
        }
    }
}

/// How a [`SecretsServer`] runs: its keys, names and buckets.
pub struct ServerConfig {
    encryption_key: XKey,
    transit_key: XKey,
    subject_base: String,
    name: String,
    secrets_bucket: String,
    queue_base: String,
    max_history: i64,
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("transit_key", &self.transit_key.public_key())
            .field("subject_base", &self.subject_base)
            .field("name", &self.name)
            .field("secrets_bucket", &self.secrets_bucket)
            .field("queue_base", &self.queue_base)
            .field("max_history", &self.max_history)
            .finish_non_exhaustive()
    }
}

impl ServerConfig {
    /// A backend whose stored values are sealed with `encryption_key` (keep its seed: the
    /// bucket is unreadable without it), with a fresh transit key, named `nats-kv` under
    /// `wasmcloud.secrets`, storing in `WASMCLOUD_SECRETS` with 64 values of history.
    #[must_use]
    pub fn new(encryption_key: XKey) -> Self {
        Self {
            encryption_key,
            transit_key: XKey::new(),
            subject_base: DEFAULT_SECRETS_PREFIX.to_owned(),
            name: DEFAULT_BACKEND_NAME.to_owned(),
            secrets_bucket: DEFAULT_SECRETS_BUCKET.to_owned(),
            queue_base: DEFAULT_QUEUE_BASE.to_owned(),
            max_history: DEFAULT_MAX_HISTORY,
        }
    }

    /// Sets the transit key (what requests are sealed for); fresh by default.
    #[must_use]
    pub fn transit_key(mut self, key: XKey) -> Self {
        self.transit_key = key;
        self
    }

    /// Sets the subject prefix (`wasmcloud.secrets`).
    #[must_use]
    pub fn subject_base(mut self, base: impl Into<String>) -> Self {
        self.subject_base = base.into();
        self
    }

    /// Sets the backend's name: what references name as their `backend` (`nats-kv`).
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets the secrets bucket (`WASMCLOUD_SECRETS`).
    #[must_use]
    pub fn secrets_bucket(mut self, bucket: impl Into<String>) -> Self {
        self.secrets_bucket = bucket.into();
        self
    }

    /// Sets the queue group prefix (`wasmcloud_secrets`).
    #[must_use]
    pub fn queue_base(mut self, base: impl Into<String>) -> Self {
        self.queue_base = base.into();
        self
    }

    /// Sets how many values of one secret are kept (64).
    #[must_use]
    pub fn max_history(mut self, history: i64) -> Self {
        self.max_history = history;
        self
    }
}

/// The backend: answers the secrets protocol on NATS until dropped or shut down.
#[derive(Debug)]
pub struct SecretsServer {
    transit_public_key: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SecretsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Inner {
    nats: async_nats::Client,
    config: ServerConfig,
    secrets: kv::Store,
    state: kv::Store,
}

impl SecretsServer {
    /// Opens (or creates) the buckets and starts answering. Returns once the subscription is
    /// live.
    ///
    /// # Errors
    ///
    /// [`ServerError`] when a bucket cannot be opened or created or the subscription fails.
    pub async fn start(
        nats: async_nats::Client,
        config: ServerConfig,
    ) -> Result<Self, ServerError> {
        let js = jetstream::new(nats.clone());
        let secrets = open_bucket(
            &js,
            kv::Config {
                bucket: config.secrets_bucket.clone(),
                history: config.max_history,
                compression: true,
                description: "secrets, each sealed with the backend's encryption xkey".into(),
                ..kv::Config::default()
            },
        )
        .await?;
        let state = open_bucket(
            &js,
            kv::Config {
                bucket: state_bucket(&config.name),
                history: 1,
                description: "entity -> the secret keys it may read".into(),
                ..kv::Config::default()
            },
        )
        .await?;
        let subject = secrets_subject(&config.subject_base, &config.name, ">");
        let queue = format!("{}.{}", config.queue_base, config.name);
        let mut requests =
            nats.queue_subscribe(subject.clone(), queue)
                .await
                .map_err(|source| ServerError::Subscribe {
                    subject: subject.clone(),
                    source,
                })?;
        // A round trip: the server has registered the subscription after it.
        let _ = nats.flush().await;
        let transit_public_key = config.transit_key.public_key();
        tracing::info!(name = %config.name, subject = %subject, transit_key = %transit_public_key, "secrets backend serving");
        let inner = Arc::new(Inner {
            nats,
            config,
            secrets,
            state,
        });
        let task = tokio::spawn(async move {
            while let Some(message) = requests.next().await {
                let inner = inner.clone();
                tokio::spawn(async move { inner.answer(message).await });
            }
        });
        Ok(Self {
            transit_public_key,
            task,
        })
    }

    /// The transit public key requests are sealed for.
    #[must_use]
    pub fn transit_public_key(&self) -> &str {
        &self.transit_public_key
    }
}

async fn open_bucket(
    js: &jetstream::Context,
    config: kv::Config,
) -> Result<kv::Store, ServerError> {
    if let Ok(store) = js.get_key_value(config.bucket.clone()).await {
        return Ok(store);
    }
    let bucket = config.bucket.clone();
    js.create_key_value(config)
        .await
        .map_err(|e| ServerError::Bucket {
            bucket,
            message: e.to_string(),
        })
}

impl Inner {
    async fn answer(&self, message: async_nats::Message) {
        let Some(reply) = message.reply.clone() else {
            return;
        };
        let prefix = secrets_subject(&self.config.subject_base, &self.config.name, "");
        let operation = message
            .subject
            .as_str()
            .strip_prefix(&prefix)
            .unwrap_or_default()
            .to_owned();
        let (headers, body) = match operation.as_str() {
            "server_xkey" => (None, Bytes::from(self.config.transit_key.public_key())),
            "get" => match self.get(&message).await {
                Ok((headers, sealed)) => (Some(headers), sealed),
                Err(error) => {
                    tracing::debug!(%error, "get refused");
                    (
                        None,
                        json(&SecretResponse {
                            secret: None,
                            error: Some(error),
                        }),
                    )
                }
            },
            "put_secret" => (None, json(&self.put(&message).await)),
            "delete_secret" => (None, text(self.delete(&message.payload).await)),
            op => match op.split_once('.') {
                Some(("add_mapping", entity)) => (
                    None,
                    text(self.edit_mapping(entity, &message.payload, true).await),
                ),
                Some(("remove_mapping", entity)) => (
                    None,
                    text(self.edit_mapping(entity, &message.payload, false).await),
                ),
                _ => (None, Bytes::from(format!("unknown operation `{op}`"))),
            },
        };
        let sent = match headers {
            Some(headers) => self.nats.publish_with_headers(reply, headers, body).await,
            None => self.nats.publish(reply, body).await,
        };
        if let Err(error) = sent {
            tracing::warn!(%error, operation, "cannot send the reply");
        }
    }

    /// Opens a request sealed for the transit key by the key in its header.
    fn open_request(&self, message: &async_nats::Message) -> Result<(XKey, Vec<u8>), &'static str> {
        let sender = message
            .headers
            .as_ref()
            .and_then(|h| h.get(HOST_XKEY_HEADER))
            .ok_or("InvalidHeaders")?;
        let sender = XKey::from_public_key(sender.as_str()).map_err(|_| "InvalidXKey")?;
        let opened = self
            .config
            .transit_key
            .open(&message.payload, &sender)
            .map_err(|_| "DecryptionError")?;
        Ok((sender, opened))
    }

    async fn get(
        &self,
        message: &async_nats::Message,
    ) -> Result<(async_nats::HeaderMap, Bytes), GetSecretError> {
        let (requester, opened) = self.open_request(message).map_err(|e| match e {
            "InvalidHeaders" => GetSecretError::InvalidHeaders,
            "InvalidXKey" => GetSecretError::InvalidXKey,
            _ => GetSecretError::DecryptionError,
        })?;
        let request: SecretRequest =
            serde_json::from_slice(&opened).map_err(|_| GetSecretError::InvalidPayload)?;
        let Some(entity) = request.context.lattice_entity.as_deref() else {
            return Err(GetSecretError::InvalidEntityJWT(
                "this backend authorizes by `context.lattice_entity` (a lattice component or \
                 provider id); the request names none"
                    .to_owned(),
            ));
        };
        let allowed = self
            .allowed(entity)
            .await
            .map_err(GetSecretError::UpstreamError)?;
        if !allowed.contains(&request.key) {
            tracing::debug!(entity, key = %request.key, "get refused: not on the allow-list");
            return Err(GetSecretError::Unauthorized);
        }
        let entry = match &request.version {
            Some(version) => {
                let revision: u64 = version
                    .parse()
                    .map_err(|_| GetSecretError::InvalidRequest)?;
                self.secrets
                    .entry_for_revision(&request.key, revision)
                    .await
                    .map_err(|e| GetSecretError::UpstreamError(e.to_string()))?
            }
            None => self
                .secrets
                .entry(&request.key)
                .await
                .map_err(|e| GetSecretError::UpstreamError(e.to_string()))?,
        };
        let entry = entry
            .filter(|e| e.operation == kv::Operation::Put && e.key == request.key)
            .ok_or(GetSecretError::SecretNotFound)?;
        let key = &self.config.encryption_key;
        let value = key
            .open(&entry.value, key)
            .map_err(|_| GetSecretError::DecryptionError)?;
        // Stored as secrets-nats-kv stores them: raw bytes, text when they are UTF-8.
        let mut secret = Secret {
            version: entry.revision.to_string(),
            ..Secret::default()
        };
        match String::from_utf8(value) {
            Ok(text) => secret.string_secret = Some(text),
            Err(e) => secret.binary_secret = Some(e.into_bytes()),
        }
        let response = SecretResponse {
            secret: Some(secret),
            error: None,
        };
        let plaintext =
            serde_json::to_vec(&response).map_err(|_| GetSecretError::EncryptionError)?;
        let ephemeral = XKey::new();
        let sealed = ephemeral
            .seal(&plaintext, &requester)
            .map_err(|_| GetSecretError::EncryptionError)?;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(RESPONSE_XKEY_HEADER, ephemeral.public_key().as_str());
        tracing::debug!(entity, key = %request.key, version = %entry.revision, "secret served");
        Ok((headers, Bytes::from(sealed)))
    }

    async fn put(&self, message: &async_nats::Message) -> PutSecretResponse {
        let refused = |error: &str| PutSecretResponse {
            revision: 0,
            error: Some(serde_json::Value::String(error.to_owned())),
        };
        let opened = match self.open_request(message) {
            Ok((_, opened)) => opened,
            Err(error) => return refused(error),
        };
        let Ok(request) = serde_json::from_slice::<PutSecretRequest>(&opened) else {
            return refused("InvalidPayload");
        };
        let value = match (&request.string_secret, &request.binary_secret) {
            (Some(text), _) => text.as_bytes(),
            (None, Some(bytes)) => bytes.as_slice(),
            (None, None) => return refused("NoSecretProvided"),
        };
        let key = &self.config.encryption_key;
        let Ok(sealed) = key.seal(value, key) else {
            return refused("EncryptionError");
        };
        match self.secrets.put(&request.key, sealed.into()).await {
            Ok(revision) => {
                tracing::debug!(key = %request.key, revision, "secret stored");
                PutSecretResponse {
                    revision,
                    error: None,
                }
            }
            Err(e) => refused(&e.to_string()),
        }
    }

    async fn delete(&self, payload: &[u8]) -> Result<(), String> {
        let key = std::str::from_utf8(payload)
            .map_err(|_| "the key is not UTF-8".to_owned())?
            .trim();
        match self.secrets.entry(key).await {
            Ok(Some(entry)) if entry.operation == kv::Operation::Put => {}
            Ok(_) => return Err(format!("no secret `{key}`")),
            Err(e) => return Err(e.to_string()),
        }
        self.secrets.delete(key).await.map_err(|e| e.to_string())?;
        tracing::debug!(key, "secret deleted");
        Ok(())
    }

    async fn allowed(&self, entity: &str) -> Result<BTreeSet<String>, String> {
        match self.state.get(entity).await {
            Ok(Some(bytes)) => serde_json::from_slice(&bytes)
                .map_err(|e| format!("the allow-list of `{entity}` is not a JSON array: {e}")),
            Ok(None) => Ok(BTreeSet::new()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Adds `keys` to (or removes them from) `entity`'s allow-list, with compare-and-set so
    /// concurrent edits are never lost.
    async fn edit_mapping(&self, entity: &str, payload: &[u8], add: bool) -> Result<(), String> {
        let keys: BTreeSet<String> = serde_json::from_slice(payload)
            .map_err(|e| format!("the body is not a JSON array of keys: {e}"))?;
        for _ in 0..16 {
            let current = self.state.entry(entity).await.map_err(|e| e.to_string())?;
            let (mut set, revision) = match current {
                Some(entry) if entry.operation == kv::Operation::Put => (
                    serde_json::from_slice::<BTreeSet<String>>(&entry.value)
                        .map_err(|e| format!("the allow-list of `{entity}` is corrupt: {e}"))?,
                    Some(entry.revision),
                ),
                Some(entry) => (BTreeSet::new(), Some(entry.revision)),
                None => (BTreeSet::new(), None),
            };
            if add {
                set.extend(keys.iter().cloned());
            } else {
                set.retain(|k| !keys.contains(k));
            }
            let value = Bytes::from(serde_json::to_vec(&set).map_err(|e| e.to_string())?);
            let written = match revision {
                Some(revision) => self
                    .state
                    .update(entity, value, revision)
                    .await
                    .map_err(|e| {
                        (
                            e.kind() == kv::UpdateErrorKind::WrongLastRevision,
                            e.to_string(),
                        )
                    }),
                None => self.state.create(entity, value).await.map_err(|e| {
                    (
                        e.kind() == kv::CreateErrorKind::AlreadyExists,
                        e.to_string(),
                    )
                }),
            };
            match written {
                Ok(_) => {
                    tracing::debug!(entity, ?keys, add, "allow-list edited");
                    return Ok(());
                }
                Err((true, _)) => continue,
                Err((false, message)) => return Err(message),
            }
        }
        Err(format!(
            "the allow-list of `{entity}` kept changing; try again"
        ))
    }
}

fn json<T: Serialize>(value: &T) -> Bytes {
    Bytes::from(serde_json::to_vec(value).unwrap_or_default())
}

fn text(result: Result<(), String>) -> Bytes {
    match result {
        Ok(()) => Bytes::from_static(b"ok"),
        Err(message) => Bytes::from(message),
    }
}

/// Why an admin request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// No backend answered (in time) on the subject.
    #[error("secrets backend `{backend}` is unavailable: {message}")]
    Unavailable {
        /// The backend.
        backend: String,
        /// What went wrong.
        message: String,
    },
    /// The backend refused; its message.
    #[error("secrets backend `{backend}` refused: {message}")]
    Refused {
        /// The backend.
        backend: String,
        /// Its message.
        message: String,
    },
    /// The request could not be prepared or the reply read.
    #[error("secrets backend `{backend}`: {message}")]
    Malformed {
        /// The backend.
        backend: String,
        /// What was wrong.
        message: String,
    },
}

/// What kind of failure an [`AdminError`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AdminErrorKind {
    /// See [`AdminError::Unavailable`].
    Unavailable,
    /// See [`AdminError::Refused`].
    Refused,
    /// See [`AdminError::Malformed`].
    Malformed,
}

impl AdminError {
    /// The kind of failure.
    #[must_use]
    pub fn kind(&self) -> AdminErrorKind {
        match self {
            Self::Unavailable { .. } => AdminErrorKind::Unavailable,
            Self::Refused { .. } => AdminErrorKind::Refused,
            Self::Malformed { .. } => AdminErrorKind::Malformed,
        }
    }
}

/// Writes to a backend: secrets (sealed for its transit key on the wire) and its allow-list.
#[derive(Clone)]
pub struct SecretsAdmin {
    nats: async_nats::Client,
    subject_base: String,
    name: String,
    timeout: Duration,
}

impl fmt::Debug for SecretsAdmin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretsAdmin")
            .field("subject_base", &self.subject_base)
            .field("name", &self.name)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl SecretsAdmin {
    /// An admin client of backend `nats-kv` under `wasmcloud.secrets`, waiting 5 s per reply.
    #[must_use]
    pub fn new(nats: async_nats::Client) -> Self {
        Self {
            nats,
            subject_base: DEFAULT_SECRETS_PREFIX.to_owned(),
            name: DEFAULT_BACKEND_NAME.to_owned(),
            timeout: Duration::from_secs(5),
        }
    }

    /// The same client under another subject prefix.
    #[must_use]
    pub fn with_subject_base(mut self, base: impl Into<String>) -> Self {
        self.subject_base = base.into();
        self
    }

    /// The same client for backend `name`.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The same client waiting `timeout` per reply.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn error(&self, make: fn(String, String) -> AdminError, message: String) -> AdminError {
        make(self.name.clone(), message)
    }

    async fn request(
        &self,
        operation: &str,
        headers: async_nats::HeaderMap,
        body: Vec<u8>,
    ) -> Result<Bytes, AdminError> {
        let subject = secrets_subject(&self.subject_base, &self.name, operation);
        let request = async_nats::Request::new()
            .headers(headers)
            .payload(body.into())
            .timeout(Some(self.timeout));
        let reply = self
            .nats
            .send_request(subject.clone(), request)
            .await
            .map_err(|e| {
                self.error(
                    |backend, message| AdminError::Unavailable { backend, message },
                    format!("request on `{subject}`: {e}"),
                )
            })?;
        Ok(reply.payload)
    }

    async fn ok(&self, operation: &str, body: Vec<u8>) -> Result<(), AdminError> {
        let reply = self
            .request(operation, async_nats::HeaderMap::new(), body)
            .await?;
        if reply.as_ref() == b"ok" {
            Ok(())
        } else {
            Err(self.error(
                |backend, message| AdminError::Refused { backend, message },
                String::from_utf8_lossy(&reply).into_owned(),
            ))
        }
    }

    /// Stores `value` under `key`; returns its revision (the version a reference may pin).
    /// The value travels sealed for the backend's transit key.
    ///
    /// # Errors
    ///
    /// [`AdminError`]; never with the value in it.
    pub async fn put(&self, key: &str, value: &SecretValue) -> Result<u64, AdminError> {
        let malformed = |message: String| {
            self.error(
                |backend, message| AdminError::Malformed { backend, message },
                message,
            )
        };
        let server = self
            .request("server_xkey", async_nats::HeaderMap::new(), Vec::new())
            .await?;
        let server = XKey::from_public_key(String::from_utf8_lossy(&server).trim())
            .map_err(|e| malformed(format!("its server_xkey reply is not a public xkey: {e}")))?;
        let mut request = PutSecretRequest {
            key: key.to_owned(),
            ..PutSecretRequest::default()
        };
        match value {
            SecretValue::String(text) => request.string_secret = Some(text.clone()),
            other => request.binary_secret = Some(other.as_bytes().to_vec()),
        }
        let plaintext =
            serde_json::to_vec(&request).map_err(|e| malformed(format!("cannot encode: {e}")))?;
        let sender = XKey::new();
        let sealed = sender
            .seal(&plaintext, &server)
            .map_err(|e| malformed(format!("cannot seal: {e}")))?;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(HOST_XKEY_HEADER, sender.public_key().as_str());
        let reply = self.request("put_secret", headers, sealed).await?;
        let response: PutSecretResponse = serde_json::from_slice(&reply).map_err(|_| {
            self.error(
                |backend, message| AdminError::Refused { backend, message },
                String::from_utf8_lossy(&reply).into_owned(),
            )
        })?;
        match response.error {
            None => Ok(response.revision),
            Some(error) => Err(self.error(
                |backend, message| AdminError::Refused { backend, message },
                error.to_string(),
            )),
        }
    }

    /// Deletes the secret `key` (its history stays until purged by the bucket's limits).
    ///
    /// # Errors
    ///
    /// [`AdminError`]; `Refused` when there is no such secret.
    pub async fn delete(&self, key: &str) -> Result<(), AdminError> {
        self.ok("delete_secret", key.as_bytes().to_vec()).await
    }

    /// Lets `entity` (a component or provider id) read `keys`.
    ///
    /// # Errors
    ///
    /// [`AdminError`].
    pub async fn allow(&self, entity: &str, keys: &[&str]) -> Result<(), AdminError> {
        let body = serde_json::to_vec(keys).unwrap_or_default();
        self.ok(&format!("add_mapping.{entity}"), body).await
    }

    /// Takes `keys` away from `entity`.
    ///
    /// # Errors
    ///
    /// [`AdminError`].
    pub async fn revoke(&self, entity: &str, keys: &[&str]) -> Result<(), AdminError> {
        let body = serde_json::to_vec(keys).unwrap_or_default();
        self.ok(&format!("remove_mapping.{entity}"), body).await
    }
}
