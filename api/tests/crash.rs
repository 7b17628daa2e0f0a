//! Crash safety of the real `sigil` binary, on SQLite and PostgreSQL: under a bounded load of
//! client-credentials tokens and code-flow sign-ins, the server is killed with SIGKILL, then
//! restarted on the same database and master key. Every token answered 200 before the kill
//! is still active (its events and lookup row were durable), `sigil events verify` passes
//! (no half-written event, hash chains and checkpoints hold) and every read model catches up
//! to the log's last position.

use std::path::Path;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sigil_api::commands::{CommandContext, Commands};
use sigil_domain::{ApplicationCommand, ApplicationType, NewApplication, NewUser};
use sigil_eventstore::sqlx;
use sigil_eventstore::testing::TestDatabase;

#[allow(dead_code)]
#[path = "../../tests/src/flow.rs"]
mod flow;
mod support;

use support::{Server, sigil};

const PASSWORD: &str = "correct horse battery";
const SPA: &str = "crash-spa";
const M2M: &str = "crash-m2m";

/// A token a client received with 200 before the crash.
#[derive(Debug, Clone)]
enum Issued {
    Machine(String),
    User(String),
}

/// What happened to one request of the load.
enum Outcome {
    Ok(Issued),
    /// The server answered, but not with what a healthy server answers.
    Refused(String),
    /// No answer: the server is gone.
    Gone,
}

fn load_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn machine_token(client: &reqwest::Client, base: &str, secret: &str) -> Outcome {
    let sent = client
        .post(format!("{base}/oidc/token"))
        .basic_auth(M2M, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await;
    let Ok(response) = sent else {
        return Outcome::Gone;
    };
    let status = response.status();
    let Ok(body) = response.json::<serde_json::Value>().await else {
        return Outcome::Gone;
    };
    match body["access_token"].as_str() {
        Some(token) if status == 200 => Outcome::Ok(Issued::Machine(token.to_string())),
        _ => Outcome::Refused(format!("client_credentials: {status} {body}")),
    }
}

/// A whole sign-in in a fresh browser: /oidc/auth, the sign-in form, the code at the token
/// endpoint. Like `flow::authorize`, but a vanished server is an outcome, not a panic.
async fn user_token(base: &str) -> Outcome {
    let browser = flow::browser();
    let (verifier, challenge) = flow::pkce();
    let mut url = url::Url::parse(&format!("{base}/oidc/auth")).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", SPA)
        .append_pair("redirect_uri", flow::CALLBACK)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid profile")
        .append_pair("state", "st")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let Ok(page) = browser.get(url.as_str()).send().await else {
        return Outcome::Gone;
    };
    let status = page.status();
    let Ok(html) = page.text().await else {
        return Outcome::Gone;
    };
    if status != 200 || !html.contains("name=\"interaction\"") {
        return Outcome::Refused(format!("authorize: {status} {html}"));
    }
    let signed_in = browser
        .post(format!("{base}/oidc/interaction/sign-in"))
        .form(&[
            ("interaction", flow::hidden(&html, "interaction")),
            ("csrf", flow::hidden(&html, "csrf")),
            ("identifier", "alice".to_string()),
            ("password", PASSWORD.to_string()),
        ])
        .send()
        .await;
    let Ok(signed_in) = signed_in else {
        return Outcome::Gone;
    };
    let location = signed_in
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let Some(code) = flow::param(&location, "code") else {
        return Outcome::Refused(format!("sign-in: {} {location:?}", signed_in.status()));
    };
    let redeemed = browser
        .post(format!("{base}/oidc/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", SPA),
            ("code", &code),
            ("redirect_uri", flow::CALLBACK),
            ("code_verifier", &verifier),
        ])
        .send()
        .await;
    let Ok(redeemed) = redeemed else {
        return Outcome::Gone;
    };
    let status = redeemed.status();
    let Ok(body) = redeemed.json::<serde_json::Value>().await else {
        return Outcome::Gone;
    };
    match body["access_token"].as_str() {
        Some(token) if status == 200 => Outcome::Ok(Issued::User(token.to_string())),
        _ => Outcome::Refused(format!("code redemption: {status} {body}")),
    }
}

#[derive(Default)]
struct Record {
    issued: Vec<Issued>,
    refused: Vec<String>,
    /// Load tasks that stopped because the server stopped answering mid-request.
    cut_off: usize,
}

impl Record {
    fn counts(&self) -> (usize, usize) {
        let users = self
            .issued
            .iter()
            .filter(|i| matches!(i, Issued::User(_)))
            .count();
        (self.issued.len() - users, users)
    }
}

/// Registers the SPA, the machine-to-machine client (returning its secret) and alice.
async fn setup(db: &TestDatabase) -> String {
    let commands = Commands::new(&db.store);
    let ctx = CommandContext::system("test");
    let secret = sigil_api::oidc::tokens::new_token();
    for (id, app_type, redirect_uris, digest) in [
        (
            SPA,
            ApplicationType::Spa,
            vec![flow::CALLBACK.to_string()],
            None,
        ),
        (
            M2M,
            ApplicationType::MachineToMachine,
            vec![],
            Some(sigil_api::oidc::tokens::digest(&secret)),
        ),
    ] {
        let create = ApplicationCommand::Create(NewApplication {
            name: format!("{id} app"),
            description: None,
            app_type,
            is_third_party: false,
            redirect_uris,
            post_logout_redirect_uris: vec![],
            cors_allowed_origins: vec![],
            client_secret_digest: digest,
        });
        commands.application(id, create, &ctx).await.unwrap();
    }
    let alice = NewUser {
        username: Some("alice".into()),
        primary_email: Some("alice@example.com".into()),
        name: Some("Alice".into()),
        password_hash: None,
    };
    sigil_api::users::register(&commands, "user-alice", alice, Some(PASSWORD), &ctx)
        .await
        .unwrap();
    secret
}

