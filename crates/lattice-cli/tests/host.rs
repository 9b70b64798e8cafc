//! `lattice host` as a user runs it: a wasmtime host process against an existing nats-server,
//! pulling a component that `wash` pushed to a real registry with basic auth, then `lattice
//! invoke` calling it; a host without the registry's credentials fails the apply, typed.

mod support;

use lattice_test_support::Registry;
use std::{
    path::Path,
    process::{Child, Stdio},
};
use support::Lattice;

/// A `lattice host` process, interrupted (Ctrl-C) on drop.
struct HostProcess(Option<Child>);

impl HostProcess {
    fn start(lattice: &Lattice, id: &str, extra: &[&str]) -> Self {
        let url = lattice.server.url();
        let mut child = support::command()
            .args([
                "--nats-url",
                &url,
                "host",
                "--host-id",
                id,
                "--label",
                "zone=eu-1",
            ])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("lattice host starts");
        let line = support::first_line(child.stdout.take().unwrap());
        assert!(line.starts_with(&format!("host {id} serving")), "{line:?}");
        Self(Some(child))
    }

    /// Stops the host with `signal` (`-INT`, as Ctrl-C does, or `-TERM`, as `kill` and
    /// service managers do) and returns how it ended.
    fn stop(mut self, signal: &str) -> support::Run {
        let child = self.0.take().unwrap();
        support::kill(signal, &child.id().to_string());
        support::finish(child)
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn spec(reference: &str, revision: u64) -> String {
    format!("id: unruly\nrevision: {revision}\nscale: 1\nartifact: {reference}\n")
}

#[test]
fn a_host_process_pulls_from_a_private_registry_and_invoke_reaches_its_component() {
    let registry = Registry::builder()
        .basic_auth("alice", "wonderland")
        .start()
        .expect("docker-registry starts (scripts/install-registry)");
    let component =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/components/faulty/unruly.wasm");
    let pushed = registry
        .push_component("unruly:1.0.0", &component)
        .expect("wash pushes");

    let lattice = Lattice::start(&[]);
    let auth = format!("{}=alice:wonderland", registry.address());
    let with_credentials = HostProcess::start(&lattice, "edge-1", &["--registry-auth", &auth]);
    let anonymous = HostProcess::start(&lattice, "edge-2", &[]);

    let applied = lattice.run_with_stdin(
        &["apply", "-f", "-", "--host", "edge-1", "--wait"],
        Some(&spec(&pushed.reference, 1)),
    );
    assert_eq!(applied.code(), Some(0), "{applied:#?}");
    let answer = lattice.run(&[
        "invoke",
        "unruly",
        "lattice:greeter/greet@0.1.0.hello",
        r#"["Ada"]"#,
    ]);
    assert_eq!(answer.code(), Some(0), "{answer:#?}");
    assert_eq!(answer.stdout.trim(), "still serving", "{answer:#?}");

    // Without the credentials the registry refuses the pull: the apply fails, typed.
    let refused = lattice.run_with_stdin(
        &["apply", "-f", "-", "--host", "edge-2", "--wait"],
        Some(&spec(&pushed.reference, 1)),
    );
    assert_eq!(refused.code(), Some(1), "{refused:#?}");
    assert!(refused.stderr.contains("fetch_failed"), "{refused:#?}");

    // A function the component does not export is an error, not a hang.
    let missing = lattice.run(&[
        "invoke",
        "unruly",
        "lattice:greeter/greet@0.1.0.goodbye",
        "[]",
    ]);
    assert_eq!(missing.code(), Some(1), "{missing:#?}");

    // Both signals stop a host gracefully — it exits 0 instead of dying by the signal — so
    // the provider processes it supervises are stopped with it, not orphaned.
    for (host, signal) in [(with_credentials, "-INT"), (anonymous, "-TERM")] {
        let stopped = host.stop(signal);
        assert!(stopped.status.success(), "{signal}: {stopped:#?}");
    }
}
