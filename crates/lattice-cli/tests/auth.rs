//! The `lattice` binary against secured NATS servers: token, user and password, nkey, a
//! credentials file (operator mode), TLS with a private CA and with client certificates. Each
//! test starts its own real nats-server and a host in-process that connects with valid
//! credentials, then runs `lattice get hosts` as a separate process, under a deadline.
//!
//! Every method is also the one the kits connect with ([`kits_connect`]): on each test's
//! server, the host kit (`lattice host`) and the provider kit (`lattice-provider-keyvalue`) run
//! as processes with the same options as the CLI — one server per method, three components
//! against it.

mod support;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use lattice_test_support::NatsServer;
use nkeys::KeyPair;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use support::{Lattice, Run, lattice, lattice_with_env};

/// The token of `configs/token.conf`.
const TOKEN: &str = "lattice-test-token";
/// The user and password of `configs/users.conf`.
const USER: &str = "alice";
const PASSWORD: &str = "alice-test-password";

fn config(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/configs")
        .join(name)
}

/// A nats-server (no JetStream: `get hosts` does not need it) with this configuration.
fn server(config: &Path) -> NatsServer {
    NatsServer::builder()
        .jetstream(false)
        .config_file(config)
        .start()
        .expect("nats-server starts")
}

/// Writes `text` as `name` in `dir` and returns its path.
fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// `lattice --nats-url URL --timeout 2s OPTIONS… get hosts -o json`.
fn get_hosts(lattice: &Lattice, options: &[&str]) -> Run {
    get_hosts_with_env(lattice, options, &[])
}

fn get_hosts_with_env(lattice: &Lattice, options: &[&str], env: &[(&str, &str)]) -> Run {
    let url = lattice.server.url();
    let mut args = vec!["--nats-url", url.as_str(), "--timeout", "2s"];
    args.extend_from_slice(options);
    args.extend_from_slice(&["get", "hosts", "-o", "json"]);
    lattice_with_env(&args, None, env)
}

fn assert_lists_host_a(run: &Run) {
    assert_eq!(run.code(), Some(0), "{run:#?}");
    let hosts = run.json();
    assert_eq!(hosts.as_array().map(Vec::len), Some(1), "{run:#?}");
    assert_eq!(hosts[0]["host_id"], "host-a", "{run:#?}");
}

/// The host kit (`lattice host`, echo runtime) and the provider kit
/// (`lattice-provider-keyvalue`) connect to the lattice's server with `options`, as the CLI
/// does: the host serves and `lattice get hosts` (same options) lists it next to `host-a`,
/// the provider prints `ready` (its link and wRPC subscriptions are live); both stop cleanly
/// on SIGINT. A kit that cannot authenticate exits with an error before its first line.
fn kits_connect(lattice: &Lattice, options: &[&str]) {
    let url = lattice.server.url();
    let with = |args: &[&str]| {
        let mut all = vec!["--nats-url", url.as_str()];
        all.extend_from_slice(options);
        all.extend_from_slice(args);
        all.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let host_args = with(&["host", "--host-id", "host-kit", "--runtime", "echo"]);
    let host_args: Vec<&str> = host_args.iter().map(String::as_str).collect();
    let mut host = support::spawn(Path::new(env!("CARGO_BIN_EXE_lattice")), &host_args);
    let provider_args = with(&["--provider-id", "kv-kit"]);
    let provider_args: Vec<&str> = provider_args.iter().map(String::as_str).collect();
    let mut provider = support::spawn(&support::provider_binary(), &provider_args);

    let serving = support::first_line(host.stdout.take().unwrap());
    let ready = support::first_line(provider.stdout.take().unwrap());
    let listed = get_hosts(lattice, options);
    for child in [&host, &provider] {
        support::kill("-INT", &child.id().to_string());
    }
    let host_stopped = support::finish(host);
    let provider_stopped = support::finish(provider);

    assert!(
        serving.starts_with("host host-kit serving"),
        "{options:?}: {serving:?} {host_stopped:#?}"
    );
    assert!(
        host_stopped.status.success(),
        "{options:?}: {host_stopped:#?}"
    );
    assert_eq!(ready.trim(), "ready", "{options:?}: {provider_stopped:#?}");
    assert!(
        provider_stopped.status.success(),
        "{options:?}: {provider_stopped:#?}"
    );
    assert_eq!(listed.code(), Some(0), "{options:?}: {listed:#?}");
    let hosts = listed.json();
    let ids: Vec<&str> = hosts
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["host_id"].as_str())
        .collect();
    assert_eq!(ids, ["host-a", "host-kit"], "{options:?}: {listed:#?}");
}

