//! The log's guarantees, each on SQLite and on PostgreSQL: atomic appends, optimistic
//! concurrency under real races, append-only enforced by the database, tamper evidence, and
//! subscriptions that never skip a late commit.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use sigil_eventstore::{AppendTx, Backend, EventStore, SigningKey, StoreError};
use sigil_tests::{FRONTIER_WAIT, TestDatabase, checkpoint_now, event};
use tokio::sync::Barrier;

fn checkpoint_key() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

#[tokio::test]
async fn append_is_atomic_and_streams_read_back_in_order() {
    for db in TestDatabase::all().await {
        let store = &db.store;
        let stored = store
            .append(&[
                event("user", "u1", 1, r#"{"n":1}"#),
                event("user", "u1", 2, r#"{"n":2}"#),
            ])
            .await
            .unwrap();
        assert!(stored[0].position < stored[1].position);

        // The second event collides with an existing sequence: neither is written.
        let err = store
            .append(&[event("user", "u2", 1, "{}"), event("user", "u1", 2, "{}")])
            .await
            .unwrap_err();
        assert!(err.is_conflict(), "{:?}: {err}", db.backend());
        assert!(store.stream("user", "u2", 0).await.unwrap().is_empty());

        let u1 = store.stream("user", "u1", 0).await.unwrap();
        assert_eq!(
            u1.iter().map(|e| e.sequence).collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert_eq!(u1[1].payload, r#"{"n":2}"#);
        assert_eq!(store.stream("user", "u1", 1).await.unwrap().len(), 1);

        // A sequence that skips ahead is refused, not silently stored.
        let err = store
            .append(&[event("user", "u1", 4, "{}")])
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::SequenceGap { .. }), "{err}");
    }
}

/// A long append goes in several multi-row statements: each event still gets its place in
/// the order given, and each stream's chain continues across the statements.
#[tokio::test]
async fn a_long_append_keeps_its_order_across_statements() {
    for db in TestDatabase::all().await {
        let store = &db.store;
        store
            .append(&[event("user", "old", 1, "{}")])
            .await
            .unwrap();
        // Three streams interleaved, one of them continuing what is stored already.
        let events: Vec<_> = (0..90)
            .map(|i| {
                let (id, sequence) = match i % 3 {
                    0 => ("a", i / 3 + 1),
                    1 => ("b", i / 3 + 1),
                    _ => ("old", i / 3 + 2),
                };
                event("user", id, sequence, &format!(r#"{{"i":{i}}}"#))
            })
            .collect();
        let stored = store.append(&events).await.unwrap();
        assert!(stored.windows(2).all(|w| w[0].position < w[1].position));
        for (given, stored) in events.iter().zip(&stored) {
            assert_eq!(
                (&given.aggregate_id, given.sequence, &given.payload),
                (&stored.aggregate_id, stored.sequence, &stored.payload)
            );
        }
        let old = store.stream("user", "old", 0).await.unwrap();
        assert_eq!(old.len(), 31, "{:?}", db.backend());
        checkpoint_now(store, &checkpoint_key(), 1_000).await;
        let report = store
            .verify(&checkpoint_key().verifying_key())
            .await
            .unwrap();
        assert!(report.ok(), "{report:?}");

        // A conflict anywhere in a long append writes none of it.
        let mut clash: Vec<_> = (1..=40).map(|s| event("user", "c", s, "{}")).collect();
        clash.push(event("user", "a", 5, "{}"));
        assert!(store.append(&clash).await.unwrap_err().is_conflict());
        assert!(store.stream("user", "c", 0).await.unwrap().is_empty());
    }
}

/// Group commit undoes one command to its savepoint: its rows go, and so do the stream
/// heads it moved, so the next command in the transaction continues each stream from where
/// the kept commands left it. Savepoints are never released; the commit keeps what is left.
#[tokio::test]
async fn rolling_back_to_a_savepoint_restores_the_stream_heads() {
    for db in TestDatabase::all().await {
        let mut tx = db.store.begin().await.unwrap();
        tx.savepoint().await.unwrap();
        tx.append(&[event("user", "kept", 1, "{}")]).await.unwrap();
        let undone = tx.savepoint().await.unwrap();
        tx.append(&[
            event("user", "kept", 2, "{}"),
            event("user", "gone", 1, "{}"),
        ])
        .await
        .unwrap();
        tx.rollback_to(undone).await.unwrap();
        // Sequence 2 of `kept` is free again, and `gone` starts over.
        tx.savepoint().await.unwrap();
        tx.append(&[event("user", "kept", 2, r#"{"again":true}"#)])
            .await
            .unwrap();
        tx.append(&[event("user", "gone", 1, "{}")]).await.unwrap();
        let gap = tx
            .append(&[event("user", "kept", 4, "{}")])
            .await
            .unwrap_err();
        assert!(matches!(gap, StoreError::SequenceGap { .. }), "{gap}");
        tx.commit().await.unwrap();
        let kept = db.store.stream("user", "kept", 0).await.unwrap();
        assert_eq!(kept.len(), 2, "{:?}", db.backend());
        assert_eq!(kept[1].payload, r#"{"again":true}"#);
        assert_eq!(db.store.stream("user", "gone", 0).await.unwrap().len(), 1);
        let key = SigningKey::from_bytes(&[3; 32]);
        let report = db.store.verify(&key.verifying_key()).await.unwrap();
        assert!(report.ok(), "{report:?}");
    }
}

#[tokio::test]
async fn racing_appends_to_one_stream_let_exactly_one_win() {
    for db in TestDatabase::all().await {
        db.store
            .append(&[event("code", "c1", 1, "{}")])
            .await
            .unwrap();
        // Separate connections, as separate requests or nodes would have, released together.
        let racers = 6;
        let barrier = Arc::new(Barrier::new(racers));
        let mut tasks = Vec::new();
        for i in 0..racers {
            let store = db.connect_again().await;
            let barrier = barrier.clone();
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                store
                    .append(&[event("code", "c1", 2, &format!(r#"{{"racer":{i}}}"#))])
                    .await
            }));
        }
        let mut wins = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(_) => wins += 1,
                Err(e) => assert!(e.is_conflict(), "{:?}: unexpected {e}", db.backend()),
            }
        }
        assert_eq!(wins, 1, "{:?}", db.backend());
        assert_eq!(db.store.stream("code", "c1", 0).await.unwrap().len(), 2);
    }
}

#[tokio::test]
async fn the_database_rejects_update_and_delete_on_the_log() {
    for db in TestDatabase::all().await {
        db.store
            .append(&[event("user", "u1", 1, "{}")])
            .await
            .unwrap();
        for sql in [
            "UPDATE events SET payload = '{\"x\":1}'",
            "DELETE FROM events",
            "UPDATE event_checkpoints SET event_count = 0",
            "DELETE FROM event_checkpoints",
        ] {
            let err = db.execute(sql).await;
            if sql.contains("checkpoints") {
                // No rows to touch: the statement is allowed to do nothing.
                assert!(matches!(err, Ok(0)), "{sql}: {err:?}");
                continue;
            }
            let err = err.expect_err(sql);
            assert!(err.to_string().contains("append-only"), "{sql}: {err}");
        }
        checkpoint_now(&db.store, &checkpoint_key(), 100).await;
        for sql in [
            "UPDATE event_checkpoints SET event_count = 0",
            "DELETE FROM event_checkpoints",
        ] {
            let err = db.execute(sql).await.expect_err(sql);
            assert!(err.to_string().contains("append-only"), "{sql}: {err}");
        }
        if db.backend() == Backend::Postgres {
            let err = db.execute("TRUNCATE events").await.expect_err("truncate");
            assert!(err.to_string().contains("append-only"), "{err}");
        }
        assert_eq!(db.store.stream("user", "u1", 0).await.unwrap().len(), 1);
    }
}

/// Lifts the append-only guard, as an attacker with database access could.
async fn disable_guard(db: &TestDatabase) {
    let sql = match db.backend() {
        Backend::Postgres => "ALTER TABLE events DISABLE TRIGGER USER",
        Backend::Sqlite => "DROP TRIGGER events_no_update; DROP TRIGGER events_no_delete",
    };
    db.execute(sql).await.unwrap();
}

/// Three streams with a few events each; returns the store with a checkpoint over them.
async fn workload(db: &TestDatabase) {
    for (stream, n) in [("a", 3), ("b", 2), ("c", 3)] {
        for seq in 1..=n {
            db.store
                .append(&[event("thing", stream, seq, &format!(r#"{{"seq":{seq}}}"#))])
                .await
                .unwrap();
        }
    }
}

/// The workload, a checkpoint over it, and the guard lifted: ready to be tampered with.
async fn checkpointed_and_unguarded(db: &TestDatabase) -> SigningKey {
    let key = checkpoint_key();
    workload(db).await;
    checkpoint_now(&db.store, &key, 100).await;
    disable_guard(db).await;
    key
}

async fn position_of(db: &TestDatabase, stream: &str, seq: i64) -> i64 {
    db.store.stream("thing", stream, seq - 1).await.unwrap()[0].position
}

#[tokio::test]
async fn an_untouched_log_verifies_and_checkpoints_chain() {
    for db in TestDatabase::all().await {
        let key = checkpoint_key();
        workload(&db).await;
        let first = checkpoint_now(&db.store, &key, 5).await;
        assert_eq!(first.body.event_count, 5);
        let second = checkpoint_now(&db.store, &key, 100).await;
        assert_eq!(second.body.after_position, first.body.through_position);
        assert_eq!(second.body.previous_hash, first.hash);
        assert!(
            db.store
                .write_checkpoint(&key, 100, 3)
                .await
                .unwrap()
                .is_none()
        );

        let report = db.store.verify(&key.verifying_key()).await.unwrap();
        assert!(report.ok(), "{:?}: {report:?}", db.backend());
        assert_eq!(
            (report.events, report.streams, report.checkpoints),
            (8, 3, 2)
        );
        assert_eq!(report.verified_through, second.body.through_position);

        // Someone else's key did not sign these checkpoints.
        let stranger = SigningKey::from_bytes(&[9; 32]).verifying_key();
        let report = db.store.verify(&stranger).await.unwrap();
        assert_eq!(report.first_bad.unwrap().position, 1);
    }
}

#[tokio::test]
async fn verify_names_an_edited_event() {
    for db in TestDatabase::all().await {
        let key = checkpointed_and_unguarded(&db).await;
        let target = position_of(&db, "b", 2).await;
        let sql = format!("UPDATE events SET payload = '{{\"seq\":99}}' WHERE position = {target}");
        assert_eq!(db.execute(&sql).await.unwrap(), 1);
        let report = db.store.verify(&key.verifying_key()).await.unwrap();
        let bad = report.first_bad.expect("tampering must be found");
        assert_eq!(bad.position, target, "{:?}: {}", db.backend(), bad.reason);
        assert!(bad.reason.contains("edited"), "{}", bad.reason);
    }
}

/// Deleting an event inside a stream leaves a gap its chain names precisely, even inside a
/// checkpointed range (whose digest alone could only name the range's start).
#[tokio::test]
async fn verify_names_a_deleted_event_inside_a_stream() {
    for db in TestDatabase::all().await {
        let key = checkpointed_and_unguarded(&db).await;
        let deleted = position_of(&db, "a", 2).await;
        let follower = position_of(&db, "a", 3).await;
        let sql = format!("DELETE FROM events WHERE position = {deleted}");
        assert_eq!(db.execute(&sql).await.unwrap(), 1);
        let report = db.store.verify(&key.verifying_key()).await.unwrap();
        let bad = report.first_bad.expect("deletion must be found");
        assert_eq!(bad.position, follower, "{:?}: {}", db.backend(), bad.reason);
    }
}

/// Deleting a stream's last event leaves no gap in its chain: only the checkpoint knows.
#[tokio::test]
async fn checkpoints_catch_a_deleted_stream_tail() {
    for db in TestDatabase::all().await {
        let key = checkpointed_and_unguarded(&db).await;
        let tail = position_of(&db, "c", 3).await;
        let sql = format!("DELETE FROM events WHERE position = {tail}");
        assert_eq!(db.execute(&sql).await.unwrap(), 1);
        let report = db.store.verify(&key.verifying_key()).await.unwrap();
        let bad = report.first_bad.expect("tail deletion must be found");
        assert_eq!(bad.position, 1, "{:?}: {}", db.backend(), bad.reason);
        assert!(bad.reason.contains("checkpoint 1"), "{}", bad.reason);
    }
}

/// Moving an event to another position keeps every stream chain intact.
#[tokio::test]
async fn checkpoints_catch_moved_events() {
    for db in TestDatabase::all().await {
        let key = checkpointed_and_unguarded(&db).await;
        let moved = position_of(&db, "a", 1).await;
        let sql = format!("UPDATE events SET position = 1000 WHERE position = {moved}");
        assert_eq!(db.execute(&sql).await.unwrap(), 1);
        let report = db.store.verify(&key.verifying_key()).await.unwrap();
        let bad = report.first_bad.expect("reordering must be found");
        assert!(
            bad.reason.contains("checkpoint 1"),
            "{:?}: {}",
            db.backend(),
            bad.reason
        );
    }
}

#[tokio::test]
async fn subscription_catches_up_then_goes_live_in_position_order() {
    for db in TestDatabase::all().await {
        workload(&db).await;
        let mut sub = db.store.subscribe(2);
        let mut seen = Vec::new();
        for _ in 0..6 {
            seen.push(next(&mut sub).await.position);
        }
        assert_eq!(seen, (3..=8).collect::<Vec<_>>());
        // Live: an append from another connection (another node) arrives.
        let other = db.connect_again().await;
        other.append(&[event("thing", "d", 1, "{}")]).await.unwrap();
        assert_eq!(next(&mut sub).await.aggregate_id, "d");
    }
}

async fn next(
    sub: &mut (impl futures::Stream<Item = Result<sigil_eventstore::StoredEvent, StoreError>> + Unpin),
) -> sigil_eventstore::StoredEvent {
    tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .expect("an event within 10 s")
        .expect("stream open")
        .expect("no error")
}

/// The race that made another event-sourced provider skip events for years: a transaction
/// draws position 1, another draws position 2 and commits first. A reader must not deliver 2
/// (and move its checkpoint past 1) before 1 has committed.
#[tokio::test]
async fn a_late_commit_with_a_lower_position_is_never_skipped() {
    for db in TestDatabase::all().await {
        let mut slow = db.store.begin().await.unwrap();
        let early = slow
            .append(&[event("thing", "slow", 1, "{}")])
            .await
            .unwrap();

        let other = db.connect_again().await;
        let fast =
            tokio::spawn(async move { other.append(&[event("thing", "fast", 1, "{}")]).await });
        if db.backend() == Backend::Postgres {
            // On PostgreSQL the fast transaction really commits first, with the higher position.
            let fast = fast.await.unwrap().unwrap();
            assert!(fast[0].position > early[0].position);
            assert_eq!(db.store.last_position().await.unwrap(), fast[0].position);
        }

        let mut sub = db.store.subscribe(0);
        let premature = tokio::time::timeout(Duration::from_millis(1500), sub.next()).await;
        assert!(
            premature.is_err(),
            "{:?}: delivered {premature:?} before the lower position committed",
            db.backend()
        );
        assert!(db.store.read_after(0, 10).await.unwrap().is_empty());

        slow.commit().await.unwrap();
        let first = next(&mut sub).await;
        let second = next(&mut sub).await;
        assert_eq!(
            (first.aggregate_id.as_str(), second.aggregate_id.as_str()),
            ("slow", "fast")
        );
        assert!(first.position < second.position);
    }
}

/// Many writers, commits in random order, one reader: it sees every event exactly once, in
/// position order.
#[tokio::test]
async fn concurrent_writers_and_a_live_reader_lose_nothing() {
    for db in TestDatabase::all().await {
        let writers = 8;
        let per_writer = 25;
        let mut sub = db.store.subscribe(0);
        let mut tasks = Vec::new();
        for w in 0..writers {
            let store: EventStore = db.connect_again().await;
            tasks.push(tokio::spawn(async move {
                for seq in 1..=per_writer {
                    let mut tx = store.begin().await.unwrap();
                    tx.append(&[event("writer", &w.to_string(), seq, "{}")])
                        .await
                        .unwrap();
                    // Hold some transactions open so commits overtake one another.
                    if (seq + w) % 3 == 0 {
                        tokio::time::sleep(Duration::from_millis(((seq * 7 + w) % 5) as u64)).await;
                    }
                    tx.commit().await.unwrap();
                }
            }));
        }
        let mut positions = Vec::new();
        while positions.len() < (writers * per_writer) as usize {
            positions.push(next(&mut sub).await.position);
        }
        for task in tasks {
            task.await.unwrap();
        }
        let mut sorted = positions.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(
            positions,
            sorted,
            "{:?}: out of order or repeated",
            db.backend()
        );
        let all: Vec<i64> = db
            .store
            .read_after(0, 10_000)
            .await
            .unwrap()
            .iter()
            .map(|e| e.position)
            .collect();
        assert_eq!(positions, all, "{:?}: something was skipped", db.backend());
    }
}

/// Wake-ups cross nodes through LISTEN/NOTIFY: node B's wake-up channel changes when node A
/// appends, which nothing but a notification can cause (B itself appended nothing).
#[tokio::test]
async fn another_nodes_append_wakes_this_node_through_notify() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let node_a = db.connect_again().await;
    let node_b = db.connect_again().await;
    let mut wake = node_b.appended();
    // B's LISTEN connection starts in the background: keep appending until one is heard.
    for seq in 1..=20 {
        let stored = node_a
            .append(&[event("thing", "x", seq, "{}")])
            .await
            .unwrap();
        if tokio::time::timeout(Duration::from_millis(500), wake.changed())
            .await
            .is_ok()
        {
            assert!(*wake.borrow() <= stored[0].position);
            assert!(*wake.borrow() > 0);
            return;
        }
    }
    panic!("node B never heard of node A's appends");
}

/// A snapshot's xmax is one past the latest *completed* xid, so a transaction running at or
/// above it is in no in-progress list. Here the lower position belongs to the higher xid,
/// and the transaction that committed the higher position completed last. Writer A runs on
/// its own runtime, blocked right after its commit, so that nothing of ours (its NOTIFY)
/// completes a newer xid before the reader looks: the reader must find the danger itself.
#[tokio::test]
async fn a_running_xid_above_the_snapshot_xmax_is_still_waited_for() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let b_store = db.connect_again().await;
    let reader = db.connect_again().await;
    let (to_main, from_a) = std::sync::mpsc::channel::<i64>();
    let (to_a, a_waits) = std::sync::mpsc::channel::<()>();
    let url = db.url.clone();
    let writer_a = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let a_store = EventStore::connect(&url).await.unwrap();
            let mut a = a_store.begin().await.unwrap(); // xid X
            to_main.send(0).unwrap();
            a_waits.recv().unwrap();
            let high = a.append(&[event("thing", "early", 1, "{}")]).await.unwrap()[0].position;
            a.commit().await.unwrap();
            to_main.send(high).unwrap();
            // Hold the runtime (and its notifier) still while the reader looks.
            a_waits.recv().unwrap();
        });
    });
    from_a.recv().unwrap();
    let mut b = b_store.begin().await.unwrap(); // xid X+1
    let low = b.append(&[event("thing", "late", 1, "{}")]).await.unwrap()[0].position;
    to_a.send(()).unwrap();
    let high = from_a.recv().unwrap();
    assert!(low < high);

    let frontier = reader.safe_position().await.unwrap();
    let early = reader.read_after(0, 10).await.unwrap();
    let checkpoint = reader
        .write_checkpoint(&checkpoint_key(), 100, 0)
        .await
        .unwrap();
    to_a.send(()).unwrap();
    writer_a.join().unwrap();
    assert!(
        frontier < low,
        "the frontier {frontier} passed uncommitted position {low}"
    );
    assert!(
        early.is_empty(),
        "delivered {early:?} while position {low} was uncommitted"
    );
    assert!(
        checkpoint.is_none(),
        "checkpointed over an uncommitted position"
    );

    b.commit().await.unwrap();
    // Other tests' transactions anywhere in the cluster may hold the frontier a moment longer.
    assert!(reader.wait_until_safe(high, FRONTIER_WAIT).await.unwrap());
    let all: Vec<i64> = reader
        .read_after(0, 10)
        .await
        .unwrap()
        .iter()
        .map(|e| e.position)
        .collect();
    assert_eq!(all, vec![low, high]);
    let report = reader
        .verify(&checkpoint_key().verifying_key())
        .await
        .unwrap();
    assert!(report.ok(), "{report:?}");
}

/// Under load every look at the frontier finds appends in flight. The read models' look waits
/// for those to finish, rather than leaving their events to its next cycle, and never
/// promotes one that has not.
#[tokio::test]
async fn the_read_models_frontier_waits_for_the_appends_in_flight() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let (in_flight, position) = append_left_open(&db.store, "in-flight").await;
    let store = db.store.clone();
    let look = tokio::spawn(async move { store.read_model_frontier_settled(FRONTIER_WAIT).await });
    // Long enough for the look to have found the append in flight.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !look.is_finished(),
        "the frontier was read without waiting for the append in flight"
    );
    in_flight.commit().await.unwrap();
    assert_eq!(look.await.unwrap().unwrap(), position);

    // A transaction that stays open is waited for only so long, and never passed.
    let (open, held) = append_left_open(&db.store, "open").await;
    let safe = db
        .store
        .read_model_frontier_settled(Duration::from_millis(50))
        .await
        .unwrap();
    assert!(
        safe < held,
        "the frontier {safe} passed uncommitted position {held}"
    );
    drop(open);
}

/// An event appended in a transaction that is not committed yet, and its position.
async fn append_left_open(store: &EventStore, id: &str) -> (AppendTx, i64) {
    let mut tx = store.begin().await.unwrap();
    let position = tx.append(&[event("thing", id, 1, "{}")]).await.unwrap()[0].position;
    (tx, position)
}

/// A cached sequence would hand out positions below the value a reader saw: refuse to run.
#[tokio::test]
async fn a_cached_position_sequence_is_refused() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    db.store.check_invariants().await.unwrap();
    db.execute("ALTER SEQUENCE events_position_seq CACHE 20")
        .await
        .unwrap();
    let err = db.store.check_invariants().await.unwrap_err();
    assert!(err.to_string().contains("CACHE 1"), "{err}");
    assert!(EventStore::open(&db.url).await.is_err());
}
