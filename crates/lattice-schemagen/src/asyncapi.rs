//! One AsyncAPI 3.0 document for tool authors of any language: every subject of the v2alpha1
//! contract (control, status and rollout events, provider link subjects, the rollout
//! bucket's keys), who publishes on it and who answers, each message by its JSON Schema in
//! `schemas/`.
//!
//! The channels are listed here ([`CHANNELS`]); every message they carry is a name of the
//! message catalogue ([`lattice_ctl::schema::catalog`]), whose schema file the document
//! references. A test checks that every address, filled in, parses as the contract's subject
//! type, and that the document validates against the AsyncAPI 3.0.0 JSON Schema.
//!
//! Operations are written from the side that initiates: `send` for a request (its `reply`
//! names the answer, which travels on the requester's NATS inbox), `receive` for a message
//! that subscribers get. `x-lattice-publisher` and `x-lattice-replier` name the roles.

use lattice_ctl::schema::{MessageSchema, catalog};
use serde_json::{Map, Value, json};

/// The file the document is written to, below the schemas directory.
pub const PATH: &str = "asyncapi.json";

/// A channel parameter: its name and description.
type Parameter = (&'static str, &'static str);

const LATTICE: Parameter = ("lattice", "The lattice name.");
const HOST_ID: Parameter = ("host_id", "The id of the host addressed or reporting.");
const COMPONENT_ID: Parameter = ("component_id", "The component.");
const PROVIDER_ID: Parameter = ("provider_id", "The provider.");
const APP: Parameter = ("app", "The application rolled out.");

/// One subject of the contract.
#[derive(Debug)]
pub struct Channel {
    /// The channel id in the document.
    pub id: &'static str,
    /// The subject, with `{parameter}` placeholders.
    pub address: &'static str,
    /// The placeholders, described.
    parameters: &'static [Parameter],
    /// What travels there.
    description: &'static str,
    /// The message sent (a name in the catalogue).
    pub message: &'static str,
    /// The answer to it, for a request.
    pub reply: Option<&'static str>,
    /// Who publishes the message.
    publisher: &'static str,
    /// Who answers, for a request.
    replier: Option<&'static str>,
}

const HOSTS: &str = "every v2alpha1 host of the lattice";
const HOST: &str = "the host `{host_id}`";
const CLIENT: &str = "a scheduler or tool (`lattice-client`)";

