//! Read models: they follow the commands, rebuild to the same rows, apply batches
//! atomically with their checkpoint, and run once per cluster on PostgreSQL.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sigil_api::commands::{CommandError, Commands};
use sigil_domain::{ApplicationChanges, ApplicationCommand, UserChanges, UserCommand};
use sigil_eventstore::sqlx::{self, AnyConnection, Row};
use sigil_eventstore::{Backend, EventStore, NewEvent, StoredEvent};
use sigil_projections::{AuditView, Projection, ProjectionError, ProjectionRunner, UsersView};
use sigil_tests::{FRONTIER_WAIT, TestDatabase, create_spa, create_user, ctx, event};

fn runners(store: &EventStore) -> Vec<ProjectionRunner> {
    sigil_projections::all()
        .into_iter()
        .map(|p| ProjectionRunner::new(store.clone(), p))
        .collect()
}

/// Every row of both read models, as text, in a stable order.
async fn rows(store: &EventStore) -> Vec<String> {
    let mut out = Vec::new();
    for sql in [
        "SELECT id, name, description, app_type, is_third_party, created_at, updated_at, last_position FROM rm_applications ORDER BY id",
        "SELECT id, username, primary_email, name, suspended, created_at, updated_at, last_position FROM rm_users ORDER BY id",
    ] {
        for row in sqlx::query(sql).fetch_all(store.pool()).await.unwrap() {
            let id: String = row.get(0);
            let name: Option<String> = row.get(1);
            let third: Option<String> = row.get(2);
            let fourth: Option<String> = row.get(3);
            let flag = sigil_eventstore::row_bool(
                &row,
                if id.starts_with("app") {
                    "is_third_party"
                } else {
                    "suspended"
                },
            )
            .unwrap();
            let times: (i64, i64, i64) = (row.get(5), row.get(6), row.get(7));
            out.push(format!(
                "{id}|{name:?}|{third:?}|{fourth:?}|{flag}|{times:?}"
            ));
        }
    }
    out
}

async fn workload(commands: &Commands) {
    create_spa(commands, "app-1", "Photos").await;
    create_spa(commands, "app-2", "Notes").await;
    create_user(commands, "user-1", "alice").await;
    create_user(commands, "user-2", "bob").await;
    let rename = ApplicationCommand::Update(ApplicationChanges {
        name: Some("Photo Library".into()),
        description: Some(String::new()),
        ..Default::default()
    });
    commands.application("app-1", rename, &ctx()).await.unwrap();
    commands
        .application("app-2", ApplicationCommand::Delete, &ctx())
        .await
        .unwrap();
    commands
        .user("user-1", UserCommand::Suspend, &ctx())
        .await
        .unwrap();
    let email = UserCommand::Update(UserChanges {
        primary_email: Some("robert@example.com".into()),
        ..Default::default()
    });
    commands.user("user-2", email, &ctx()).await.unwrap();
}

#[tokio::test]
async fn read_models_follow_commands_and_rebuild_to_the_same_rows() {
    for db in TestDatabase::all().await {
        let commands = Commands::new(&db.store);
        workload(&commands).await;
        let last = db.store.last_position().await.unwrap();
        for runner in runners(&db.store) {
            assert_eq!(runner.catch_up_to(last, FRONTIER_WAIT).await.unwrap(), last);
        }
        let live = rows(&db.store).await;
        assert_eq!(live.len(), 3, "{live:?}");
        assert!(
            live[0].starts_with("app-1|Some(\"Photo Library\")|None|Some(\"SPA\")|false"),
            "{}",
            live[0]
        );
        assert!(
            live[1].starts_with(
                "user-1|Some(\"alice\")|Some(\"alice@example.com\")|Some(\"ALICE\")|true"
            ),
            "{}",
            live[1]
        );
        assert!(live[2].contains("robert@example.com"), "{}", live[2]);

        for runner in runners(&db.store) {
            runner.reset().await.unwrap();
            assert_eq!(runner.position().await.unwrap(), 0);
        }
        assert!(rows(&db.store).await.is_empty());
        for runner in runners(&db.store) {
            runner.catch_up_to(last, FRONTIER_WAIT).await.unwrap();
        }
        assert_eq!(rows(&db.store).await, live, "{:?}", db.backend());
    }
}

