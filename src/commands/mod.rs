//! One module per subcommand.

mod bench;
mod classify;
mod eval;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Classify { ref inputs, json } => classify::run(&cli.global, inputs, json).await,
        Command::Eval { ref dir, json } => eval::run(&cli.global, dir, json).await,
        Command::Bench {
            ref dir,
            runs,
            ref child,
        } => bench::run(&cli.global, dir.as_deref(), runs, child.as_deref()).await,
    }
}
