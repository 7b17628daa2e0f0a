//! The `sigil` command line (CONTRACT.md fixes the command names).

use std::io::BufRead;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use sigil_domain::{ApplicationType, NewApplication, NewUser, SigningAlgorithm};
use sigil_eventstore::EventStore;
use sigil_projections::ProjectionRunner;
use zeroize::Zeroizing;

use crate::commands::{CommandContext, Commands};
use crate::config::{ServeArgs, StoreArgs};
use crate::keys::alg_name;
use crate::keys::keyring::rotate;
use crate::keys::seal::Sealer;
use crate::master_key::MasterKey;
use crate::oidc::id_token::ID_TOKEN_TTL_SECS;
use crate::oidc::tokens;
use crate::{applications, passwords, server, telemetry, users};

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
    /// Applications (OAuth clients).
    #[command(subcommand)]
    Apps(AppsCommand),
    /// User accounts.
    #[command(subcommand)]
    Users(UsersCommand),
    /// ID-token signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Administration of Sigil itself.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// The management API's GraphQL schema.
    #[command(subcommand)]
    Graphql(GraphqlCommand),
    /// The audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Write the audit trail to stdout, in position order, ending with the signed checkpoint
    /// that covers it (a checkpoint is signed now if the newest does not reach that far).
    Export {
        /// Entries at or after this time (RFC 3339).
        #[arg(long)]
        since: Option<chrono::DateTime<chrono::Utc>>,
        /// Entries before this time (RFC 3339).
        #[arg(long)]
        until: Option<chrono::DateTime<chrono::Utc>>,
        #[arg(long, value_enum, default_value = "ndjson")]
        format: crate::audit::export::Format,
    },
}

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Make sure a machine-to-machine application with the management role exists and print
    /// {"client_id","client_secret","token_endpoint","resource","scope"}. Each call gives it
    /// a new secret (the previous one stops working).
    Bootstrap {
        /// The URL people reach; the token endpoint printed is under it.
        #[arg(long, env = "SIGIL_PUBLIC_URL", default_value = "http://127.0.0.1:3000", value_parser = crate::config::parse_public_url)]
        public_url: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum GraphqlCommand {
    /// Print the schema in SDL (docs/schema.graphql is this output).
    Schema,
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Make a new signing key active for an algorithm and retire the current one. The retired
    /// key stays in the JWKS until the ID tokens it signed have expired; running servers pick
    /// the new key up within a minute.
    Rotate {
        #[arg(long, value_enum)]
        alg: KeyAlgorithm,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum KeyAlgorithm {
    #[value(name = "ES384")]
    Es384,
    #[value(name = "EdDSA")]
    EdDsa,
    #[value(name = "RS256")]
    Rs256,
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

#[derive(Subcommand, Debug)]
pub enum AppsCommand {
    /// Register an application. Prints {"client_id", "client_secret"}; the secret (null for
    /// native and single-page apps) is shown this once and never stored.
    Create(CreateApp),
}

#[derive(Args, Debug)]
pub struct CreateApp {
    #[arg(long)]
    pub name: String,
    #[arg(long = "type", value_enum)]
    pub app_type: AppType,
    /// Users are asked to consent before it acts for them.
    #[arg(long)]
    pub third_party: bool,
    #[arg(long)]
    pub description: Option<String>,
    /// Repeat for several.
    #[arg(long = "redirect-uri")]
    pub redirect_uris: Vec<String>,
    /// Repeat for several.
    #[arg(long = "post-logout-redirect-uri")]
    pub post_logout_redirect_uris: Vec<String>,
    /// Repeat for several.
    #[arg(long = "cors-origin")]
    pub cors_origins: Vec<String>,
}

/// `ApplicationType` as typed on the command line.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum AppType {
    Native,
    Spa,
    Traditional,
    MachineToMachine,
}

impl From<AppType> for ApplicationType {
    fn from(t: AppType) -> Self {
        match t {
            AppType::Native => ApplicationType::Native,
            AppType::Spa => ApplicationType::Spa,
            AppType::Traditional => ApplicationType::Traditional,
            AppType::MachineToMachine => ApplicationType::MachineToMachine,
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum UsersCommand {
    /// Register a user. The password comes from SIGIL_NEW_USER_PASSWORD if set, else from the
    /// first line of standard input (never a flag: it would show in `ps` and shell history).
    /// Prints {"id"}.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        name: Option<String>,
    },
}

/// Where `sigil users create` reads the password first.
pub const NEW_USER_PASSWORD_VAR: &str = "SIGIL_NEW_USER_PASSWORD";

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
        Command::Audit(AuditCommand::Export {
            since,
            until,
            format,
        }) => {
            let master_key = MasterKey::load(&cli.store.master_key_file)?;
            let store = open(&cli.store).await?;
            let audit = ProjectionRunner::new(
                store.clone(),
                std::sync::Arc::new(sigil_projections::AuditView),
            );
            let filter = crate::audit::AuditFilter {
                from: since,
                to: until,
                ..Default::default()
            };
            let exported = crate::audit::export::export(
                &store,
                &audit,
                &master_key.checkpoint_key(),
                &filter,
                format,
                std::io::BufWriter::new(std::io::stdout()),
            )
            .await?;
            eprintln!(
                "{} entries through position {}; checkpoint {} covers them",
                exported.entries, exported.through_position, exported.checkpoint.body.number
            );
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
        Command::Admin(AdminCommand::Bootstrap { public_url }) => {
            let store = open(&cli.store).await?;
            let issuer = format!("{public_url}/oidc");
            let printed = crate::bootstrap::bootstrap(&Commands::new(&store), &issuer).await?;
            println!("{}", serde_json::to_string(&printed)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Graphql(GraphqlCommand::Schema) => {
            print!("{}", crate::graphql::sdl());
            Ok(ExitCode::SUCCESS)
        }
        Command::Apps(AppsCommand::Create(args)) => {
            let store = open(&cli.store).await?;
            let created = create_app(&Commands::new(&store), args).await?;
            println!("{created}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys(KeysCommand::Rotate { alg }) => {
            let alg = match alg {
                KeyAlgorithm::Es384 => SigningAlgorithm::ES384,
                KeyAlgorithm::EdDsa => SigningAlgorithm::EdDSA,
                KeyAlgorithm::Rs256 => SigningAlgorithm::RS256,
            };
            let master_key = MasterKey::load(&cli.store.master_key_file)?;
            let store = open(&cli.store).await?;
            let sealer = Sealer::new(&master_key.derive("sealing"));
            // Published as long as the ID tokens it signed live, plus room for clock skew.
            let keep_public_for = ID_TOKEN_TTL_SECS + 300;
            let ring = rotate(
                &store,
                &Commands::new(&store),
                &sealer,
                alg,
                chrono::Utc::now().timestamp(),
                keep_public_for,
            )
            .await?;
            let kid = ring
                .signer(alg)
                .map(|(kid, _)| kid.to_string())
                .unwrap_or_default();
            println!(
                "{}",
                serde_json::json!({ "alg": alg_name(alg), "kid": kid })
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Users(UsersCommand::Create {
            username,
            email,
            name,
        }) => {
            let password = new_user_password()?;
            // `register` checks too; checking first refuses a bad password before the store
            // is opened (and migrated).
            passwords::check_policy(&password)?;
            let store = open(&cli.store).await?;
            let id = tokens::new_id();
            let new = NewUser {
                username: Some(username),
                primary_email: email,
                name,
                password_hash: None,
            };
            users::register(
                &Commands::new(&store),
                &id,
                new,
                Some(password.as_str()),
                &CommandContext::system("cli"),
            )
            .await?;
            println!("{}", serde_json::json!({ "id": id }));
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Registers an application; returns what to print. Confidential types get a new secret,
/// of which only the digest goes into the log.
async fn create_app(commands: &Commands, args: CreateApp) -> anyhow::Result<serde_json::Value> {
    let client_id = tokens::new_id();
    let new = NewApplication {
        name: args.name,
        description: args.description,
        app_type: ApplicationType::from(args.app_type),
        is_third_party: args.third_party,
        redirect_uris: args.redirect_uris,
        post_logout_redirect_uris: args.post_logout_redirect_uris,
        cors_allowed_origins: args.cors_origins,
        client_secret_digest: None,
    };
    let secret =
        applications::register(commands, &client_id, new, &CommandContext::system("cli")).await?;
    Ok(serde_json::json!({ "client_id": client_id, "client_secret": secret }))
}

/// The new user's password: the environment variable if set (even empty: then the policy
/// says why it is refused), else the first line of standard input without its line ending.
fn new_user_password() -> anyhow::Result<Zeroizing<String>> {
    if let Some(password) = std::env::var_os(NEW_USER_PASSWORD_VAR) {
        let password = password
            .into_string()
            .map_err(|_| anyhow::anyhow!("{NEW_USER_PASSWORD_VAR} is not valid UTF-8"))?;
        return Ok(Zeroizing::new(password));
    }
    // A blocking read is fine here: nothing else runs in this process yet.
    let mut line = Zeroizing::new(String::new());
    let read = std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    anyhow::ensure!(
        read > 0,
        "no password: set {NEW_USER_PASSWORD_VAR} or write it on the first line of standard input"
    );
    let end = line.trim_end_matches(['\n', '\r']).len();
    line.truncate(end);
    Ok(line)
}

async fn open(store: &StoreArgs) -> anyhow::Result<EventStore> {
    EventStore::open(&store.database_url)
        .await
        .with_context(|| format!("cannot open the store at {}", store.database_url))
}

/// Events per batch of a rebuild: ten times the server's, since nobody waits on one batch.
/// Each costs a transaction, a read of the checkpoints and a statement per table.
const REBUILD_BATCH: i64 = 5_000;

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
        let runner = ProjectionRunner::new(store.clone(), projection).with_batch(REBUILD_BATCH);
        let lead = runner.try_lead().await?;
        // Replayed here, the tables fill without their secondary indexes, built once at the
        // end; a server that leads replays with them in place.
        if lead.is_some() {
            runner.begin_rebuild().await?;
        } else {
            runner.reset().await?;
        }
        // Everything committed when the rebuild starts; a transaction open elsewhere may hold
        // the frontier below it for a moment, so wait rather than stop short.
        let target = store.last_position().await?;
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
                runner
                    .catch_up_reporting(|position| bar.set_position(position.max(0) as u64))
                    .await?;
            }
            let position = runner.position().await?;
            bar.set_position(position.max(0) as u64);
            if position >= target {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bar.finish();
        if lead.is_some() {
            runner.build_indexes().await?;
        } else {
            println!("{}: replayed by the running server", runner.name());
        }
    }
    Ok(())
}