/// Runs the load until `stop` or the server vanishes: two tasks of client-credentials
/// requests, two of full sign-ins, each with a hard cap on its number of requests.
fn start_load(
    base: &str,
    secret: &str,
    record: &Arc<Mutex<Record>>,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    for worker in 0..4 {
        let (base, secret) = (base.to_string(), secret.to_string());
        let (record, stop) = (record.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let client = load_client();
            let machine = worker % 2 == 0;
            let cap = if machine { 1000 } else { 150 };
            for _ in 0..cap {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let outcome = if machine {
                    machine_token(&client, &base, &secret).await
                } else {
                    user_token(&base).await
                };
                match outcome {
                    Outcome::Ok(issued) => record.lock().unwrap().issued.push(issued),
                    Outcome::Refused(why) => record.lock().unwrap().refused.push(why),
                    Outcome::Gone => {
                        record.lock().unwrap().cut_off += 1;
                        return;
                    }
                }
            }
        }));
    }
    tasks
}

async fn introspect(base: &str, secret: &str, token: &str) -> serde_json::Value {
    let response = reqwest::Client::new()
        .post(format!("{base}/oidc/token/introspection"))
        .basic_auth(M2M, Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// The `sigil_projection_lag_events` gauges of a `/metrics` scrape, by projection.
async fn projection_lags(base: &str) -> Vec<(String, f64)> {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter_map(|line| line.strip_prefix("sigil_projection_lag_events{projection=\""))
        .filter_map(|rest| {
            let (name, value) = rest.split_once("\"}")?;
            Some((name.to_string(), value.trim().parse().ok()?))
        })
        .collect()
}

async fn verify_log(dir: &Path, database_url: &str, key_file: &Path) -> (i32, String) {
    let out = sigil(dir)
        .args(["events", "verify"])
        .env("SIGIL_DATABASE_URL", database_url)
        .env("SIGIL_MASTER_KEY_FILE", key_file)
        .output()
        .await
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_answered_before_a_sigkill_survive_it_and_the_log_stays_whole() {
    for db in TestDatabase::all().await {
        let backend = db.backend();
        let started = Instant::now();
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("master.key");
        let secret = setup(&db).await;

        let mut server = Server::start("server", dir.path(), &db.url, &key_file).await;
        let record = Arc::new(Mutex::new(Record::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let load = start_load(&server.base, &secret, &record, &stop);

        // Kill in the middle of the load: after two seconds, once both kinds of token have
        // been handed out several times (or after 10 s at most), with requests in flight.
        let load_started = Instant::now();
        loop {
            let (machines, users) = record.lock().unwrap().counts();
            let elapsed = load_started.elapsed();
            if (elapsed > Duration::from_secs(2) && machines >= 30 && users >= 8)
                || elapsed > Duration::from_secs(10)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        server.kill().await;
        stop.store(true, Ordering::SeqCst);
        for task in load {
            tokio::time::timeout(Duration::from_secs(15), task)
                .await
                .expect("the load stops once the server is gone")
                .expect("a load task panicked");
        }
        let record = std::mem::take(&mut *record.lock().unwrap());
        assert!(
            record.refused.is_empty(),
            "{backend:?}: a healthy server refused: {:#?}",
            record.refused
        );
        let (machines, users) = record.counts();
        assert!(
            record.cut_off > 0,
            "{backend:?}: the load had ended before the kill"
        );
        assert!(
            machines >= 30 && users >= 8,
            "{backend:?}: too little load before the kill ({machines} machine, {users} user tokens)"
        );
        drop(server);

        // Same database, same master key, new process.
        let server = Server::start("server", dir.path(), &db.url, &key_file).await;
        for issued in &record.issued {
            let (token, kind) = match issued {
                Issued::Machine(t) => (t, "client_credentials"),
                Issued::User(t) => (t, "authorization_code"),
            };
            let body = introspect(&server.base, &secret, token).await;
            assert_eq!(
                body["active"], true,
                "{backend:?}: a {kind} token answered 200 before the crash is unknown after it"
            );
            if let Issued::User(token) = issued {
                assert_eq!(body["sub"], "user-alice");
                assert!(flow::userinfo_ok(&server.base, token).await);
            }
        }

        // Every read model reaches the log's last position.
        let caught_up = Instant::now() + Duration::from_secs(30);
        let lags = loop {
            let lags = projection_lags(&server.base).await;
            let expected = sigil_projections::all().len();
            if lags.len() == expected && lags.iter().all(|(_, lag)| *lag == 0.0) {
                break lags;
            }
            assert!(
                Instant::now() < caught_up,
                "{backend:?}: read models still behind after 30 s: {lags:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let last: i64 = sqlx::query_scalar("SELECT MAX(position) FROM events")
            .fetch_one(db.store.pool())
            .await
            .unwrap();
        let checkpoints: Vec<(String, i64)> =
            sqlx::query_as("SELECT name, position FROM projection_checkpoints ORDER BY name")
                .fetch_all(db.store.pool())
                .await
                .unwrap();
        assert_eq!(checkpoints.len(), lags.len(), "{checkpoints:?}");
        assert!(
            checkpoints.iter().all(|(_, position)| *position == last),
            "{backend:?}: {checkpoints:?} against last position {last}"
        );

        // No half-written event; the hash chains and the signed checkpoints hold.
        let (code, out) = verify_log(dir.path(), &db.url, &key_file).await;
        assert_eq!(code, 0, "{backend:?}: {out}");
        assert!(out.starts_with("ok: "), "{out}");

        server.stop().await;
        eprintln!(
            "{backend:?}: {machines} machine and {users} user tokens survived a SIGKILL; {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
}