/// Every subject of the v2alpha1 contract.
pub const CHANNELS: &[Channel] = &[
    Channel {
        id: "hostPing",
        address: "wasmbus.ctl.v2alpha1.{lattice}.host.ping",
        parameters: &[LATTICE],
        description: "Host discovery: a scatter/gather request every host answers with its id, labels, version and the control API versions it speaks.",
        message: "HostPingRequest",
        reply: Some("HostSummaryReply"),
        publisher: CLIENT,
        replier: Some(HOSTS),
    },
    Channel {
        id: "hostInventory",
        address: "wasmbus.ctl.v2alpha1.{lattice}.host.inventory.{host_id}",
        parameters: &[LATTICE, HOST_ID],
        description: "One host's inventory: every component and provider with its status.",
        message: "HostInventoryRequest",
        reply: Some("HostInventoryReply"),
        publisher: CLIENT,
        replier: Some(HOST),
    },
    Channel {
        id: "applyComponentSpec",
        address: "wasmbus.ctl.v2alpha1.{lattice}.component.apply.{host_id}",
        parameters: &[LATTICE, HOST_ID],
        description: "Apply the whole desired state of one component; declarative, idempotent, refused when stale.",
        message: "ApplyComponentSpecRequest",
        reply: Some("ApplyComponentSpecReply"),
        publisher: CLIENT,
        replier: Some(HOST),
    },
    Channel {
        id: "deleteComponentSpec",
        address: "wasmbus.ctl.v2alpha1.{lattice}.component.delete.{host_id}",
        parameters: &[LATTICE, HOST_ID],
        description: "Stop a component and remove its links.",
        message: "DeleteComponentSpecRequest",
        reply: Some("DeleteComponentSpecReply"),
        publisher: CLIENT,
        replier: Some(HOST),
    },
    Channel {
        id: "applyProviderSpec",
        address: "wasmbus.ctl.v2alpha1.{lattice}.provider.apply.{host_id}",
        parameters: &[LATTICE, HOST_ID],
        description: "Apply the whole desired state of one capability provider: the host starts or upgrades it as a supervised process; declarative, idempotent, refused when stale.",
        message: "ApplyProviderSpecRequest",
        reply: Some("ApplyProviderSpecReply"),
        publisher: CLIENT,
        replier: Some(HOST),
    },
    Channel {
        id: "deleteProviderSpec",
        address: "wasmbus.ctl.v2alpha1.{lattice}.provider.delete.{host_id}",
        parameters: &[LATTICE, HOST_ID],
        description: "Stop a provider: the host asks it to shut down, then terminates its process.",
        message: "DeleteProviderSpecRequest",
        reply: Some("DeleteProviderSpecReply"),
        publisher: CLIENT,
        replier: Some(HOST),
    },
    Channel {
        id: "componentStatus",
        address: "wasmbus.status.v2alpha1.{lattice}.component.{host_id}.{component_id}",
        parameters: &[LATTICE, HOST_ID, COMPONENT_ID],
        description: "Every status transition of a component on a host, as a CloudEvent.",
        message: "ComponentStatusEvent",
        reply: None,
        publisher: HOST,
        replier: None,
    },
    Channel {
        id: "providerStatus",
        address: "wasmbus.status.v2alpha1.{lattice}.provider.{host_id}.{provider_id}",
        parameters: &[LATTICE, HOST_ID, PROVIDER_ID],
        description: "Every status transition of a provider on a host, as a CloudEvent.",
        message: "ProviderStatusEvent",
        reply: None,
        publisher: HOST,
        replier: None,
    },
    Channel {
        id: "linkStatus",
        address: "wasmbus.status.v2alpha1.{lattice}.link.{host_id}.{component_id}",
        parameters: &[LATTICE, HOST_ID, COMPONENT_ID],
        description: "Every status transition of a component's link on a host, as a CloudEvent.",
        message: "LinkStatusEvent",
        reply: None,
        publisher: HOST,
        replier: None,
    },
    Channel {
        id: "hostPresence",
        address: "wasmbus.status.v2alpha1.{lattice}.host.{host_id}",
        parameters: &[LATTICE, HOST_ID],
        description: "A host's presence: published when it starts, with every heartbeat (its interval in the message) and when it stops gracefully. Clients keep a directory of the live hosts from it (a JetStream stream the client creates, `LATTICE_HOSTS_{lattice}`, keeps the last message per host) so discovery knows which hosts to wait for.",
        message: "HostPresence",
        reply: None,
        publisher: HOST,
        replier: None,
    },
    Channel {
        id: "rolloutStatus",
        address: "wasmbus.status.v2alpha1.{lattice}.rollout.{app}",
        parameters: &[LATTICE, APP],
        description: "Every change of an application's rollout, with its record whole, as a CloudEvent.",
        message: "RolloutStatusEvent",
        reply: None,
        publisher: "the scheduler driving the rollout (`lattice-rollout`)",
        replier: None,
    },
    Channel {
        id: "rolloutRecord",
        address: "$KV.LATTICE_ROLLOUTS_{lattice}.apps.{app}.rollout",
        parameters: &[LATTICE, APP],
        description: "The rollout record in the scheduler's JetStream key-value bucket (key `apps.{app}.rollout`): read it with a key-value get or watch. A record without `api_version` was stored before the field existed and reads as v2alpha1.",
        message: "RolloutRecord",
        reply: None,
        publisher: "the scheduler driving the rollout (a key-value put)",
        replier: None,
    },
    Channel {
        id: "rolloutControl",
        address: "$KV.LATTICE_ROLLOUTS_{lattice}.apps.{app}.control",
        parameters: &[LATTICE, APP],
        description: "An operator command to a running rollout (key `apps.{app}.control`): put one of the words with a key-value put; the driving scheduler acts on it, now or after it is recovered.",
        message: "RolloutControl",
        reply: None,
        publisher: "an operator's tool (`lattice rollout pause|resume|abort|promote`, a key-value put)",
        replier: None,
    },
    Channel {
        id: "linkPut",
        address: "wasmbus.rpc.{lattice}.{provider_id}.linkdefs.put",
        parameters: &[LATTICE, PROVIDER_ID],
        description: "Establish or replace a link, asked of any instance of the provider. A 1.x host sends the same subject without waiting for an answer.",
        message: "LinkPutRequest",
        reply: Some("LinkResponse"),
        publisher: "a host, for a link of a component it runs",
        replier: Some("one instance of the provider `{provider_id}`"),
    },
    Channel {
        id: "linkPutOnHost",
        address: "wasmbus.rpc.{lattice}.{provider_id}.linkdefs.put.{host_id}",
        parameters: &[LATTICE, PROVIDER_ID, HOST_ID],
        description: "Establish or replace a link, asked of the provider's instance on the host first, so the answer is that instance's.",
        message: "LinkPutRequest",
        reply: Some("LinkResponse"),
        publisher: "the host `{host_id}`, for a link of a component it runs",
        replier: Some("the instance of the provider `{provider_id}` on the host `{host_id}`"),
    },
    Channel {
        id: "linkDelete",
        address: "wasmbus.rpc.{lattice}.{provider_id}.linkdefs.del",
        parameters: &[LATTICE, PROVIDER_ID],
        description: "Remove a link, asked of any instance of the provider.",
        message: "LinkDeleteRequest",
        reply: Some("LinkResponse"),
        publisher: "a host, for a link of a component it runs",
        replier: Some("one instance of the provider `{provider_id}`"),
    },
    Channel {
        id: "linkDeleteOnHost",
        address: "wasmbus.rpc.{lattice}.{provider_id}.linkdefs.del.{host_id}",
        parameters: &[LATTICE, PROVIDER_ID, HOST_ID],
        description: "Remove a link, asked of the provider's instance on the host first.",
        message: "LinkDeleteRequest",
        reply: Some("LinkResponse"),
        publisher: "the host `{host_id}`, for a link of a component it runs",
        replier: Some("the instance of the provider `{provider_id}` on the host `{host_id}`"),
    },
];