/// `lattice host --creds FILE` hands the file's user JWT and seed to the providers it starts
/// (host data, as a 1.x host does): the key-value provider, supervised by that host, connects
/// to the operator-mode server and reaches `running` (without them it cannot connect and ends
/// `failed`).
fn supervised_provider_connects(lattice: &Lattice, host_creds: &Path, client_creds: &str) {
    let url = lattice.server.url();
    let mut host = support::spawn(
        Path::new(env!("CARGO_BIN_EXE_lattice")),
        &[
            "--nats-url",
            url.as_str(),
            "--creds",
            host_creds.to_str().unwrap(),
            "host",
            "--host-id",
            "host-sup",
            "--runtime",
            "echo",
        ],
    );
    let serving = support::first_line(host.stdout.take().unwrap());
    assert!(serving.starts_with("host host-sup serving"), "{serving:?}");

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let provider = runtime.block_on(async {
        let nats = async_nats::ConnectOptions::with_credentials(client_creds)
            .unwrap()
            .connect(url.as_str())
            .await
            .expect("connect with creds");
        let client = lattice_client::Client::new(nats, "default".parse().unwrap());
        let host_id: lattice_spec::HostId = "host-sup".parse().unwrap();
        let spec = lattice_spec::ProviderSpecDraft::new(
            "keyvalue",
            format!("file://{}", support::provider_binary().display()),
        )
        .validate()
        .unwrap();
        client
            .host(&host_id)
            .apply_provider(&spec)
            .await
            .expect("the host accepts the provider");
        let id = spec.id().clone();
        lattice_test_support::read_until(
            "the supervised provider running or failed",
            std::time::Duration::from_secs(30),
            || async { client.inventory(&host_id).await.ok() },
            |inventory| {
                inventory
                    .as_ref()
                    .and_then(|i| i.provider(&id))
                    .is_some_and(|p| {
                        matches!(
                            p.status.state,
                            lattice_status::ProviderState::Running
                                | lattice_status::ProviderState::Failed
                        )
                    })
            },
            String::new,
        )
        .await
        .and_then(|inventory| inventory.provider(&id).cloned())
        .expect("a provider entry")
    });
    support::kill("-INT", &host.id().to_string());
    let stopped = support::finish(host);
    assert_eq!(
        provider.status.state,
        lattice_status::ProviderState::Running,
        "{provider:#?}\n{stopped:#?}"
    );
    assert!(stopped.status.success(), "{stopped:#?}");
}

/// The run exited `code` with a hint that mentions every one of `mentions`, and none of
/// `secrets` appears anywhere in what it printed.
fn assert_fails(run: &Run, code: i32, mentions: &[&str], secrets: &[&str]) {
    assert_eq!(run.code(), Some(code), "{run:#?}");
    let hint = run
        .stderr
        .lines()
        .find(|line| line.starts_with("hint: "))
        .unwrap_or_else(|| panic!("no hint: {run:#?}"));
    for mention in mentions {
        assert!(
            hint.contains(mention),
            "{mention:?} not in the hint: {run:#?}"
        );
    }
    for secret in secrets {
        assert!(
            !run.stderr.contains(secret) && !run.stdout.contains(secret),
            "a secret was printed: {run:#?}"
        );
    }
}

