//! `wasi:logging/logging`, served by the host: a component's log lines become `tracing`
//! events of target `lattice::component`, with the component id and the log context.

mod bindings {
    wasmtime::component::bindgen!({
        inline: "
            package wasi:logging@0.1.0-draft;

            interface logging {
                enum level { trace, debug, info, warn, error, critical }
                log: func(level: level, context: string, message: string);
            }

            world imports {
                import logging;
            }
        ",
        world: "imports",
    });
}

use bindings::wasi::logging::logging::{Host, Level};

pub(crate) use bindings::wasi::logging::logging::add_to_linker;

impl Host for crate::store::Ctx {
    fn log(&mut self, level: Level, context: String, message: String) {
        let component = &*self.imports.source_id;
        match level {
            Level::Trace => {
                tracing::trace!(target: "lattice::component", component, context, "{message}")
            }
            Level::Debug => {
                tracing::debug!(target: "lattice::component", component, context, "{message}")
            }
            Level::Info => {
                tracing::info!(target: "lattice::component", component, context, "{message}")
            }
            Level::Warn => {
                tracing::warn!(target: "lattice::component", component, context, "{message}")
            }
            Level::Error | Level::Critical => {
                tracing::error!(target: "lattice::component", component, context, "{message}");
            }
        }
    }
}
