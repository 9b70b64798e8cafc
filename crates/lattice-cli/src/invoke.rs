//! `lattice invoke`: calls an exported function of a component over wRPC, as another
//! component would, and prints the answer.

use crate::{
    cli::Globals,
    error::{CliError, Failure},
};
use clap::Args;
use lattice_host::{InvokeCallError, Invoker};
use lattice_spec::ComponentId;

/// The long help of `lattice invoke --help`.
pub(crate) const LONG_ABOUT: &str = "\
Call FUNCTION of COMPONENT over wRPC (prefix `<lattice>.<component>`, as wasmCloud addresses \
components) and print what it returns. FUNCTION is `<instance>.<function>` as in the \
component's WIT, e.g. `lattice:greeter/greet@0.1.0.hello`, or a plain name for a function the \
component exports at its top level.

ARGS is a JSON array of the function's parameters. This version calls functions whose \
parameters and single result are strings: `lattice invoke greeter \
lattice:greeter/greet@0.1.0.hello '[\"Ada\"]'`.";

/// Options of `lattice invoke`.
#[derive(Debug, Args)]
pub(crate) struct InvokeArgs {
    /// The component.
    component: ComponentId,
    /// `<instance>.<function>`, e.g. `lattice:greeter/greet@0.1.0.hello`.
    function: String,
    /// The parameters, as a JSON array of strings.
    #[arg(default_value = "[]")]
    args: String,
}

fn invalid(message: String) -> CliError {
    CliError::Invoke {
        message,
        hint: "see `lattice invoke --help` for the shape of FUNCTION and ARGS".to_owned(),
        failure: Failure::Usage,
        source: None,
    }
}

/// Invokes the function and prints its answer.
pub(crate) async fn run(globals: &Globals, args: InvokeArgs) -> Result<(), CliError> {
    let (instance, function) = match args.function.rsplit_once('.') {
        Some((instance, function)) if instance.contains(':') || !instance.contains('/') => {
            (instance, function)
        }
        _ => ("", args.function.as_str()),
    };
    let params: Vec<String> = serde_json::from_str(&args.args)
        .map_err(|e| invalid(format!("ARGS is not a JSON array of strings: {e}")))?;
    let nats = globals.connect("lattice-invoke").await?;
    let invoker = Invoker::new(nats, &globals.lattice, &args.component)
        .await
        .map_err(|e| failed(&args, e))?
        .with_timeout(globals.timeout.max(std::time::Duration::from_secs(5)));
    let answer = match params.as_slice() {
        [] => invoker.invoke::<_, (String,)>(instance, function, ()).await,
        [a] => {
            invoker
                .invoke::<_, (String,)>(instance, function, (a.clone(),))
                .await
        }
        [a, b] => {
            invoker
                .invoke::<_, (String,)>(instance, function, (a.clone(), b.clone()))
                .await
        }
        more => {
            return Err(invalid(format!(
                "{} parameters; at most 2 are supported",
                more.len()
            )));
        }
    }
    .map_err(|e| failed(&args, e))?;
    println!("{}", answer.0);
    Ok(())
}

fn failed(args: &InvokeArgs, error: InvokeCallError) -> CliError {
    CliError::Invoke {
        message: format!("calling `{}` of `{}` failed", args.function, args.component),
        hint: format!(
            "is `{}` running (`lattice get inventory`), does it export `{}`, and do its \
             parameters and result match ARGS (strings)?",
            args.component, args.function
        ),
        failure: Failure::Invoke(error.kind()),
        source: Some(error),
    }
}