#[test]
fn a_token_reaches_a_secured_lattice_and_a_wrong_one_exits_3_with_a_hint() {
    let lattice = Lattice::start_on(
        server(&config("token.conf")),
        || async_nats::ConnectOptions::with_token(TOKEN.to_owned()),
        &["host-a"],
    );
    assert_lists_host_a(&get_hosts(&lattice, &["--token", TOKEN]));
    assert_lists_host_a(&get_hosts_with_env(
        &lattice,
        &[],
        &[("LATTICE_NATS_TOKEN", TOKEN)],
    ));

    let wrong = get_hosts(&lattice, &["--token", "not-the-token"]);
    assert_fails(
        &wrong,
        3,
        &["refused the token", "--token"],
        &["not-the-token"],
    );
    assert!(
        wrong.stderr.contains("authorization violation"),
        "{wrong:#?}"
    );

    let anonymous = get_hosts(&lattice, &[]);
    assert_fails(&anonymous, 3, &["requires authentication", "--token"], &[]);

    kits_connect(&lattice, &["--token", TOKEN]);

    // Neither kit gets in with a wrong token: each exits with an error, naming the server.
    let url = lattice.server.url();
    let wrong = ["--nats-url", url.as_str(), "--token", "not-the-token"];
    let host = support::spawn(
        Path::new(env!("CARGO_BIN_EXE_lattice")),
        &[
            &wrong[..],
            &["host", "--host-id", "host-x", "--runtime", "echo"],
        ]
        .concat(),
    );
    let provider = support::spawn(&support::provider_binary(), &wrong);
    for refused in [support::finish(host), support::finish(provider)] {
        assert!(!refused.status.success(), "{refused:#?}");
        assert!(refused.stdout.is_empty(), "{refused:#?}");
        assert!(refused.stderr.contains(&url), "{refused:#?}");
        assert!(!refused.stderr.contains("not-the-token"), "{refused:#?}");
    }
}

#[test]
fn a_user_and_password_reach_a_secured_lattice() {
    let lattice = Lattice::start_on(
        server(&config("users.conf")),
        || async_nats::ConnectOptions::with_user_and_password(USER.into(), PASSWORD.into()),
        &["host-a"],
    );
    assert_lists_host_a(&get_hosts(
        &lattice,
        &["--user", USER, "--password", PASSWORD],
    ));
    assert_lists_host_a(&get_hosts_with_env(
        &lattice,
        &[],
        &[
            ("LATTICE_NATS_USER", USER),
            ("LATTICE_NATS_PASSWORD", PASSWORD),
        ],
    ));

    kits_connect(&lattice, &["--user", USER, "--password", PASSWORD]);

    let wrong = get_hosts(&lattice, &["--user", USER, "--password", "wrong-password"]);
    assert_fails(
        &wrong,
        3,
        &["refused user `alice`", "--password"],
        &["wrong-password"],
    );
}

#[test]
fn an_nkey_seed_or_seed_file_reaches_a_secured_lattice() {
    let user = KeyPair::new_user();
    let seed = user.seed().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let conf = write(
        dir.path(),
        "nkey.conf",
        &format!(
            "authorization {{\n  users: [\n    {{nkey: \"{}\"}}\n  ]\n}}\n",
            user.public_key()
        ),
    );
    let host_seed = seed.clone();
    let lattice = Lattice::start_on(
        server(&conf),
        move || async_nats::ConnectOptions::with_nkey(host_seed.clone()),
        &["host-a"],
    );

    let seed_file = write(dir.path(), "user.nk", &format!("{seed}\n"));
    assert_lists_host_a(&get_hosts(
        &lattice,
        &["--nkey", seed_file.to_str().unwrap()],
    ));
    assert_lists_host_a(&get_hosts(&lattice, &["--nkey", &seed]));
    kits_connect(&lattice, &["--nkey", seed_file.to_str().unwrap()]);
    assert_lists_host_a(&get_hosts_with_env(
        &lattice,
        &[],
        &[("LATTICE_NATS_NKEY", seed_file.to_str().unwrap())],
    ));

    // A user the server does not know: the hint names the public key to look for.
    let stranger = KeyPair::new_user();
    let stranger_seed = stranger.seed().unwrap();
    let refused = get_hosts(&lattice, &["--nkey", &stranger_seed]);
    assert_fails(
        &refused,
        3,
        &["refused the nkey", &stranger.public_key()],
        &[&stranger_seed],
    );

    // A file without a seed is invalid input, found before connecting.
    let empty = write(dir.path(), "empty.nk", "no seed here\n");
    let run = get_hosts(&lattice, &["--nkey", empty.to_str().unwrap()]);
    assert_fails(&run, 2, &["--nkey"], &[]);
    assert!(run.stderr.contains("empty.nk"), "{run:#?}");
}

