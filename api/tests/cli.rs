//! The `sigil` binary as a newcomer and an operator use it: `serve` on the embedded default
//! with no setup, SIGTERM, `migrate`, `events verify` (exit 1 naming the tampered position)
//! and `projections rebuild`, on SQLite and PostgreSQL.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use sigil_api::commands::{CommandContext, Commands};
use sigil_api::master_key::MasterKey;
use sigil_domain::{NewUser, UserCommand};
use sigil_eventstore::testing::TestDatabase;
use sigil_eventstore::{Backend, now_micros};
use tokio::io::{AsyncBufReadExt, BufReader};

mod support;
use support::sigil;

#[tokio::test]
async fn serve_starts_on_the_embedded_default_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = sigil(dir.path())
        .args(["serve", "--bind", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(rest) = line.split("listening on http://").nth(1) {
                return rest.split_whitespace().next().unwrap().to_string();
            }
        }
        panic!("the server exited before listening");
    })
    .await
    .expect("the server listens within a minute");
    // Keep draining the log so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let ready = reqwest::get(format!("http://{addr}/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);
    assert!(dir.path().join("sigil-data/sigil.db").is_file());
    let key = dir.path().join("sigil-data/master.key");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id().unwrap() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("stops within 30 s of SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");
    assert!(
        reqwest::get(format!("http://{addr}/healthz"))
            .await
            .is_err()
    );
}

