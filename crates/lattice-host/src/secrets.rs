//! Secrets: references in the spec, values from a [`SecretsBackend`], resolved when a
//! component is applied and delivered to the component through its runtime (never on the wire)
//! and to providers sealed for their xkey — the encrypted `source_secrets` / `target_secrets`
//! blobs of the 1.x link shape, which a 1.x provider SDK opens unchanged.
//!
//! Secret values never enter the inventory, events, logs or errors: a failure names the
//! reference (backend and key), never the value.

use bytes::Bytes;
use futures::future::BoxFuture;
use lattice_link::{LinkErrorKind, LinkRefusal, SecretMap, SecretValue};
use lattice_spec::{ComponentSpec, ProviderId, ProviderSpec, SecretRef};
use lattice_status::{ReasonCode, StatusReason};
use nkeys::XKey;
use std::{
    collections::{BTreeMap, HashMap},
    fmt,
    sync::{Arc, RwLock},
};

/// Why a secret reference could not be resolved. No variant carries a secret value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The backend has no such secret.
    #[error("secret `{key}` not found in backend `{backend}`")]
    NotFound {
        /// The backend asked.
        backend: String,
        /// The key asked for.
        key: String,
    },
    /// The backend refused: the entity may not read the secret (not on the backend's
    /// allow-list, or a credential the backend wants is missing).
    #[error("secrets backend `{backend}` refused secret `{key}`: {message}")]
    Denied {
        /// The backend asked.
        backend: String,
        /// The key asked for.
        key: String,
        /// The backend's reason.
        message: String,
    },
    /// No backend answered, or not in time: it is down, or not serving that name.
    #[error("secrets backend `{backend}` is unavailable: {message}")]
    Unavailable {
        /// The backend asked.
        backend: String,
        /// What went wrong.
        message: String,
    },
    /// The backend's reply could not be read (not the protocol, or not sealed for us).
    #[error("secrets backend `{backend}` sent a malformed reply: {message}")]
    Malformed {
        /// The backend asked.
        backend: String,
        /// What was wrong with it.
        message: String,
    },
    /// The backend failed for a reason of its own; the message is the backend's.
    #[error("secrets backend `{backend}` failed: {message}")]
    Backend {
        /// The backend asked.
        backend: String,
        /// What went wrong.
        message: String,
    },
}

/// Why a secret could not be read, as a value to `match` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SecretErrorKind {
    /// See [`SecretError::NotFound`].
    NotFound,
    /// See [`SecretError::Denied`].
    Denied,
    /// See [`SecretError::Unavailable`].
    Unavailable,
    /// See [`SecretError::Malformed`].
    Malformed,
    /// See [`SecretError::Backend`].
    Backend,
}

impl SecretErrorKind {
    /// Whether asking again may succeed: a down or failing backend may recover; a missing
    /// secret stays missing until someone writes it, a refusal until someone allows it.
    #[must_use]
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Unavailable | Self::Backend)
    }

    /// The status reason code a host reports for a component whose secret failed this way.
    #[must_use]
    pub fn reason_code(self) -> ReasonCode {
        match self {
            Self::NotFound => ReasonCode::SecretNotFound,
            Self::Denied => ReasonCode::SecretDenied,
            _ => ReasonCode::SecretsUnavailable,
        }
    }
}

impl SecretError {
    /// The kind of failure.
    #[must_use]
    pub fn kind(&self) -> SecretErrorKind {
        match self {
            Self::NotFound { .. } => SecretErrorKind::NotFound,
            Self::Denied { .. } => SecretErrorKind::Denied,
            Self::Unavailable { .. } => SecretErrorKind::Unavailable,
            Self::Malformed { .. } => SecretErrorKind::Malformed,
            Self::Backend { .. } => SecretErrorKind::Backend,
        }
    }
}

/// Where secret values come from: a secrets backend client (such as
/// [`NatsSecretsBackend`](crate::NatsSecretsBackend), which speaks wasmCloud's secrets
/// protocol), or [`StaticSecrets`].
pub trait SecretsBackend: fmt::Debug + Send + Sync + 'static {
    /// The value `reference` names, for `entity` (the id of the component or provider that
    /// will receive it: what a backend's allow-list names).
    fn get<'a>(
        &'a self,
        entity: &'a str,
        reference: &'a SecretRef,
    ) -> BoxFuture<'a, Result<SecretValue, SecretError>>;
}

