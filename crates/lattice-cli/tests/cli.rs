//! The `lattice` binary as a user runs it: real processes against a real nats-server, with a
//! host served in-process by the host kit. Every wait is bounded: a child that outlives its
//! deadline is killed and the test fails with what it printed.

mod support;

use serde_json::Value;
use std::{
    io::{BufRead, BufReader},
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::Stdio,
    sync::mpsc,
    time::Instant,
};
use support::{DEADLINE, Lattice, finish, kill, lattice};

/// Writes a real component (no imports, so no links and no provider) and a spec for it.
fn write_spec(dir: &Path, name: &str, revision: u64, artifact: &Path) -> PathBuf {
    let spec = dir.join(name);
    let yaml = format!(
        "id: web\nrevision: {revision}\nartifact: file://{}\nscale: 1\n",
        artifact.display()
    );
    std::fs::write(&spec, yaml).unwrap();
    spec
}

fn write_component(dir: &Path) -> PathBuf {
    let path = dir.join("web.wasm");
    std::fs::write(&path, lattice_artifact::testing::component_importing(&[])).unwrap();
    path
}

#[test]
fn get_hosts_lists_the_hosts_as_json_and_as_a_table() {
    let lattice = Lattice::start(&["host-a"]);
    let run = lattice.run(&["get", "hosts", "-o", "json"]);
    assert_eq!(run.code(), Some(0), "{run:#?}");
    let hosts = run.json();
    assert_eq!(hosts.as_array().map(Vec::len), Some(1), "{run:#?}");
    assert_eq!(hosts[0]["host_id"], "host-a");
    assert_eq!(
        hosts[0]["api_versions"],
        serde_json::json!(["v1", "v2alpha1"]),
        "a lattice host speaks both"
    );

    let run = lattice.run(&["get", "hosts"]);
    assert_eq!(run.code(), Some(0), "{run:#?}");
    let mut lines = run.stdout.lines();
    assert!(lines.next().unwrap().starts_with("HOST"), "{run:#?}");
    assert!(lines.next().unwrap().starts_with("host-a"), "{run:#?}");
}

#[test]
fn apply_wait_runs_the_component_and_the_inventory_shows_it() {
    let lattice = Lattice::start(&["host-a"]);
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path(), "web.yaml", 1, &write_component(dir.path()));
    let spec = spec.to_str().unwrap();

    let run = lattice.run(&["apply", "-f", spec, "--host", "host-a", "--wait"]);
    assert_eq!(run.code(), Some(0), "{run:#?}");
    assert!(run.stdout.contains("is running"), "{run:#?}");

    let run = lattice.run(&["get", "inventory", "-o", "json"]);
    assert_eq!(run.code(), Some(0), "{run:#?}");
    let component = &run.json()[0]["components"][0];
    assert_eq!(component["component_id"], "web", "{run:#?}");
    assert_eq!(component["desired"]["revision"], 1);
    assert_eq!(component["desired"]["status"]["state"], "running");
    assert_eq!(component["serving"]["revision"], 1);

    let run = lattice.run(&["get", "inventory", "--host", "host-a", "-o", "yaml"]);
    assert_eq!(run.code(), Some(0), "{run:#?}");
    assert!(run.stdout.contains("component_id: web"), "{run:#?}");

    // The same spec again changes nothing.
    let run = lattice.run(&["apply", "-f", spec, "--host", "host-a"]);
    assert_eq!(run.code(), Some(0), "{run:#?}");
    assert!(run.stdout.contains("unchanged"), "{run:#?}");

    // A revision whose artifact is missing fails; the previous revision keeps serving.
    let missing = write_spec(dir.path(), "web-2.yaml", 2, &dir.path().join("gone.wasm"));
    let run = lattice.run(&[
        "apply",
        "-f",
        missing.to_str().unwrap(),
        "--host",
        "host-a",
        "--wait",
    ]);
    assert_eq!(run.code(), Some(1), "{run:#?}");
    assert!(run.stderr.contains("fetch_failed"), "{run:#?}");
    assert!(
        run.stderr.contains("hint: the previous revision"),
        "{run:#?}"
    );
    let run = lattice.run(&["get", "inventory", "--host", "host-a"]);
    assert_eq!(run.code(), Some(0), "{run:#?}");
    let row = run.stdout.lines().nth(1).unwrap_or_default().to_owned();
    assert!(
        row.contains("2 failed") && row.contains("1 running"),
        "{run:#?}"
    );

    // A spec from stdin (YAML), acknowledged without waiting.
    let yaml = std::fs::read_to_string(spec)
        .unwrap()
        .replace("revision: 1", "revision: 3");
    let run = lattice.run_with_stdin(&["apply", "-f", "-", "--host", "host-a"], Some(&yaml));
    assert_eq!(run.code(), Some(0), "{run:#?}");
    assert!(run.stdout.contains("accepted revision 3"), "{run:#?}");

    let run = lattice.run(&["delete", "web", "--host", "host-a"]);
    assert_eq!(run.code(), Some(0), "{run:#?}");
    assert!(run.stdout.contains("deleting `web`"), "{run:#?}");
}

