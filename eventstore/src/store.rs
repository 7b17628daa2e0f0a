//! The event store: append events atomically, read streams, and tell subscribers that
//! something was appended (in-process through a watch channel, across nodes through
//! PostgreSQL LISTEN/NOTIFY).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, AnyPool, Row, Transaction};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::StoreError;
use crate::db::{Backend, Pools, value_groups};
use crate::event::{NewEvent, StoredEvent};
use crate::hash::{GENESIS, event_hash};
use crate::subscription::Frontier;

/// The PostgreSQL channel that carries "something was appended up to position N".
pub(crate) const NOTIFY_CHANNEL: &str = "sigil_events";

pub(crate) const EVENT_COLUMNS: &str = "position, aggregate_type, aggregate_id, sequence, \
     event_type, event_version, payload, metadata, occurred_at, hash";

/// A handle to the log; cheap to clone.
#[derive(Clone)]
pub struct EventStore {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub pools: Pools,
    /// The highest position this process knows was appended (a wake-up hint, not a frontier).
    pub appended: watch::Sender<i64>,
    pub frontier: Mutex<Frontier>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in self
            .tasks
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default()
        {
            task.abort();
        }
    }
}

impl EventStore {
    /// Connects and applies pending migrations.
    pub async fn open(url: &str) -> Result<EventStore, StoreError> {
        let store = EventStore::connect(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Connects without migrating (readiness checks report what is missing).
    pub async fn connect(url: &str) -> Result<EventStore, StoreError> {
        let pools = Pools::connect(url).await?;
        let (appended, _) = watch::channel(0);
        let store = EventStore {
            inner: Arc::new(Inner {
                pools,
                appended,
                frontier: Mutex::new(Frontier::default()),
                tasks: Mutex::new(Vec::new()),
            }),
        };
        if store.backend() == Backend::Postgres {
            store.start_cross_node_wakeups();
        }
        Ok(store)
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.inner.pools.migrate().await
    }

    /// Fails when the database breaks an assumption the log relies on.
    pub async fn check_invariants(&self) -> Result<(), StoreError> {
        self.inner.pools.check_invariants().await
    }

    pub async fn migrations_applied(&self) -> Result<bool, StoreError> {
        self.inner.pools.migrations_applied().await
    }

    /// A round trip to the database.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.inner.pools.read)
            .await?;
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.inner.pools.backend
    }

    pub fn url(&self) -> &str {
        &self.inner.pools.url
    }

    /// The pool for read models and other tables beside the log.
    pub fn pool(&self) -> &AnyPool {
        &self.inner.pools.read
    }

    /// Wake-ups: changes whenever this process appends or hears of another node's append.
    /// The connections the read-model runners read the log and their checkpoints with.
    pub fn read_model_pool(&self) -> &AnyPool {
        &self.inner.pools.read_models
    }

    pub fn appended(&self) -> watch::Receiver<i64> {
        self.inner.appended.subscribe()
    }

    pub async fn close(&self) {
        self.inner.pools.read.close().await;
        self.inner.pools.write.close().await;
        self.inner.pools.read_models.close().await;
    }

    /// Starts a transaction that appends events and may write lookup tables beside them;
    /// nothing is visible until [`AppendTx::commit`]. Do not wait on the subscription
    /// frontier (`read_after`, `subscribe`, projections) while holding one: on PostgreSQL
    /// the frontier waits for this very transaction.
    pub async fn begin(&self) -> Result<AppendTx, StoreError> {
        let tx = match self.backend() {
            Backend::Postgres => {
                let mut tx = self.inner.pools.write.begin().await?;
                // Take a transaction id before any position is drawn from the sequence: the
                // subscription frontier relies on "xid assigned before position" (see
                // subscription.rs).
                sqlx::query("SELECT pg_current_xact_id()::text")
                    .execute(&mut *tx)
                    .await?;
                tx
            }
            // IMMEDIATE takes the write lock up front, so the read of a stream's last hash
            // and the insert that follows cannot be split by another process's write.
            Backend::Sqlite => self.inner.pools.write.begin_with("BEGIN IMMEDIATE").await?,
        };
        Ok(AppendTx {
            store: self.clone(),
            tx,
            heads: HashMap::new(),
            journal: Vec::new(),
            last_position: None,
        })
    }

    /// A transaction for read-model writes. On SQLite it runs on the single writer connection
    /// with the write lock taken up front, so it never fails to upgrade a read lock.
    pub async fn begin_read_model_tx(&self) -> Result<Transaction<'static, Any>, StoreError> {
        Ok(match self.backend() {
            Backend::Postgres => self.inner.pools.read_models.begin().await?,
            Backend::Sqlite => self.inner.pools.write.begin_with("BEGIN IMMEDIATE").await?,
        })
    }

