//! A **fake** wasmCloud 1.x host: a peer speaking the 1.x control interface on a real
//! nats-server, in the 1.x shapes (checked against the published crate in lattice-ctl's
//! fixtures). It records the writes it receives, keeps lattice-wide links as 1.x does, and
//! answers `host.ping`, `host.get` (components as the scale commands left them, annotations
//! included) and `link.get`. It proves what a client or scheduler sends to a 1.x host and how
//! it follows one — not what a real 1.x host does with it; it never counts as interop.
//!
//! Shared by the host kit's and the rollout engine's tests (included with `#[path]`).

#![allow(dead_code, unreachable_pub)]

use futures::StreamExt;
use lattice_ctl::v1;
use std::sync::{Arc, Mutex};

/// What the fake 1.x host received, and the state it keeps.
#[derive(Default)]
pub struct FakeV1Host {
    pub id: String,
    pub lattice: String,
    pub operations: Mutex<Vec<String>>,
    pub inventory: Mutex<v1::HostInventory>,
    pub links: Mutex<Vec<v1::Link>>,
}

fn same_link(a: &v1::Link, source_id: &str, ns: &str, pkg: &str, name: &str) -> bool {
    (
        a.source_id.as_str(),
        a.wit_namespace.as_str(),
        a.wit_package.as_str(),
        a.name.as_str(),
    ) == (source_id, ns, pkg, name)
}

impl FakeV1Host {
    /// A fake 1.x host `id` in `lattice`.
    pub fn new(id: &str, lattice: &str) -> Arc<Self> {
        Arc::new(Self {
            id: id.to_owned(),
            lattice: lattice.to_owned(),
            ..Self::default()
        })
    }

    /// The component as the last scale command left it.
    pub fn component(&self, id: &str) -> Option<v1::ComponentDescription> {
        self.inventory.lock().unwrap().component(id).cloned()
    }

    /// Subscribes on `nats` and answers until the connection closes. Returns once the
    /// subscription is confirmed by the server.
    pub async fn serve(self: Arc<Self>, nats: async_nats::Client) {
        let prefix = format!("wasmbus.ctl.v1.{}.", self.lattice);
        let mut requests = nats.subscribe(format!("{prefix}>")).await.unwrap();
        // A round trip through the server: the subscription is registered after it.
        let inbox = nats.new_inbox();
        let mut probe = nats.subscribe(inbox.clone()).await.unwrap();
        nats.publish(inbox, bytes::Bytes::new()).await.unwrap();
        probe.next().await.unwrap();
        tokio::spawn(async move {
            while let Some(message) = requests.next().await {
                let operation = message
                    .subject
                    .as_str()
                    .trim_start_matches(&prefix)
                    .to_owned();
                let reply = self.answer(&operation, &message.payload);
                if let Some(reply_to) = message.reply {
                    nats.publish(reply_to, reply.into()).await.unwrap();
                }
            }
        });
    }

    fn answer(&self, operation: &str, payload: &[u8]) -> Vec<u8> {
        let ok = |value: serde_json::Value| {
            serde_json::to_vec(
                &serde_json::json!({"success": true, "message": "", "response": value}),
            )
            .unwrap()
        };
        if operation == "host.ping" {
            let mut host = v1::Host::default();
            host.id = self.id.clone();
            host.lattice = self.lattice.clone();
            host.version = Some("1.9.2".to_owned());
            return ok(serde_json::to_value(host).unwrap());
        }
        if operation == format!("host.get.{}", self.id) {
            let mut inventory = self.inventory.lock().unwrap().clone();
            inventory.host_id = self.id.clone();
            return ok(serde_json::to_value(inventory).unwrap());
        }
        if operation == "link.get" {
            return ok(serde_json::to_value(&*self.links.lock().unwrap()).unwrap());
        }
        if operation.starts_with("host.get.")
            || operation.starts_with("component.scale.") && !operation.ends_with(&self.id)
        {
            // Addressed to another host: a real 1.x host would not be subscribed.
            return br#"{"success":false,"message":"not this host"}"#.to_vec();
        }
        if operation == "link.put" {
            let link: v1::Link = serde_json::from_slice(payload).unwrap();
            let mut links = self.links.lock().unwrap();
            links.retain(|l| {
                !same_link(
                    l,
                    &link.source_id,
                    &link.wit_namespace,
                    &link.wit_package,
                    &link.name,
                )
            });
            links.push(link);
        }
        if operation == "link.del" {
            let del: v1::DeleteLinkRequest = serde_json::from_slice(payload).unwrap();
            self.links.lock().unwrap().retain(|l| {
                !same_link(
                    l,
                    &del.source_id,
                    &del.wit_namespace,
                    &del.wit_package,
                    &del.name,
                )
            });
        }
        if operation.starts_with("component.scale.") {
            let command: v1::ScaleComponentCommand = serde_json::from_slice(payload).unwrap();
            let mut component = v1::ComponentDescription::default();
            component.id = command.component_id.clone();
            component.image_ref = command.component_ref.clone();
            component.max_instances = command.max_instances;
            component.annotations = command.annotations.clone();
            let mut inventory = self.inventory.lock().unwrap();
            inventory
                .components
                .retain(|c| c.id != command.component_id);
            if command.max_instances > 0 {
                inventory.components.push(component);
            }
        }
        self.operations
            .lock()
            .unwrap()
            .push(format!("{operation} {}", String::from_utf8_lossy(payload)));
        br#"{"success":true,"message":""}"#.to_vec()
    }
}