#[test]
fn an_invalid_spec_exits_2_listing_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("bad.yaml");
    std::fs::write(&spec, "id: bad.id\nrevision: 1\nartifact: ''\nscale: 0\n").unwrap();
    // Validation happens before any connection: no NATS server is needed.
    let run = lattice(
        &[
            "--nats-url",
            "nats://127.0.0.1:1",
            "apply",
            "-f",
            spec.to_str().unwrap(),
            "--host",
            "host-a",
        ],
        None,
    );
    assert_eq!(run.code(), Some(2), "{run:#?}");
    for field in ["\n  id: ", "\n  artifact: ", "\n  scale: "] {
        assert!(run.stderr.contains(field), "{field:?} missing: {run:#?}");
    }
    assert!(run.stderr.contains("3 problems"), "{run:#?}");
    assert!(run.stderr.contains("\nhint: "), "{run:#?}");

    let json = dir.path().join("bad.json");
    std::fs::write(
        &json,
        r#"{"id": "web", "artifact": "./web.wasm", "scale": "two"}"#,
    )
    .unwrap();
    let run = lattice(
        &["apply", "-f", json.to_str().unwrap(), "--host", "h"],
        None,
    );
    assert_eq!(run.code(), Some(2), "{run:#?}");
    assert!(
        run.stderr
            .contains("\n  revision: required field is missing"),
        "{run:#?}"
    );
    assert!(run.stderr.contains("\n  scale: invalid type"), "{run:#?}");
}

#[test]
fn applying_to_a_host_that_does_not_exist_exits_3_with_a_hint() {
    let lattice = Lattice::start(&["host-a"]);
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path(), "web.yaml", 1, &write_component(dir.path()));
    let run = lattice.run(&["apply", "-f", spec.to_str().unwrap(), "--host", "ghost"]);
    assert_eq!(run.code(), Some(3), "{run:#?}");
    assert!(run.stderr.starts_with("error: "), "{run:#?}");
    assert!(
        run.stderr.contains("hint: no host `ghost` answered"),
        "{run:#?}"
    );
    assert!(run.stderr.contains("lattice get hosts"), "{run:#?}");
}

#[test]
fn an_unreachable_nats_server_exits_3_with_a_hint() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let url = format!("nats://127.0.0.1:{port}");
    let run = lattice(&["--nats-url", &url, "get", "hosts"], None);
    assert_eq!(run.code(), Some(3), "{run:#?}");
    assert!(
        run.stderr
            .contains(&format!("hint: is nats-server reachable at {url}?")),
        "{run:#?}"
    );
}

#[test]
fn schema_export_writes_the_whole_catalogue() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("schemas");
    let run = lattice(&["schema", "export", out.to_str().unwrap()], None);
    assert_eq!(run.code(), Some(0), "{run:#?}");
    let catalog = lattice_ctl::schema::catalog();
    for message in &catalog {
        let text = std::fs::read_to_string(out.join(&message.path)).unwrap();
        let schema: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(schema["title"], message.name);
    }
    fn count(dir: &Path) -> usize {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .map(|p| if p.is_dir() { count(&p) } else { 1 })
            .sum()
    }
    assert_eq!(count(&out), catalog.len());
    assert!(
        run.stdout
            .contains(&format!("wrote {} schemas", catalog.len())),
        "{run:#?}"
    );
}

/// Kills the process group of a `lattice up` whatever happens to the test.
struct Group(u32);

impl Drop for Group {
    fn drop(&mut self) {
        kill("-KILL", &format!("-{}", self.0));
    }
}

