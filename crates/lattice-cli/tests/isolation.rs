//! Authenticated isolation on a real nats-server (`configs/isolation.conf`): lattices `a` and
//! `b` share one account, each user allowed only its own lattice's subjects (the README's
//! permission template), and account `OTHER` holds a user of no lattice there. Hosts of both
//! lattices run in-process, each connected as its lattice's user.
//!
//! A user of lattice `a` runs everything in `a` (hosts, apply, rollouts, configurations), and
//! nothing in `b`: every command and client call addressed to `b` fails at once with the
//! subject the server denied (exit 3, a hint naming the subject and `--lattice`), and `b`'s
//! inventory, rollout store and configurations are what they were before.

mod support;

use futures::StreamExt as _;
use lattice_client::{
    Client, EventErrorKind, PermissionOperation, PermissionWatch, RequestErrorKind,
};
use lattice_test_support::NatsServer;
use std::{
    path::{Path, PathBuf},
    time::Duration,
};
use support::{Lattice, Run};

/// How long one client call of the test may take; the client's own timeout is longer, so a
/// denial that were only noticed at the timeout fails the test.
const BOUND: Duration = Duration::from_secs(10);
/// The typed client's request timeout: longer than [`BOUND`].
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// A user of `configs/isolation.conf`: name, password, the inbox prefix its lattice allows.
struct User {
    name: &'static str,
    password: &'static str,
    inbox_prefix: &'static str,
}

const ALICE: User = User {
    name: "alice",
    password: "alice-isolation-password",
    inbox_prefix: "_INBOX_a",
};
const BOB: User = User {
    name: "bob",
    password: "bob-isolation-password",
    inbox_prefix: "_INBOX_b",
};
const CAROL: User = User {
    name: "carol",
    password: "carol-isolation-password",
    inbox_prefix: "_INBOX",
};

impl User {
    fn options(&self) -> async_nats::ConnectOptions {
        async_nats::ConnectOptions::with_user_and_password(
            self.name.to_owned(),
            self.password.to_owned(),
        )
        .custom_inbox_prefix(self.inbox_prefix)
    }

    /// `lattice --nats-url URL --timeout 2s --user … --password … --inbox-prefix …
    /// --lattice LATTICE args…`.
    fn run(&self, lattice: &Lattice, lattice_name: &str, args: &[&str]) -> Run {
        let url = lattice.server.url();
        let mut all = vec![
            "--nats-url",
            url.as_str(),
            "--timeout",
            "2s",
            "--user",
            self.name,
            "--password",
            self.password,
            "--inbox-prefix",
            self.inbox_prefix,
            "--lattice",
            lattice_name,
        ];
        all.extend_from_slice(args);
        support::lattice(&all, None)
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn ok(run: &Run) -> &Run {
    assert_eq!(run.code(), Some(0), "{run:#?}");
    run
}

/// The run exited 3 saying `the NATS server denied OPERATION `SUBJECT`` (as the error, or as
/// the cause of the operation's error) for a subject of lattice `b` containing
/// `subject_part`, with a hint naming the subject and `--lattice`.
fn assert_denied_in_b(run: &Run, subject_part: &str) {
    assert_eq!(run.code(), Some(3), "{run:#?}");
    let error = run
        .stderr
        .lines()
        .find_map(|line| {
            line.split_once("the NATS server denied ")
                .map(|(_, rest)| rest)
        })
        .unwrap_or_else(|| panic!("no denial: {run:#?}"));
    let subject = error
        .split('`')
        .nth(1)
        .unwrap_or_else(|| panic!("no subject: {run:#?}"));
    assert!(
        subject.contains(subject_part),
        "{subject_part:?} not in {subject:?}: {run:#?}"
    );
    assert!(
        subject.contains(".b.") || subject.contains("_b"),
        "not a subject of lattice b: {run:#?}"
    );
    let hint = run
        .stderr
        .lines()
        .find(|line| line.starts_with("hint: "))
        .unwrap_or_else(|| panic!("no hint: {run:#?}"));
    assert!(
        hint.contains(&format!("`{subject}`")) && hint.contains("--lattice"),
        "{run:#?}"
    );
    assert!(!run.stderr.contains("alice-isolation-password"), "{run:#?}");
}

/// What lattice `b` holds, as its own user reads it.
fn state_of_b(lattice: &Lattice) -> Vec<serde_json::Value> {
    let inventory = ok(&BOB.run(
        lattice,
        "b",
        &["get", "inventory", "--host", "b1", "-o", "json"],
    ))
    .json();
    // The inventory's components, without what changes by itself (uptime, timestamps).
    let components = inventory
        .get("components")
        .cloned()
        .or_else(|| inventory[0].get("components").cloned())
        .unwrap_or_else(|| panic!("no components in {inventory:#}"));
    vec![
        serde_json::json!(
            components
                .as_array()
                .unwrap()
                .iter()
                .map(|c| (c["id"].clone(), c["desired"]["revision"].clone()))
                .collect::<Vec<_>>()
        ),
        ok(&BOB.run(lattice, "b", &["rollout", "history", "shop", "-o", "json"])).json(),
        ok(&BOB.run(lattice, "b", &["config", "list", "-o", "json"])).json(),
        ok(&BOB.run(lattice, "b", &["config", "get", "creds", "-o", "json"])).json(),
    ]
}

/// A server with `configs/isolation.conf`, host `a1` of lattice `a` connected as alice and
/// host `b1` of lattice `b` connected as bob.
fn two_lattices() -> Lattice {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/configs/isolation.conf");
    let server = NatsServer::builder()
        .config_file(config)
        .start()
        .expect("nats-server starts");
    let mut lattice = Lattice::start_on(server, || ALICE.options(), &[]);
    lattice.add_hosts(|| ALICE.options(), "a", &["a1"]);
    lattice.add_hosts(|| BOB.options(), "b", &["b1"]);
    lattice
}

#[test]
fn a_user_of_lattice_a_runs_a_and_can_neither_read_nor_change_b() {
    let lattice = two_lattices();
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
             revision: 1\n      scale: 1\n      artifact: file://{}\n      config:\n        \
             names: [creds]\n    hosts: all\n",
            component.display()
        ),
    );
    let manifest = manifest.to_str().unwrap();
    let spec = write(
        dir.path(),
        "web.yaml",
        &format!(
            "id: web\nrevision: 9\nscale: 1\nartifact: file://{}\n",
            component.display()
        ),
    );
    let spec = spec.to_str().unwrap();

