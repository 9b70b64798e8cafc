//! Fetching from a real OCI registry (`docker-registry`), with real components pushed by
//! `wash oci push` as wasmCloud users push them. Run `scripts/install-registry` first: a
//! missing `docker-registry` or `wash` fails these tests, saying so.

use lattice_artifact::{
    ArtifactFetcher, DefaultFetcher, FetchError, FetchErrorKind, OciLayoutFetcher,
    OciRegistryFetcher, fetch_pinned, testing,
};
use lattice_spec::{ArtifactRef, ComponentSpecDraft, ContentDigest};
use lattice_status::{ReasonCode, StatusReason};
use lattice_test_support::Registry;
use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Every await in these tests is bounded by this.
const TEST_TIMEOUT: Duration = Duration::from_secs(60);

async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(TEST_TIMEOUT, future)
        .await
        .expect("the test step finished in time")
}

fn greeter(version: &str) -> PathBuf {
    lattice_test_support::example_component(&format!("greeter/greeter-{version}.wasm"))
}

fn greeter_bytes(version: &str) -> Vec<u8> {
    std::fs::read(greeter(version)).expect("the example greeter component")
}

fn artifact(reference: &str) -> ArtifactRef {
    reference.parse().expect("a valid reference")
}

/// A registry holding `greeter:v1` and `greeter:v2`, pushed by `wash`; the manifest
/// digests `wash` reported.
struct Greeters {
    registry: Registry,
    v1_digest: String,
    v2_digest: String,
}

fn greeters(registry: Registry) -> Greeters {
    let push = |tag: &str, version: &str| {
        registry
            .push_component(&format!("greeter:{tag}"), &greeter(version))
            .unwrap_or_else(|e| panic!("wash oci push greeter:{tag}: {e}"))
            .digest
            .expect("wash reports the pushed digest")
    };
    let v1_digest = push("v1", "v1");
    let v2_digest = push("v2", "v2");
    Greeters {
        registry,
        v1_digest,
        v2_digest,
    }
}

fn start_registry() -> Registry {
    Registry::start().unwrap_or_else(|e| panic!("start docker-registry: {e}"))
}

async fn fetch_err(fetcher: &dyn ArtifactFetcher, reference: &str) -> FetchError {
    within(fetcher.fetch(&artifact(reference)))
        .await
        .expect_err("the fetch fails")
}

#[tokio::test]
async fn pulls_a_wash_pushed_component_by_tag() {
    let greeters = greeters(start_registry());
    let fetcher = OciRegistryFetcher::new();
    let v1 = within(fetcher.fetch(&artifact(&greeters.registry.reference("greeter:v1"))))
        .await
        .unwrap();
    assert_eq!(v1, greeter_bytes("v1"));
    assert!(wasmparser::Parser::is_component(&v1));
    let v2 = within(fetcher.fetch(&artifact(&greeters.registry.reference("greeter:v2"))))
        .await
        .unwrap();
    assert_eq!(v2, greeter_bytes("v2"));

    // The default fetcher routes OCI references to registries, and still reads files.
    let default = DefaultFetcher::new();
    let via_default = within(default.fetch(&artifact(&greeters.registry.reference("greeter:v1"))))
        .await
        .unwrap();
    assert_eq!(via_default, greeter_bytes("v1"));
    let file = format!("file://{}", greeter("v2").display());
    assert_eq!(
        within(default.fetch(&artifact(&file))).await.unwrap(),
        greeter_bytes("v2")
    );
}

