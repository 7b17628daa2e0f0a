//! The `sigil` command line (CONTRACT.md fixes the command names).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use sigil_eventstore::EventStore;
use sigil_projections::ProjectionRunner;

use crate::config::{ServeArgs, StoreArgs};
use crate::master_key::MasterKey;
use crate::{server, telemetry};

#[derive(Parser, Debug)]
#[command(
    name = "sigil",
    version,
    about = "Sigil: an event-sourced OpenID Connect provider"
)]
pub struct Cli {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server (migrates the store first).
    Serve(ServeArgs),
    /// Apply pending migrations and exit.
    Migrate,
    /// Read models.
    #[command(subcommand)]
    Projections(ProjectionsCommand),
    /// The event log.
    #[command(subcommand)]
    Events(EventsCommand),
}

#[derive(Subcommand, Debug)]
pub enum ProjectionsCommand {
    /// Empty a read model (or all) and replay the whole log into it.
    Rebuild {
        /// Read model name; all of them when left out.
        name: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum EventsCommand {
    /// Check the log's tamper evidence from the first event to the last. Exit 1 and the first
    /// bad position on failure.
    Verify,
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    telemetry::init_logging(&cli.store.log);
    match cli.command {
        Command::Serve(args) => {
            let master_key = MasterKey::load_or_create(&cli.store.master_key_file)?;
            let store = open(&cli.store).await?;
            let running = server::start(store, args, &master_key).await?;
            server::shutdown_signal().await;
            running.shutdown().await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate => {
            open(&cli.store).await?;
            println!("migrations applied");
            Ok(ExitCode::SUCCESS)
        }
        Command::Projections(ProjectionsCommand::Rebuild { name }) => {
            let store = open(&cli.store).await?;
            rebuild(&store, name.as_deref()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Events(EventsCommand::Verify) => {
            let master_key = MasterKey::load(&cli.store.master_key_file)?;
            let store = EventStore::connect(&cli.store.database_url).await?;
            let report = store
                .verify(&master_key.checkpoint_key().verifying_key())
                .await?;
            match report.first_bad {
                None => {
                    println!(
                        "ok: {} events in {} streams, {} checkpoints; signed through position {}, last position {}",
                        report.events,
                        report.streams,
                        report.checkpoints,
                        report.verified_through,
                        report.last_position
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Some(problem) => {
                    println!(
                        "tampering detected at position {}: {}",
                        problem.position, problem.reason
                    );
                    Ok(ExitCode::from(1))
                }
            }
        }
    }
}

async fn open(store: &StoreArgs) -> anyhow::Result<EventStore> {
    EventStore::open(&store.database_url)
        .await
        .with_context(|| format!("cannot open the store at {}", store.database_url))
}

/// Rebuilds one read model or all. A running server may hold a read model's runner lock:
/// the reset is safe anyway (both lock the checkpoint row), and the server then replays it
/// while this command shows the progress.
async fn rebuild(store: &EventStore, name: Option<&str>) -> anyhow::Result<()> {
    let all = sigil_projections::all();
    let chosen: Vec<_> = match name {
        None => all,
        Some(name) => {
            let names: Vec<_> = all.iter().map(|p| p.name()).collect();
            let found: Vec<_> = all.into_iter().filter(|p| p.name() == name).collect();
            anyhow::ensure!(
                !found.is_empty(),
                "no read model named {name:?}; there are: {}",
                names.join(", ")
            );
            found
        }
    };
    for projection in chosen {
        let runner = ProjectionRunner::new(store.clone(), projection);
        let lead = runner.try_lead().await?;
        runner.reset().await?;
        let target = store.safe_position().await?;
        let bar = ProgressBar::new(target.max(0) as u64).with_style(
            ProgressStyle::with_template(
                "{prefix:>14} [{bar:40}] {pos}/{len} events ({per_sec}, {eta})",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_prefix(runner.name());
        loop {
            if lead.is_some() {
                runner.step().await?;
            } else {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let position = runner.position().await?;
            bar.set_position(position.max(0) as u64);
            if position >= target {
                break;
            }
        }
        bar.finish();
        if lead.is_none() {
            println!("{}: replayed by the running server", runner.name());
        }
    }
    Ok(())
}
