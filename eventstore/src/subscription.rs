//! Reading the log in position order without ever skipping a late commit.
//!
//! On PostgreSQL, positions come from a sequence when a row is inserted, but transactions
//! commit in any order: position 11 can be visible while position 10 is still in flight. A
//! reader that delivered 11 and moved its checkpoint past 10 would lose 10 forever. So readers
//! only go up to the *safe frontier*: a position F such that every position at or below F is
//! either visible or will never exist.
//!
//! How F is found (docs/decisions/0003-subscription-frontier.md has the argument):
//! 1. Every append transaction takes its transaction id before drawing a position.
//! 2. A reader reads the sequence's last value L, then takes and commits an xid R of its own,
//!    then takes a snapshot S. Any position <= L was drawn before L was read, by a
//!    transaction whose xid is below R. Because R has completed, S's xmax (one past the
//!    latest *completed* xid) is above R, so that transaction has either finished (and is
//!    visible to later reads if it committed) or is listed in S's in-progress xids. Without
//!    R it could be running at or above xmax and appear in no list at all.
//! 3. So L becomes safe as soon as every id in that list has finished. Readers keep
//!    `(L, in-progress ids)` candidates and promote them when a later snapshot shows those
//!    ids done. Writers never wait for readers.
//!
//! A task holding an open [`crate::AppendTx`] must not wait on the frontier: its own xid is
//! in every snapshot's list until it commits.
//!
//! On SQLite there is one writer at a time and positions are assigned under its lock, so
//! commits happen in position order and the highest visible position is always safe.

use std::collections::VecDeque;
use std::pin::Pin;
use std::time::Duration;

use futures::Stream;
use futures::future::BoxFuture;
use sqlx::{AnyConnection, AnyPool, Connection};

use crate::StoreError;
use crate::db::Backend;
use crate::event::StoredEvent;
use crate::store::{EVENT_COLUMNS, EventStore, stored_event_from_row};

/// How long a subscriber waits for a wake-up before looking anyway.
const FALLBACK_POLL: Duration = Duration::from_millis(500);

/// A PostgreSQL snapshot as `pg_current_snapshot()::text` prints it: `xmin:xmax:xip,...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Snapshot {
    xmin: u64,
    xmax: u64,
    in_progress: Vec<u64>,
}

impl Snapshot {
    pub(crate) fn parse(text: &str) -> Option<Snapshot> {
        let mut parts = text.splitn(3, ':');
        let xmin = parts.next()?.parse().ok()?;
        let xmax = parts.next()?.parse().ok()?;
        let list = parts.next()?;
        let in_progress = if list.is_empty() {
            Vec::new()
        } else {
            list.split(',')
                .map(|x| x.parse().ok())
                .collect::<Option<_>>()?
        };
        Some(Snapshot {
            xmin,
            xmax,
            in_progress,
        })
    }

    /// [`Snapshot::parse`], as the store's error when PostgreSQL printed something else.
    fn read(text: &str) -> Result<Snapshot, StoreError> {
        Snapshot::parse(text)
            .ok_or_else(|| StoreError::InvalidEvent(format!("unreadable snapshot {text:?}")))
    }

    /// Whether transaction `xid` may still be running as of this snapshot.
    fn may_be_running(&self, xid: u64) -> bool {
        xid >= self.xmax || (xid >= self.xmin && self.in_progress.contains(&xid))
    }
}

/// The safe frontier and the candidates waiting to become safe.
#[derive(Debug, Default)]
pub(crate) struct Frontier {
    safe: i64,
    pending: VecDeque<(i64, Vec<u64>)>,
}

impl Frontier {
    /// Feeds one observation: `allocated` (the sequence value read first) and the snapshot
    /// taken after it. Returns the safe frontier.
    pub(crate) fn observe(&mut self, allocated: i64, snapshot: &Snapshot) -> i64 {
        let newer = self.pending.back().map_or(self.safe, |(l, _)| *l);
        if allocated > newer {
            self.pending
                .push_back((allocated, snapshot.in_progress.clone()));
        }
        self.settle(snapshot)
    }

