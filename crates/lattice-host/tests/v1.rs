//! The host kit speaking wasmCloud 1.x, against a real nats-server: ping and inventory in the
//! 1.x shapes, 1.x component writes through the apply path under the revision rule, refusals
//! that say why, and the 1.x host events as CloudEvents.
//!
//! The 1.x peer here is this workspace's own 1.x types on a plain NATS connection; the
//! official 1.x client is exercised in `interop/`.

mod support;

use futures::StreamExt;
use lattice_ctl::v1::{
    CloudEvent, CtlResponse, HOST_HEARTBEAT, HOST_STARTED, HOST_STOPPED, Host, HostHeartbeat,
    HostInventory, HostStarted, HostStopped, REVISION_ANNOTATION, ScaleComponentCommand,
    UpdateComponentCommand, V1Subject,
};
use lattice_host::V1LatticeWide;
use lattice_spec::{ComponentId, ComponentSpecDraft, HostId, Revision};
use serde::{Serialize, de::DeserializeOwned};
use std::time::Duration;
use support::{BOUND, Lattice, within};

/// A 1.x tool on its own NATS connection.
struct V1Tool {
    nats: async_nats::Client,
    lattice: lattice_spec::LatticeName,
}

impl V1Tool {
    async fn new(lattice: &Lattice) -> Self {
        Self {
            nats: within(async_nats::connect(lattice.local.url()))
                .await
                .unwrap(),
            lattice: lattice.lattice.clone(),
        }
    }

    fn host(&self, id: &str) -> HostId {
        id.parse().unwrap()
    }

    async fn request<T: DeserializeOwned>(
        &self,
        subject: String,
        body: Vec<u8>,
    ) -> Result<CtlResponse<T>, async_nats::RequestError> {
        let message = within(self.nats.request(subject, body.into())).await?;
        Ok(
            serde_json::from_slice(&message.payload).unwrap_or_else(|e| {
                panic!(
                    "not a 1.x reply ({e}): {}",
                    String::from_utf8_lossy(&message.payload)
                )
            }),
        )
    }

    async fn send<B: Serialize>(&self, subject: V1Subject, body: &B) -> CtlResponse<()> {
        self.request(subject.to_string(), serde_json::to_vec(body).unwrap())
            .await
            .unwrap()
    }

    /// Pings and gathers replies until `expected` hosts answered (bounded).
    async fn ping(&self, expected: usize) -> Vec<Host> {
        let inbox = self.nats.new_inbox();
        let mut replies = self.nats.subscribe(inbox.clone()).await.unwrap();
        let subject = V1Subject::HostPing {
            lattice: self.lattice.clone(),
        };
        self.nats
            .publish_with_reply(subject.to_string(), inbox, Vec::new().into())
            .await
            .unwrap();
        let mut hosts = Vec::new();
        while hosts.len() < expected {
            let reply = within(replies.next()).await.unwrap();
            let reply: CtlResponse<Host> = serde_json::from_slice(&reply.payload).unwrap();
            hosts.push(reply.into_result().unwrap().unwrap());
        }
        hosts.sort_by(|a, b| a.id.cmp(&b.id));
        hosts
    }

    async fn inventory(&self, host: &str) -> HostInventory {
        let subject = V1Subject::HostInventory {
            lattice: self.lattice.clone(),
            host_id: self.host(host),
        };
        let reply: CtlResponse<HostInventory> =
            self.request(subject.to_string(), Vec::new()).await.unwrap();
        reply.into_result().unwrap().unwrap()
    }

    /// Reads the inventory until `done` holds for it (bounded by [`BOUND`]).
    async fn inventory_until(
        &self,
        host: &str,
        what: &str,
        done: impl Fn(&HostInventory) -> bool,
    ) -> HostInventory {
        lattice_test_support::read_until(what, BOUND, || self.inventory(host), done, String::new)
            .await
    }

