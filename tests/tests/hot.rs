//! The applications and RBAC definitions the token endpoint keeps in memory
//! (`sigil_api::hot`) follow the log: a change this server makes is seen by its very next
//! request, and a change made by another writer on the same database (another node, the
//! CLI) is seen as soon as the log's notifications or the follower's poll bring it.

use std::time::{Duration, Instant};

use sigil_api::applications::rotate_secret;
use sigil_api::commands::Commands;
use sigil_domain::ApplicationType;
use sigil_tests::flow::token;
use sigil_tests::{TestDatabase, TestServer, create_confidential, ctx};

const MANAGEMENT: &str = "urn:sigil:management";

async fn client_credentials(
    server: &TestServer,
    id: &str,
    secret: &str,
    resource: Option<&str>,
) -> (u16, serde_json::Value) {
    let mut form = vec![("grant_type", "client_credentials")];
    if let Some(r) = resource {
        form.push(("resource", r));
    }
    token(&server.base, &form, Some((id, secret))).await
}

/// Polls `check` until it holds; false after `limit`.
async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_secret_stops_working_at_the_next_request() {
    for db in TestDatabase::all().await {
        let server = TestServer::start(&db).await;
        let old =
            create_confidential(&server.commands, "m2m", ApplicationType::MachineToMachine).await;
        // Used once, so the server holds the application in memory.
        assert_eq!(client_credentials(&server, "m2m", &old, None).await.0, 200);
        let new = rotate_secret(&server.commands, "m2m", &ctx())
            .await
            .unwrap();
        // No waiting: the server's own commit evicted its copy.
        let (status, body) = client_credentials(&server, "m2m", &old, None).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client"))
        );
        assert_eq!(client_credentials(&server, "m2m", &new, None).await.0, 200);
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_by_another_writer_reach_the_server() {
    for db in TestDatabase::all().await {
        let server = TestServer::start(&db).await;
        // A second write side over the same log, as another node or the CLI has.
        let elsewhere = Commands::new(&db.store);
        let old = create_confidential(&elsewhere, "m2m", ApplicationType::MachineToMachine).await;
        assert_eq!(client_credentials(&server, "m2m", &old, None).await.0, 200);
        // The RBAC definitions are read (and held) too: no such resource yet.
        let (status, body) = client_credentials(&server, "m2m", &old, Some(MANAGEMENT)).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_target"))
        );

        let new = rotate_secret(&elsewhere, "m2m", &ctx()).await.unwrap();
        assert!(
            eventually(Duration::from_secs(10), || async {
                client_credentials(&server, "m2m", &old, None).await.0 == 401
            })
            .await,
            "the old secret still works after another writer rotated it"
        );
        assert_eq!(client_credentials(&server, "m2m", &new, None).await.0, 200);

        // Bootstrap defines the management resource and its admin application.
        let admin = sigil_api::bootstrap::bootstrap(&elsewhere, &server.issuer())
            .await
            .unwrap();
        assert!(
            eventually(Duration::from_secs(10), || async {
                let (status, body) = client_credentials(
                    &server,
                    &admin.client_id,
                    &admin.client_secret,
                    Some(MANAGEMENT),
                )
                .await;
                status == 200 && body["scope"] == "all"
            })
            .await,
            "the server never saw the management resource defined elsewhere"
        );
        server.stop().await;
    }
}

/// A growing stream (a refresh-token family, a user) is folded once and then only its new
/// events are read: the log is still asked every time, so another writer's change is seen
/// at once, but the events already applied are not read again.
#[tokio::test]
async fn a_folded_stream_reads_only_what_is_new() {
    use sigil_domain::{User, UserCommand};
    for db in TestDatabase::all().await {
        let here = Commands::new(&db.store);
        let elsewhere = Commands::new(&db.store);
        sigil_tests::create_user(&here, "u1", "alice").await;
        let (user, version) = here.load_folded::<User>("u1").await.unwrap();
        assert!(user.is_active());
        assert_eq!(version, 1);

        elsewhere
            .user("u1", UserCommand::Suspend, &ctx())
            .await
            .unwrap();
        let (user, version) = here.load_folded::<User>("u1").await.unwrap();
        assert!(!user.is_active(), "the new event was read");
        assert_eq!(version, 2);

        // Spoil the first event in place (past the append-only guard): a full replay would
        // now fail, the fold does not read it again.
        db.execute(match db.backend() {
            sigil_eventstore::Backend::Postgres => "ALTER TABLE events DISABLE TRIGGER USER",
            sigil_eventstore::Backend::Sqlite => "DROP TRIGGER events_no_update",
        })
        .await
        .unwrap();
        db.execute(
            "UPDATE events SET payload = 'not json' \
             WHERE aggregate_type = 'user' AND aggregate_id = 'u1' AND sequence = 1",
        )
        .await
        .unwrap();
        assert!(here.load::<User>("u1").await.is_err());
        let (user, version) = here.load_folded::<User>("u1").await.unwrap();
        assert_eq!((user.is_active(), version), (false, 2));
    }
}
