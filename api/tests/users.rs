//! Users with unique usernames and emails, decided on strongly consistent state, and the
//! `sigil apps create` / `sigil users create` commands, on SQLite and PostgreSQL.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;

use sigil_api::commands::{CommandContext, Commands};
use sigil_api::users::{self, IdentifierKind, UserCommandError};
use sigil_api::{oidc::tokens, passwords};
use sigil_domain::{NewUser, User, UserChanges};
use sigil_eventstore::sqlx::{self, Row};
use sigil_eventstore::testing::TestDatabase;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;
use tokio::sync::Barrier;

fn context() -> CommandContext {
    CommandContext::system("test")
}

fn new_user(username: &str, email: Option<&str>) -> NewUser {
    NewUser {
        username: Some(username.to_string()),
        primary_email: email.map(str::to_string),
        name: None,
        password_hash: None,
    }
}

async fn find(db: &TestDatabase, identifier: &str) -> Option<String> {
    users::find_by_identifier(db.store.pool(), identifier)
        .await
        .unwrap()
}

fn assert_taken(result: Result<(), UserCommandError>, expected: IdentifierKind) {
    match result {
        Err(UserCommandError::Taken { kind }) => assert_eq!(kind, expected),
        other => panic!("expected {expected} taken, got {other:?}"),
    }
}

/// Every event's payload and metadata, as stored.
async fn whole_log(db: &TestDatabase) -> String {
    let rows = sqlx::query("SELECT payload, metadata FROM events ORDER BY position")
        .fetch_all(db.store.pool())
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            let payload: String = r.get("payload");
            let metadata: String = r.get("metadata");
            format!("{payload}\n{metadata}\n")
        })
        .collect()
}

#[tokio::test]
async fn a_registered_user_is_found_by_username_or_email_in_any_case() {
    // One user with a password on one backend: each hash costs most of a second in debug.
    let mut with_password = true;
    for db in TestDatabase::all().await {
        let commands = Commands::new(&db.store);
        let password = with_password.then_some("correct horse battery");
        users::register(
            &commands,
            "u1",
            new_user("Ada_L", Some("Ada@Example.COM")),
            password,
            &context(),
        )
        .await
        .unwrap();
        for identifier in [
            "Ada_L",
            "ada_l",
            "ADA_L",
            "ada@example.com",
            " ADA@EXAMPLE.COM ",
        ] {
            assert_eq!(
                find(&db, identifier).await.as_deref(),
                Some("u1"),
                "{:?}: {identifier}",
                db.backend()
            );
        }
        assert_eq!(find(&db, "ada").await, None);
        assert_eq!(find(&db, "ada_l@example.com").await, None);

        if with_password {
            let (user, _) = commands.load::<User>("u1").await.unwrap();
            let hash = user.password_hash().unwrap();
            assert!(hash.starts_with("$argon2id$"), "{hash}");
            assert!(passwords::verify_blocking("correct horse battery", hash).await);
            assert!(!whole_log(&db).await.contains("correct horse battery"));
            with_password = false;
        }
    }
}

#[tokio::test]
async fn a_taken_username_or_email_is_refused_and_nothing_is_written() {
    for db in TestDatabase::all().await {
        let commands = Commands::new(&db.store);
        users::register(
            &commands,
            "u1",
            new_user("ada", Some("ada@example.com")),
            None,
            &context(),
        )
        .await
        .unwrap();

        let same_username = users::register(
            &commands,
            "u2",
            new_user("ADA", Some("other@example.com")),
            None,
            &context(),
        )
        .await;
        assert_eq!(
            same_username.as_ref().unwrap_err().to_string(),
            "that username is already taken"
        );
        assert_taken(same_username, IdentifierKind::Username);

        let same_email = users::register(
            &commands,
            "u3",
            new_user("bob", Some("Ada@Example.com")),
            None,
            &context(),
        )
        .await;
        assert_eq!(
            same_email.as_ref().unwrap_err().to_string(),
            "that email is already taken"
        );
        assert_taken(same_email, IdentifierKind::Email);

        // The refusal rolled back the events and the rows written before it.
        for id in ["u2", "u3"] {
            assert!(db.store.stream("user", id, 0).await.unwrap().is_empty());
        }
        assert_eq!(find(&db, "other@example.com").await, None);
        assert_eq!(find(&db, "bob").await, None);
        assert_eq!(find(&db, "ada").await.as_deref(), Some("u1"));
    }
}

