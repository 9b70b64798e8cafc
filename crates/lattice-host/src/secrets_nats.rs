//! [`NatsSecretsBackend`]: a [`SecretsBackend`] that asks a secrets backend over NATS with
//! wasmCloud's secrets protocol ([`lattice_link::secrets_api`]), as a wasmCloud 1.x host does.

use crate::secrets::{SecretError, SecretsBackend};
use futures::future::BoxFuture;
use lattice_link::SecretValue;
use lattice_link::secrets_api::{
    DEFAULT_SECRETS_PREFIX, GetSecretError, HOST_XKEY_HEADER, RESPONSE_XKEY_HEADER,
    SecretApplication, SecretContext, SecretRequest, SecretResponse, secrets_subject,
};
use lattice_spec::SecretRef;
use nkeys::XKey;
use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, Mutex},
    time::Duration,
};

/// The policy a wasmCloud host sends for a reference without policy properties.
const EMPTY_POLICY: &str = r#"{"type":"properties.secret.wasmcloud.dev/v1alpha1","properties":{}}"#;

/// How long [`NatsSecretsBackend`] waits for each reply by default.
pub const DEFAULT_SECRETS_TIMEOUT: Duration = Duration::from_secs(2);

/// A client of secrets backends speaking wasmCloud's secrets protocol over NATS: lattice's
/// `lattice-secrets-kv`, or wasmCloud's `secrets-nats-kv` (which wants wascap JWTs lattice
/// entities do not have, so it refuses with `denied`).
///
/// A reference's `backend` names the backend asked: its subjects are
/// `{prefix}.v1alpha1.{backend}.server_xkey` and `.get`. Each backend's transit xkey is
/// fetched once and cached (and fetched again if the backend can no longer open what is
/// sealed for it, as after a restart with a new key); every `get` is sealed by a fresh
/// ephemeral xkey, so a value only ever travels sealed for this request.
#[derive(Clone)]
pub struct NatsSecretsBackend {
    nats: async_nats::Client,
    prefix: String,
    timeout: Duration,
    server_keys: Arc<Mutex<HashMap<String, Arc<XKey>>>>,
}