/// The server runs every read model in one group: one read of the log, one transaction per
/// batch. Each member still moves from its own checkpoint, so a member rebuilt alone is
/// replayed from the start while the others are not fed the same events twice.
#[tokio::test]
async fn a_group_feeds_each_member_from_its_own_checkpoint() {
    for db in TestDatabase::all().await {
        let commands = Commands::new(&db.store);
        workload(&commands).await;
        let last = db.store.last_position().await.unwrap();
        let group = ProjectionRunner::group(db.store.clone(), "all", sigil_projections::all());
        assert_eq!(group.catch_up_to(last, FRONTIER_WAIT).await.unwrap(), last);
        let live = rows(&db.store).await;
        assert_eq!(live.len(), 3, "{live:?}");
        for runner in runners(&db.store) {
            assert_eq!(runner.position().await.unwrap(), last, "{}", runner.name());
        }

        let users = ProjectionRunner::new(db.store.clone(), Arc::new(UsersView));
        users.reset().await.unwrap();
        assert_eq!(group.position().await.unwrap(), 0);
        assert_eq!(
            rows(&db.store).await.len(),
            1,
            "only the application is left"
        );
        // Applications would fail on a second insert of the same row if fed again.
        assert_eq!(group.catch_up_to(last, FRONTIER_WAIT).await.unwrap(), last);
        assert_eq!(rows(&db.store).await, live, "{:?}", db.backend());
        assert_eq!(users.position().await.unwrap(), last);
    }
}

/// Writes one row per event into `test_rows`, and fails on a payload that says "poison".
struct Recorder {
    poison: bool,
}