    /// Feeds a snapshot alone: it can only promote candidates, since only the three-step
    /// observation names a position. Any snapshot will do: one older than a candidate's
    /// still shows that candidate's transactions as running.
    pub(crate) fn settle(&mut self, snapshot: &Snapshot) -> i64 {
        // The newest candidate whose transactions have all finished makes every older one moot.
        let done = self
            .pending
            .iter()
            .rposition(|(_, xids)| xids.iter().all(|x| !snapshot.may_be_running(*x)));
        if let Some(i) = done {
            self.safe = self.safe.max(self.pending[i].0);
            self.pending.drain(..=i);
        }
        self.safe
    }
}

/// Reads the sequence, commits an xid of our own, then takes the snapshot: three steps, in
/// this order, on one connection (see the module comment). Boxed so that the stream built on
/// it stays provably `Send`.
fn observe_postgres(pool: &AnyPool) -> BoxFuture<'_, Result<(i64, String), StoreError>> {
    Box::pin(async move {
        let mut conn = pool.acquire().await?;
        let allocated: i64 = sqlx::query_scalar(
            "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM events_position_seq",
        )
        .fetch_one(&mut *conn)
        .await?;
        let mut own = conn.begin().await?;
        // It writes nothing, so its commit need not wait for a WAL flush.
        sqlx::query("SET LOCAL synchronous_commit TO off")
            .execute(&mut *own)
            .await?;
        sqlx::query("SELECT pg_current_xact_id()::text")
            .execute(&mut *own)
            .await?;
        own.commit().await?;
        let snapshot: String = sqlx::query_scalar("SELECT pg_current_snapshot()::text")
            .fetch_one(&mut *conn)
            .await?;
        Ok((allocated, snapshot))
    })
}

fn current_snapshot(pool: &AnyPool) -> BoxFuture<'_, Result<Snapshot, StoreError>> {
    Box::pin(async move {
        let text: String = sqlx::query_scalar("SELECT pg_current_snapshot()::text")
            .fetch_one(pool)
            .await?;
        Snapshot::read(&text)
    })
}

/// Up to `limit` events after position `after` and up to `through`, in position order, on
/// `conn` (a read model's transaction reads the batch it applies on its own connection).
pub async fn read_range_on(
    conn: &mut AnyConnection,
    after: i64,
    through: i64,
    limit: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    if Backend::of(conn) == Backend::Sqlite {
        return read_range_sqlite(conn, after, through, limit).await;
    }
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE position > $1 AND position <= $2 \
         ORDER BY position LIMIT $3"
    );
    let rows = sqlx::query(&sql)
        .bind(after)
        .bind(through)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(stored_event_from_row).collect()
}

/// One event as [`read_range_sqlite`] gets it: the columns in order, the hash in hex.
type EventTuple = (
    i64,
    String,
    String,
    i64,
    String,
    String,
    String,
    String,
    i64,
    String,
);

/// [`read_range_on`] on SQLite, as one row. sqlx's SQLite driver hands each row of a result
/// from its connection thread to the reading task, a thread wake-up per row, and copies every
/// column into the Any driver's values: reading a batch was the larger part of a rebuild.
/// SQLite packs the batch into one JSON array instead, which serde_json reads at once.
async fn read_range_sqlite(
    conn: &mut AnyConnection,
    after: i64,
    through: i64,
    limit: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let packed: String = sqlx::query_scalar(
        "SELECT json_group_array(json_array(position, aggregate_type, aggregate_id, sequence, \
         event_type, event_version, payload, metadata, occurred_at, hex(hash)) ORDER BY position) \
         FROM (SELECT * FROM events WHERE position > ? AND position <= ? ORDER BY position LIMIT ?)",
    )
    .bind(after)
    .bind(through)
    .bind(limit)
    .fetch_one(&mut *conn)
    .await?;
    let corrupt = |position, reason: String| StoreError::Corrupt { position, reason };
    let rows: Vec<EventTuple> =
        serde_json::from_str(&packed).map_err(|e| corrupt(after + 1, e.to_string()))?;
    rows.into_iter()
        .map(|row| {
            let position = row.0;
            let mut hash = [0u8; 32];
            hex::decode_to_slice(&row.9, &mut hash)
                .map_err(|_| corrupt(position, "hash is not 32 bytes".into()))?;
            Ok(StoredEvent {
                position,
                aggregate_type: row.1,
                aggregate_id: row.2,
                sequence: row.3,
                event_type: row.4,
                event_version: row.5,
                payload: row.6,
                metadata: row.7,
                occurred_at: row.8,
                hash,
            })
        })
        .collect()
}