async fn run(dir: &Path, url: &str, args: &[&str]) -> (i32, String, String) {
    let out = sigil(dir)
        .args(args)
        .env("SIGIL_DATABASE_URL", url)
        .env("SIGIL_MASTER_KEY_FILE", dir.join("master.key"))
        .output()
        .await
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn add_users(db: &TestDatabase, n: usize) {
    let commands = Commands::new(&db.store);
    for i in 0..n {
        let create = UserCommand::Create(NewUser {
            username: Some(format!("user{i}")),
            primary_email: None,
            name: None,
            password_hash: None,
        });
        commands
            .user(&format!("u{i}"), create, &CommandContext::system("test"))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn events_verify_passes_on_a_clean_log_and_names_a_tampered_position() {
    for db in TestDatabase::all().await {
        let dir = tempfile::tempdir().unwrap();
        let key = MasterKey::load_or_create(&dir.path().join("master.key")).unwrap();
        add_users(&db, 5).await;
        let last = db.store.last_position().await.unwrap();
        // Other tests' open transactions anywhere in the cluster may hold the frontier back.
        assert!(
            db.store
                .wait_until_safe(last, Duration::from_secs(20))
                .await
                .unwrap()
        );
        db.store
            .write_checkpoint(&key.checkpoint_key(), 1000, now_micros())
            .await
            .unwrap()
            .unwrap();

        let (code, out, err) = run(dir.path(), &db.url, &["events", "verify"]).await;
        assert_eq!(code, 0, "{:?}: {out}{err}", db.backend());
        assert!(
            out.starts_with("ok: 5 events in 5 streams, 1 checkpoints"),
            "{out}"
        );

        let target = db.store.stream("user", "u3", 0).await.unwrap()[0].position;
        let unguard = match db.backend() {
            Backend::Postgres => "ALTER TABLE events DISABLE TRIGGER USER",
            Backend::Sqlite => "DROP TRIGGER events_no_update",
        };
        db.execute(unguard).await.unwrap();
        db.execute(&format!(
            "UPDATE events SET metadata = '{{\"actor\":\"someone else\"}}' WHERE position = {target}"
        ))
        .await
        .unwrap();
        let (code, out, _) = run(dir.path(), &db.url, &["events", "verify"]).await;
        assert_eq!(code, 1, "{:?}: {out}", db.backend());
        assert!(
            out.contains(&format!("tampering detected at position {target}:")),
            "{out}"
        );
    }
}

#[tokio::test]
async fn projections_rebuild_replays_the_log_and_refuses_unknown_names() {
    for db in TestDatabase::all().await {
        let dir = tempfile::tempdir().unwrap();
        add_users(&db, 3).await;
        let (code, out, err) = run(dir.path(), &db.url, &["projections", "rebuild", "users"]).await;
        assert_eq!(code, 0, "{:?}: {out}{err}", db.backend());
        let users: i64 = sigil_eventstore::sqlx::query_scalar("SELECT COUNT(*) FROM rm_users")
            .fetch_one(db.store.pool())
            .await
            .unwrap();
        assert_eq!(users, 3);

        let (code, _, err) = run(dir.path(), &db.url, &["projections", "rebuild", "nosuch"]).await;
        assert_eq!(code, 2);
        assert!(
            err.contains("no read model named \"nosuch\"") && err.contains("users"),
            "{err}"
        );

        let (code, out, _) = run(dir.path(), &db.url, &["migrate"]).await;
        assert_eq!((code, out.trim()), (0, "migrations applied"));
    }
}

#[tokio::test]
async fn audit_export_streams_the_trail_and_ends_with_a_covering_checkpoint() {
    for db in TestDatabase::all().await {
        let dir = tempfile::tempdir().unwrap();
        MasterKey::load_or_create(&dir.path().join("master.key")).unwrap();
        add_users(&db, 4).await;
        // The audit read model is rebuilt by name, like every other.
        let (code, out, err) = run(dir.path(), &db.url, &["projections", "rebuild", "audit"]).await;
        assert_eq!(code, 0, "{:?}: {out}{err}", db.backend());

        let (code, out, err) = run(dir.path(), &db.url, &["audit", "export"]).await;
        assert_eq!(code, 0, "{:?}: {out}{err}", db.backend());
        let lines: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 5, "{out}");
        assert!(
            lines[..4]
                .iter()
                .all(|e| e["event_type"] == "UserRegistered")
        );
        let checkpoint = &lines[4]["checkpoint"];
        assert!(
            checkpoint["through_position"].as_i64().unwrap()
                >= lines[3]["position"].as_i64().unwrap(),
            "{checkpoint}"
        );
        assert!(err.contains("4 entries"), "{err}");

        let (code, out, _) = run(
            dir.path(),
            &db.url,
            &[
                "audit",
                "export",
                "--format",
                "csv",
                "--since",
                "2999-01-01T00:00:00Z",
            ],
        )
        .await;
        assert_eq!(code, 0);
        let rows: Vec<&str> = out.lines().collect();
        assert_eq!(rows.len(), 2, "a header and the checkpoint: {out}");
        assert!(rows[0].starts_with("position,occurred_at,event_type"));
        assert!(rows[1].contains(",checkpoint,"), "{out}");

        let (code, _, err) = run(
            dir.path(),
            &db.url,
            &["audit", "export", "--since", "yesterday"],
        )
        .await;
        assert_eq!(code, 2, "{err}");
    }
}

#[tokio::test]
async fn a_bad_database_url_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = run(dir.path(), "mysql://nowhere/db", &["migrate"]).await;
    assert_eq!(code, 2);
    assert!(err.contains("unsupported database URL"), "{err}");
}

#[tokio::test]
async fn keys_rotate_activates_a_new_key_and_keeps_the_old_one_published() {
    use sigil_api::keys::keyring::{KeyRing, ensure_active_keys};
    use sigil_api::keys::seal::Sealer;
    use sigil_domain::SigningAlgorithm;

    for db in TestDatabase::all().await {
        let dir = tempfile::tempdir().unwrap();
        let key = MasterKey::load_or_create(&dir.path().join("master.key")).unwrap();
        let sealer = Sealer::new(&key.derive("sealing"));
        let now = chrono::Utc::now().timestamp();
        let before = ensure_active_keys(&db.store, &Commands::new(&db.store), &sealer, now)
            .await
            .unwrap();
        let old_kid = before
            .signer(SigningAlgorithm::ES384)
            .unwrap()
            .0
            .to_string();

        let (code, out, err) =
            run(dir.path(), &db.url, &["keys", "rotate", "--alg", "ES384"]).await;
        assert_eq!(code, 0, "{:?}: {out}{err}", db.backend());
        let printed: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        let new_kid = printed["kid"].as_str().unwrap().to_string();
        assert_ne!(new_kid, old_kid);

        let after = KeyRing::load(&db.store, &sealer, now).await.unwrap();
        assert_eq!(after.signer(SigningAlgorithm::ES384).unwrap().0, new_kid);
        let kids: Vec<String> = after.jwks()["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_string())
            .collect();
        assert!(
            kids.contains(&old_kid) && kids.contains(&new_kid),
            "{kids:?}"
        );
        // Once the tokens it signed have expired, the old key is no longer published.
        let later = KeyRing::load(&db.store, &sealer, now + 3600 + 301)
            .await
            .unwrap();
        assert!(!later.jwks().to_string().contains(&old_kid));
    }
}

#[tokio::test]
async fn admin_bootstrap_prints_the_contract_object_and_rotates_on_a_second_call() {
    let dir = tempfile::tempdir().unwrap();
    let run = || async {
        let output = sigil(dir.path())
            .args(["admin", "bootstrap"])
            .env("SIGIL_PUBLIC_URL", "https://id.example.com")
            .output()
            .await
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        let printed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        printed
    };
    let first = run().await;
    let second = run().await;
    for printed in [&first, &second] {
        assert_eq!(printed["client_id"], "sigil-admin");
        assert_eq!(
            printed["token_endpoint"],
            "https://id.example.com/oidc/token"
        );
        assert_eq!(printed["resource"], "urn:sigil:management");
        assert_eq!(printed["scope"], "all");
        assert!(printed["client_secret"].as_str().unwrap().len() >= 32);
    }
    assert_ne!(first["client_secret"], second["client_secret"], "rotated");
}

#[test]
fn docs_schema_graphql_is_the_current_schema() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/schema.graphql");
    let current = sigil_api::graphql::sdl();
    if std::env::var_os("SIGIL_UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &current).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == current,
        "docs/schema.graphql is stale: run `cargo run -q -- graphql schema > docs/schema.graphql`"
    );
}
