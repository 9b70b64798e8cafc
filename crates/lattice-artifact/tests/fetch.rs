//! Fetching from real files and real OCI image layouts on disk.

use lattice_artifact::{
    ArtifactFetcher, DefaultFetcher, FetchError, FetchErrorKind, FileFetcher, OciLayoutFetcher,
    fetch_pinned, testing, verify_pin,
};
use lattice_spec::{ArtifactRef, ComponentSpecDraft, ContentDigest};
use lattice_status::{ReasonCode, StatusReason};
use std::path::Path;

fn artifact(value: &str) -> ArtifactRef {
    value.parse().unwrap()
}

fn blob_path(layout: &Path, digest: &ContentDigest) -> std::path::PathBuf {
    let hex = digest.as_str().strip_prefix("sha256:").unwrap();
    layout.join("blobs").join("sha256").join(hex)
}

#[tokio::test]
async fn file_fetcher_reads_absolute_and_relative_paths() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = testing::component_importing(&[]);
    std::fs::write(dir.path().join("app.wasm"), &wasm).unwrap();
    let fetcher = FileFetcher::new(dir.path());

    let absolute = format!("{}/app.wasm", dir.path().display());
    assert_eq!(fetcher.fetch(&artifact(&absolute)).await.unwrap(), wasm);
    let file_url = format!("file://{absolute}");
    assert_eq!(fetcher.fetch(&artifact(&file_url)).await.unwrap(), wasm);
    assert_eq!(fetcher.fetch(&artifact("./app.wasm")).await.unwrap(), wasm);
}

#[tokio::test]
async fn missing_file_is_not_found_with_the_resolved_path() {
    let dir = tempfile::tempdir().unwrap();
    let error = FileFetcher::new(dir.path())
        .fetch(&artifact("./missing.wasm"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), FetchErrorKind::NotFound);
    let message = error.to_string();
    assert!(
        message.starts_with("artifact `./missing.wasm` not found"),
        "{message}"
    );
    assert!(
        message.contains(&dir.path().join("missing.wasm").display().to_string()),
        "{message}"
    );
    assert_eq!(StatusReason::from(&error).code, ReasonCode::FetchFailed);
}

#[tokio::test]
async fn reading_a_directory_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("app.wasm")).unwrap();
    let error = FileFetcher::new(dir.path())
        .fetch(&artifact("./app.wasm"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), FetchErrorKind::Io, "{error}");
}

#[tokio::test]
async fn oci_layout_is_fetched_by_tag_and_by_digest() {
    let root = tempfile::tempdir().unwrap();
    let v1 = testing::component_importing(&["wasi:keyvalue/store@0.2.0"]);
    let v2 = testing::component(&[], &["wasi:http/incoming-handler@0.2.0"]);
    let first = testing::write_oci_image(root.path(), "ghcr.io/acme/app:1.0.0", &v1).unwrap();
    let second = testing::write_oci_image(root.path(), "ghcr.io/acme/app:2.0.0", &v2).unwrap();
    assert_eq!(first.layout_dir, root.path().join("ghcr.io/acme/app"));
    assert_eq!(first.layout_dir, second.layout_dir);
    assert_eq!(first.layer_digest, ContentDigest::sha256_of(&v1));

    let fetcher = OciLayoutFetcher::new(root.path());
    assert_eq!(
        fetcher
            .fetch(&artifact("ghcr.io/acme/app:1.0.0"))
            .await
            .unwrap(),
        v1
    );
    assert_eq!(
        fetcher
            .fetch(&artifact("ghcr.io/acme/app:2.0.0"))
            .await
            .unwrap(),
        v2
    );
    let by_digest = format!("ghcr.io/acme/app@{}", first.manifest_digest);
    assert_eq!(fetcher.fetch(&artifact(&by_digest)).await.unwrap(), v1);
    // With both, the digest decides (as registries do).
    let both = format!("ghcr.io/acme/app:2.0.0@{}", first.manifest_digest);
    assert_eq!(fetcher.fetch(&artifact(&both)).await.unwrap(), v1);
}