#[tokio::test]
async fn racing_registrations_for_one_username_let_exactly_one_win() {
    for db in TestDatabase::all().await {
        // Separate connections, as separate requests or nodes would have, released together.
        let racers = 6;
        let barrier = Arc::new(Barrier::new(racers));
        let mut tasks = Vec::new();
        for i in 0..racers {
            let store = db.connect_again().await;
            let barrier = barrier.clone();
            tasks.push(tokio::spawn(async move {
                let commands = Commands::new(&store);
                barrier.wait().await;
                let id = format!("racer{i}");
                let result =
                    users::register(&commands, &id, new_user("Popular", None), None, &context())
                        .await;
                (id, result)
            }));
        }
        let mut winners = Vec::new();
        for task in tasks {
            let (id, result) = task.await.unwrap();
            match result {
                Ok(()) => winners.push(id),
                Err(UserCommandError::Taken {
                    kind: IdentifierKind::Username,
                }) => assert!(db.store.stream("user", &id, 0).await.unwrap().is_empty()),
                Err(e) => panic!("{:?}: unexpected {e}", db.backend()),
            }
        }
        assert_eq!(winners.len(), 1, "{:?}: {winners:?}", db.backend());
        assert_eq!(find(&db, "popular").await, winners.pop());
    }
}

#[tokio::test]
async fn an_update_moves_identifiers_and_a_delete_frees_them() {
    for db in TestDatabase::all().await {
        let commands = Commands::new(&db.store);
        users::register(
            &commands,
            "u1",
            new_user("ada", Some("ada@example.com")),
            None,
            &context(),
        )
        .await
        .unwrap();
        users::register(&commands, "u2", new_user("bob", None), None, &context())
            .await
            .unwrap();

        let moved = UserChanges {
            username: Some("grace".into()),
            primary_email: Some("Grace@Example.com".into()),
            name: None,
        };
        users::update(&commands, "u1", moved, &context())
            .await
            .unwrap();
        assert_eq!(find(&db, "ada").await, None);
        assert_eq!(find(&db, "ada@example.com").await, None);
        assert_eq!(find(&db, "GRACE").await.as_deref(), Some("u1"));
        assert_eq!(find(&db, "grace@example.com").await.as_deref(), Some("u1"));

        // The old ones are free, the new ones taken.
        users::register(
            &commands,
            "u3",
            new_user("ada", Some("ada@example.com")),
            None,
            &context(),
        )
        .await
        .unwrap();
        let to_taken = |username: &str| UserChanges {
            username: Some(username.into()),
            ..UserChanges::default()
        };
        assert_taken(
            users::update(&commands, "u2", to_taken("Grace"), &context()).await,
            IdentifierKind::Username,
        );
        assert_eq!(find(&db, "bob").await.as_deref(), Some("u2"));
        // A change of case keeps one's own identifier.
        users::update(&commands, "u1", to_taken("Grace"), &context())
            .await
            .unwrap();
        assert_eq!(find(&db, "grace").await.as_deref(), Some("u1"));
        // Removing the email frees it.
        let no_email = UserChanges {
            primary_email: Some(String::new()),
            ..UserChanges::default()
        };
        users::update(&commands, "u1", no_email, &context())
            .await
            .unwrap();
        assert_eq!(find(&db, "grace@example.com").await, None);

        users::delete(&commands, "u1", &context()).await.unwrap();
        assert_eq!(find(&db, "grace").await, None);
        users::register(&commands, "u4", new_user("grace", None), None, &context())
            .await
            .unwrap();
        assert_eq!(find(&db, "grace").await.as_deref(), Some("u4"));
    }
}

/// The binary with no `SIGIL_*` settings inherited from the environment, on `url`.
async fn sigil(
    dir: &Path,
    url: &str,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: &str,
) -> (i32, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sigil"));
    command.current_dir(dir).kill_on_drop(true);
    for (key, _) in std::env::vars() {
        if key.starts_with("SIGIL_") {
            command.env_remove(key);
        }
    }
    let mut child = command
        .args(args)
        .env("SIGIL_DATABASE_URL", url)
        .env("SIGIL_MASTER_KEY_FILE", dir.join("master.key"))
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).await.unwrap();
    drop(input);
    let out = child.wait_with_output().await.unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The error line, after whatever the log printed on stderr before it.
fn last_line(stderr: &str) -> &str {
    stderr.trim().lines().last().unwrap_or_default()
}

