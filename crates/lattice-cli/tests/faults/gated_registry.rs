//! [`GatedRegistry`]: **a test double of an OCI registry** — a minimal OCI distribution
//! endpoint (`GET /v2/`, one manifest, its blobs) on a real loopback TCP listener, serving one
//! component over plain HTTP/1.1 to the real registry client of the hosts and the scheduler.
//! (The real registry is `lattice_test_support::Registry`; this double exists for what it
//! cannot do: hold a download for as long as the test wants.)
//!
//! The gate makes "the hosts are mid-apply" a state the test can wait for instead of a race:
//! the first `free` layer downloads are answered (the scheduler's pre-flight fetches the
//! artifact once, and strictly before any host is asked to apply), and every request after
//! them is held — its connection open, no byte answered — until [`GatedRegistry::release`]
//! (or answered `503` by [`GatedRegistry::fail_one_held`]).
//! [`GatedRegistry::wait_held`] waits until that many requests are parked at the gate.

use lattice_spec::ContentDigest;
use std::{
    io::{BufRead, BufReader, Write},
    net::{Ipv4Addr, TcpListener, TcpStream},
    sync::{Arc, Condvar, Mutex, MutexGuard},
    time::{Duration, Instant},
};

const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
const CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
const LAYER_MEDIA_TYPE: &str = "application/wasm";

/// The registry double; stops accepting and lets go of held requests when dropped.
pub(crate) struct GatedRegistry {
    port: u16,
    shared: Arc<Shared>,
}

struct Shared {
    gate: Mutex<Gate>,
    changed: Condvar,
    manifest: Vec<u8>,
    manifest_digest: String,
    config: Vec<u8>,
    config_digest: String,
    layer: Vec<u8>,
    layer_digest: String,
}

#[derive(Debug)]
struct Gate {
    /// Layer downloads answered before the gate closes.
    free: usize,
    /// Layer downloads answered so far.
    layers_served: usize,
    /// Requests parked at the gate now.
    held: usize,
    /// Held requests still to be answered with an error (see `fail_one_held`).
    to_fail: usize,
    released: bool,
    stopped: bool,
}

