//! One module per subcommand.

mod bench;
mod classify;
mod db;
mod eval;
mod facts;
mod feedback;
mod health;
mod run;

mod stats;
mod train;

use std::process::ExitCode;

use crate::cli::{Cli, Command, ConfigCommand, DbCommand, FactsCommand, FeedbackCommand};

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Classify {
            ref inputs,
            json,
            ref explain,
        } => classify::run(&cli.global, inputs, json, explain.as_deref()).await,
        Command::Eval { ref dir, json } => eval::run(&cli.global, dir, json).await,
        Command::Fact { ref topic, ref chat } => facts::fact(&cli.global, topic.as_deref(), chat).await,
        Command::Facts {
            command: FactsCommand::Check { ref path },
        } => facts::check(&cli.global, path.as_deref()),
        Command::Stats { json, since } => stats::run(&cli.global, json, since).await,
        Command::Feedback {
            command: FeedbackCommand::Export { ref dir },
        } => feedback::export(&cli.global, dir).await,
        Command::Feedback {
            command: FeedbackCommand::Cleanup,
        } => feedback::cleanup(&cli.global).await,
        Command::Db {
            command:
                DbCommand::Migrate {
                    ref from,
                    ref to,
                    replace,
                    ref salt_file,
                },
        } => db::migrate(&cli.global, from, to, replace, salt_file.as_deref()).await,
        Command::Train {
            ref dirs,
            ref out,
            ref version,
            validation_fraction,
            epochs,
            l2,
        } => {
            train::run(
                &cli.global,
                train::TrainArgs {
                    dirs,
                    out,
                    version: version.as_deref(),
                    validation_fraction,
                    epochs,
                    l2,
                },
            )
            .await
        }
        Command::Config {
            command: ConfigCommand::Check,
        } => {
            println!("{}", crate::config::check(&cli)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Health { ref admin, ready } => health::run(admin, ready).await,
        Command::Run(ref args) => run::run(&cli.global, args, run::Web::WhenAsked).await,
        Command::Serve(ref args) => run::run(&cli.global, args, run::Web::Always).await,
        Command::Bench {
            ref dir,
            runs,
            json,
            all_backends,
            ref child,
        } => {
            let options = bench::Options {
                runs,
                json,
                all_backends,
            };
            bench::run(&cli.global, dir.as_deref(), options, child.as_deref()).await
        }
    }
}