/// An in-memory [`SecretsBackend`] keyed by (backend, key) that any entity may read, for
/// tests, demos and hosts that are handed their secrets some other way.
#[derive(Clone, Default)]
pub struct StaticSecrets {
    values: Arc<RwLock<BTreeMap<(String, String), SecretValue>>>,
}

impl fmt::Debug for StaticSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<(String, String)> = self
            .values
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .keys()
            .cloned()
            .collect();
        f.debug_struct("StaticSecrets")
            .field("keys", &keys)
            .finish()
    }
}

impl StaticSecrets {
    /// Stores `value` under `key` in `backend`.
    pub fn put(&self, backend: impl Into<String>, key: impl Into<String>, value: SecretValue) {
        self.values
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert((backend.into(), key.into()), value);
    }
}

impl SecretsBackend for StaticSecrets {
    fn get<'a>(
        &'a self,
        _entity: &'a str,
        reference: &'a SecretRef,
    ) -> BoxFuture<'a, Result<SecretValue, SecretError>> {
        Box::pin(async move {
            self.values
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(&(reference.backend().to_owned(), reference.key().to_owned()))
                .cloned()
                .ok_or_else(|| SecretError::NotFound {
                    backend: reference.backend().to_owned(),
                    key: reference.key().to_owned(),
                })
        })
    }
}

/// Resolves the secret references of the component `spec`: name → value, for its runtime.
/// Called when the component is applied, before anything is touched, so a failure leaves the
/// previous revision serving. The reason names the reference, never a value.
pub(crate) async fn resolve_component(
    backend: Option<&Arc<dyn SecretsBackend>>,
    spec: &ComponentSpec,
) -> Result<SecretMap, StatusReason> {
    let mut values = SecretMap::new();
    if spec.secrets().is_empty() {
        return Ok(values);
    }
    let Some(backend) = backend else {
        return Err(StatusReason::new(
            ReasonCode::SecretsUnavailable,
            "the component names secret references, and this host has no secrets backend \
             to resolve them (HostConfig::secrets_backend)",
        ));
    };
    for reference in spec.secrets() {
        let value = backend
            .get(spec.id().as_str(), reference)
            .await
            .map_err(|e| {
                StatusReason::new(
                    e.kind().reason_code(),
                    format!("secret `{}`: {e}", reference.name()),
                )
            })?;
        values.insert(reference.name().to_owned(), value);
    }
    tracing::debug!(
        component = %spec.id(),
        secrets = ?values.keys().collect::<Vec<_>>(),
        "component secrets resolved"
    );
    Ok(values)
}

/// Resolves the secret references of the provider `spec` (entity: the provider id): name →
/// value, for the `secrets` of its host data. Called when a revision is applied, before
/// anything is touched (a failure leaves the running revision serving), and again at each
/// start of its process. The reason names the reference, never a value.
pub(crate) async fn resolve_provider(
    backend: Option<&Arc<dyn SecretsBackend>>,
    spec: &ProviderSpec,
) -> Result<BTreeMap<String, SecretValue>, (SecretErrorKind, StatusReason)> {
    let mut values = BTreeMap::new();
    if spec.secrets().is_empty() {
        return Ok(values);
    }
    let Some(backend) = backend else {
        return Err((
            SecretErrorKind::Unavailable,
            StatusReason::new(
                ReasonCode::SecretsUnavailable,
                format!(
                    "revision {}: the provider names secret references, and this host has no \
                     secrets backend to resolve them (HostConfig::secrets_backend)",
                    spec.revision()
                ),
            ),
        ));
    };
    for reference in spec.secrets() {
        let value = backend
            .get(spec.id().as_str(), reference)
            .await
            .map_err(|e| {
                (
                    e.kind(),
                    StatusReason::new(
                        e.kind().reason_code(),
                        format!(
                            "revision {}: secret `{}`: {e}",
                            spec.revision(),
                            reference.name()
                        ),
                    ),
                )
            })?;
        values.insert(reference.name().to_owned(), value);
    }
    tracing::debug!(
        provider = %spec.id(),
        secrets = ?values.keys().collect::<Vec<_>>(),
        "provider secrets resolved"
    );
    Ok(values)
}