fn schema_of<'a>(messages: &'a [MessageSchema], name: &str) -> &'a MessageSchema {
    messages
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| unreachable!("`{name}` is in the message catalogue"))
}

fn message_ref(channel: &Channel, name: &str) -> Value {
    json!({ "$ref": format!("#/channels/{}/messages/{name}", channel.id) })
}

/// The AsyncAPI 3.0.0 document, as JSON.
#[must_use]
pub fn document() -> Value {
    let messages = catalog();
    let mut used: Vec<&str> = Vec::new();
    let mut channels = Map::new();
    let mut operations = Map::new();
    for channel in CHANNELS {
        let names: Vec<&str> = std::iter::once(channel.message)
            .chain(channel.reply)
            .collect();
        let parameters: Map<String, Value> = channel
            .parameters
            .iter()
            .map(|(name, description)| ((*name).to_owned(), json!({ "description": description })))
            .collect();
        let channel_messages: Map<String, Value> = names
            .iter()
            .map(|name| {
                (
                    (*name).to_owned(),
                    json!({ "$ref": format!("#/components/messages/{name}") }),
                )
            })
            .collect();
        channels.insert(
            channel.id.to_owned(),
            json!({
                "address": channel.address,
                "description": channel.description,
                "parameters": parameters,
                "messages": channel_messages,
            }),
        );
        let mut operation = json!({
            "action": if channel.reply.is_some() { "send" } else { "receive" },
            "channel": { "$ref": format!("#/channels/{}", channel.id) },
            "messages": [message_ref(channel, channel.message)],
            "x-lattice-publisher": channel.publisher,
        });
        let description = match (channel.reply, channel.replier) {
            (Some(reply), Some(replier)) => {
                operation["reply"] = json!({ "messages": [message_ref(channel, reply)] });
                operation["x-lattice-replier"] = json!(replier);
                format!(
                    "Sent by {} as a NATS request; answered by {replier} with a {reply} on the requester's inbox.",
                    channel.publisher
                )
            }
            _ => format!(
                "Published by {}; received by any subscriber.",
                channel.publisher
            ),
        };
        operation["description"] = json!(description);
        operations.insert(channel.id.to_owned(), operation);
        used.extend(names);
    }
    used.sort_unstable();
    used.dedup();
    let components: Map<String, Value> = used
        .iter()
        .map(|name| {
            let schema = schema_of(&messages, name);
            let description = schema
                .schema
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or(name);
            (
                (*name).to_owned(),
                json!({
                    "name": name,
                    "title": name,
                    "summary": description.lines().next().unwrap_or(name),
                    "contentType": "application/json",
                    "payload": {
                        "schemaFormat": "application/schema+json;version=draft-2020-12",
                        "schema": { "$ref": format!("./{}", schema.path) },
                    },
                }),
            )
        })
        .collect();
    json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": "lattice wire contract",
            "version": lattice_spec::ApiVersion::CURRENT.as_str(),
            "description": "Every subject of the lattice v2alpha1 contract over NATS: control requests to hosts, status and rollout events, provider link requests, and the rollout bucket's keys. Operations are written from the side that initiates: `send` for a request (its `reply` travels on the requester's NATS inbox), `receive` for what subscribers get; `x-lattice-publisher` and `x-lattice-replier` name who does what. Every message is a JSON document whose JSON Schema (draft 2020-12) is the referenced file. Generated by `cargo run -p lattice-schemagen`; do not edit.",
            "license": { "name": "Apache-2.0" },
        },
        "defaultContentType": "application/json",
        "servers": {
            "nats": {
                "host": "localhost:4222",
                "protocol": "nats",
                "description": "Any NATS server of the lattice (JetStream on for the rollout bucket).",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": { "messages": components },
    })
}

/// The document as the file's text.
#[must_use]
pub fn render() -> String {
    let mut text = serde_json::to_string_pretty(&document())
        .unwrap_or_else(|e| unreachable!("the document is JSON: {e}"));
    text.push('\n');
    text
}