#[tokio::test]
async fn apps_create_shows_a_secret_once_and_logs_only_its_digest() {
    for db in TestDatabase::all().await {
        let dir = tempfile::tempdir().unwrap();
        let args = [
            "apps",
            "create",
            "--name",
            "Billing backend",
            "--type",
            "machine-to-machine",
        ];
        let (code, out, err) = sigil(dir.path(), &db.url, &args, &[], "").await;
        assert_eq!(code, 0, "{:?}: {out}{err}", db.backend());
        let printed: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        let client_id = printed["client_id"].as_str().unwrap();
        assert_eq!(client_id.len(), 21, "{client_id}");
        assert!(
            client_id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
        let secret = printed["client_secret"].as_str().unwrap();
        let log = whole_log(&db).await;
        assert!(log.contains(&tokens::digest(secret)));
        assert!(!log.contains(secret));
        assert!(log.contains(r#""actor":"cli""#), "{log}");
        assert_eq!(
            db.store.stream("application", client_id, 0).await.unwrap()[0].event_type,
            "ApplicationRegistered"
        );

        let args = [
            "apps",
            "create",
            "--name",
            "Web",
            "--type",
            "spa",
            "--third-party",
            "--redirect-uri",
            "https://app.example.com/callback",
            "--redirect-uri",
            "https://app.example.com/other",
            "--post-logout-redirect-uri",
            "https://app.example.com/",
            "--cors-origin",
            "https://app.example.com",
        ];
        let (code, out, err) = sigil(dir.path(), &db.url, &args, &[], "").await;
        assert_eq!(code, 0, "{:?}: {out}{err}", db.backend());
        let printed: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert!(printed["client_secret"].is_null(), "{printed}");
        let stream = db
            .store
            .stream("application", printed["client_id"].as_str().unwrap(), 0)
            .await
            .unwrap();
        let payload = stream[0].payload_json().unwrap();
        let registered = &payload["ApplicationRegistered"];
        assert_eq!(registered["redirect_uris"].as_array().unwrap().len(), 2);
        assert_eq!(registered["is_third_party"], true);

        let args = [
            "apps",
            "create",
            "--name",
            "Robot",
            "--type",
            "machine-to-machine",
            "--third-party",
        ];
        let (code, out, err) = sigil(dir.path(), &db.url, &args, &[], "").await;
        assert_eq!(code, 2, "{out}{err}");
        assert_eq!(
            last_line(&err),
            "error: machine-to-machine applications cannot be third-party"
        );
    }
}

#[tokio::test]
async fn users_create_hashes_the_password_and_refuses_bad_input_readably() {
    for db in TestDatabase::all().await {
        let dir = tempfile::tempdir().unwrap();
        let create = [
            "users",
            "create",
            "--username",
            "ada",
            "--email",
            "Ada@Example.com",
        ];

        let short = [("SIGIL_NEW_USER_PASSWORD", "short")];
        let (code, out, err) = sigil(dir.path(), &db.url, &create, &short, "").await;
        assert_eq!(code, 2, "{out}{err}");
        assert_eq!(
            last_line(&err),
            "error: password must be at least 8 characters"
        );

        let (code, _, err) = sigil(dir.path(), &db.url, &create, &[], "").await;
        assert_eq!(code, 2);
        assert!(err.contains("SIGIL_NEW_USER_PASSWORD"), "{err}");

        // From standard input: the first line, without its line ending.
        let password = "a long and secret passphrase";
        let stdin = format!("{password}\r\nsecond line\n");
        let (code, out, err) = sigil(dir.path(), &db.url, &create, &[], &stdin).await;
        assert_eq!(code, 0, "{:?}: {out}{err}", db.backend());
        let printed: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        let id = printed["id"].as_str().unwrap();
        assert_eq!(find(&db, "ada@example.com").await.as_deref(), Some(id));

        let log = whole_log(&db).await;
        assert!(log.contains("$argon2id$"), "{log}");
        assert!(!log.contains(password));

        let (user, _) = Commands::new(&db.store).load::<User>(id).await.unwrap();
        assert!(passwords::verify_blocking(password, user.password_hash().unwrap()).await);

        // The environment variable wins over standard input (whose 7 characters would be
        // refused as too short), and a taken username is refused.
        let env = [("SIGIL_NEW_USER_PASSWORD", "another secret passphrase")];
        let (code, _, err) = sigil(dir.path(), &db.url, &create, &env, "ignored\n").await;
        assert_eq!(code, 2);
        assert_eq!(last_line(&err), "error: that username is already taken");
    }
}
