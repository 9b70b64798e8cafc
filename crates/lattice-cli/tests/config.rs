//! `lattice config put|get|delete|list` as a user runs them, against a real nats-server with
//! JetStream, and a named-configuration rotation rolled out and undone with `lattice apply`
//! and `lattice rollout undo` (hosts run the echo runtime, which answers with the `greeting`
//! of the configuration the host resolved — this binary's tests have no wasmtime runtime).

mod support;

use std::path::Path;
use support::Lattice;

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn put_get_list_and_delete_a_named_configuration() {
    let lattice = Lattice::start(&[]);
    let dir = tempfile::tempdir().unwrap();

    let put = lattice.run(&["config", "put", "creds", "user=app", "url=redis://h?a=b"]);
    assert_eq!(put.code(), Some(0), "{put:#?}");
    assert!(
        put.stdout
            .contains("configuration `creds` set (2 keys, sha256:"),
        "{put:#?}"
    );
    let get = lattice.run(&["config", "get", "creds", "-o", "json"]);
    assert_eq!(get.code(), Some(0), "{get:#?}");
    assert_eq!(
        get.json(),
        serde_json::json!({"user": "app", "url": "redis://h?a=b"})
    );

    // From a file, replacing the whole configuration; printed as a table.
    let file = write(dir.path(), "creds.json", r#"{ "user": "app2" }"#);
    let put = lattice.run(&["config", "put", "creds", "--file", &file]);
    assert_eq!(put.code(), Some(0), "{put:#?}");
    let get = lattice.run(&["config", "get", "creds"]);
    let lines: Vec<&str> = get.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{get:#?}");
    assert!(
        lines[0].starts_with("KEY") && lines[1].starts_with("user"),
        "{get:#?}"
    );
    assert!(lines[1].ends_with("app2"), "{get:#?}");

    let put = lattice.run(&["config", "put", "base", "greeting=hi"]);
    assert_eq!(put.code(), Some(0), "{put:#?}");
    let list = lattice.run(&["config", "list", "-o", "json"]);
    assert_eq!(
        list.json(),
        serde_json::json!(["base", "creds"]),
        "{list:#?}"
    );

    // Bad input is a usage error before anything is written, and never echoes a value.
    let bad = write(dir.path(), "bad.json", r#"{"user": "app", "port": 424242}"#);
    let refused = lattice.run(&["config", "put", "creds", "--file", &bad]);
    assert_eq!(refused.code(), Some(2), "{refused:#?}");
    assert!(
        refused
            .stderr
            .contains("not a JSON object of string values")
            && refused.stderr.contains("line 1 column"),
        "{refused:#?}"
    );
    assert!(!refused.stderr.contains("424242"), "{refused:#?}");
    assert!(refused.stderr.contains("hint: "), "{refused:#?}");
    let refused = lattice.run(&["config", "put", "creds", "no-equals-sign"]);
    assert_eq!(refused.code(), Some(2), "{refused:#?}");
    let get = lattice.run(&["config", "get", "creds", "-o", "json"]);
    assert_eq!(get.json(), serde_json::json!({"user": "app2"}), "unchanged");

    // Delete, twice: the second has nothing to do; a missing configuration is exit 1.
    let deleted = lattice.run(&["config", "delete", "creds"]);
    assert_eq!(deleted.code(), Some(0), "{deleted:#?}");
    assert!(deleted.stdout.contains("`creds` deleted"), "{deleted:#?}");
    let again = lattice.run(&["config", "delete", "creds"]);
    assert_eq!(again.code(), Some(0), "{again:#?}");
    assert!(again.stdout.contains("nothing to do"), "{again:#?}");
    let missing = lattice.run(&["config", "get", "creds"]);
    assert_eq!(missing.code(), Some(1), "{missing:#?}");
    assert!(
        missing.stderr.contains("`creds` does not exist")
            && missing.stderr.contains("hint: `lattice config list`"),
        "{missing:#?}"
    );
    let list = lattice.run(&["config", "list", "-o", "json"]);
    assert_eq!(list.json(), serde_json::json!(["base"]), "{list:#?}");
}

#[test]
fn an_unreachable_server_exits_3() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let url = format!("nats://127.0.0.1:{port}");
    let run = support::lattice(&["--nats-url", &url, "config", "list"], None);
    assert_eq!(run.code(), Some(3), "{run:#?}");
}

#[test]
fn a_rotated_configuration_rolls_out_with_apply_and_back_with_undo() {
    let lattice = Lattice::start(&["host-1", "host-2"]);
    let dir = tempfile::tempdir().unwrap();
    let component = dir.path().join("web.wasm");
    std::fs::write(
        &component,
        lattice_artifact::testing::component_importing(&[]),
    )
    .unwrap();
    let manifest = write(
        dir.path(),
        "app.yaml",
        &format!(
            "name: shop\nstrategy:\n  type: all_at_once\noptions:\n  min_healthy_ms: 100\n  \
             per_host_deadline_ms: 10000\ncomponents:\n  - spec:\n      id: web\n      \
             revision: 1\n      scale: 1\n      artifact: file://{}\n      config:\n        names: [creds]\n    \
             hosts: all\n",
            component.display()
        ),
    );
    // The echo runtime answers `result<string, string>`, which `lattice invoke` (strings
    // only) does not decode: the test calls it as a component would, with the host kit's
    // invoker.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let url = lattice.server.url();
    let answer = || {
        runtime.block_on(async {
            let nats = async_nats::connect(url.as_str()).await.unwrap();
            let invoker = lattice_host::Invoker::new(
                nats,
                &"default".parse().unwrap(),
                &"web".parse().unwrap(),
            )
            .await
            .unwrap();
            tokio::time::timeout(support::DEADLINE, invoker.call("x"))
                .await
                .expect("timed out")
                .unwrap()
        })
    };

    // Naming a configuration that does not exist: refused before any host is touched.
    let refused = lattice.run(&["apply", "-f", &manifest]);
    assert_eq!(refused.code(), Some(1), "{refused:#?}");
    assert!(
        refused
            .stderr
            .contains("cannot pin configuration `creds` of `web`")
            && refused.stderr.contains("lattice config put"),
        "{refused:#?}"
    );

    assert_eq!(
        lattice
            .run(&["config", "put", "creds", "greeting=v1"])
            .code(),
        Some(0)
    );
    let applied = lattice.run(&["apply", "-f", &manifest]);
    assert_eq!(applied.code(), Some(0), "{applied:#?}");
    let first = answer();
    assert!(first.starts_with("v1 from web@"), "{first} {applied:#?}");

    // Rotated: nothing changes until the next rollout, which rolls v2 out.
    assert_eq!(
        lattice
            .run(&["config", "put", "creds", "greeting=v2"])
            .code(),
        Some(0)
    );
    assert!(answer().starts_with("v1 from web@"));
    let applied = lattice.run(&["apply", "-f", &manifest]);
    assert_eq!(applied.code(), Some(0), "{applied:#?}");
    assert!(answer().starts_with("v2 from web@"));

    // Undo: back to the content revision 1 was rolled out with, though `creds` holds v2.
    let undone = lattice.run(&["rollout", "undo", "shop"]);
    assert_eq!(undone.code(), Some(0), "{undone:#?}");
    let after = answer();
    assert!(
        after.starts_with("v1 from web@"),
        "after undo: {after} {undone:#?}"
    );
    let get = lattice.run(&["config", "get", "creds", "-o", "json"]);
    assert_eq!(get.json(), serde_json::json!({"greeting": "v2"}));
    // The pinned copies the rollouts wrote are no configurations of their own.
    let list = lattice.run(&["config", "list", "-o", "json"]);
    assert_eq!(list.json(), serde_json::json!(["creds"]), "{list:#?}");
}