    /// Appends events atomically: all of them or none.
    pub async fn append(&self, events: &[NewEvent]) -> Result<Vec<StoredEvent>, StoreError> {
        let mut tx = self.begin().await?;
        let stored = tx.append(events).await?;
        tx.commit().await?;
        Ok(stored)
    }

    /// One stream's events in sequence order, read from the log itself (strongly consistent).
    pub async fn stream(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        after_sequence: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events \
             WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence > $3 ORDER BY sequence"
        );
        let rows = sqlx::query(&sql)
            .bind(aggregate_type)
            .bind(aggregate_id)
            .bind(after_sequence)
            .fetch_all(&self.inner.pools.read)
            .await?;
        rows.iter().map(stored_event_from_row).collect()
    }

    /// The highest position in the log (whether or not it is safe to deliver yet).
    pub async fn last_position(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar::<_, i64>("SELECT COALESCE(MAX(position), 0) FROM events")
                .fetch_one(&self.inner.pools.read)
                .await?,
        )
    }

    pub(crate) fn note_appended(&self, position: i64) {
        self.inner.appended.send_if_modified(|seen| {
            let newer = position > *seen;
            if newer {
                *seen = position;
            }
            newer
        });
    }

    /// On PostgreSQL: tell other nodes about our appends and listen for theirs. NOTIFY is
    /// sent outside the append transaction, coalesced, so commits never queue behind the
    /// cluster-wide notify lock.
    fn start_cross_node_wakeups(&self) {
        let url = self.inner.pools.url.clone();
        let weak = Arc::downgrade(&self.inner);
        let listener = tokio::spawn(async move {
            loop {
                match sqlx::postgres::PgListener::connect(&url).await {
                    Ok(mut listener) => {
                        if listener.listen(NOTIFY_CHANNEL).await.is_ok() {
                            while let Ok(n) = listener.recv().await {
                                let Some(inner) = weak.upgrade() else { return };
                                if let Ok(position) = n.payload().parse::<i64>() {
                                    EventStore { inner }.note_appended(position);
                                }
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "LISTEN connection failed; retrying"),
                }
                if weak.strong_count() == 0 {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });

        let mut local = self.inner.appended.subscribe();
        let pool = self.inner.pools.read.clone();
        let notifier = tokio::spawn(async move {
            let mut sent = 0;
            while local.changed().await.is_ok() {
                let position = *local.borrow_and_update();
                if position <= sent {
                    continue;
                }
                let notified = sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(NOTIFY_CHANNEL)
                    .bind(position.to_string())
                    .execute(&pool)
                    .await;
                match notified {
                    Ok(_) => sent = position,
                    Err(e) => tracing::warn!(error = %e, "NOTIFY failed"),
                }
            }
        });
        if let Ok(mut tasks) = self.inner.tasks.lock() {
            tasks.push(listener);
            tasks.push(notifier);
        }
    }
}

/// A point inside an [`AppendTx`] to undo to ([`AppendTx::savepoint`]).
pub struct Savepoint {
    /// How long the heads' undo journal was.
    journal: usize,
    last_position: Option<i64>,
}

type StreamKey = (String, String);
type Head = (i64, [u8; 32]);

/// An open append transaction.
pub struct AppendTx {
    store: EventStore,
    tx: Transaction<'static, Any>,
    /// Last (sequence, hash) of each stream appended to in this transaction.
    heads: HashMap<StreamKey, Head>,
    /// What each change to `heads` replaced, in order: a savepoint rolls back by undoing
    /// its tail instead of keeping a copy of every head.
    journal: Vec<(StreamKey, Option<Head>)>,
    last_position: Option<i64>,
}

impl AppendTx {
    /// The transaction's connection, to write lookup tables atomically with the events.
    pub fn connection(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }

    /// Appends events; each stream's sequence must continue where the stream ends.
    pub async fn append(&mut self, events: &[NewEvent]) -> Result<Vec<StoredEvent>, StoreError> {
        let refs: Vec<&NewEvent> = events.iter().collect();
        let placed = self.append_all(&refs).await?;
        Ok(events
            .iter()
            .zip(placed)
            .map(|(event, (position, hash))| event.clone().into_stored(position, hash))
            .collect())
    }

    /// [`AppendTx::append`] for events gathered from several commands, without copying them
    /// back: returns each event's position and hash, in order. The events go in a few
    /// multi-row statements, not one each (on SQLite each statement is a hand-off to the
    /// writer's thread, on PostgreSQL a round trip).
    pub async fn append_all(
        &mut self,
        events: &[&NewEvent],
    ) -> Result<Vec<(i64, [u8; 32])>, StoreError> {
        // Each event's hash chains to its predecessor, which may be in this very call.
        let mut staged: HashMap<StreamKey, Head> = HashMap::new();
        let mut hashes = Vec::with_capacity(events.len());
        for event in events {
            validate(event)?;
            let key = (event.aggregate_type.clone(), event.aggregate_id.clone());
            let previous = match staged.get(&key).or_else(|| self.heads.get(&key)) {
                Some(head) => follow(head, event)?,
                None => self.previous_hash(event).await?,
            };
            let hash = event_hash(&previous, event);
            staged.insert(key, (event.sequence, hash));
            hashes.push(hash);
        }
        let backend = Backend::of(&self.tx);
        let mut positions = Vec::with_capacity(events.len());
        for (chunk, hashes) in events
            .chunks(EVENTS_PER_STATEMENT)
            .zip(hashes.chunks(EVENTS_PER_STATEMENT))
        {
            let sql = format!(
                "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, \
                 event_version, payload, metadata, occurred_at, hash) VALUES {} RETURNING position",
                value_groups(chunk.len(), 9)
            );
            let sql = backend.parameters(&sql);
            let mut insert = sqlx::query_scalar::<_, i64>(&sql);
            for (event, hash) in chunk.iter().zip(hashes) {
                insert = insert
                    .bind(&event.aggregate_type)
                    .bind(&event.aggregate_id)
                    .bind(event.sequence)
                    .bind(&event.event_type)
                    .bind(&event.event_version)
                    .bind(&event.payload)
                    .bind(&event.metadata)
                    .bind(event.occurred_at)
                    .bind(hash.to_vec());
            }
            let inserted = match insert.fetch_all(&mut *self.tx).await {
                Ok(inserted) => inserted,
                // A unique violation in a multi-row statement does not say which row: the
                // first event of the statement stands for it.
                Err(sqlx::Error::Database(e))
                    if e.kind() == sqlx::error::ErrorKind::UniqueViolation =>
                {
                    return Err(conflict(chunk[0]));
                }
                Err(e) => return Err(e.into()),
            };
            // Both backends number the rows of one INSERT in the order of its VALUES; the
            // log's order within a stream rests on it, so it is checked, not assumed.
            let ordered = inserted.windows(2).all(|w| w[0] < w[1]);
            if inserted.len() != chunk.len() || !ordered {
                return Err(StoreError::Misconfigured(format!(
                    "an insert of {} events returned positions {inserted:?}",
                    chunk.len()
                )));
            }
            positions.extend(inserted);
        }
        for (event, hash) in events.iter().zip(&hashes) {
            let key = (event.aggregate_type.clone(), event.aggregate_id.clone());
            let replaced = self.heads.insert(key.clone(), (event.sequence, *hash));
            self.journal.push((key, replaced));
        }
        if let Some(last) = positions.last() {
            self.last_position = Some(self.last_position.map_or(*last, |p| p.max(*last)));
        }
        Ok(positions.into_iter().zip(hashes).collect())
    }

    /// The hash of the stored event `event` follows, for a stream this transaction has not
    /// appended to yet.
    async fn previous_hash(&mut self, event: &NewEvent) -> Result<[u8; 32], StoreError> {
        if event.sequence == 1 {
            return Ok(GENESIS);
        }
        let previous: Option<Vec<u8>> = sqlx::query_scalar(
            "SELECT hash FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = $3",
        )
        .bind(&event.aggregate_type)
        .bind(&event.aggregate_id)
        .bind(event.sequence - 1)
        .fetch_optional(&mut *self.tx)
        .await?;
        let previous = previous.ok_or_else(|| gap(event))?;
        previous.try_into().map_err(|_| StoreError::Corrupt {
            position: 0,
            reason: format!(
                "hash of {} {} sequence {} is not 32 bytes",
                event.aggregate_type,
                event.aggregate_id,
                event.sequence - 1
            ),
        })
    }

    /// Marks a point that a failed part of the transaction can be undone to, leaving the
    /// rest (group commit: one command's conflict must not fail the others in its batch).
    /// Savepoints are never released: the commit keeps them all, and on SQLite's single
    /// writer a `RELEASE` per command would be one more statement, one more hand-off to the
    /// connection's thread.
    pub async fn savepoint(&mut self) -> Result<Savepoint, StoreError> {
        sqlx::query("SAVEPOINT part").execute(&mut *self.tx).await?;
        Ok(Savepoint {
            journal: self.journal.len(),
            last_position: self.last_position,
        })
    }

    /// Undoes everything since `savepoint` (the latest one), in the database and in the
    /// stream heads kept here.
    pub async fn rollback_to(&mut self, savepoint: Savepoint) -> Result<(), StoreError> {
        sqlx::query("ROLLBACK TO SAVEPOINT part")
            .execute(&mut *self.tx)
            .await?;
        for (key, replaced) in self.journal.drain(savepoint.journal..).rev() {
            match replaced {
                Some(head) => self.heads.insert(key, head),
                None => self.heads.remove(&key),
            };
        }
        self.last_position = savepoint.last_position;
        Ok(())
    }

    /// Undoes the whole transaction.
    pub async fn rollback(self) -> Result<(), StoreError> {
        Ok(self.tx.rollback().await?)
    }

    /// Commits; then wakes local subscribers (and, through the notifier, other nodes).
    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
        if let Some(position) = self.last_position {
            self.store.note_appended(position);
        }
        Ok(())
    }
}

/// Rows per multi-row insert into the log (nine parameters each).
const EVENTS_PER_STATEMENT: usize = 25;

/// The hash `event` chains to, when its stream's head is known here.
fn follow(&(sequence, hash): &Head, event: &NewEvent) -> Result<[u8; 32], StoreError> {
    if sequence + 1 == event.sequence {
        Ok(hash)
    } else if event.sequence <= sequence {
        // Another command in this transaction took that place first.
        Err(conflict(event))
    } else {
        Err(gap(event))
    }
}

fn validate(event: &NewEvent) -> Result<(), StoreError> {
    if event.sequence < 1 {
        return Err(StoreError::InvalidEvent(format!(
            "sequence {} of {} {} is below 1",
            event.sequence, event.aggregate_type, event.aggregate_id
        )));
    }
    if event.aggregate_type.is_empty()
        || event.aggregate_id.is_empty()
        || event.event_type.is_empty()
    {
        return Err(StoreError::InvalidEvent(
            "aggregate type, aggregate id and event type must not be empty".into(),
        ));
    }
    Ok(())
}

fn conflict(event: &NewEvent) -> StoreError {
    StoreError::Conflict {
        aggregate_type: event.aggregate_type.clone(),
        aggregate_id: event.aggregate_id.clone(),
        sequence: event.sequence,
    }
}

fn gap(event: &NewEvent) -> StoreError {
    StoreError::SequenceGap {
        aggregate_type: event.aggregate_type.clone(),
        aggregate_id: event.aggregate_id.clone(),
        sequence: event.sequence,
    }
}

pub(crate) fn stored_event_from_row(row: &AnyRow) -> Result<StoredEvent, StoreError> {
    let position: i64 = row.try_get("position")?;
    let hash: Vec<u8> = row.try_get("hash")?;
    let hash: [u8; 32] = hash.try_into().map_err(|_| StoreError::Corrupt {
        position,
        reason: "hash is not 32 bytes".into(),
    })?;
    Ok(StoredEvent {
        position,
        aggregate_type: row.try_get("aggregate_type")?,
        aggregate_id: row.try_get("aggregate_id")?,
        sequence: row.try_get("sequence")?,
        event_type: row.try_get("event_type")?,
        event_version: row.try_get("event_version")?,
        payload: row.try_get("payload")?,
        metadata: row.try_get("metadata")?,
        occurred_at: row.try_get("occurred_at")?,
        hash,
    })
}

/// Reads a boolean column on either backend: PostgreSQL `BOOLEAN`, SQLite `INTEGER` 0/1.
pub fn row_bool(row: &AnyRow, column: &str) -> Result<bool, sqlx::Error> {
    match row.try_get::<bool, _>(column) {
        Ok(b) => Ok(b),
        Err(_) => Ok(row.try_get::<i64, _>(column)? != 0),
    }
}
