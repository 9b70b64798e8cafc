//! Imports: which the runtime provides itself (WASI, `wasi:config`, `wasi:logging`) and which
//! go over wRPC to the target of the link that covers them, as a wasmCloud 1.x host does.
//!
//! An import `ns:pkg/iface@version` is covered by a link with WIT namespace `ns`, package
//! `pkg` and `iface` among its interfaces (the version is the component's business). Its
//! functions are polyfilled with `wrpc-runtime-wasmtime`: each call is a wRPC invocation of
//! the same instance and function under the prefix `{lattice}.{target}` — where a wasmCloud
//! 1.x provider serves it — with the NATS headers `source-id` (the component) and
//! `link-name` (the link) that 1.x providers use to find the link's configuration.
//! Resources an imported interface returns stay on the provider; the component holds their
//! remote handles.

use crate::RuntimeInner;
use async_nats::HeaderMap;
use bytes::Bytes;
use lattice_host::{RuntimeError, RuntimeErrorKind, wrpc_transport_nats};
use lattice_spec::{ComponentSpec, LinkSpec};
use std::{collections::HashMap, future::Future, sync::Arc, time::Duration};
use wasmtime::component::{Component, Linker, ResourceType, types::ComponentItem};
use wrpc_runtime_wasmtime::{RemoteResource, SharedResourceTable, WrpcCtx};
use wrpc_transport::Invoke;

/// Interfaces the runtime serves itself, by `ns:pkg/` prefix or exact interface (versions
/// ignored). Everything else needs a link.
const HOST_PROVIDED: &[&str] = &[
    "wasi:io/",
    "wasi:clocks/",
    "wasi:random/",
    "wasi:cli/",
    "wasi:filesystem/",
    "wasi:sockets/",
    "wasi:config/store",
    "wasi:logging/logging",
    "wasmcloud:secrets/",
];

/// Whether the runtime provides `import` itself.
pub(crate) fn is_host_provided(import: &str) -> bool {
    let unversioned = import.split('@').next().unwrap_or(import);
    HOST_PROVIDED.iter().any(|prefix| {
        unversioned == *prefix || (prefix.ends_with('/') && unversioned.starts_with(prefix))
    })
}

/// `ns`, `pkg` and `iface` of an interface name `ns:pkg/iface[@version]`.
fn parse_interface(name: &str) -> Option<(&str, &str, &str)> {
    let unversioned = name.split('@').next()?;
    let (package, interface) = unversioned.split_once('/')?;
    let (namespace, package) = package.split_once(':')?;
    Some((namespace, package, interface))
}

/// The link of `spec` that covers `import`, if any.
pub(crate) fn covering_link<'a>(spec: &'a ComponentSpec, import: &str) -> Option<&'a LinkSpec> {
    let (namespace, package, interface) = parse_interface(import)?;
    // Only outgoing links cover imports; an incoming one is a provider calling an export.
    spec.links().iter().find(|link| {
        !link.is_incoming()
            && link.wit_namespace() == namespace
            && link.wit_package() == package
            && link.interfaces().iter().any(|i| i == interface)
    })
}

/// Per imported instance, per resource name: the component's resource type and the host type
/// standing for it (a remote handle).
type HostResources = HashMap<Box<str>, HashMap<Box<str>, (ResourceType, ResourceType)>>;

/// Where one imported instance is called.
struct Route {
    client: Arc<wrpc_transport_nats::Client>,
    link_name: String,
}

/// Sends each polyfilled import call to the target of the link covering it: the
/// [`Invoke`] the polyfills call through.
pub(crate) struct LinkRouter {
    routes: HashMap<String, Route>,
}

impl Invoke for LinkRouter {
    type Context = Option<HeaderMap>;
    type Outgoing = <wrpc_transport_nats::Client as Invoke>::Outgoing;
    type Incoming = <wrpc_transport_nats::Client as Invoke>::Incoming;

    fn invoke<P>(
        &self,
        cx: Self::Context,
        instance: &str,
        func: &str,
        params: Bytes,
        paths: impl AsRef<[P]> + Send,
    ) -> impl Future<Output = anyhow::Result<(Self::Outgoing, Self::Incoming)>> + Send
    where
        P: AsRef<[Option<usize>]> + Send + Sync,
    {
        let route = self.routes.get(instance);
        let missing = route.is_none().then(|| instance.to_owned());
        async move {
            let Some(route) = route else {
                anyhow::bail!("no link covers `{}`", missing.unwrap_or_default());
            };
            let mut headers = cx.unwrap_or_default();
            headers.insert("link-name", route.link_name.as_str());
            route
                .client
                .invoke(Some(headers), instance, func, params, paths)
                .await
        }
    }
}

