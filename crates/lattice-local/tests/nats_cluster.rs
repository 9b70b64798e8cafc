//! Integration tests: these start real three-server `nats-server` clusters (2.10 or newer on
//! `PATH` or in `NATS_SERVER_BIN`) on loopback.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use lattice_local::NatsCluster;
use serde_json::Value;

/// Every await in these tests sits under this deadline.
const DEADLINE: Duration = Duration::from_secs(20);

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

/// GETs a monitoring endpoint and parses its JSON body.
fn monitoring(port: u16, path: &str) -> Value {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to monitoring");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("set read timeout");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").expect("send request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    let (_, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    serde_json::from_str(body).unwrap_or_else(|err| panic!("{path}: {err}: {body}"))
}

#[test]
fn three_servers_form_one_cluster_with_a_meta_leader() {
    let cluster = NatsCluster::start().expect("start the cluster");
    assert_eq!(cluster.len(), 3);
    let servers = cluster.servers();
    let distinct = |f: &dyn Fn(usize) -> String| (0..3).map(f).collect::<BTreeSet<String>>().len();
    assert_eq!(distinct(&|i| servers[i].port().to_string()), 3);
    assert_eq!(distinct(&|i| servers[i].cluster_port().to_string()), 3);
    assert_eq!(distinct(&|i| servers[i].monitoring_port().to_string()), 3);
    assert_eq!(distinct(&|i| servers[i].name().to_owned()), 3);
    assert_eq!(
        distinct(&|i| servers[i].store_dir().display().to_string()),
        3
    );
    assert_eq!(
        cluster.urls(),
        servers.iter().map(|s| s.url()).collect::<Vec<_>>()
    );

    let names: BTreeSet<&str> = servers.iter().map(|s| s.name()).collect();
    for server in servers {
        let info = read_info(server.port());
        assert_eq!(info["server_name"], Value::from(server.name()), "{info}");
        assert_eq!(info["cluster"], Value::from(cluster.name()), "{info}");
        assert_eq!(info["jetstream"], Value::Bool(true), "{info}");
        // Every server sees the same three-member meta group and its leader.
        let jsz = monitoring(server.monitoring_port(), "/jsz");
        assert_eq!(jsz["meta_cluster"]["cluster_size"], Value::from(3), "{jsz}");
        let leader = jsz["meta_cluster"]["leader"].as_str().unwrap_or_default();
        assert!(names.contains(leader), "leader {leader:?} not in {names:?}");
        // Its routes reach both others.
        let routez = monitoring(server.monitoring_port(), "/routez");
        let routed: BTreeSet<&str> = routez["routes"]
            .as_array()
            .expect("routes")
            .iter()
            .filter_map(|r| r["remote_name"].as_str())
            .collect();
        let others: BTreeSet<&str> = names
            .iter()
            .copied()
            .filter(|n| *n != server.name())
            .collect();
        assert_eq!(routed, others);
        assert!(server.store_dir().join("jetstream").is_dir());
    }
}