#[tokio::test]
async fn pulls_by_digest_and_verifies_the_manifest() {
    let greeters = greeters(start_registry());
    let fetcher = OciRegistryFetcher::new();
    for (digest, version) in [(&greeters.v1_digest, "v1"), (&greeters.v2_digest, "v2")] {
        let reference = greeters.registry.reference(&format!("greeter@{digest}"));
        let bytes = within(fetcher.fetch(&artifact(&reference))).await.unwrap();
        assert_eq!(bytes, greeter_bytes(version), "{reference}");
    }
    // A tag and a digest: the digest decides.
    let both = greeters
        .registry
        .reference(&format!("greeter:v1@{}", greeters.v2_digest));
    assert_eq!(
        within(fetcher.fetch(&artifact(&both))).await.unwrap(),
        greeter_bytes("v2")
    );

    // Tamper with the stored manifest (still valid JSON, so the registry serves it): a pull by
    // its digest must refuse what the registry now serves.
    let manifest = greeters.registry.blob_path(&greeters.v1_digest);
    let stored = std::fs::read_to_string(&manifest).unwrap();
    let tampered = stored.replacen("\"schemaVersion\":2", "\"schemaVersion\": 2", 1);
    assert_ne!(
        stored, tampered,
        "the manifest is as wash 2.x writes it: {stored}"
    );
    std::fs::write(&manifest, tampered).unwrap();
    let reference = greeters
        .registry
        .reference(&format!("greeter@{}", greeters.v1_digest));
    let error = fetch_err(&fetcher, &reference).await;
    assert_eq!(error.kind(), FetchErrorKind::DigestMismatch, "{error}");
    assert!(
        matches!(&error, FetchError::RegistryDigestMismatch { blob, expected, .. }
            if blob == "manifest" && *expected == greeters.v1_digest),
        "{error:?}"
    );
    assert!(!error.is_pin_mismatch());
}

#[tokio::test]
async fn a_spec_pin_that_does_not_match_is_an_invalid_artifact() {
    let greeters = greeters(start_registry());
    let fetcher = OciRegistryFetcher::new();
    let reference = greeters.registry.reference("greeter:v1");

    let pinned = ComponentSpecDraft::new("greeter", reference.as_str())
        .digest(ContentDigest::sha256_of(&greeter_bytes("v1")).as_str())
        .validate()
        .unwrap();
    let bytes = within(fetch_pinned(&fetcher, &pinned)).await.unwrap();
    assert_eq!(bytes, greeter_bytes("v1"));

    // Pinned to v2's bytes, but the tag serves v1.
    let wrong_pin = ContentDigest::sha256_of(&greeter_bytes("v2"));
    let wrong = ComponentSpecDraft::new("greeter", reference.as_str())
        .digest(wrong_pin.as_str())
        .validate()
        .unwrap();
    let error = within(fetch_pinned(&fetcher, &wrong)).await.unwrap_err();
    assert_eq!(error.kind(), FetchErrorKind::DigestMismatch);
    assert!(error.is_pin_mismatch(), "{error:?}");
    assert_eq!(error.artifact(), Some(reference.as_str()));
    let reason = StatusReason::from(&error);
    assert_eq!(reason.code, ReasonCode::InvalidArtifact);
    assert!(reason.message.contains(wrong_pin.as_str()), "{reason}");
}

#[tokio::test]
async fn a_corrupt_layer_in_the_registry_storage_is_a_digest_mismatch() {
    let greeters = greeters(start_registry());
    let layer_digest = ContentDigest::sha256_of(&greeter_bytes("v1")).to_string();
    let blob = greeters.registry.blob_path(&layer_digest);
    let mut bytes = std::fs::read(&blob).expect("wash stored the layer as the component bytes");
    assert_eq!(bytes, greeter_bytes("v1"));
    // Same size, one byte flipped: only the digest can tell.
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&blob, &bytes).unwrap();

    let fetcher = OciRegistryFetcher::new();
    let error = fetch_err(&fetcher, &greeters.registry.reference("greeter:v1")).await;
    assert_eq!(error.kind(), FetchErrorKind::DigestMismatch, "{error}");
    match &error {
        FetchError::RegistryDigestMismatch {
            blob,
            expected,
            actual,
            ..
        } => {
            assert_eq!(*blob, format!("layer {layer_digest}"));
            assert_eq!(*expected, layer_digest);
            assert_eq!(*actual, ContentDigest::sha256_of(&bytes).to_string());
        }
        other => panic!("expected a registry digest mismatch, got {other:?}"),
    }
    assert!(!error.is_pin_mismatch());
    let reason = StatusReason::from(&error);
    assert_eq!(reason.code, ReasonCode::FetchFailed);
    assert!(reason.message.contains("is corrupt"), "{reason}");
    // v2 is untouched.
    let v2 = within(fetcher.fetch(&artifact(&greeters.registry.reference("greeter:v2"))))
        .await
        .unwrap();
    assert_eq!(v2, greeter_bytes("v2"));
}

