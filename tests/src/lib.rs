//! Shared helpers for Sigil's store and end-to-end tests (the tests live in `tests/`).

pub mod admin;
pub mod flow;

pub use sigil_eventstore::testing::TestDatabase;
use std::time::Duration;

use sigil_eventstore::{Checkpoint, EventStore, NewEvent, SigningKey, now_micros, sqlx};

/// An event for stream `(kind, id)` at `sequence` with a small JSON payload.
pub fn event(kind: &str, id: &str, sequence: i64, payload: &str) -> NewEvent {
    NewEvent {
        aggregate_type: kind.into(),
        aggregate_id: id.into(),
        sequence,
        event_type: "Noted".into(),
        event_version: "1.0".into(),
        payload: payload.into(),
        metadata: r#"{"actor":"test"}"#.into(),
        occurred_at: now_micros(),
    }
}

use sigil_api::commands::{CommandContext, Commands};
use sigil_domain::{ApplicationCommand, ApplicationType, NewApplication, NewUser, UserCommand};

/// A Prometheus-free, clock-driven context for commands in tests.
pub fn ctx() -> CommandContext {
    CommandContext::system("test")
}

/// Creates a single-page application through the domain.
pub async fn create_spa(commands: &Commands, id: &str, name: &str) {
    let command = ApplicationCommand::Create(NewApplication {
        name: name.into(),
        description: Some("made by a test".into()),
        app_type: ApplicationType::Spa,
        is_third_party: false,
        redirect_uris: vec!["https://app.example.com/callback".into()],
        post_logout_redirect_uris: vec![],
        cors_allowed_origins: vec!["https://app.example.com".into()],
        client_secret_digest: None,
    });
    commands
        .application(id, command, &ctx())
        .await
        .expect("create application");
}

/// Creates a user through the domain (the hash has Argon2id's shape; no password is involved).
pub async fn create_user(commands: &Commands, id: &str, username: &str) {
    let command = UserCommand::Create(NewUser {
        username: Some(username.into()),
        primary_email: Some(format!("{username}@example.com")),
        name: Some(username.to_uppercase()),
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo".into()),
    });
    commands
        .user(id, command, &ctx())
        .await
        .expect("create user");
}

/// How long a test waits for the frontier: other tests' transactions anywhere in the
/// PostgreSQL cluster hold it back (xids are cluster-wide) until they end.
pub const FRONTIER_WAIT: Duration = Duration::from_secs(20);

/// Lets `runner` apply everything appended so far. `catch_up` alone stops at the safe
/// frontier, which on PostgreSQL may trail the last commit for a moment while any
/// transaction of the server (another test's database, too) is running.
pub async fn caught_up(runner: &sigil_projections::ProjectionRunner, store: &EventStore) -> i64 {
    let last = store.last_position().await.expect("last position");
    let reached = runner
        .catch_up_to(last, FRONTIER_WAIT)
        .await
        .expect("catch up");
    assert!(
        reached >= last,
        "the read models reached {reached} of {last}"
    );
    reached
}

/// The non-unique indexes of `tables` as the database describes them, sorted: a rebuild sets
/// these aside and builds them again.
pub async fn secondary_indexes(store: &EventStore, tables: &[&str]) -> Vec<String> {
    let sql = match store.backend() {
        // A definition built again reads `IF NOT EXISTS`, which says nothing of the index.
        sigil_eventstore::Backend::Sqlite => {
            "SELECT name || ': ' || replace(sql, 'IF NOT EXISTS ', '') FROM sqlite_master \
             WHERE type = 'index' AND tbl_name = $1 AND sql IS NOT NULL"
        }
        sigil_eventstore::Backend::Postgres => {
            "SELECT indexname::text || ': ' || indexdef FROM pg_indexes \
             WHERE tablename = $1 AND indexdef NOT LIKE 'CREATE UNIQUE%'"
        }
    };
    let mut all = Vec::new();
    for table in tables {
        let sql = store.backend().parameters(sql);
        let found: Vec<String> = sqlx::query_scalar(&sql)
            .bind(*table)
            .fetch_all(store.pool())
            .await
            .expect("the catalog lists the indexes");
        all.extend(found);
    }
    all.sort();
    all
}