impl Shared {
    fn gate(&self) -> MutexGuard<'_, Gate> {
        self.gate.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl GatedRegistry {
    /// Serves `component` as `faults/web` (any tag); the first `free` layer downloads go
    /// through, every request after them is held until [`release`](Self::release).
    pub(crate) fn serve(component: &[u8], free: usize) -> Self {
        let config = b"{}".to_vec();
        let config_digest = ContentDigest::sha256_of(&config).to_string();
        let layer_digest = ContentDigest::sha256_of(component).to_string();
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": {"mediaType": CONFIG_MEDIA_TYPE, "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": LAYER_MEDIA_TYPE, "digest": layer_digest, "size": component.len()}],
        }))
        .expect("a manifest encodes");
        let manifest_digest = ContentDigest::sha256_of(&manifest).to_string();
        let shared = Arc::new(Shared {
            gate: Mutex::new(Gate {
                free,
                layers_served: 0,
                held: 0,
                to_fail: 0,
                released: false,
                stopped: false,
            }),
            changed: Condvar::new(),
            manifest,
            manifest_digest,
            config,
            config_digest,
            layer: component.to_vec(),
            layer_digest,
        });
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a loopback port");
        let port = listener.local_addr().expect("local address").port();
        let accepting = shared.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accepting.gate().stopped {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let serving = accepting.clone();
                std::thread::spawn(move || serving.serve(stream));
            }
        });
        Self { port, shared }
    }

    /// The artifact reference hosts and the scheduler pull (`127.0.0.1:PORT/faults/web:TAG`).
    pub(crate) fn reference(&self, tag: &str) -> String {
        format!("127.0.0.1:{}/faults/web:{tag}", self.port)
    }

    /// Waits until exactly `count` requests are held at the gate; panics after `bound`.
    pub(crate) fn wait_held(&self, count: usize, bound: Duration) {
        let deadline = Instant::now() + bound;
        let mut gate = self.shared.gate();
        while gate.held != count {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "{count} requests were not held at the registry within {bound:?}: {gate:?}"
            );
            gate = self
                .shared
                .changed
                .wait_timeout(gate, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Layer downloads answered so far.
    pub(crate) fn layers_served(&self) -> usize {
        self.shared.gate().layers_served
    }

    /// Answers one held request with `503 Service Unavailable` (a download that fails);
    /// the others stay held.
    pub(crate) fn fail_one_held(&self) {
        self.shared.gate().to_fail += 1;
        self.shared.changed.notify_all();
    }

    /// Opens the gate for good: held requests are answered, later ones are not held.
    pub(crate) fn release(&self) {
        self.shared.gate().released = true;
        self.shared.changed.notify_all();
    }
}

impl Drop for GatedRegistry {
    fn drop(&mut self) {
        self.shared.gate().stopped = true;
        self.shared.changed.notify_all();
        // Wakes the accept loop so it sees `stopped`.
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
    }
}

/// What the gate let a request do.
enum Passed {
    Open,
    Failed,
    Stopped,
}

impl Shared {
    /// Answers the requests of one connection (HTTP/1.1, kept alive) until it closes.
    fn serve(&self, stream: TcpStream) {
        let Ok(read_half) = stream.try_clone() else {
            return;
        };
        let mut reader = BufReader::new(read_half);
        let mut writer = stream;
        loop {
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
                return;
            }
            // The headers are read and ignored: GETs and HEADs carry no body.
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 {
                    return;
                }
                if header == "\r\n" || header == "\n" {
                    break;
                }
            }
            let mut parts = request_line.split_whitespace();
            let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            // The registry client's version check (`GET /v2/`) is never held: what is held is
            // the download itself (manifest, blobs), so a failed one fails the fetch.
            let gated = !(path == "/v2/" || path == "/v2");
            let passed = if gated {
                self.pass_gate()
            } else {
                Passed::Open
            };
            let (status, content_type, digest, body, is_layer) = match passed {
                Passed::Stopped => return,
                Passed::Failed => (
                    "503 Service Unavailable",
                    "application/json",
                    None,
                    &br#"{"errors":[{"code":"UNAVAILABLE","message":"failed by the test"}]}"#[..],
                    false,
                ),
                Passed::Open => self.answer(path),
            };
            let mut head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: {content_type}\r\n",
                body.len()
            );
            if let Some(digest) = digest {
                head.push_str(&format!("Docker-Content-Digest: {digest}\r\n"));
            }
            head.push_str("\r\n");
            let mut sent = writer.write_all(head.as_bytes());
            if method != "HEAD" && sent.is_ok() {
                sent = writer.write_all(body);
            }
            if sent.and_then(|()| writer.flush()).is_err() {
                return;
            }
            if is_layer && method != "HEAD" {
                self.gate().layers_served += 1;
                self.changed.notify_all();
            }
        }
    }

    /// Holds the request while the gate is closed.
    fn pass_gate(&self) -> Passed {
        let mut gate = self.gate();
        if gate.layers_served >= gate.free && !gate.released && !gate.stopped {
            gate.held += 1;
            self.changed.notify_all();
            while !gate.released && !gate.stopped && gate.to_fail == 0 {
                gate = self.changed.wait(gate).unwrap_or_else(|e| e.into_inner());
            }
            gate.held -= 1;
            self.changed.notify_all();
            if gate.to_fail > 0 && !gate.stopped {
                gate.to_fail -= 1;
                return Passed::Failed;
            }
        }
        if gate.stopped {
            Passed::Stopped
        } else {
            Passed::Open
        }
    }

    fn answer(&self, path: &str) -> (&'static str, &'static str, Option<&str>, &[u8], bool) {
        const OK: &str = "200 OK";
        if path == "/v2/" || path == "/v2" {
            return (OK, "application/json", None, b"{}", false);
        }
        if let Some(rest) = path.strip_prefix("/v2/faults/web/") {
            if rest.starts_with("manifests/") {
                return (
                    OK,
                    MANIFEST_MEDIA_TYPE,
                    Some(&self.manifest_digest),
                    &self.manifest,
                    false,
                );
            }
            if let Some(digest) = rest.strip_prefix("blobs/") {
                if digest == self.layer_digest {
                    return (
                        OK,
                        "application/octet-stream",
                        Some(&self.layer_digest),
                        &self.layer,
                        true,
                    );
                }
                if digest == self.config_digest {
                    return (
                        OK,
                        "application/octet-stream",
                        Some(&self.config_digest),
                        &self.config,
                        false,
                    );
                }
            }
        }
        (
            "404 Not Found",
            "application/json",
            None,
            br#"{"errors":[{"code":"NAME_UNKNOWN","message":"not served by this test registry"}]}"#,
            false,
        )
    }
}