#[tokio::test]
async fn rewriting_a_tag_replaces_it() {
    let root = tempfile::tempdir().unwrap();
    let old = testing::component_importing(&[]);
    let new = testing::component_importing(&["greeting"]);
    testing::write_oci_layout(root.path(), "localhost:5000/app:1", &old).unwrap();
    let layout = testing::write_oci_layout(root.path(), "localhost:5000/app:1", &new).unwrap();
    assert_eq!(layout, root.path().join("localhost:5000").join("app"));
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1);
    let fetched = OciLayoutFetcher::new(root.path())
        .fetch(&artifact("localhost:5000/app:1"))
        .await
        .unwrap();
    assert_eq!(fetched, new);
}

#[tokio::test]
async fn missing_tag_is_not_found_listing_the_tags_present() {
    let root = tempfile::tempdir().unwrap();
    let wasm = testing::component_importing(&[]);
    testing::write_oci_layout(root.path(), "ghcr.io/acme/app:1.0.0", &wasm).unwrap();
    testing::write_oci_layout(root.path(), "ghcr.io/acme/app:1.1.0", &wasm).unwrap();
    let error = OciLayoutFetcher::new(root.path())
        .fetch(&artifact("ghcr.io/acme/app:9.9.9"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), FetchErrorKind::NotFound);
    let message = error.to_string();
    assert!(message.contains("no tag `9.9.9`"), "{message}");
    assert!(message.contains("tags present: 1.0.0, 1.1.0"), "{message}");

    let digest = ContentDigest::sha256_of(b"no such manifest");
    let error = OciLayoutFetcher::new(root.path())
        .fetch(&artifact(&format!("ghcr.io/acme/app@{digest}")))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), FetchErrorKind::NotFound);
    assert!(error.to_string().contains(digest.as_str()), "{error}");
}

#[tokio::test]
async fn missing_layout_directory_is_not_found_naming_the_mapping() {
    let root = tempfile::tempdir().unwrap();
    let error = OciLayoutFetcher::new(root.path())
        .fetch(&artifact("ghcr.io/acme/absent:1"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), FetchErrorKind::NotFound);
    let message = error.to_string();
    assert!(message.contains("ghcr.io/acme/absent"), "{message}");
    assert!(
        message.contains("<root>/<registry>/<repository>"),
        "{message}"
    );
}

#[tokio::test]
async fn corrupted_layer_blob_is_a_digest_mismatch() {
    let root = tempfile::tempdir().unwrap();
    let wasm = testing::component_importing(&[]);
    let image = testing::write_oci_image(root.path(), "ghcr.io/acme/app:1", &wasm).unwrap();
    let layer = blob_path(&image.layout_dir, &image.layer_digest);
    let mut corrupted = wasm.clone();
    *corrupted.last_mut().unwrap() ^= 0xff;
    std::fs::write(&layer, &corrupted).unwrap();

    let error = OciLayoutFetcher::new(root.path())
        .fetch(&artifact("ghcr.io/acme/app:1"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), FetchErrorKind::DigestMismatch, "{error}");
    let FetchError::DigestMismatch {
        blob,
        expected,
        actual,
        ..
    } = &error
    else {
        unreachable!()
    };
    assert_eq!(blob.as_deref(), Some(layer.as_path()));
    assert_eq!(expected, image.layer_digest.as_str());
    assert_eq!(actual, ContentDigest::sha256_of(&corrupted).as_str());
    assert!(!error.is_pin_mismatch());
    assert_eq!(StatusReason::from(&error).code, ReasonCode::FetchFailed);
}

#[tokio::test]
async fn corrupted_manifest_blob_is_a_digest_mismatch() {
    let root = tempfile::tempdir().unwrap();
    let image =
        testing::write_oci_image(root.path(), "ghcr.io/acme/app:1", &testing::core_module())
            .unwrap();
    std::fs::write(blob_path(&image.layout_dir, &image.manifest_digest), b"{}").unwrap();
    let error = OciLayoutFetcher::new(root.path())
        .fetch(&artifact("ghcr.io/acme/app:1"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), FetchErrorKind::DigestMismatch, "{error}");
}