/// The wRPC side of one store: the router, the headers every import call carries, and the
/// table of resources the component shares.
pub(crate) struct ImportCtx {
    pub(crate) router: Arc<LinkRouter>,
    pub(crate) source_id: Arc<str>,
    pub(crate) shared: SharedResourceTable,
    pub(crate) timeout: Duration,
}

impl WrpcCtx<LinkRouter> for ImportCtx {
    fn context(&self) -> Option<HeaderMap> {
        let mut headers = HeaderMap::new();
        headers.insert("source-id", &*self.source_id);
        Some(headers)
    }

    fn client(&self) -> &LinkRouter {
        &self.router
    }

    fn shared_resources(&mut self) -> &mut SharedResourceTable {
        &mut self.shared
    }

    fn timeout(&self) -> Option<Duration> {
        Some(self.timeout)
    }
}

/// Polyfills every import of `component` that a link of `spec` covers, and returns the router
/// its calls go through. An import neither host-provided nor covered is an error of kind
/// `Instantiate` naming it (validation normally refuses such a component earlier).
pub(crate) async fn link_imports<T>(
    runtime: &RuntimeInner,
    linker: &mut Linker<T>,
    component: &Component,
    spec: &ComponentSpec,
) -> Result<Arc<LinkRouter>, RuntimeError>
where
    T: wrpc_runtime_wasmtime::WrpcView + 'static,
{
    let engine = &runtime.engine;
    let ty = component.component_type();
    let mut imported_resources = std::collections::BTreeMap::new();
    wrpc_runtime_wasmtime::collect_component_resource_imports(engine, &ty, &mut imported_resources);
    let mut guest_resources = Vec::new();
    wrpc_runtime_wasmtime::collect_component_resource_exports(engine, &ty, &mut guest_resources);
    let guest_resources: Arc<[ResourceType]> = guest_resources.into();

    let mut routes = HashMap::new();
    let mut polyfilled = Vec::new();
    let mut unsatisfied = Vec::new();
    for (name, item) in ty.imports(engine) {
        let link = covering_link(spec, name);
        match (link, item) {
            (Some(link), ComponentItem::ComponentInstance(instance)) => {
                // A provider or another component: both serve under `{lattice}.{id}`.
                let client = runtime.target_client(link.peer().id()).await?;
                routes.insert(
                    name.to_owned(),
                    Route {
                        client,
                        link_name: link.name().to_string(),
                    },
                );
                polyfilled.push((name.to_owned(), instance));
            }
            _ if is_host_provided(name) => {}
            _ => unsatisfied.push(name.to_owned()),
        }
    }
    if !unsatisfied.is_empty() {
        return Err(RuntimeError::with_kind(
            RuntimeErrorKind::Instantiate,
            format!(
                "imports neither provided by the host nor covered by a link: {}",
                unsatisfied.join(", ")
            ),
        ));
    }

    // Resources of polyfilled interfaces live on the provider: the component holds remote
    // handles to them.
    let host_resources: Arc<HostResources> = Arc::new(
        imported_resources
            .into_iter()
            .filter(|(instance, _)| routes.contains_key(&**instance))
            .map(|(instance, resources)| {
                let resources = resources
                    .into_iter()
                    .map(|(name, guest)| (name, (guest, ResourceType::host::<RemoteResource>())))
                    .collect();
                (instance, resources)
            })
            .collect(),
    );
    for (name, instance) in polyfilled {
        let link_error = |e: wasmtime::Error| {
            RuntimeError::with_kind(
                RuntimeErrorKind::Instantiate,
                format!("cannot link `{name}` over wRPC: {e:#}"),
            )
        };
        let mut instance_linker = linker.instance(&name).map_err(link_error)?;
        wrpc_runtime_wasmtime::link_instance(
            engine,
            &mut instance_linker,
            guest_resources.clone(),
            host_resources.clone(),
            instance,
            name.as_str(),
        )
        .map_err(link_error)?;
    }
    Ok(Arc::new(LinkRouter { routes }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_provided_interfaces_match_by_package_or_interface() {
        assert!(is_host_provided("wasi:io/streams@0.2.0"));
        assert!(is_host_provided("wasi:config/store@0.2.0-rc.1"));
        assert!(is_host_provided("wasi:logging/logging"));
        assert!(!is_host_provided("wasi:config/other"));
        assert!(!is_host_provided("wasi:keyvalue/store@0.2.0-draft"));
        assert!(!is_host_provided("wasi:iox/streams"));
    }

    #[test]
    fn interface_names_parse_without_their_version() {
        assert_eq!(
            parse_interface("wasi:keyvalue/atomics@0.2.0-draft"),
            Some(("wasi", "keyvalue", "atomics"))
        );
        assert_eq!(parse_interface("plain"), None);
    }
}