#[test]
fn lattice_up_serves_hosts_until_its_nats_server_stops() {
    let mut child = support::command()
        .args(["up", "--hosts", "2"])
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("lattice up starts");
    let _group = Group(child.id());
    let (lines, received) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let until = Instant::now() + DEADLINE;
    let next_line = || {
        let left = until.saturating_duration_since(Instant::now());
        received
            .recv_timeout(left)
            .expect("lattice up prints its lines in time")
    };
    let (mut url, mut pid) = (None, None);
    while url.is_none() {
        let line = next_line();
        if let Some(rest) = line.strip_prefix("nats-server pid ") {
            pid = rest.split(',').next().map(str::to_owned);
        }
        url = line
            .strip_prefix("export LATTICE_NATS_URL=")
            .map(str::to_owned);
    }
    let (url, pid) = (url.unwrap(), pid.expect("the pid line comes first"));

    let run = lattice(&["--nats-url", &url, "get", "hosts", "-o", "json"], None);
    assert_eq!(run.code(), Some(0), "{run:#?}");
    let hosts = run.json();
    let ids: Vec<&str> = hosts
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["host_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["host-1", "host-2"], "{run:#?}");

    // Ctrl-C in a terminal reaches nats-server too; `lattice up` then stops its hosts.
    kill("-INT", &pid);
    while next_line() != "lattice down" {}
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait());
    });
    let status = finished
        .recv_timeout(until.saturating_duration_since(Instant::now()))
        .expect("lattice up exits in time")
        .unwrap();
    assert!(status.success(), "{status:?}");
}

fn write_manifest(dir: &Path, name: &str, artifact: &str) -> PathBuf {
    let path = dir.join(name);
    let yaml = format!(
        "name: shop\nstrategy:\n  type: rolling\n  max_parallel: 2\noptions:\n  min_healthy_ms: 100\n  per_host_deadline_ms: 10000\ncomponents:\n  - spec:\n      id: web\n      revision: 1\n      artifact: {artifact}\n      scale: 1\n    hosts: all\n"
    );
    std::fs::write(&path, yaml).unwrap();
    path
}

#[test]
fn apply_of_a_manifest_rolls_out_and_a_failed_rollout_exits_non_zero() {
    let lattice = Lattice::start(&["host-1", "host-2", "host-3", "host-4", "host-5"]);
    let dir = tempfile::tempdir().unwrap();
    let component = write_component(dir.path());
    let good = write_manifest(
        dir.path(),
        "app.yaml",
        &format!("file://{}", component.display()),
    );
    let good = good.to_str().unwrap();

    let plan = lattice.run(&["rollout", "plan", "-f", good]);
    assert_eq!(plan.code(), Some(0), "{plan:#?}");
    assert!(plan.stdout.contains("step 3: 1 host(s)"), "{}", plan.stdout);

    let applied = lattice.run(&["apply", "-f", good]);
    assert_eq!(applied.code(), Some(0), "{applied:#?}");
    assert!(applied.stdout.contains("succeeded"), "{}", applied.stdout);
    let status = lattice.run(&["rollout", "status", "shop", "-o", "json"]);
    assert_eq!(status.json()["state"], "succeeded", "{status:#?}");
    let inventory = lattice.run(&["get", "inventory", "-o", "json"]);
    assert_eq!(inventory.code(), Some(0), "{inventory:#?}");
    assert!(
        inventory.stdout.matches("\"running\"").count() >= 5,
        "{}",
        inventory.stdout
    );

    // A missing artifact is refused by pre-flight: nothing touched, exit 2.
    let missing = write_manifest(dir.path(), "missing.yaml", "file:///nonexistent/web.wasm");
    let refused = lattice.run(&["apply", "-f", missing.to_str().unwrap()]);
    assert_eq!(refused.code(), Some(2), "{refused:#?}");
    assert!(
        refused.stderr.contains("pre-flight refused `web`"),
        "{}",
        refused.stderr
    );

    // A link to a provider that is not running fails on the hosts: rolled back, exit 1, with
    // what to do next.
    let kv = dir.path().join("kv.wasm");
    std::fs::write(
        &kv,
        lattice_artifact::testing::component_importing(&["wasi:keyvalue/store@0.2.0"]),
    )
    .unwrap();
    let broken = dir.path().join("broken.yaml");
    std::fs::write(
        &broken,
        format!(
            "name: shop\noptions:\n  min_healthy_ms: 100\ncomponents:\n  - spec:\n      id: web\n      revision: 1\n      artifact: file://{}\n      scale: 1\n      links:\n        - target: redis\n          wit_namespace: wasi\n          wit_package: keyvalue\n          interfaces: [store]\n",
            kv.display()
        ),
    )
    .unwrap();
    let failed = lattice.run(&["apply", "-f", broken.to_str().unwrap()]);
    assert_eq!(failed.code(), Some(1), "{failed:#?}");
    assert!(
        failed.stdout.contains("failure: link_refused"),
        "{}",
        failed.stdout
    );
    assert!(
        failed.stderr.contains("back on the last stable revision"),
        "{}",
        failed.stderr
    );
    let watched = lattice.run(&["rollout", "status", "shop", "-w"]);
    assert_eq!(
        watched.code(),
        Some(1),
        "a rolled-back rollout exits non-zero: {watched:#?}"
    );

    let history = lattice.run(&["rollout", "history", "shop"]);
    assert_eq!(history.code(), Some(0), "{history:#?}");
    assert!(
        history.stdout.contains("rollback: restores revision 1"),
        "{}",
        history.stdout
    );
    assert!(
        history.stdout.contains("desired, stable"),
        "{}",
        history.stdout
    );

    let no_rollout = lattice.run(&["rollout", "promote", "shop"]);
    assert_eq!(no_rollout.code(), Some(1), "{no_rollout:#?}");
    assert!(
        no_rollout
            .stderr
            .contains("no rollout of `shop` is in progress"),
        "{}",
        no_rollout.stderr
    );
}