#[tokio::test]
async fn broken_layouts_are_invalid_layouts() {
    let root = tempfile::tempdir().unwrap();
    let wasm = testing::component_importing(&[]);
    let layout = testing::write_oci_layout(root.path(), "ghcr.io/acme/app:1", &wasm).unwrap();
    let fetcher = OciLayoutFetcher::new(root.path());
    let app = artifact("ghcr.io/acme/app:1");

    // A descriptor digest that would escape the blobs directory is refused before any read.
    let index = std::fs::read_to_string(layout.join("index.json")).unwrap();
    let mut escaping: serde_json::Value = serde_json::from_str(&index).unwrap();
    escaping["manifests"][0]["digest"] = "sha256:../../../../etc/passwd".into();
    std::fs::write(layout.join("index.json"), escaping.to_string()).unwrap();
    let error = fetcher.fetch(&app).await.unwrap_err();
    assert_eq!(error.kind(), FetchErrorKind::InvalidLayout, "{error}");

    std::fs::write(layout.join("index.json"), "not json").unwrap();
    let error = fetcher.fetch(&app).await.unwrap_err();
    assert_eq!(error.kind(), FetchErrorKind::InvalidLayout, "{error}");
    assert!(error.to_string().contains("index.json"), "{error}");

    std::fs::remove_file(layout.join("oci-layout")).unwrap();
    let error = fetcher.fetch(&app).await.unwrap_err();
    assert_eq!(error.kind(), FetchErrorKind::InvalidLayout, "{error}");
    assert!(
        error.to_string().contains("`oci-layout` file is missing"),
        "{error}"
    );
}

#[tokio::test]
async fn default_fetcher_routes_by_reference_kind() {
    let files = tempfile::tempdir().unwrap();
    let oci = tempfile::tempdir().unwrap();
    let file_wasm = testing::component_importing(&["greeting"]);
    let oci_wasm = testing::component_importing(&[]);
    std::fs::write(files.path().join("app.wasm"), &file_wasm).unwrap();
    testing::write_oci_layout(oci.path(), "ghcr.io/acme/app:1", &oci_wasm).unwrap();

    let fetcher = DefaultFetcher::empty()
        .with_files(FileFetcher::new(files.path()))
        .with_oci_layouts(OciLayoutFetcher::new(oci.path()));
    assert_eq!(
        fetcher.fetch(&artifact("./app.wasm")).await.unwrap(),
        file_wasm
    );
    assert_eq!(
        fetcher
            .fetch(&artifact("ghcr.io/acme/app:1"))
            .await
            .unwrap(),
        oci_wasm
    );

    let only_files = DefaultFetcher::empty().with_files(FileFetcher::new(files.path()));
    let error = only_files
        .fetch(&artifact("ghcr.io/acme/app:1"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), FetchErrorKind::Unsupported);
}

#[tokio::test]
async fn pins_are_verified_when_fetching_for_a_spec() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = testing::component_importing(&[]);
    std::fs::write(dir.path().join("app.wasm"), &wasm).unwrap();
    let fetcher = FileFetcher::new(dir.path());
    let pin = ContentDigest::sha256_of(&wasm);
    assert!(verify_pin(&wasm, &pin).is_ok());

    let pinned = ComponentSpecDraft::new("app", "./app.wasm")
        .digest(pin.as_str())
        .validate()
        .unwrap();
    assert_eq!(fetch_pinned(&fetcher, &pinned).await.unwrap(), wasm);
    let unpinned = ComponentSpecDraft::new("app", "./app.wasm")
        .validate()
        .unwrap();
    assert_eq!(fetch_pinned(&fetcher, &unpinned).await.unwrap(), wasm);

    let other = ContentDigest::sha256_of(b"the pinned build");
    let wrong = ComponentSpecDraft::new("app", "./app.wasm")
        .digest(other.as_str())
        .validate()
        .unwrap();
    let error = fetch_pinned(&fetcher, &wrong).await.unwrap_err();
    assert_eq!(error.kind(), FetchErrorKind::DigestMismatch);
    assert!(error.is_pin_mismatch());
    assert_eq!(error.artifact(), Some("./app.wasm"));
    let reason = StatusReason::from(&error);
    assert_eq!(reason.code, ReasonCode::InvalidArtifact);
    assert!(reason.message.contains(other.as_str()), "{reason}");
    assert!(reason.message.contains(pin.as_str()), "{reason}");
}