/// How a host delivers link secrets: where values come from (a [`SecretsBackend`], asked on
/// behalf of the provider that receives them), its own xkey (which seals), and
/// the public xkeys of the providers it may send secrets to.
///
/// A provider's xkey is known to the host that starts it (1.x hosts generate one per provider
/// and hand over the seed in the host data); for providers started some other way, register
/// the public key with [`provider_key`](Self::provider_key).
#[derive(Clone)]
pub struct LinkSecrets {
    source: Arc<dyn SecretsBackend>,
    host_key: Arc<XKey>,
    /// Shared by every clone (the host's link requests and its provider supervisor), so a key
    /// the supervisor registers for a provider it starts is the one link secrets are sealed to.
    providers: Arc<RwLock<HashMap<ProviderId, Arc<XKey>>>>,
}

impl fmt::Debug for LinkSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkSecrets")
            .field("host_key", &self.host_key.public_key())
            .field(
                "providers",
                &self
                    .providers
                    .read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// A public xkey that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("`{key}` is not a public xkey (an `X…` nkey): {source}")]
pub struct InvalidXKey {
    key: String,
    #[source]
    source: nkeys::error::Error,
}

impl LinkSecrets {
    /// Secrets from `source`, sealed with a fresh host xkey.
    #[must_use]
    pub fn new(source: Arc<dyn SecretsBackend>) -> Self {
        Self {
            source,
            host_key: Arc::new(XKey::new()),
            providers: Arc::new(RwLock::new(HashMap::new())),
        }
    }

    /// Lets the host send secrets to `provider`, whose public xkey is `public_key`.
    ///
    /// # Errors
    ///
    /// [`InvalidXKey`] when `public_key` is not a public xkey.
    pub fn provider_key(self, provider: ProviderId, public_key: &str) -> Result<Self, InvalidXKey> {
        let key = XKey::from_public_key(public_key).map_err(|source| InvalidXKey {
            key: public_key.to_owned(),
            source,
        })?;
        self.providers
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(provider, Arc::new(key));
        Ok(self)
    }

    /// Records the xkey the host generated for a provider it supervises (its seed goes to the
    /// provider in the host data), so link secrets for that provider are sealed to it. Replaces
    /// a key registered with [`provider_key`](Self::provider_key): the process the host started
    /// holds this one.
    pub(crate) fn register_supervised(&self, provider: &ProviderId, key: &XKey) {
        let Ok(public) = XKey::from_public_key(&key.public_key()) else {
            return;
        };
        self.providers
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(provider.clone(), Arc::new(public));
    }

    /// The host's public xkey: what providers open the secrets with.
    #[must_use]
    pub fn host_public_key(&self) -> String {
        self.host_key.public_key()
    }

    /// Resolves `references` and seals them for `provider`; `None` when there are none.
    pub(crate) async fn seal(
        &self,
        provider: &ProviderId,
        references: &[SecretRef],
    ) -> Result<Option<Bytes>, LinkRefusal> {
        if references.is_empty() {
            return Ok(None);
        }
        let refused = |message: String| LinkRefusal {
            kind: LinkErrorKind::InvalidConfiguration,
            message,
        };
        let recipient = self
            .providers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(provider)
            .cloned();
        let recipient = recipient.ok_or_else(|| {
            refused(format!(
                "the link has secrets for provider `{provider}`, whose xkey this host does not \
                 know; secrets are only ever sent sealed to a known provider key"
            ))
        })?;
        let mut values = SecretMap::new();
        for reference in references {
            let value = self
                .source
                .get(provider.as_str(), reference)
                .await
                .map_err(|e| LinkRefusal {
                    kind: match e.kind() {
                        SecretErrorKind::NotFound | SecretErrorKind::Denied => {
                            LinkErrorKind::MissingSecret
                        }
                        _ => LinkErrorKind::ResourceUnavailable,
                    },
                    message: format!("secret `{}`: {e}", reference.name()),
                })?;
            values.insert(reference.name().to_owned(), value);
        }
        let plaintext = serde_json::to_vec(&values)
            .map_err(|e| refused(format!("cannot encode the link's secrets: {e}")))?;
        let sealed = self
            .host_key
            .seal(&plaintext, &recipient)
            .map_err(|e| refused(format!("cannot seal the link's secrets: {e}")))?;
        Ok(Some(Bytes::from(sealed)))
    }
}