/// A JWT of the NATS v2 format: `claims` with `iss`, `iat`, `jti` added, signed by `issuer`.
fn jwt(issuer: &KeyPair, mut claims: Value) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    claims["iss"] = issuer.public_key().into();
    claims["iat"] = now.into();
    claims["jti"] = format!("LATTICETEST{id}X{now}").into();
    let header = URL_SAFE_NO_PAD.encode(json!({"typ": "JWT", "alg": "ed25519-nkey"}).to_string());
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signed = format!("{header}.{payload}");
    let signature = issuer.sign(signed.as_bytes()).unwrap();
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// An account JWT, signed by `operator`, without limits.
fn account_jwt(operator: &KeyPair, account: &KeyPair) -> String {
    jwt(
        operator,
        json!({"sub": account.public_key(), "name": "lattice", "nats": {
            "limits": {"subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
                       "wildcards": true, "conn": -1, "leaf": -1},
            "default_permissions": {"pub": {}, "sub": {}},
            "type": "account", "version": 2}}),
    )
}

/// A credentials file's text: a user JWT signed by `account`, and the user's seed.
fn creds(account: &KeyPair) -> String {
    let user = KeyPair::new_user();
    let user_jwt = jwt(
        account,
        json!({"sub": user.public_key(), "name": "lattice-cli", "nats": {
            "pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1,
            "type": "user", "version": 2}}),
    );
    format!(
        "-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n\
         ************************* IMPORTANT *************************\n\
         NKEY Seed printed below can be used to sign and prove identity.\n\n\
         -----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n",
        user.seed().unwrap()
    )
}

#[test]
fn a_credentials_file_reaches_an_operator_mode_lattice() {
    // Operator mode with the accounts preloaded in memory: the server trusts the operator,
    // the operator signs the account, the account signs the users of the creds files.
    let operator = KeyPair::new_operator();
    let account = KeyPair::new_account();
    let dir = tempfile::tempdir().unwrap();
    let operator_jwt = jwt(
        &operator,
        json!({"sub": operator.public_key(), "name": "lattice-test",
               "nats": {"type": "operator", "version": 2}}),
    );
    let operator_file = write(dir.path(), "operator.jwt", &operator_jwt);
    let conf = write(
        dir.path(),
        "operator.conf",
        &format!(
            "operator: \"{}\"\nresolver: MEMORY\nresolver_preload: {{\n  {}: \"{}\"\n}}\n",
            operator_file.display(),
            account.public_key(),
            account_jwt(&operator, &account)
        ),
    );
    let host_creds = creds(&account);
    let lattice = Lattice::start_on(
        server(&conf),
        move || async_nats::ConnectOptions::with_credentials(&host_creds).expect("valid creds"),
        &["host-a"],
    );

    let user_creds = write(dir.path(), "user.creds", &creds(&account));
    assert_lists_host_a(&get_hosts(
        &lattice,
        &["--creds", user_creds.to_str().unwrap()],
    ));
    assert_lists_host_a(&get_hosts_with_env(
        &lattice,
        &[],
        &[("LATTICE_NATS_CREDS", user_creds.to_str().unwrap())],
    ));

    kits_connect(&lattice, &["--creds", user_creds.to_str().unwrap()]);
    supervised_provider_connects(&lattice, &user_creds, &creds(&account));

    // A user of an account the operator never signed is refused; the hint names the file.
    let stranger = write(
        dir.path(),
        "stranger.creds",
        &creds(&KeyPair::new_account()),
    );
    let refused = get_hosts(&lattice, &["--creds", stranger.to_str().unwrap()]);
    assert_fails(
        &refused,
        3,
        &["refused the credentials", "stranger.creds"],
        &[],
    );

    // A file that is not a credentials file, and a missing one, are invalid input.
    let garbage = write(dir.path(), "garbage.creds", "not a creds file\n");
    let run = get_hosts(&lattice, &["--creds", garbage.to_str().unwrap()]);
    assert_fails(&run, 2, &["--creds"], &[]);
    assert!(run.stderr.contains("garbage.creds"), "{run:#?}");
    let missing = dir.path().join("missing.creds");
    let run = get_hosts(&lattice, &["--creds", missing.to_str().unwrap()]);
    assert_fails(&run, 2, &["--creds"], &[]);
    assert!(
        run.stderr
            .contains(&format!("cannot read `{}`", missing.display())),
        "{run:#?}"
    );
}