    // Each lattice's user runs its lattice: configurations, a rollout (store, discovery,
    // applies, events), history. The template is enough for all of it.
    for (user, name, greeting) in [(&BOB, "b", "greeting=b"), (&ALICE, "a", "greeting=a")] {
        ok(&user.run(&lattice, name, &["config", "put", "creds", greeting]));
        ok(&user.run(&lattice, name, &["apply", "-f", manifest]));
        ok(&user.run(&lattice, name, &["rollout", "history", "shop"]));
    }
    let hosts = ok(&ALICE.run(&lattice, "a", &["get", "hosts", "-o", "json"])).json();
    assert_eq!(hosts.as_array().map(Vec::len), Some(1), "{hosts:#}");
    assert_eq!(hosts[0]["host_id"], "a1", "{hosts:#}");
    let before = state_of_b(&lattice);

    // Alice addressing lattice b: every read and every change is denied by the server, and
    // said so at once, naming the subject.
    let attempts: [(&[&str], &str); 10] = [
        (&["get", "hosts"], "wasmbus.ctl.v2alpha1.b.host.ping"),
        (
            &["get", "inventory", "--host", "b1"],
            "wasmbus.ctl.v2alpha1.b.host.inventory.b1",
        ),
        (
            &["apply", "-f", spec, "--host", "b1"],
            "wasmbus.ctl.v2alpha1.b.component.apply.b1",
        ),
        (
            &["delete", "web", "--host", "b1"],
            "wasmbus.ctl.v2alpha1.b.component.delete.b1",
        ),
        (&["config", "get", "creds"], "CONFIGDATA_b"),
        (
            &["config", "put", "creds", "greeting=stolen"],
            "CONFIGDATA_b",
        ),
        (&["config", "delete", "creds"], "CONFIGDATA_b"),
        (&["rollout", "history", "shop"], "LATTICE_ROLLOUTS_b"),
        (&["rollout", "undo", "shop"], "LATTICE_ROLLOUTS_b"),
        (&["apply", "-f", manifest], ""),
    ];
    for (args, subject) in attempts {
        let run = ALICE.run(&lattice, "b", args);
        assert_denied_in_b(&run, subject);
    }

    // Without its lattice's inbox prefix a user cannot even get replies in its own lattice:
    // the hint says which option is missing.
    let url = lattice.server.url();
    let no_prefix = support::lattice(
        &[
            "--nats-url",
            &url,
            "--user",
            ALICE.name,
            "--password",
            ALICE.password,
            "--lattice",
            "a",
            "get",
            "inventory",
            "--host",
            "a1",
        ],
        None,
    );
    assert_eq!(no_prefix.code(), Some(3), "{no_prefix:#?}");
    assert!(
        no_prefix.stderr.contains("denied subscribe to `_INBOX."),
        "{no_prefix:#?}"
    );
    assert!(
        no_prefix.stderr.contains("--inbox-prefix"),
        "{no_prefix:#?}"
    );

    // A lattice per account: carol's account sees no host and no configuration of b.
    let hosts = CAROL.run(&lattice, "b", &["get", "hosts"]);
    assert_eq!(hosts.code(), Some(3), "{hosts:#?}");
    assert!(hosts.stderr.contains("no host answered"), "{hosts:#?}");
    let configs = CAROL.run(&lattice, "b", &["config", "get", "creds"]);
    assert_ne!(configs.code(), Some(0), "{configs:#?}");
    assert!(!configs.stdout.contains("greeting"), "{configs:#?}");

