//! `lattice`: the command-line tool of a wasmCloud-style WebAssembly lattice over NATS.
//!
//! It runs a local lattice (`lattice up`), reads hosts and inventories (`lattice get …`),
//! applies and deletes component specs (`lattice apply`, `lattice delete`) and exports the
//! JSON Schemas of the wire contract (`lattice schema export`). Every command talks to the
//! lattice through `lattice_client::Client` over one NATS connection.
//!
//! The code is laid out one module per command group (`up`, `get`, `apply`, `delete`,
//! `schema`); `cli` holds the command tree and the global options, `error` the one error type
//! with its exit code, `hints` what to do next after each error, `output` the table / JSON /
//! YAML printers, `spec_file` the reading and validation of spec documents, `nats_auth` the
//! authentication and TLS options and their mapping to the NATS connect options. A new command
//! group (e.g. `rollout`) is a new module with an `Args`/`Subcommand` type and a `run`
//! function, plus one variant in `cli::Command`.
//!
//! Exit codes: 0 ok, 1 the operation failed, 2 usage or invalid input, 3 NATS or the hosts
//! cannot be reached.

mod apply;
mod cli;
mod config;
mod delete;
mod duration;
mod error;
mod get;
mod hints;
mod host;
mod invoke;
mod nats_auth;
mod output;
mod progress;
mod rollout;
mod schema;
mod signal;
mod spec_file;
mod up;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // clap prints usage errors itself and exits with 2; `--help` and `--version` exit with 0.
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(error::EXIT_FAILED);
        }
    };
    match runtime.block_on(cli.run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error::report(&e);
            ExitCode::from(e.exit_code())
        }
    }
}