/// Starts `lattice args…` without waiting for it.
fn spawn_lattice(url: &str, args: &[&str]) -> std::process::Child {
    support::command()
        .args(["--nats-url", url, "--timeout", "2s"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the lattice binary starts")
}

#[test]
fn a_scheduler_process_killed_mid_rollout_is_recovered_by_another() {
    let lattice = Lattice::start(&["host-1", "host-2", "host-3", "host-4", "host-5"]);
    let url = lattice.server.url();
    let dir = tempfile::tempdir().unwrap();
    let component = write_component(dir.path());
    let first = write_manifest(
        dir.path(),
        "v1.yaml",
        &format!("file://{}", component.display()),
    );
    assert_eq!(
        lattice
            .run(&["apply", "-f", first.to_str().unwrap()])
            .code(),
        Some(0)
    );

    // A canary that waits for promotion after its first host.
    let v2 = dir.path().join("v2.wasm");
    std::fs::write(&v2, lattice_artifact::testing::component_importing(&[])).unwrap();
    let canary = dir.path().join("canary.yaml");
    std::fs::write(
        &canary,
        format!(
            "name: shop\nstrategy:\n  type: canary\n  steps:\n    - percent: 20\n      pause: until_promoted\noptions:\n  min_healthy_ms: 100\ncomponents:\n  - spec:\n      id: web\n      revision: 1\n      artifact: file://{}\n      scale: 1\n",
            v2.display()
        ),
    )
    .unwrap();
    let driver = spawn_lattice(&url, &["apply", "-f", canary.to_str().unwrap()]);
    let deadline = std::time::Instant::now() + DEADLINE;
    loop {
        let status = lattice.run(&["rollout", "status", "shop", "-o", "json"]);
        if status.code() == Some(0)
            && status.json()["state"] == "paused"
            && status.json()["plan"]["to"] == 2
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the canary never paused: {status:#?}"
        );
    }

    // The scheduler process dies while the canary waits.
    kill("-KILL", &driver.id().to_string());
    let killed = finish(driver);
    assert!(!killed.status.success());

    // Another process picks the rollout up from the store; an operator promotes it.
    let recovering = spawn_lattice(&url, &["rollout", "recover", "shop"]);
    let promoted = lattice.run(&["rollout", "promote", "shop"]);
    assert_eq!(promoted.code(), Some(0), "{promoted:#?}");
    let recovered = finish(recovering);
    assert_eq!(recovered.code(), Some(0), "{recovered:#?}");
    assert!(
        recovered.stdout.contains("succeeded"),
        "{}",
        recovered.stdout
    );

    // Every host runs revision 2: none is left on a third state.
    let inventory = lattice.run(&["get", "inventory", "-o", "json"]);
    let hosts = inventory.json();
    let hosts = hosts.as_array().expect("one inventory per host");
    assert_eq!(hosts.len(), 5);
    for host in hosts {
        let component = &host["components"][0];
        assert_eq!(component["serving"]["revision"], 2, "{component:#}");
        assert_eq!(
            component["serving"]["status"]["state"], "running",
            "{component:#}"
        );
    }
}

#[test]
fn the_example_application_manifests_plan_against_a_lattice() {
    let lattice = Lattice::start(&["host-a", "host-b"]);
    let url = lattice.server.url();
    // The manifests name their artifacts relative to the repository, as the README runs them.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    // Nothing is stored by a plan: each is the application's first revision here.
    for file in [
        "greeter-app.yaml",
        "greeter-app-v2.yaml",
        "greeter-kv-app.yaml",
    ] {
        let path = format!("examples/{file}");
        let child = support::command()
            .current_dir(&root)
            .args(["--nats-url", &url, "rollout", "plan", "-f", &path])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("lattice starts");
        let plan = finish(child);
        assert_eq!(plan.code(), Some(0), "{file}: {plan:#?}");
        assert!(
            plan.stdout
                .contains("rollout of revision 1 (first revision)")
                && plan.stdout.contains("step 2: 1 host(s)"),
            "{file}: {plan:#?}"
        );
        // The application with a provider: on each host, the provider runs first.
        if file == "greeter-kv-app.yaml" {
            for host in ["host-a", "host-b"] {
                assert!(
                    plan.stdout.contains(&format!(
                        "on {host}: provider(s) [keyvalue] running before its components"
                    )),
                    "{file}: {plan:#?}"
                );
            }
        }
    }
}

/// A manifest rolled out all at once whose component links to a provider that is not
/// running: it fails on every host and is rolled back.
fn write_broken_manifest(dir: &Path) -> PathBuf {
    let kv = dir.join("kv.wasm");
    std::fs::write(
        &kv,
        lattice_artifact::testing::component_importing(&["wasi:keyvalue/store@0.2.0"]),
    )
    .unwrap();
    let broken = dir.join("broken.yaml");
    std::fs::write(
        &broken,
        format!(
            "name: shop\noptions:\n  min_healthy_ms: 100\ncomponents:\n  - spec:\n      id: web\n      revision: 1\n      artifact: file://{}\n      scale: 1\n      links:\n        - target: redis\n          wit_namespace: wasi\n          wit_package: keyvalue\n          interfaces: [store]\n",
            kv.display()
        ),
    )
    .unwrap();
    broken
}

/// The lines of `text` that are about one host by name (`host-N: …`).
fn host_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|line| {
            line.split_whitespace()
                .any(|word| word.starts_with("host-") && word.ends_with(':'))
        })
        .collect()
}