impl fmt::Debug for NatsSecretsBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsSecretsBackend")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl NatsSecretsBackend {
    /// A client on `nats` under the prefix `wasmcloud.secrets`, waiting 2 s for each reply.
    #[must_use]
    pub fn new(nats: async_nats::Client) -> Self {
        Self {
            nats,
            prefix: DEFAULT_SECRETS_PREFIX.to_owned(),
            timeout: DEFAULT_SECRETS_TIMEOUT,
            server_keys: Arc::default(),
        }
    }

    /// The same client under another subject prefix (a 1.x host's `--secrets-topic`).
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The same client waiting `timeout` for each reply.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    async fn request(
        &self,
        backend: &str,
        operation: &str,
        headers: async_nats::HeaderMap,
        body: Vec<u8>,
    ) -> Result<async_nats::Message, SecretError> {
        let subject = secrets_subject(&self.prefix, backend, operation);
        let request = async_nats::Request::new()
            .headers(headers)
            .payload(body.into())
            .timeout(Some(self.timeout));
        self.nats
            .send_request(subject.clone(), request)
            .await
            .map_err(|e| {
                use async_nats::client::RequestErrorKind;
                let message = match e.kind() {
                    RequestErrorKind::NoResponders => {
                        format!("no secrets backend answers on `{subject}`")
                    }
                    RequestErrorKind::TimedOut => {
                        format!("no answer on `{subject}` within {:?}", self.timeout)
                    }
                    _ => format!("request on `{subject}` failed: {e}"),
                };
                SecretError::Unavailable {
                    backend: backend.to_owned(),
                    message,
                }
            })
    }

    async fn server_key(&self, backend: &str) -> Result<Arc<XKey>, SecretError> {
        if let Some(key) = self.cached(backend) {
            return Ok(key);
        }
        let reply = self
            .request(
                backend,
                "server_xkey",
                async_nats::HeaderMap::new(),
                Vec::new(),
            )
            .await?;
        let public = String::from_utf8_lossy(&reply.payload).trim().to_owned();
        let key = XKey::from_public_key(&public).map_err(|e| SecretError::Malformed {
            backend: backend.to_owned(),
            message: format!("its server_xkey reply is not a public xkey: {e}"),
        })?;
        let key = Arc::new(key);
        self.server_keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(backend.to_owned(), key.clone());
        Ok(key)
    }

    fn cached(&self, backend: &str) -> Option<Arc<XKey>> {
        self.server_keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(backend)
            .cloned()
    }

    fn forget(&self, backend: &str) {
        self.server_keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(backend);
    }

    /// One `get`: `Err(None)` when the backend could not open the request (a stale transit
    /// key), so the caller fetches the key again and retries once.
    async fn get_once(
        &self,
        entity: &str,
        reference: &SecretRef,
    ) -> Result<SecretValue, Option<SecretError>> {
        let backend = reference.backend();
        let malformed = |message: String| SecretError::Malformed {
            backend: backend.to_owned(),
            message,
        };
        let server_key = self.server_key(backend).await?;
        let request = SecretRequest {
            key: reference.key().to_owned(),
            field: reference.field().map(str::to_owned),
            version: reference.version().map(str::to_owned),
            context: SecretContext {
                application: SecretApplication {
                    name: None,
                    policy: EMPTY_POLICY.to_owned(),
                },
                lattice_entity: Some(entity.to_owned()),
                ..SecretContext::default()
            },
        };
        let ephemeral = XKey::new();
        let plaintext = serde_json::to_vec(&request)
            .map_err(|e| malformed(format!("cannot encode the request: {e}")))?;
        let sealed = ephemeral
            .seal(&plaintext, &server_key)
            .map_err(|e| malformed(format!("cannot seal the request: {e}")))?;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(HOST_XKEY_HEADER, ephemeral.public_key().as_str());
        let reply = self.request(backend, "get", headers, sealed).await?;

        let response: SecretResponse = match reply
            .headers
            .as_ref()
            .and_then(|h| h.get(RESPONSE_XKEY_HEADER))
        {
            Some(sender) => {
                let sender = XKey::from_public_key(sender.as_str()).map_err(|e| {
                    malformed(format!(
                        "its {RESPONSE_XKEY_HEADER} is not a public xkey: {e}"
                    ))
                })?;
                let opened = ephemeral
                    .open(&reply.payload, &sender)
                    .map_err(|e| malformed(format!("its reply does not open: {e}")))?;
                serde_json::from_slice(&opened)
                    .map_err(|e| malformed(format!("its reply is not a secret response: {e}")))?
            }
            None => serde_json::from_slice(&reply.payload).map_err(|_| {
                malformed(format!(
                    "its reply has no {RESPONSE_XKEY_HEADER} header and is not an error response"
                ))
            })?,
        };
        match (response.secret, response.error) {
            (_, Some(GetSecretError::DecryptionError | GetSecretError::InvalidXKey)) => Err(None),
            (_, Some(error)) => Err(Some(refusal(backend, reference.key(), error))),
            (Some(secret), None) => match (secret.string_secret, secret.binary_secret) {
                (Some(value), _) => Ok(SecretValue::String(value)),
                (None, Some(value)) => Ok(SecretValue::Bytes(value)),
                (None, None) => Err(Some(malformed(
                    "its secret has neither a string nor a binary value".to_owned(),
                ))),
            },
            (None, None) => Err(Some(malformed(
                "its reply has neither a secret nor an error".to_owned(),
            ))),
        }
    }
}

/// The typed error for a backend's refusal.
fn refusal(backend: &str, key: &str, error: GetSecretError) -> SecretError {
    let (backend, key) = (backend.to_owned(), key.to_owned());
    match error {
        GetSecretError::SecretNotFound => SecretError::NotFound { backend, key },
        GetSecretError::Unauthorized
        | GetSecretError::InvalidEntityJWT(_)
        | GetSecretError::InvalidHostJWT(_)
        | GetSecretError::PolicyError(_) => SecretError::Denied {
            backend,
            key,
            message: error.to_string(),
        },
        other => SecretError::Backend {
            backend,
            message: other.to_string(),
        },
    }
}

impl SecretsBackend for NatsSecretsBackend {
    fn get<'a>(
        &'a self,
        entity: &'a str,
        reference: &'a SecretRef,
    ) -> BoxFuture<'a, Result<SecretValue, SecretError>> {
        Box::pin(async move {
            let backend = reference.backend();
            let result = match self.get_once(entity, reference).await {
                Err(None) => {
                    // The backend could not open what was sealed for the key it had: it
                    // has a new one. Fetch it and ask once more.
                    self.forget(backend);
                    self.get_once(entity, reference).await
                }
                other => other,
            };
            let result = result.map_err(|e| {
                e.unwrap_or_else(|| SecretError::Backend {
                    backend: backend.to_owned(),
                    message: "it cannot open requests sealed for the transit key it publishes"
                        .to_owned(),
                })
            });
            match &result {
                Ok(_) => tracing::debug!(%entity, backend, key = reference.key(), "secret fetched"),
                Err(e) => {
                    tracing::debug!(%entity, backend, key = reference.key(), error = %e, "secret not fetched")
                }
            }
            result
        })
    }
}
