//! Integration tests: these start real `docker-registry` processes and push with a real
//! `wash` (run `scripts/install-registry` to install both).

use lattice_test_support::{PushError, Registry, Wash};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

fn greeter() -> PathBuf {
    lattice_test_support::example_component("greeter/greeter-v1.wasm")
}

/// `GET path` with optional basic credentials; the status code.
fn status_of(address: &str, path: &str, authorization: Option<&str>) -> u16 {
    let mut stream = TcpStream::connect(address).expect("connect to the registry");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let authorization = authorization
        .map(|value| format!("Authorization: Basic {value}\r\n"))
        .unwrap_or_default();
    // The registry serves an OCI manifest only to a client that accepts one.
    let accept = "Accept: application/vnd.oci.image.manifest.v1+json\r\n";
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\n{accept}{authorization}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"))
}

#[test]
fn registry_serves_pushes_and_is_killed_on_drop() {
    let registry = Registry::start().expect("start docker-registry");
    let address = registry.address();
    assert_eq!(status_of(&address, "/v2/", None), 200);
    assert!(registry.storage_dir().starts_with(registry.dir()));

    let pushed = registry
        .push_component("greeter:v1", &greeter())
        .expect("wash oci push");
    assert_eq!(pushed.reference, format!("{address}/greeter:v1"));
    let digest = pushed.digest.expect("wash reports the digest");
    assert!(digest.starts_with("sha256:"), "{digest}");
    assert_eq!(
        status_of(&address, &format!("/v2/greeter/manifests/{digest}"), None),
        200
    );
    // The manifest is stored where `blob_path` says.
    assert!(registry.blob_path(&digest).is_file());

    drop(registry);
    assert!(
        TcpStream::connect(&address).is_err(),
        "the registry still listens on {address} after drop"
    );
}

#[test]
fn a_registry_with_basic_auth_wants_the_credentials() {
    let registry = Registry::builder()
        .basic_auth("alice", "s3cret")
        .start()
        .expect("start docker-registry with htpasswd");
    let address = registry.address();
    assert_eq!(status_of(&address, "/v2/", None), 401);
    // base64("alice:s3cret")
    assert_eq!(status_of(&address, "/v2/", Some("YWxpY2U6czNjcmV0")), 200);
    // base64("alice:wrong")
    assert_eq!(status_of(&address, "/v2/", Some("YWxpY2U6d3Jvbmc=")), 401);

    // push_component sends the registry's credentials; without them wash is refused.
    registry
        .push_component("greeter:v1", &greeter())
        .expect("wash oci push with credentials");
    let refused = Wash::find()
        .expect("wash")
        .push(&registry.reference("greeter:v2"), &greeter(), None)
        .unwrap_err();
    assert!(matches!(refused, PushError::Failed { .. }), "{refused}");
    assert!(refused.to_string().contains("401"), "{refused}");
}