#[tokio::test]
async fn missing_tags_and_repositories_are_not_found() {
    let greeters = greeters(start_registry());
    let fetcher = OciRegistryFetcher::new();
    for reference in ["greeter:v9", "nobody:v1"] {
        let reference = greeters.registry.reference(reference);
        let error = fetch_err(&fetcher, &reference).await;
        assert_eq!(error.kind(), FetchErrorKind::NotFound, "{error}");
        assert!(
            error.to_string().contains("of registry 127.0.0.1:"),
            "{error}"
        );
        assert_eq!(StatusReason::from(&error).code, ReasonCode::FetchFailed);
    }
}

#[tokio::test]
async fn a_stopped_registry_is_unreachable_within_the_deadline() {
    let deadline = Duration::from_secs(10);
    // Anonymous, and with credentials (whose token the client caches, so no request probes
    // the registry before the manifest is asked for).
    let anonymous = (start_registry(), OciRegistryFetcher::builder());
    let locked = (
        Registry::builder()
            .basic_auth("alice", "s3cret")
            .start()
            .unwrap_or_else(|e| panic!("start docker-registry with htpasswd: {e}")),
        OciRegistryFetcher::builder().basic_auth("127.0.0.1", "alice", "s3cret"),
    );
    for (registry, fetcher) in [anonymous, locked] {
        let greeters = greeters(registry);
        let fetcher = fetcher.deadline(deadline).build();
        let reference = greeters.registry.reference("greeter:v1");
        // Fetched once, so a pooled connection to the registry exists when it dies.
        within(fetcher.fetch(&artifact(&reference))).await.unwrap();
        drop(greeters);

        let started = Instant::now();
        let error = fetch_err(&fetcher, &reference).await;
        let elapsed = started.elapsed();
        eprintln!("unreachable after {elapsed:?}: {error}");
        assert_eq!(error.kind(), FetchErrorKind::Unreachable, "{error:?}");
        assert!(elapsed < deadline, "took {elapsed:?}");
        let reason = StatusReason::from(&error);
        assert_eq!(reason.code, ReasonCode::FetchFailed);
        assert!(
            reason.message.contains("cannot be reached over plain HTTP"),
            "{reason}"
        );
        assert!(
            reason.message.to_lowercase().contains("connection refused"),
            "the transport's cause is kept: {reason}"
        );
    }
}

#[tokio::test]
async fn a_registry_that_never_answers_times_out_at_the_deadline() {
    // Accepts connections and holds them open without a byte in reply.
    let listener = within(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .await
        .unwrap();
    let address = listener.local_addr().unwrap();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });

    let deadline = Duration::from_millis(1500);
    let fetcher = OciRegistryFetcher::builder().deadline(deadline).build();
    let reference = format!("{address}/greeter:v1");
    let started = Instant::now();
    let error = fetch_err(&fetcher, &reference).await;
    let elapsed = started.elapsed();
    eprintln!("timed out after {elapsed:?}: {error}");
    silent.abort();

    assert_eq!(error.kind(), FetchErrorKind::TimedOut, "{error:?}");
    assert!(
        matches!(&error, FetchError::TimedOut { after, .. } if *after == deadline),
        "{error:?}"
    );
    assert!(elapsed >= deadline, "took {elapsed:?}");
    assert!(
        elapsed < deadline + Duration::from_secs(2),
        "took {elapsed:?}"
    );
    assert_eq!(StatusReason::from(&error).code, ReasonCode::FetchFailed);
}

