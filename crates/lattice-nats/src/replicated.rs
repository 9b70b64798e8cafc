//! Waiting for a just-created replicated stream to take writes.
//!
//! On a cluster, creating an R3 bucket returns once the meta leader has placed its stream; the
//! stream's own group may still be electing its leader, and a write that reaches a server which
//! has not created its replica yet is answered "stream not found". The buckets lattice creates
//! replicated (the rollout store, the configuration bucket) wait here once after creating, so
//! their first write does not fail.

use async_nats::jetstream;
use std::time::Duration;
use tokio::time::Instant;

/// How long [`until_replicas_ready`] waits at most when asked by the buckets' `open_replicated`.
pub const REPLICAS_READY_WITHIN: Duration = Duration::from_secs(20);

/// Waits until stream `name` has a leader and every replica is current and online, at most
/// `bound`; says whether it got there. A stream that is not clustered, or has one replica, is
/// ready as soon as it can be read.
pub async fn until_replicas_ready(
    context: &jetstream::Context,
    name: &str,
    bound: Duration,
) -> bool {
    let deadline = Instant::now() + bound;
    loop {
        if let Ok(mut stream) = context.get_stream(name).await
            && let Ok(info) = stream.info().await
            && info.cluster.as_ref().is_none_or(|cluster| {
                cluster.leader.is_some()
                    && cluster
                        .replicas
                        .iter()
                        .all(|peer| peer.current && !peer.offline)
            })
        {
            return true;
        }
        if Instant::now() >= deadline {
            tracing::warn!(
                stream = name,
                ?bound,
                "the replicated stream is not ready; its first writes may fail"
            );
            return false;
        }
        // A poll interval: the stream's election publishes nothing this client can wait on.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Creates a key-value bucket and, when it has more than one replica, waits (at most
/// [`REPLICAS_READY_WITHIN`]) until its stream takes writes on every replica.
///
/// # Errors
///
/// What [`jetstream::Context::create_key_value`] returns.
pub async fn create_key_value_ready(
    context: &jetstream::Context,
    config: async_nats::jetstream::kv::Config,
) -> Result<async_nats::jetstream::kv::Store, jetstream::context::CreateKeyValueError> {
    let replicas = config.num_replicas;
    let stream = format!("KV_{}", config.bucket);
    let kv = context.create_key_value(config).await?;
    if replicas > 1 {
        until_replicas_ready(context, &stream, REPLICAS_READY_WITHIN).await;
    }
    Ok(kv)
}