#[test]
fn conflicting_or_incomplete_options_exit_2_before_connecting() {
    // Nothing listens on port 1: a connection attempt would exit 3, not 2.
    let usage = |args: &[&str], env: &[(&str, &str)]| {
        let mut all = vec!["--nats-url", "nats://127.0.0.1:1"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["get", "hosts"]);
        lattice_with_env(&all, None, env)
    };
    let run = usage(
        &[
            "--token",
            "tok-secret",
            "--user",
            "u",
            "--password",
            "pw-secret",
        ],
        &[],
    );
    assert_fails(&run, 2, &["keep one of"], &["tok-secret", "pw-secret"]);
    assert!(
        run.stderr
            .contains("error: --token and --user cannot be used together"),
        "{run:#?}"
    );

    // The environment counts as much as the command line.
    let run = usage(
        &["--nkey", "user.nk"],
        &[("LATTICE_NATS_TOKEN", "tok-secret")],
    );
    assert_fails(&run, 2, &["LATTICE_NATS_"], &["tok-secret"]);
    assert!(run.stderr.contains("--nkey and --token"), "{run:#?}");

    let run = usage(&["--user", "u"], &[]);
    assert_fails(&run, 2, &["add --password"], &[]);
    let run = usage(&["--tls-cert", "client.pem"], &[]);
    assert_fails(&run, 2, &["add --tls-key"], &[]);

    let run = usage(&["--tls-ca", "/nonexistent/ca.pem"], &[]);
    assert_fails(&run, 2, &["--tls-ca"], &[]);
    assert!(
        run.stderr.contains("cannot read `/nonexistent/ca.pem`"),
        "{run:#?}"
    );

    // `--help` shows the options and their variables, but not a secret's value.
    let help = lattice_with_env(&["--help"], None, &[("LATTICE_NATS_TOKEN", "tok-secret")]);
    assert_eq!(help.code(), Some(0), "{help:#?}");
    for option in [
        "--creds",
        "--nkey",
        "--token",
        "--user",
        "--password",
        "--tls-ca",
    ] {
        assert!(help.stdout.contains(option), "{option}: {help:#?}");
    }
    assert!(help.stdout.contains("LATTICE_NATS_TOKEN"), "{help:#?}");
    assert!(!help.stdout.contains("tok-secret"), "{help:#?}");

    // Commands that do not connect to the user's server do not check these options.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("schemas");
    let run = lattice(
        &[
            "--token",
            "t",
            "--user",
            "u",
            "schema",
            "export",
            out.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(run.code(), Some(0), "{run:#?}");
}

/// A private CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files.
struct Pki {
    _dir: tempfile::TempDir,
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

impl Pki {
    fn new() -> Self {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
            KeyPair, KeyUsagePurpose,
        };
        let dir = tempfile::tempdir().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "lattice test CA");
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate().unwrap();
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf = |names: Vec<String>, usage: ExtendedKeyUsagePurpose| {
            let mut params = CertificateParams::new(names).unwrap();
            params
                .distinguished_name
                .push(DnType::CommonName, "lattice test");
            params.use_authority_key_identifier_extension = true;
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            params.extended_key_usages = vec![usage];
            let key = KeyPair::generate().unwrap();
            let cert = params.signed_by(&key, &issuer).unwrap();
            (cert.pem(), key.serialize_pem())
        };
        let (server_cert, server_key) = leaf(
            vec!["127.0.0.1".into(), "localhost".into()],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let (client_cert, client_key) = leaf(
            vec!["lattice-cli.test".into()],
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        let path = |name: &str, text: &str| write(dir.path(), name, text);
        Self {
            ca: path("ca.pem", &ca_cert.pem()),
            server_cert: path("server.pem", &server_cert),
            server_key: path("server-key.pem", &server_key),
            client_cert: path("client.pem", &client_cert),
            client_key: path("client-key.pem", &client_key),
            _dir: dir,
        }
    }

    /// A server configuration with TLS; `verify` makes the server require client certificates.
    fn server_config(&self, verify: bool) -> PathBuf {
        let mut text = format!(
            "tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n",
            self.server_cert.display(),
            self.server_key.display()
        );
        if verify {
            text.push_str(&format!(
                "  ca_file: \"{}\"\n  verify: true\n",
                self.ca.display()
            ));
        }
        text.push_str("}\n");
        let name = if verify { "mtls.conf" } else { "tls.conf" };
        write(self._dir.path(), name, &text)
    }

    fn host_options(&self, verify: bool) -> async_nats::ConnectOptions {
        let options = async_nats::ConnectOptions::new()
            .add_root_certificates(self.ca.clone())
            .require_tls(true);
        if verify {
            options.add_client_certificate(self.client_cert.clone(), self.client_key.clone())
        } else {
            options
        }
    }
}

#[test]
fn tls_with_a_private_ca_needs_tls_ca() {
    let pki = Pki::new();
    let lattice = Lattice::start_on(
        server(&pki.server_config(false)),
        || pki.host_options(false),
        &["host-a"],
    );
    let ca = pki.ca.to_str().unwrap();
    assert_lists_host_a(&get_hosts(&lattice, &["--tls-ca", ca]));
    assert_lists_host_a(&get_hosts_with_env(
        &lattice,
        &[],
        &[("LATTICE_NATS_TLS_CA", ca)],
    ));

    kits_connect(&lattice, &["--tls-ca", ca]);

    // Without the CA the server's certificate is not trusted.
    let untrusted = get_hosts(&lattice, &[]);
    assert_fails(&untrusted, 3, &["TLS handshake", "--tls-ca"], &[]);
}

#[test]
fn tls_client_certificates_reach_a_verifying_server() {
    let pki = Pki::new();
    let lattice = Lattice::start_on(
        server(&pki.server_config(true)),
        || pki.host_options(true),
        &["host-a"],
    );
    let (ca, cert, key) = (
        pki.ca.to_str().unwrap(),
        pki.client_cert.to_str().unwrap(),
        pki.client_key.to_str().unwrap(),
    );
    assert_lists_host_a(&get_hosts(
        &lattice,
        &["--tls-ca", ca, "--tls-cert", cert, "--tls-key", key],
    ));

    kits_connect(
        &lattice,
        &["--tls-ca", ca, "--tls-cert", cert, "--tls-key", key],
    );

    // Without a client certificate the server ends the handshake.
    let anonymous = get_hosts(&lattice, &["--tls-ca", ca]);
    assert_fails(&anonymous, 3, &["TLS handshake", "--tls-cert"], &[]);
}