    // A host kit of alice's joining lattice b: it is denied b's control subjects and says so
    // on stderr (and serves nothing of b).
    let mut host = support::spawn(
        Path::new(env!("CARGO_BIN_EXE_lattice")),
        &[
            "--nats-url",
            &url,
            "--user",
            ALICE.name,
            "--password",
            ALICE.password,
            "--inbox-prefix",
            ALICE.inbox_prefix,
            "--lattice",
            "b",
            "host",
            "--host-id",
            "intruder",
            "--runtime",
            "echo",
        ],
    );
    // (Its stderr may first warn that providers it starts get no credentials: --user.)
    let warning = support::first_line_starting_with(
        host.stderr.take().unwrap(),
        "warning: the NATS server denied",
    );
    support::kill("-INT", &host.id().to_string());
    let stopped = support::finish(host);
    assert!(
        warning.starts_with("warning: the NATS server denied subscribe to `wasmbus.ctl."),
        "{warning:?} {stopped:#?}"
    );

    // Nothing in b changed.
    assert_eq!(state_of_b(&lattice), before);
}

#[test]
fn the_typed_client_reports_each_denial_of_lattice_b_as_a_permission_error() {
    let lattice = two_lattices();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let url = lattice.server.url();
    runtime.block_on(async {
        let watch = PermissionWatch::new();
        let nats = watch
            .install(ALICE.options())
            .connect(url.as_str())
            .await
            .unwrap();
        let into_b = Client::new(nats.clone(), "b".parse().unwrap())
            .with_timeout(CLIENT_TIMEOUT)
            .with_permission_watch(watch.clone());
        let b1 = "b1".parse().unwrap();

        // A request: denied at once, not after the client's timeout.
        let error = tokio::time::timeout(BOUND, into_b.inventory(&b1))
            .await
            .expect("the denial ends the request before its timeout")
            .unwrap_err();
        assert_eq!(error.kind(), RequestErrorKind::PermissionDenied, "{error}");
        assert!(!error.is_retryable());
        let violation = error.permission_violation().unwrap();
        assert_eq!(violation.operation, PermissionOperation::Publish);
        assert_eq!(
            violation.subject,
            "wasmbus.ctl.v2alpha1.b.host.inventory.b1"
        );

        // A link request to a provider of b.
        let spec = lattice_spec::ComponentSpecDraft::new("web", "file:///web.wasm")
            .link(lattice_spec::LinkDraft::new(
                "kv",
                "wasi",
                "keyvalue",
                ["store"],
            ))
            .validate()
            .unwrap();
        let put = lattice_link::LinkPutRequest::new(
            &"web".parse().unwrap(),
            &spec.links()[0],
            Default::default(),
            Default::default(),
        );
        let error = tokio::time::timeout(BOUND, into_b.link_put(&"kv".parse().unwrap(), &put))
            .await
            .expect("the denial ends the link request")
            .unwrap_err();
        assert_eq!(
            error.kind(),
            lattice_client::LinkErrorKind::Request(RequestErrorKind::PermissionDenied),
            "{error}"
        );

        // b's events: the stream ends with the denial instead of staying silent.
        let mut events = into_b
            .events(&lattice_ctl::EventFilter::all(&"b".parse().unwrap()))
            .await
            .unwrap();
        let first = tokio::time::timeout(BOUND, events.next())
            .await
            .expect("the denial arrives")
            .expect("an item");
        let error = first.unwrap_err();
        assert_eq!(error.kind(), EventErrorKind::PermissionDenied, "{error}");
        assert!(
            error
                .to_string()
                .contains("wasmbus.status.v2alpha1.b.*.*.*"),
            "{error}"
        );
        assert!(events.next().await.is_none(), "the stream ends");

        // b's replies and b's wRPC invocations are out of reach as well.
        for (subscribe, subject) in [
            (true, "_INBOX_b.>"),
            (true, "_INBOX.>"),
            (false, "b.web.wrpc.0.0.1.x"),
        ] {
            let mark = watch.mark();
            let _subscriber = if subscribe {
                Some(nats.subscribe(subject).await.unwrap())
            } else {
                nats.publish(subject, "x".into()).await.unwrap();
                None
            };
            let operation = if subscribe {
                PermissionOperation::Subscribe
            } else {
                PermissionOperation::Publish
            };
            let seen = tokio::time::timeout(
                BOUND,
                watch.matching(mark, |v| v.subject == subject && v.operation == operation),
            )
            .await;
            assert!(
                seen.is_ok(),
                "no denial of {subject}: {:?}",
                watch.violations()
            );
        }

        // The same connection works in its own lattice.
        let in_a = Client::new(nats, "a".parse().unwrap())
            .with_timeout(CLIENT_TIMEOUT)
            .with_permission_watch(watch.clone());
        let inventory = tokio::time::timeout(BOUND, in_a.inventory(&"a1".parse().unwrap()))
            .await
            .expect("within the bound");
        assert!(inventory.is_ok(), "{inventory:?}");
    });
}
