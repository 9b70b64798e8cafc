//! Hosts in one process sharing an engine (`WasmtimeRuntime::for_host`) against a real
//! nats-server: a component is compiled once per engine and artifact digest, however many
//! hosts apply it and however often a revision comes back, and every host serves it.

use lattice_client::Client;
use lattice_host::{Host, HostConfig, HostHandle, Invoker};
use lattice_runtime_wasmtime::WasmtimeRuntime;
use lattice_spec::{ComponentSpec, ComponentSpecDraft, LatticeName};
use lattice_test_support::{NatsServer, example_component};
use std::{future::Future, path::Path, sync::Arc, time::Duration};

const DEADLINE: Duration = Duration::from_secs(20);
const GREET: &str = "lattice:greeter/greet@0.1.0";

async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(DEADLINE, future)
        .await
        .expect("timed out")
}

fn spec(revision: u64, path: &Path) -> ComponentSpec {
    ComponentSpecDraft::new("unruly", format!("file://{}", path.display()))
        .revision(revision)
        .validate()
        .unwrap()
}

/// `examples/components/faulty/unruly.wasm` with a custom section appended: the same code
/// under another digest.
fn variant(dir: &Path) -> std::path::PathBuf {
    let mut bytes = std::fs::read(example_component("faulty/unruly.wasm")).unwrap();
    let name = b"variant";
    bytes.extend([0, u8::try_from(1 + name.len()).unwrap(), 7]);
    bytes.extend(name);
    let path = dir.join("unruly-variant.wasm");
    std::fs::write(&path, bytes).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_sharing_an_engine_compile_each_artifact_once() {
    let server = NatsServer::start().expect("nats-server starts");
    let lattice: LatticeName = "default".parse().unwrap();
    let first = within(async_nats::connect(server.url())).await.unwrap();
    let template = WasmtimeRuntime::new(first, &lattice).unwrap();
    let mut hosts: Vec<HostHandle> = Vec::new();
    for n in 0..3 {
        let nats = within(async_nats::connect(server.url())).await.unwrap();
        let runtime = template.for_host(nats.clone(), &lattice);
        let config = HostConfig::new(format!("host-{n}").parse().unwrap(), lattice.clone());
        hosts.push(
            within(Host::new(nats, config, Arc::new(runtime)).start())
                .await
                .unwrap(),
        );
    }
    let nats = within(async_nats::connect(server.url())).await.unwrap();
    let client = Client::new(nats.clone(), lattice.clone());
    let apply_everywhere = |spec: ComponentSpec| {
        let client = client.clone();
        let ids: Vec<_> = hosts.iter().map(|h| h.host_id().clone()).collect();
        async move {
            let applies = ids
                .iter()
                .map(|id| client.apply_and_wait(id, &spec, DEADLINE));
            for result in within(futures::future::join_all(applies)).await {
                result.expect("the apply succeeds");
            }
        }
    };

    let dir = tempfile::tempdir().unwrap();
    let original = example_component("faulty/unruly.wasm");
    let other = variant(dir.path());

    apply_everywhere(spec(1, &original)).await;
    assert_eq!(template.compilations(), 1, "three hosts, one compilation");
    apply_everywhere(spec(2, &other)).await;
    assert_eq!(template.compilations(), 2, "a new digest compiles");
    // A rollback to the first artifact, as a new revision: already compiled.
    apply_everywhere(spec(3, &original)).await;
    assert_eq!(template.compilations(), 2, "a digest seen before does not");

    // Every host serves revision 3, and the component answers.
    for host in &hosts {
        let inventory = within(client.inventory(host.host_id())).await.unwrap();
        let serving = inventory
            .component(&"unruly".parse().unwrap())
            .and_then(|c| c.serving.clone())
            .expect("serving");
        assert_eq!(serving.revision, lattice_spec::Revision(3));
    }
    let invoker = within(Invoker::new(nats, &lattice, &"unruly".parse().unwrap()))
        .await
        .unwrap();
    let (answer,): (String,) = within(invoker.invoke(GREET, "hello", ("Ada".to_owned(),)))
        .await
        .unwrap();
    assert_eq!(answer, "still serving");
}