#[tokio::test]
async fn credentials_are_sent_and_wrong_ones_are_unauthorized() {
    let registry = Registry::builder()
        .basic_auth("alice", "s3cret")
        .start()
        .unwrap_or_else(|e| panic!("start docker-registry with htpasswd: {e}"));
    let greeters = greeters(registry);
    let reference = greeters.registry.reference("greeter:v1");
    let host = greeters.registry.address();

    let right = OciRegistryFetcher::builder()
        .basic_auth(&host, "alice", "s3cret")
        .build();
    let bytes = within(right.fetch(&artifact(&reference))).await.unwrap();
    assert_eq!(bytes, greeter_bytes("v1"));

    let wrong = OciRegistryFetcher::builder()
        .basic_auth("127.0.0.1", "alice", "wrong")
        .build();
    let error = fetch_err(&wrong, &reference).await;
    assert_eq!(error.kind(), FetchErrorKind::Unauthorized, "{error:?}");
    assert!(
        matches!(&error, FetchError::Unauthorized { username: Some(user), .. } if user == "alice"),
        "{error:?}"
    );
    assert!(error.to_string().contains("user `alice`"), "{error}");
    assert_eq!(StatusReason::from(&error).code, ReasonCode::FetchFailed);

    let anonymous = fetch_err(&OciRegistryFetcher::new(), &reference).await;
    assert_eq!(anonymous.kind(), FetchErrorKind::Unauthorized);
    assert!(
        matches!(&anonymous, FetchError::Unauthorized { username: None, .. }),
        "{anonymous:?}"
    );
    assert!(anonymous.to_string().contains("basic_auth"), "{anonymous}");
}

#[tokio::test]
async fn a_local_layout_wins_over_the_registry_when_there_is_one() {
    let greeters = greeters(start_registry());
    let root = tempfile::tempdir().unwrap();
    let mirrored = testing::component_importing(&[]);
    let v2 = greeters.registry.reference("greeter:v2");
    testing::write_oci_layout(root.path(), &v2, &mirrored).unwrap();

    let fetcher = DefaultFetcher::new().with_oci_layouts(OciLayoutFetcher::new(root.path()));
    // The layout for this repository exists: it serves (the tag it has, and no other).
    assert_eq!(
        within(fetcher.fetch(&artifact(&v2))).await.unwrap(),
        mirrored
    );
    // No layout for this repository: the registry serves.
    let other_repository = greeters.registry.reference("elsewhere:v1");
    let pushed = greeters
        .registry
        .push_component("elsewhere:v1", &greeter("v1"))
        .unwrap();
    assert!(pushed.digest.is_some());
    assert_eq!(
        within(fetcher.fetch(&artifact(&other_repository)))
            .await
            .unwrap(),
        greeter_bytes("v1")
    );
}

#[tokio::test]
async fn plain_http_is_used_only_where_allowed() {
    let greeters = greeters(start_registry());
    let reference = greeters.registry.reference("greeter:v1");
    // Loopback over HTTPS, as a registry off this machine would be reached: the TLS
    // handshake with a plain-HTTP registry fails, and the error says how to allow it.
    let strict = OciRegistryFetcher::builder()
        .loopback_plain_http(false)
        .deadline(Duration::from_secs(10))
        .build();
    let error = fetch_err(&strict, &reference).await;
    assert_eq!(error.kind(), FetchErrorKind::Unreachable, "{error:?}");
    assert!(error.to_string().contains("insecure_registry"), "{error}");

    let allowed = OciRegistryFetcher::builder()
        .loopback_plain_http(false)
        .insecure_registry(greeters.registry.address())
        .build();
    assert_eq!(
        within(allowed.fetch(&artifact(&reference))).await.unwrap(),
        greeter_bytes("v1")
    );
}
