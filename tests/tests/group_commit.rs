//! Commands committing at the same moment share a transaction on SQLite (group commit),
//! yet each keeps its own all-or-nothing: a conflict or a failed lookup write in the batch
//! undoes that command alone. The same test runs on PostgreSQL, where each command has its
//! own transaction, so both paths answer alike.

use futures::future::join_all;
use sigil_api::commands::{CommandError, Commands, Index};
use sigil_domain::consent::{Consent, ConsentCommand, ConsentEvent};
use sigil_eventstore::sqlx;
use sigil_tests::{TestDatabase, ctx};

fn grant(user: &str) -> ConsentCommand {
    ConsentCommand::Grant {
        user_id: user.into(),
        client_id: "app".into(),
        scopes: vec!["openid".into()],
    }
}

fn no_lookup() -> Index<'static, ConsentEvent> {
    Box::new(|_, _| Box::pin(async { Ok(()) }))
}

/// A lookup write that fails, as a broken or refused one would.
fn failing_lookup() -> Index<'static, ConsentEvent> {
    Box::new(|conn, _| {
        Box::pin(async move {
            sqlx::query("INSERT INTO no_such_table VALUES (1)")
                .execute(conn)
                .await
                .map(drop)
        })
    })
}

async fn events_of(db: &TestDatabase, id: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE aggregate_id = $1")
        .bind(id)
        .fetch_one(db.store.pool())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_command_in_a_batch_undoes_only_itself() {
    for db in TestDatabase::all().await {
        let commands = Commands::new(&db.store);
        // Two decisions on one stream from the same state: both claim sequence 1.
        let loaded = commands.load::<Consent>("racer:app").await.unwrap();
        let (first, _) = commands
            .decide_loaded::<Consent>(
                "racer:app",
                loaded.clone(),
                grant("racer"),
                &ctx(),
                no_lookup(),
            )
            .await
            .unwrap();
        let (second, _) = commands
            .decide_loaded::<Consent>("racer:app", loaded, grant("racer"), &ctx(), no_lookup())
            .await
            .unwrap();
        let (broken, _) = commands
            .decide::<Consent>("broken:app", grant("broken"), &ctx(), failing_lookup())
            .await
            .unwrap();
        let mut decisions = vec![first, second, broken];
        for i in 0..40 {
            let id = format!("user{i}:app");
            let (decision, _) = commands
                .decide::<Consent>(&id, grant(&format!("user{i}")), &ctx(), no_lookup())
                .await
                .unwrap();
            decisions.push(decision);
        }
        let results = join_all(decisions.into_iter().map(|d| commands.commit(vec![d]))).await;

        let racers = &results[..2];
        assert_eq!(racers.iter().filter(|r| r.is_ok()).count(), 1, "{racers:?}");
        assert!(
            racers
                .iter()
                .any(|r| matches!(r, Err(CommandError::Conflict)))
        );
        assert_eq!(events_of(&db, "racer:app").await, 1);

        assert!(
            matches!(results[2], Err(CommandError::Store(_))),
            "{:?}",
            results[2]
        );
        assert_eq!(
            events_of(&db, "broken:app").await,
            0,
            "its events went with it"
        );

        assert!(results[3..].iter().all(Result::is_ok), "{results:?}");
        for i in 0..40 {
            assert_eq!(events_of(&db, &format!("user{i}:app")).await, 1);
        }
        // Nothing is half-written, and the hash chains verify.
        let key = sigil_eventstore::SigningKey::from_bytes(&[9; 32]);
        let report = db.store.verify(&key.verifying_key()).await.unwrap();
        assert!(report.ok(), "{report:?}");
    }
}

/// A command alone in its batch skips the savepoint; it must still write all or nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_alone_in_its_batch_still_writes_all_or_nothing() {
    for db in TestDatabase::all().await {
        let commands = Commands::new(&db.store);
        let (broken, _) = commands
            .decide::<Consent>("broken:app", grant("broken"), &ctx(), failing_lookup())
            .await
            .unwrap();
        let result = commands.commit(vec![broken]).await;
        assert!(matches!(result, Err(CommandError::Store(_))), "{result:?}");
        assert_eq!(events_of(&db, "broken:app").await, 0);

        let (fine, _) = commands
            .decide::<Consent>("fine:app", grant("fine"), &ctx(), no_lookup())
            .await
            .unwrap();
        commands.commit(vec![fine]).await.unwrap();
        assert_eq!(events_of(&db, "fine:app").await, 1);
    }
}