impl EventStore {
    /// The highest position up to which the log can be read without missing a late commit.
    pub async fn safe_position(&self) -> Result<i64, StoreError> {
        self.safe_position_on(self.pool()).await
    }

    /// [`EventStore::safe_position`], observed on the read models' own connections.
    pub async fn read_model_frontier(&self) -> Result<i64, StoreError> {
        self.safe_position_on(self.read_model_pool()).await
    }

    /// [`EventStore::read_model_frontier`], waiting up to `settle` for the appends in flight
    /// when it looked to finish. Under steady load a look always finds some, and the position
    /// it read waits for them: a later snapshot, taken once they are done (a commit's flush,
    /// a few milliseconds), makes it safe now rather than at the next look, a runner cycle
    /// later. SQLite has nothing in flight to wait for.
    pub async fn read_model_frontier_settled(&self, settle: Duration) -> Result<i64, StoreError> {
        let pool = self.read_model_pool();
        let (allocated, mut safe) = self.observe(pool).await?;
        let deadline = tokio::time::Instant::now() + settle;
        while safe < allocated && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(1)).await;
            let snapshot = current_snapshot(pool).await?;
            safe = self.frontier().settle(&snapshot);
        }
        Ok(safe)
    }

    async fn safe_position_on(&self, pool: &AnyPool) -> Result<i64, StoreError> {
        Ok(self.observe(pool).await?.1)
    }

    /// One look at the log: the highest position allocated and the safe frontier.
    async fn observe(&self, pool: &AnyPool) -> Result<(i64, i64), StoreError> {
        match self.backend() {
            Backend::Sqlite => {
                let last =
                    sqlx::query_scalar::<_, i64>("SELECT COALESCE(MAX(position), 0) FROM events")
                        .fetch_one(pool)
                        .await?;
                Ok((last, last))
            }
            Backend::Postgres => {
                let (allocated, text) = observe_postgres(pool).await?;
                let snapshot = Snapshot::read(&text)?;
                Ok((allocated, self.frontier().observe(allocated, &snapshot)))
            }
        }
    }

    fn frontier(&self) -> std::sync::MutexGuard<'_, Frontier> {
        self.inner
            .frontier
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Up to `limit` events after position `after`, in position order, never past the safe
    /// frontier.
    pub async fn read_after(&self, after: i64, limit: i64) -> Result<Vec<StoredEvent>, StoreError> {
        let frontier = self.safe_position().await?;
        if frontier <= after {
            return Ok(Vec::new());
        }
        self.read_range(after, frontier, limit).await
    }

    /// Events with `after < position <= through`, in position order (no frontier check: for
    /// ranges already known to be safe, such as a checkpoint's).
    pub async fn read_range(
        &self,
        after: i64,
        through: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        read_range_on(&mut conn, after, through, limit).await
    }

    /// The streams of `types` that moved after position `after`, up to the safe frontier,
    /// and that frontier: what an in-memory copy of those streams must forget.
    pub async fn streams_moved(
        &self,
        after: i64,
        types: &[&str],
    ) -> Result<(i64, Vec<(String, String)>), StoreError> {
        let frontier = self.safe_position().await?;
        if frontier <= after || types.is_empty() {
            return Ok((frontier.max(after), Vec::new()));
        }
        let sql = format!(
            "SELECT DISTINCT aggregate_type, aggregate_id FROM events \
             WHERE position > $1 AND position <= $2 AND aggregate_type IN ({})",
            crate::db::placeholders(3, types.len())
        );
        let mut query = sqlx::query_as::<_, (String, String)>(&sql)
            .bind(after)
            .bind(frontier);
        for t in types {
            query = query.bind(*t);
        }
        Ok((frontier, query.fetch_all(self.pool()).await?))
    }

    /// Waits until the safe frontier reaches `position` (a caller that must read its own
    /// write through a read model waits for this first). False if `timeout` passes first.
    pub async fn wait_until_safe(
        &self,
        position: i64,
        timeout: Duration,
    ) -> Result<bool, StoreError> {
        self.wait_until_safe_on(self.pool(), position, timeout)
            .await
    }

    /// [`EventStore::wait_until_safe`] by the read models' frontier
    /// ([`EventStore::read_model_frontier`]), on their own connections.
    pub async fn wait_until_read_model_safe(
        &self,
        position: i64,
        timeout: Duration,
    ) -> Result<bool, StoreError> {
        self.wait_until_safe_on(self.read_model_pool(), position, timeout)
            .await
    }

    async fn wait_until_safe_on(
        &self,
        pool: &AnyPool,
        position: i64,
        timeout: Duration,
    ) -> Result<bool, StoreError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.safe_position_on(pool).await? >= position {
                return Ok(true);
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until something may have been appended, or the fallback poll interval passes.
    pub async fn wait_for_append(&self, seen: &mut tokio::sync::watch::Receiver<i64>) {
        let _ = tokio::time::timeout(FALLBACK_POLL, seen.changed()).await;
    }

    /// Every event after position `after`, in position order: first the catch-up, then live
    /// as events are appended. The stream ends only when it yields an error.
    pub fn subscribe(
        &self,
        after: i64,
    ) -> Pin<Box<dyn Stream<Item = Result<StoredEvent, StoreError>> + Send>> {
        struct State {
            store: EventStore,
            after: i64,
            buffer: VecDeque<StoredEvent>,
            wake: tokio::sync::watch::Receiver<i64>,
            failed: bool,
        }
        let state = State {
            wake: self.appended(),
            store: self.clone(),
            after,
            buffer: VecDeque::new(),
            failed: false,
        };
        Box::pin(futures::stream::unfold(state, |mut s| async move {
            if s.failed {
                return None;
            }
            loop {
                if let Some(event) = s.buffer.pop_front() {
                    s.after = event.position;
                    return Some((Ok(event), s));
                }
                s.wake.borrow_and_update();
                match s.store.read_after(s.after, 512).await {
                    Ok(batch) if batch.is_empty() => s.store.wait_for_append(&mut s.wake).await,
                    Ok(batch) => s.buffer.extend(batch),
                    Err(e) => {
                        s.failed = true;
                        return Some((Err(e), s));
                    }
                }
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(text: &str) -> Snapshot {
        Snapshot::parse(text).unwrap()
    }

    #[test]
    fn parses_snapshots() {
        assert_eq!(
            snap("10:15:10,12"),
            Snapshot {
                xmin: 10,
                xmax: 15,
                in_progress: vec![10, 12]
            }
        );
        assert_eq!(snap("7:7:").in_progress, Vec::<u64>::new());
        assert!(Snapshot::parse("garbage").is_none());
    }

    #[test]
    fn nothing_in_flight_means_the_allocated_position_is_safe() {
        let mut f = Frontier::default();
        assert_eq!(f.observe(5, &snap("100:100:")), 5);
    }

    #[test]
    fn a_position_waits_for_the_transactions_in_flight_when_it_was_seen() {
        let mut f = Frontier::default();
        // Transaction 100 holds some position <= 11 and has not committed.
        assert_eq!(f.observe(11, &snap("100:102:100")), 0);
        // Still running: still not safe, even though more was allocated since.
        assert_eq!(f.observe(12, &snap("100:103:100,102")), 0);
        // 100 finished; 102 (seen with 12) still runs: 11 is safe, 12 is not.
        assert_eq!(f.observe(12, &snap("102:104:102")), 11);
        // 102 finished too.
        assert_eq!(f.observe(12, &snap("104:104:")), 12);
    }

    #[test]
    fn a_later_snapshot_promotes_a_candidate_but_adds_none() {
        let mut f = Frontier::default();
        assert_eq!(f.observe(11, &snap("100:102:100")), 0);
        // 100 still runs.
        assert_eq!(f.settle(&snap("100:103:100,102")), 0);
        assert_eq!(f.settle(&snap("102:104:102")), 11);
        // Nothing waits now, and a snapshot alone names no position.
        assert_eq!(f.settle(&snap("104:104:")), 11);
        assert!(f.pending.is_empty());
    }

    #[test]
    fn the_frontier_never_moves_backwards() {
        let mut f = Frontier::default();
        assert_eq!(f.observe(9, &snap("50:50:")), 9);
        assert_eq!(f.observe(3, &snap("50:50:")), 9);
    }

    #[test]
    fn an_older_snapshot_observed_late_cannot_promote_a_newer_candidate_wrongly() {
        let mut f = Frontier::default();
        assert_eq!(f.observe(20, &snap("200:205:200,203")), 0);
        // A snapshot taken earlier (xmax 201) knows nothing of 203: it may be running.
        assert_eq!(f.observe(15, &snap("201:201:")), 0);
    }
}
