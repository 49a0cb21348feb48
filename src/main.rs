//! `ispotato`: the command-line front end over `ispotato-core`.

mod admin;
mod cli;
mod commands;
mod config;
mod setup;

use clap::{CommandFactory, FromArgMatches};

fn main() -> std::process::ExitCode {
    let matches = cli::Cli::command().get_matches();
    let mut cli = match cli::Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    if let Err(e) = config::apply(&mut cli, &matches) {
        eprintln!("error: {e:#}");
        return std::process::ExitCode::FAILURE;
    }
    setup::init_logging(cli.global.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "command failed");
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