#[test]
fn an_r3_bucket_survives_a_killed_server_that_restarts_on_its_ports_and_store() {
    let mut cluster = NatsCluster::start().expect("start the cluster");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let kv_at = |url: String| async move {
        let client = tokio::time::timeout(DEADLINE, async_nats::connect(url))
            .await
            .expect("connect in time")
            .expect("connect");
        jetstream::new(client)
    };
    // After a server dies the stream elects a new leader; until it has one, a JetStream API
    // request goes unanswered and times out. Ask again until the bucket answers or DEADLINE.
    let bucket_at = |js: jetstream::Context| async move {
        lattice_test_support::read_until(
            "the bucket served",
            DEADLINE,
            || async {
                js.get_key_value("replicated")
                    .await
                    .map_err(|e| e.to_string())
            },
            Result::is_ok,
            String::new,
        )
        .await
        .expect("read_until returns only what is done")
    };

    // Written through server 0, replicated to all three.
    runtime.block_on(async {
        let js = kv_at(cluster.server(0).url()).await;
        let bucket = tokio::time::timeout(
            DEADLINE,
            js.create_key_value(kv::Config {
                bucket: "replicated".into(),
                num_replicas: 3,
                ..Default::default()
            }),
        )
        .await
        .expect("create in time")
        .expect("create an R3 bucket");
        bucket.put("before", "1".into()).await.expect("put");
        let info = js
            .get_stream("KV_replicated")
            .await
            .expect("stream")
            .cached_info()
            .clone();
        assert_eq!(info.config.num_replicas, 3);
    });

    let (port, cluster_port, monitoring_port) = {
        let s = cluster.server(0);
        (s.port(), s.cluster_port(), s.monitoring_port())
    };
    let store_dir = cluster.server(0).store_dir().to_owned();
    let old_pid = cluster.server(0).pid().expect("running");
    cluster.kill(0).expect("kill server 0");
    assert!(!cluster.server(0).is_running());
    assert_eq!(cluster.server(0).pid(), None);
    let err = TcpStream::connect(("127.0.0.1", port)).expect_err("port open after kill");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    assert!(!Path::new("/proc").join(old_pid.to_string()).exists() || !cfg!(target_os = "linux"));
    cluster
        .wait_until_formed()
        .expect("two servers keep a meta leader");

    // The two survivors still serve the bucket, and take writes.
    runtime.block_on(async {
        let js = kv_at(cluster.server(1).url()).await;
        let bucket = bucket_at(js).await;
        let value = tokio::time::timeout(DEADLINE, bucket.get("before"))
            .await
            .expect("get in time")
            .expect("get");
        assert_eq!(value.as_deref(), Some(&b"1"[..]));
        tokio::time::timeout(DEADLINE, bucket.put("during", "2".into()))
            .await
            .expect("put in time")
            .expect("put while one server is down");
    });

    cluster.restart(0).expect("restart server 0");
    let server = cluster.server(0);
    assert_eq!(
        (
            server.port(),
            server.cluster_port(),
            server.monitoring_port()
        ),
        (port, cluster_port, monitoring_port)
    );
    assert_eq!(server.store_dir(), store_dir);
    assert_ne!(server.pid(), Some(old_pid));
    assert_eq!(
        read_info(port)["server_name"],
        Value::from(cluster.server(0).name())
    );
    // The restarted server kept its store: its replica of the stream is there.
    let jsz = monitoring(monitoring_port, "/jsz");
    assert!(jsz["streams"].as_u64() >= Some(1), "{jsz}");

    // Through the restarted server, both writes are there. A read may be answered by the
    // restarted replica (direct get) while it is still catching up, so a missing key is asked
    // for again until DEADLINE; a wrong value fails at once.
    runtime.block_on(async {
        let js = kv_at(cluster.server(0).url()).await;
        let bucket = bucket_at(js).await;
        for (key, want) in [("before", "1"), ("during", "2")] {
            let value = lattice_test_support::read_until(
                key,
                DEADLINE,
                || async {
                    tokio::time::timeout(DEADLINE, bucket.get(key))
                        .await
                        .expect("get in time")
                        .expect("get")
                },
                Option::is_some,
                || format!("{key} not served by the restarted server"),
            )
            .await;
            assert_eq!(value.as_deref(), Some(want.as_bytes()), "{key}");
        }
    });
}

#[test]
fn drop_kills_every_server_and_removes_the_stores() {
    let cluster = NatsCluster::builder()
        .servers(2)
        .start()
        .expect("start a two-server cluster");
    let ports: Vec<u16> = cluster.servers().iter().map(|s| s.port()).collect();
    let pids: Vec<u32> = cluster.servers().iter().filter_map(|s| s.pid()).collect();
    let stores: Vec<_> = cluster
        .servers()
        .iter()
        .map(|s| s.store_dir().to_owned())
        .collect();
    assert_eq!(pids.len(), 2);

    drop(cluster);

    for port in ports {
        let err = TcpStream::connect(("127.0.0.1", port)).expect_err("port open after drop");
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    }
    if cfg!(target_os = "linux") {
        for pid in pids {
            assert!(
                !Path::new("/proc").join(pid.to_string()).exists(),
                "process {pid} still exists after drop"
            );
        }
    }
    for store in stores {
        assert!(!store.exists(), "store {store:?} left behind");
    }
}