    async fn scale(&self, host: &str, command: &ScaleComponentCommand) -> CtlResponse<()> {
        let subject = V1Subject::ScaleComponent {
            lattice: self.lattice.clone(),
            host_id: self.host(host),
        };
        self.send(subject, command).await
    }

    async fn update(&self, host: &str, command: &UpdateComponentCommand) -> CtlResponse<()> {
        let subject = V1Subject::UpdateComponent {
            lattice: self.lattice.clone(),
            host_id: self.host(host),
        };
        self.send(subject, command).await
    }
}

fn scale(id: &str, reference: &str, count: u32) -> ScaleComponentCommand {
    let mut command = ScaleComponentCommand::default();
    command.component_id = id.into();
    command.component_ref = reference.into();
    command.max_instances = count;
    command
}

fn update(id: &str, reference: &str) -> UpdateComponentCommand {
    let mut command = UpdateComponentCommand::default();
    command.component_id = id.into();
    command.new_component_ref = reference.into();
    command
}

fn runs(inventory: &HostInventory, id: &str, revision: i32, instances: u32) -> bool {
    inventory
        .component(id)
        .is_some_and(|c| c.revision == revision && c.max_instances == instances)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_1x_tool_sees_every_host_and_the_revisions_serving_on_it() {
    let lattice = Lattice::start().await;
    let _a = lattice
        .host_with(lattice.config("host-a").label("zone", "eu-1"))
        .await;
    let _b = lattice.host("host-b").await;
    let spec = ComponentSpecDraft::new("web", lattice.component("web", &[]))
        .revision(3)
        .scale(4)
        .annotation("team", "payments")
        .validate()
        .unwrap();
    lattice
        .apply_and_wait(&"host-a".parse().unwrap(), &spec)
        .await
        .unwrap();
    let tool = V1Tool::new(&lattice).await;

    let hosts = tool.ping(2).await;
    assert_eq!(
        hosts.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(),
        ["host-a", "host-b"]
    );
    assert_eq!(hosts[0].labels["zone"], "eu-1");
    assert_eq!(hosts[0].lattice, "test");
    assert_eq!(hosts[0].friendly_name, "host-a");
    assert_eq!(hosts[0].version.as_deref(), Some(env!("CARGO_PKG_VERSION")));
    assert!(
        hosts[0]
            .uptime_human
            .as_deref()
            .is_some_and(|u| u.ends_with('s'))
    );

    let a = tool.inventory("host-a").await;
    assert_eq!(a.host_id, "host-a");
    assert_eq!(a.labels["zone"], "eu-1");
    let web = a.component("web").expect("web is listed");
    assert_eq!(web.image_ref, spec.artifact().to_string());
    assert_eq!((web.revision, web.max_instances), (3, 4));
    let annotations = web.annotations.as_ref().unwrap();
    assert_eq!(annotations["team"], "payments");
    assert_eq!(annotations[REVISION_ANNOTATION], "3");
    assert!(tool.inventory("host-b").await.components.is_empty());

    // 1.x requires both lists as keys, even when empty.
    let raw = within(
        tool.nats.request(
            V1Subject::HostInventory {
                lattice: lattice.lattice.clone(),
                host_id: "host-b".parse().unwrap(),
            }
            .to_string(),
            Vec::new().into(),
        ),
    )
    .await
    .unwrap();
    let raw: serde_json::Value = serde_json::from_slice(&raw.payload).unwrap();
    assert_eq!(raw["success"], true);
    assert_eq!(raw["response"]["components"], serde_json::json!([]));
    assert_eq!(raw["response"]["providers"], serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_and_update_run_through_the_apply_path_under_the_revision_rule() {
    let lattice = Lattice::start().await;
    let host = lattice.host("host-a").await;
    let tool = V1Tool::new(&lattice).await;
    let web: ComponentId = "web".parse().unwrap();
    let (v1_ref, v2_ref) = (
        lattice.component("web", &[]),
        lattice.component("web-2", &[]),
    );

    // A new component: revision 1, built from the command.
    let reply = tool.scale("host-a", &scale("web", &v1_ref, 2)).await;
    assert!(reply.success, "{}", reply.message);
    tool.inventory_until("host-a", "revision 1 at 2", |i| runs(i, "web", 1, 2))
        .await;

    // The same command again changes nothing: no new revision.
    let reply = tool.scale("host-a", &scale("web", &v1_ref, 2)).await;
    assert!(reply.success, "{}", reply.message);
    let desired = host.inventory().component(&web).unwrap().desired.revision;
    assert_eq!(desired, Revision(1));

    // A new count: the serving spec at the accepted revision + 1.
    let reply = tool.scale("host-a", &scale("web", &v1_ref, 3)).await;
    assert!(reply.success, "{}", reply.message);
    assert!(reply.message.contains("revision 2"), "{}", reply.message);
    tool.inventory_until("host-a", "revision 2 at 3", |i| runs(i, "web", 2, 3))
        .await;

    // A different reference without allow_update scales but keeps the code, and says so.
    let reply = tool.scale("host-a", &scale("web", &v2_ref, 3)).await;
    assert!(reply.success, "{}", reply.message);
    assert!(
        reply.message.contains("use the update command"),
        "{}",
        reply.message
    );

    // Update: new code, everything else kept.
    let reply = tool.update("host-a", &update("web", &v2_ref)).await;
    assert!(reply.success, "{}", reply.message);
    let inventory = tool
        .inventory_until("host-a", "revision 3 on the new code", |i| {
            runs(i, "web", 3, 3) && i.component("web").unwrap().image_ref == v2_ref
        })
        .await;
    assert_eq!(inventory.components.len(), 1);
    let reply = tool.update("host-a", &update("web", &v2_ref)).await;
    assert!(
        reply.success && reply.message.contains("already updated"),
        "{reply:?}"
    );

    // A v2alpha1 apply of an older revision is now stale: both generations share one order.
    let stale = ComponentSpecDraft::new("web", v1_ref.as_str())
        .revision(2)
        .validate()
        .unwrap();
    let refused = within(lattice.client.apply(&"host-a".parse().unwrap(), &stale))
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, lattice_client::ApplyError::Rejected { rejection, .. }
            if rejection.code == lattice_ctl::RejectionCode::StaleRevision
                && rejection.current_revision == Some(Revision(3))),
        "{refused:?}"
    );

    // Scale to 0 deletes.
    let reply = tool.scale("host-a", &scale("web", &v2_ref, 0)).await;
    assert!(reply.success, "{}", reply.message);
    tool.inventory_until("host-a", "web gone", |i| i.components.is_empty())
        .await;
    within(async {
        while host.inventory().component(&web).is_some() {
            tokio::task::yield_now().await;
        }
    })
    .await;
    let reply = tool.scale("host-a", &scale("web", &v2_ref, 0)).await;
    assert!(
        reply.success && reply.message.contains("not on this host"),
        "{reply:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_lattice_host_cannot_do_is_answered_with_why() {
    let lattice = Lattice::start().await;
    let _a = lattice.host("host-a").await;
    let tool = V1Tool::new(&lattice).await;
    let host_id = tool.host("host-a");
    let name = lattice.lattice.clone();

    let reply = tool
        .update("host-a", &update("ghost", "ghcr.io/a/b:1"))
        .await;
    assert!(
        !reply.success && reply.message.contains("component ghost not found"),
        "{reply:?}"
    );
    let reply = tool
        .scale("host-a", &scale("bad.id", "ghcr.io/a/b:1", 1))
        .await;
    assert!(
        !reply.success && reply.message.contains("invalid component id"),
        "{reply:?}"
    );
    let reply = tool
        .scale("host-a", &scale("web", "not a reference!", 1))
        .await;
    assert!(
        !reply.success && reply.message.contains("artifact"),
        "{reply:?}"
    );
    let reply: CtlResponse<()> = tool
        .request(
            V1Subject::ScaleComponent {
                lattice: name.clone(),
                host_id: host_id.clone(),
            }
            .to_string(),
            b"{".to_vec(),
        )
        .await
        .unwrap();
    assert!(
        !reply.success && reply.message.contains("cannot decode"),
        "{reply:?}"
    );

    for (subject, operation) in [
        (
            V1Subject::ProviderStart {
                lattice: name.clone(),
                host_id: host_id.clone(),
            },
            "provider.start",
        ),
        (
            V1Subject::LabelPut {
                lattice: name.clone(),
                host_id: host_id.clone(),
            },
            "label.put",
        ),
        (
            V1Subject::HostStop {
                lattice: name.clone(),
                host_id: host_id.clone(),
            },
            "host.stop",
        ),
    ] {
        let reply = tool.send(subject, &serde_json::json!({})).await;
        assert!(!reply.success, "{operation}: {reply:?}");
        assert!(
            reply
                .message
                .contains(&format!("`{operation}` is not supported")),
            "{reply:?}"
        );
    }
    let reply: CtlResponse<()> = tool
        .request(
            "wasmbus.ctl.v1.test.component.frobnicate.host-a".to_owned(),
            Vec::new(),
        )
        .await
        .unwrap();
    assert!(
        !reply.success && reply.message.contains("does not serve"),
        "{reply:?}"
    );

    // Lattice-wide link and configuration operations are left to 1.x hosts by default:
    // without one, the server says at once that nobody serves them.
    let link_put = V1Subject::LinkPut {
        lattice: name.clone(),
    };
    let error = tool
        .request::<()>(link_put.to_string(), b"{}".to_vec())
        .await
        .unwrap_err();
    assert_eq!(
        error.kind(),
        async_nats::RequestErrorKind::NoResponders,
        "{error}"
    );

    // Only the kinds of operation 1.x hosts address to a host are taken as addressed to it:
    // a configuration that happens to be named like the host is not.
    let config_get = V1Subject::ConfigGet {
        lattice: name.clone(),
        name: "host-a".into(),
    };
    let error = tool
        .request::<()>(config_get.to_string(), Vec::new())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), async_nats::RequestErrorKind::NoResponders);

    // A host told to refuse them answers instead, once per request.
    let _b = lattice
        .host_with(
            lattice
                .config("host-b")
                .v1_lattice_wide(V1LatticeWide::Refuse),
        )
        .await;
    let reply = tool.send(link_put, &serde_json::json!({})).await;
    assert!(
        !reply.success && reply.message.contains("`link.put` is not supported"),
        "{reply:?}"
    );
    let reply = tool
        .send(
            V1Subject::ConfigPut {
                lattice: name,
                name: "redis".into(),
            },
            &serde_json::json!({"url": "redis://"}),
        )
        .await;
    assert!(
        !reply.success && reply.message.contains("`config.put` is not supported"),
        "{reply:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_publishes_1x_cloudevents_started_heartbeats_and_stopped() {
    let lattice = Lattice::start().await;
    let tool = V1Tool::new(&lattice).await;
    let mut events = tool.nats.subscribe("wasmbus.evt.test.*").await.unwrap();
    // The subscription is live once a message published after it comes back.
    let probe = tool.nats.new_inbox();
    let mut echo = tool.nats.subscribe(probe.clone()).await.unwrap();
    tool.nats.publish(probe, Vec::new().into()).await.unwrap();
    within(echo.next()).await.unwrap();

    let host = lattice
        .host_with(
            lattice
                .config("host-a")
                .label("zone", "eu-1")
                .heartbeat_interval(Duration::from_millis(100)),
        )
        .await;
    let mut next = async || {
        let message = within(events.next()).await.unwrap();
        let event: CloudEvent<serde_json::Value> = serde_json::from_slice(&message.payload)
            .unwrap_or_else(|e| panic!("not a CloudEvent ({e})"));
        assert_eq!(
            message.subject.as_str(),
            format!("wasmbus.evt.test.{}", event.event_name().unwrap())
        );
        assert_eq!(
            (event.specversion.as_str(), event.source.as_str()),
            ("1.0", "host-a")
        );
        assert_eq!(event.datacontenttype.as_deref(), Some("application/json"));
        // RFC 3339 in UTC with microseconds, as 1.x hosts write it.
        let time = event.time.as_bytes();
        assert!(
            time.len() == 27 && time[10] == b'T' && time[26] == b'Z',
            "{}",
            event.time
        );
        event
    };

    let started = next().await;
    assert_eq!(started.event_name(), Some(HOST_STARTED));
    let data: HostStarted = serde_json::from_value(started.data).unwrap();
    assert_eq!(
        (data.friendly_name.as_str(), data.labels["zone"].as_str()),
        ("host-a", "eu-1")
    );

    // One heartbeat at start, then one per interval; each is the host's 1.x inventory.
    let mut ids = std::collections::BTreeSet::from([started.id]);
    let spec = ComponentSpecDraft::new("web", lattice.component("web", &[]))
        .validate()
        .unwrap();
    let mut applied = false;
    let mut heartbeats = 0;
    loop {
        let event = next().await;
        assert!(ids.insert(event.id.clone()), "ids are unique");
        assert_eq!(event.event_name(), Some(HOST_HEARTBEAT));
        let heartbeat: HostHeartbeat = serde_json::from_value(event.data).unwrap();
        assert_eq!(heartbeat.host_id, "host-a");
        assert_eq!(heartbeat.version, env!("CARGO_PKG_VERSION"));
        heartbeats += 1;
        if heartbeat.component("web").is_some() {
            break;
        }
        if !applied {
            lattice
                .apply_and_wait(&"host-a".parse().unwrap(), &spec)
                .await
                .unwrap();
            applied = true;
        }
    }
    assert!(heartbeats >= 2, "{heartbeats}");

    drop(host);
    loop {
        let event = next().await;
        if event.event_name() == Some(HOST_STOPPED) {
            let data: HostStopped = serde_json::from_value(event.data).unwrap();
            assert_eq!(data.labels["zone"], "eu-1");
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_1x_scale_takes_over_a_component_whose_first_apply_failed() {
    let lattice = Lattice::start().await;
    let host = lattice.host("host-a").await;
    let tool = V1Tool::new(&lattice).await;
    let missing = format!("file://{}/missing.wasm", lattice.dir.path().display());
    let spec = ComponentSpecDraft::new("web", missing.as_str())
        .revision(4)
        .config_value("greeting", "hi")
        .annotation("team", "a")
        .validate()
        .unwrap();
    let failed = lattice
        .apply_and_wait(&"host-a".parse().unwrap(), &spec)
        .await
        .unwrap_err();
    assert!(format!("{failed:?}").contains("Failed"), "{failed:?}");
    assert!(
        tool.inventory("host-a").await.components.is_empty(),
        "nothing serves"
    );

    // The failed spec is the base; the command's reference replaces its artifact, and the
    // same command as the failed one would still be applied (a failure is no "unchanged").
    let reference = lattice.component("web", &[]);
    let reply = tool.scale("host-a", &scale("web", &reference, 2)).await;
    assert!(reply.success, "{}", reply.message);
    assert!(reply.message.contains("revision 5"), "{}", reply.message);
    let inventory = tool
        .inventory_until("host-a", "revision 5 serving", |i| runs(i, "web", 5, 2))
        .await;
    // It kept the failed spec's inline configuration: the same content as that spec with the
    // new artifact and scale.
    let expected = ComponentSpecDraft::new("web", reference.as_str())
        .revision(5)
        .scale(2)
        .config_value("greeting", "hi")
        .validate()
        .unwrap();
    let annotations = inventory
        .component("web")
        .unwrap()
        .annotations
        .clone()
        .unwrap();
    assert_eq!(
        annotations[lattice_ctl::v1::DIGEST_ANNOTATION],
        expected.digest().to_string()
    );
    let web: ComponentId = "web".parse().unwrap();
    let serving = host.inventory().component(&web).unwrap().serving.clone();
    assert_eq!(serving.map(|s| s.revision), Some(Revision(5)));
}