/// Writes a checkpoint over everything appended so far, once it is safe to cover.
pub async fn checkpoint_now(store: &EventStore, key: &SigningKey, max_events: i64) -> Checkpoint {
    let last = store.last_position().await.expect("last position");
    assert!(
        store
            .wait_until_safe(last, FRONTIER_WAIT)
            .await
            .expect("frontier")
    );
    store
        .write_checkpoint(key, max_events, now_micros())
        .await
        .expect("write checkpoint")
        .expect("something to checkpoint")
}

/// A server on a random port over a test database, with a master key of its own.
pub struct TestServer {
    pub base: String,
    /// The server's own write side: what a test changes through it, the server sees at once
    /// (its hot aggregates are evicted on commit, see `sigil_api::hot`).
    pub commands: std::sync::Arc<Commands>,
    running: Option<sigil_api::server::RunningServer>,
    _key_dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start(db: &TestDatabase) -> TestServer {
        Self::start_with_key(db, tempfile::tempdir().expect("temporary folder")).await
    }

    /// Another node over the same log, with the same master key, as a deployment's nodes
    /// share it.
    pub async fn start_beside(db: &TestDatabase, other: &TestServer) -> TestServer {
        let dir = tempfile::tempdir().expect("temporary folder");
        std::fs::copy(other.master_key_path(), dir.path().join("master.key"))
            .expect("copy of the master key");
        Self::start_with_key(db, dir).await
    }

    async fn start_with_key(db: &TestDatabase, dir: tempfile::TempDir) -> TestServer {
        let key = sigil_api::master_key::MasterKey::load_or_create(&dir.path().join("master.key"))
            .expect("master key");
        // The issuer must be the address clients reach, so pick the port first.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let args = sigil_api::config::ServeArgs {
            bind: format!("127.0.0.1:{port}").parse().unwrap(),
            public_url: format!("http://127.0.0.1:{port}"),
            checkpoint_interval_secs: 1,
            request_timeout_secs: 30,
            shutdown_grace_secs: 5,
            throttling: Default::default(),
        };
        let running = sigil_api::server::start(db.store.clone(), args, &key)
            .await
            .expect("server starts");
        TestServer {
            base: format!("http://{}", running.addr),
            commands: running.state.commands.clone(),
            running: Some(running),
            _key_dir: dir,
        }
    }

    /// The server's master key file (to sign or check what the CLI would).
    pub fn master_key_path(&self) -> std::path::PathBuf {
        self._key_dir.path().join("master.key")
    }

    pub fn issuer(&self) -> String {
        format!("{}/oidc", self.base)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await.expect("clean shutdown");
        }
    }
}

/// Creates a confidential application of `app_type` and returns its client secret (shown
/// once, as the management API will).
pub async fn create_confidential(
    commands: &Commands,
    id: &str,
    app_type: ApplicationType,
) -> String {
    let secret = sigil_api::oidc::tokens::new_token();
    let redirect_uris = match app_type {
        ApplicationType::MachineToMachine => vec![],
        _ => vec!["https://app.example.com/callback".into()],
    };
    let command = ApplicationCommand::Create(NewApplication {
        name: format!("{id} app"),
        description: None,
        app_type,
        is_third_party: false,
        redirect_uris,
        post_logout_redirect_uris: vec![],
        cors_allowed_origins: vec![],
        client_secret_digest: Some(sigil_api::oidc::tokens::digest(&secret)),
    });
    commands
        .application(id, command, &ctx())
        .await
        .expect("create application");
    secret
}

/// Registers a user with a password through the same path the CLI uses.
pub async fn register_user(commands: &Commands, id: &str, username: &str, password: &str) {
    let new = NewUser {
        username: Some(username.into()),
        primary_email: Some(format!("{username}@example.com")),
        name: Some(format!("{username} tester")),
        password_hash: None,
    };
    sigil_api::users::register(commands, id, new, Some(password), &ctx())
        .await
        .expect("register user");
}