#[async_trait]
impl Projection for Recorder {
    fn name(&self) -> &'static str {
        "recorder"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["test_rows"]
    }

    async fn apply(
        &self,
        tx: &mut AnyConnection,
        event: &StoredEvent,
    ) -> Result<(), ProjectionError> {
        sqlx::query("INSERT INTO test_rows (position) VALUES ($1)")
            .bind(event.position)
            .execute(&mut *tx)
            .await?;
        if self.poison && event.payload.contains("poison") {
            return Err(ProjectionError::Unreadable {
                projection: "recorder",
                position: event.position,
                event_type: event.event_type.clone(),
                reason: "poisoned".into(),
            });
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_failed_batch_leaves_neither_rows_nor_checkpoint_behind() {
    for db in TestDatabase::all().await {
        db.execute("CREATE TABLE test_rows (position BIGINT NOT NULL)")
            .await
            .unwrap();
        db.store
            .append(&[
                event("thing", "a", 1, "{}"),
                event("thing", "a", 2, "{}"),
                event("thing", "a", 3, r#"{"x":"poison"}"#),
            ])
            .await
            .unwrap();
        let failing = ProjectionRunner::new(db.store.clone(), Arc::new(Recorder { poison: true }));
        assert!(db.store.wait_until_safe(3, FRONTIER_WAIT).await.unwrap());
        let err = failing.catch_up().await.unwrap_err();
        assert!(err.to_string().contains("poisoned"), "{err}");
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM test_rows")
            .fetch_one(db.store.pool())
            .await
            .unwrap();
        assert_eq!(
            count,
            0,
            "{:?}: rows of a failed batch were kept",
            db.backend()
        );
        assert_eq!(failing.position().await.unwrap(), 0);

        // Once the read model can handle the event, it resumes where it stood: each event once.
        let fixed = ProjectionRunner::new(db.store.clone(), Arc::new(Recorder { poison: false }));
        assert_eq!(fixed.catch_up().await.unwrap(), 3);
        assert_eq!(fixed.catch_up().await.unwrap(), 3);
        let positions: Vec<i64> =
            sqlx::query_scalar("SELECT position FROM test_rows ORDER BY position")
                .fetch_all(db.store.pool())
                .await
                .unwrap();
        assert_eq!(positions, vec![1, 2, 3]);
    }
}

#[tokio::test]
async fn a_running_projection_wakes_on_another_nodes_append() {
    for db in TestDatabase::all().await {
        let node_a = db.connect_again().await;
        let node_b = db.connect_again().await;
        let runner = ProjectionRunner::new(node_b.clone(), Arc::new(UsersView));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(runner.clone().run(stopped));

        create_user(&Commands::new(&node_a), "user-9", "carol").await;
        let last = node_a.last_position().await.unwrap();
        let mut reached = false;
        for _ in 0..100 {
            if runner.position().await.unwrap() >= last {
                reached = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(reached, "{:?}: the runner did not catch up", db.backend());
        stop.send(true).unwrap();
        task.await.unwrap();
    }
}

#[tokio::test]
async fn on_postgres_one_runner_per_projection_leads() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let a = ProjectionRunner::new(db.connect_again().await, Arc::new(UsersView));
    let b = ProjectionRunner::new(db.connect_again().await, Arc::new(UsersView));
    let lead = a.try_lead().await.unwrap().expect("first runner leads");
    assert!(b.try_lead().await.unwrap().is_none(), "two leaders at once");
    drop(lead);
    let mut b_leads = false;
    for _ in 0..50 {
        if b.try_lead().await.unwrap().is_some() {
            b_leads = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(b_leads, "the lock was not released with its leader");
    assert_eq!(db.backend(), Backend::Postgres);
}

/// Commands racing on one aggregate: every success is in the log once, every loser gets a
/// conflict it can report or retry, and the stream has no duplicate sequence.
#[tokio::test]
async fn racing_commands_conflict_instead_of_overwriting() {
    for db in TestDatabase::all().await {
        create_user(&Commands::new(&db.store), "user-1", "alice").await;
        let mut tasks = Vec::new();
        for i in 0..6 {
            let commands = Commands::new(&db.connect_again().await);
            tasks.push(tokio::spawn(async move {
                let change = UserCommand::Update(UserChanges {
                    name: Some(format!("Alice {i}")),
                    ..Default::default()
                });
                commands.user("user-1", change, &ctx()).await
            }));
        }
        let mut successes = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(()) => successes += 1,
                Err(CommandError::Conflict) => {}
                Err(e) => panic!("{:?}: unexpected {e}", db.backend()),
            }
        }
        assert!(successes >= 1);
        let stream = db.store.stream("user", "user-1", 0).await.unwrap();
        let sequences: Vec<i64> = stream.iter().map(|e| e.sequence).collect();
        assert_eq!(
            sequences,
            (1..=1 + successes).collect::<Vec<_>>(),
            "{:?}",
            db.backend()
        );
        let metadata = stream[1].metadata();
        assert_eq!(metadata.actor.as_deref(), Some("test"));
    }
}

/// Analytics sums each batch in memory and writes it with a few statements: a log replayed
/// one event per batch, four per batch (so that a later batch adds sums above one to rows
/// an earlier one wrote) and all in one batch must give the same rows, and the hand-counted
/// ones. Small batches also make a revocation look its consent up in the table.
#[tokio::test]
async fn analytics_sums_a_batch_as_it_counts_one_event_at_a_time() {
    use cqrs_es::DomainEvent;
    use sigil_domain::access_token::{AccessTokenEvent, GrantType, IssueAccessToken};
    use sigil_domain::consent::ConsentEvent;
    use sigil_domain::session::{RecordSignInFailure, SessionEvent, SignInAttemptEvent};
    use sigil_projections::{AnalyticsView, HOUR_MICROS};

    const T0: i64 = 1_700_000_000_000_000;
    fn at<E: DomainEvent>(kind: &str, id: &str, seq: i64, e: &E, t: i64) -> NewEvent {
        NewEvent {
            event_type: e.event_type(),
            occurred_at: t,
            ..event(kind, id, seq, &serde_json::to_string(e).unwrap())
        }
    }
    let signed_in = |user: &str, client: &str| SessionEvent::UserSignedIn {
        user_id: user.into(),
        token_digest: "0".repeat(64),
        auth_time: 0,
        method: "password".into(),
        client_id: Some(client.into()),
        connector_id: None,
    };
    let token = |grant, subject: Option<&str>, client: &str| {
        AccessTokenEvent::AccessTokenIssued(IssueAccessToken {
            grant_type: grant,
            client_id: client.into(),
            subject: subject.map(Into::into),
            scope: vec![],
            audience: None,
            organization_id: None,
            token_digest: "0".repeat(64),
            issued_at: 0,
            expires_at: 0,
        })
    };
    let granted = |user: &str, client: &str| ConsentEvent::ConsentGranted {
        user_id: user.into(),
        client_id: client.into(),
        scopes: vec!["openid".into()],
    };
    let failed = SignInAttemptEvent::SignInFailed(RecordSignInFailure {
        user_id: Some("u1".into()),
        client_id: Some("app-a".into()),
        reason: "wrong_password".into(),
    });
    let log = [
        at("sign_in_attempt", "f1", 1, &failed, T0),
        at("session", "s1", 1, &signed_in("u1", "app-a"), T0 + 1),
        at(
            "access_token",
            "t1",
            1,
            &token(GrantType::AuthorizationCode, Some("u1"), "app-a"),
            T0 + 2,
        ),
        at(
            "access_token",
            "t2",
            1,
            &token(GrantType::RefreshToken, Some("u1"), "app-a"),
            T0 + HOUR_MICROS,
        ),
        at(
            "session",
            "s2",
            1,
            &signed_in("u2", "app-a"),
            T0 + HOUR_MICROS + 1,
        ),
        at(
            "access_token",
            "t3",
            1,
            &token(GrantType::ClientCredentials, None, "app-b"),
            T0 + 3,
        ),
        at("consent", "u1:app-b", 1, &granted("u1", "app-b"), T0 + 4),
        at(
            "consent",
            "u1:app-b",
            2,
            &ConsentEvent::ConsentRevoked,
            T0 + 5,
        ),
        at("consent", "u1:app-b", 3, &granted("u1", "app-b"), T0 + 6),
        at(
            "consent",
            "u1:app-b",
            4,
            &ConsentEvent::ConsentRevoked,
            T0 + 7,
        ),
        at("consent", "u2:app-b", 1, &granted("u2", "app-b"), T0 + 8),
    ];
    for db in TestDatabase::all().await {
        db.store.append(&log).await.unwrap();
        let mut seen = Vec::new();
        for batch in [1, 4, 500] {
            let runner =
                ProjectionRunner::new(db.store.clone(), Arc::new(AnalyticsView)).with_batch(batch);
            runner.reset().await.unwrap();
            sigil_tests::caught_up(&runner, &db.store).await;
            seen.push(
                table_rows(
                    &db.store,
                    &[
                        (
                            "rm_app_access",
                            &["application_id", "bucket", "metric", "count"],
                        ),
                        (
                            "rm_app_access_users",
                            &["application_id", "granularity", "bucket", "user_id"],
                        ),
                        (
                            "rm_user_app_access",
                            &[
                                "user_id",
                                "application_id",
                                "first_access",
                                "last_access",
                                "sign_ins",
                                "tokens_issued",
                            ],
                        ),
                        (
                            "rm_analytics_consents",
                            &["consent_id", "application_id", "user_id"],
                        ),
                    ],
                )
                .await,
            );
        }
        assert_eq!(seen[0], seen[1], "{:?}", db.backend());
        assert_eq!(seen[0], seen[2], "{:?}", db.backend());
        let hour = T0.div_euclid(HOUR_MICROS) * HOUR_MICROS;
        let rows = &seen[2];
        for expected in [
            format!("app-a|{hour}|sign_ins|1"),
            format!("app-a|{}|sign_ins|1", hour + HOUR_MICROS),
            format!("app-a|{hour}|failed_sign_ins|1"),
            format!("app-b|{hour}|consents_granted|3"),
            format!("app-b|{hour}|consents_revoked|2"),
            format!("app-b|{hour}|tokens_issued:client_credentials|1"),
            format!("u1|app-a|{}|{}|1|2", T0 + 1, T0 + HOUR_MICROS),
            "u1:app-b|app-b|u1".to_owned(),
        ] {
            assert!(rows.contains(&expected), "{expected} not in {rows:#?}");
        }
        // Two users in app-a's day, each counted once; one in each of its two hours but u1's
        // first hour holds u1 only.
        assert_eq!(
            rows.iter().filter(|r| r.starts_with("app-a|d|")).count(),
            2,
            "{rows:#?}"
        );
        assert_eq!(
            rows.iter().filter(|r| r.starts_with("app-a|h|")).count(),
            3,
            "{rows:#?}"
        );
    }
}

/// Every row of `tables`, each as its columns joined by `|`, sorted.
async fn table_rows(store: &EventStore, tables: &[(&str, &[&str])]) -> Vec<String> {
    let mut out = Vec::new();
    for (table, columns) in tables {
        let text = columns
            .iter()
            .map(|c| format!("COALESCE(CAST({c} AS TEXT), '-')"))
            .collect::<Vec<_>>()
            .join(" || '|' || ");
        let sql = format!("SELECT {text} FROM {table}");
        for row in sqlx::query(&sql).fetch_all(store.pool()).await.unwrap() {
            out.push(row.get::<String, _>(0));
        }
    }
    out.sort();
    out
}

/// On PostgreSQL the read models have connections of their own: with every connection of
/// the shared pool held by requests, a runner still catches up instead of queueing.
#[tokio::test]
async fn a_runner_catches_up_while_requests_hold_every_shared_connection() {
    for db in TestDatabase::all().await {
        if db.backend() != Backend::Postgres {
            continue;
        }
        create_user(&Commands::new(&db.store), "user-1", "alice").await;
        let last = db.store.last_position().await.unwrap();
        let mut held = Vec::new();
        while let Ok(Ok(conn)) =
            tokio::time::timeout(Duration::from_millis(200), db.store.pool().acquire()).await
        {
            held.push(conn);
        }
        assert!(!held.is_empty());
        let runner = ProjectionRunner::new(db.store.clone(), Arc::new(UsersView));
        let reached = tokio::time::timeout(
            Duration::from_secs(5),
            runner.catch_up_to(last, FRONTIER_WAIT),
        )
        .await
        .expect("the runner must not wait for the shared pool")
        .unwrap();
        assert_eq!(reached, last);
        drop(held);
    }
}

/// A rebuild that stops between setting the indexes aside and building them (the CLI killed,
/// the machine lost) leaves their definitions behind; the server builds them as it starts.
#[tokio::test]
async fn the_indexes_a_stopped_rebuild_left_are_built_when_the_server_starts() {
    for db in TestDatabase::all().await {
        let audit = ProjectionRunner::new(db.store.clone(), Arc::new(AuditView));
        let tables = AuditView.tables();
        let schema = sigil_tests::secondary_indexes(&db.store, tables).await;
        assert_eq!(schema.len(), 4, "{schema:?}");
        audit.begin_rebuild().await.unwrap();
        // A second attempt finds no index to set aside and keeps the first one's definitions.
        audit.begin_rebuild().await.unwrap();
        assert!(
            sigil_tests::secondary_indexes(&db.store, tables)
                .await
                .is_empty()
        );

        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let running = tokio::spawn(audit.clone().run(shutdown));
        let deadline = std::time::Instant::now() + FRONTIER_WAIT;
        while sigil_tests::secondary_indexes(&db.store, tables).await != schema
            && std::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop.send(true).unwrap();
        running.await.unwrap();
        assert_eq!(
            sigil_tests::secondary_indexes(&db.store, tables).await,
            schema,
            "{:?}",
            db.backend()
        );
        assert_eq!(
            audit.build_indexes().await.unwrap(),
            0,
            "nothing is left to build"
        );
    }
}