#[test]
fn rollout_progress_off_a_terminal_is_a_few_lines_per_step_and_names_failed_hosts_by_reason() {
    let hosts: Vec<String> = (1..=8).map(|n| format!("host-{n}")).collect();
    let names: Vec<&str> = hosts.iter().map(String::as_str).collect();
    let lattice = Lattice::start(&names);
    let dir = tempfile::tempdir().unwrap();
    let component = write_component(dir.path());
    let good = write_manifest(
        dir.path(),
        "app.yaml",
        &format!("file://{}", component.display()),
    );

    // Four steps of two hosts (not a terminal: the test reads a pipe): a few summary lines
    // per step, none per host.
    let applied = lattice.run(&["apply", "-f", good.to_str().unwrap()]);
    assert_eq!(applied.code(), Some(0), "{applied:#?}");
    assert!(
        host_lines(&applied.stdout).is_empty(),
        "no line per host without -v: {}",
        applied.stdout
    );
    let lines = applied.stdout.lines().count();
    assert!(
        (4..=4 * 3 + 2).contains(&lines),
        "a few lines per step: {}",
        applied.stdout
    );
    assert!(applied.stdout.contains("succeeded"), "{}", applied.stdout);

    // Every host fails the same way: the summary names them under one reason.
    let broken = write_broken_manifest(dir.path());
    let failed = lattice.run(&["apply", "-f", broken.to_str().unwrap()]);
    assert_eq!(failed.code(), Some(1), "{failed:#?}");
    assert!(
        host_lines(&failed.stdout)
            .iter()
            .all(|line| line.trim_start().starts_with("host-1: ")),
        "only the reason's example names a host: {}",
        failed.stdout
    );
    assert!(
        failed.stdout.contains("upgrade failed on 8 hosts:"),
        "{}",
        failed.stdout
    );
    let group = failed
        .stdout
        .lines()
        .find(|line| line.contains("link_refused, component web (8 hosts): "))
        .unwrap_or_else(|| panic!("no group of the 8 hosts: {}", failed.stdout));
    for host in &hosts {
        assert!(
            group.split([' ', ',']).any(|word| word == host),
            "{host} not named in {group}"
        );
    }
    assert!(
        !failed.stdout.contains("could not restore"),
        "every host was restored: {}",
        failed.stdout
    );

    // With -v, one line per host as its progress changes.
    let verbose = lattice.run(&["apply", "-f", broken.to_str().unwrap(), "-v"]);
    assert_eq!(verbose.code(), Some(1), "{verbose:#?}");
    for host in &hosts {
        for progress in ["applying", "failed", "rolled_back"] {
            assert!(
                verbose.stdout.contains(&format!("{host}: {progress}\n")),
                "{host}: {progress} missing: {}",
                verbose.stdout
            );
        }
    }
}
