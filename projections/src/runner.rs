//! Runs one projection: reads the log after its checkpoint (up to the store's safe frontier),
//! applies a batch and moves the checkpoint in one transaction, then waits for the next append.
//!
//! Several `sigil serve` processes on one PostgreSQL each start a runner per projection; a
//! session advisory lock lets exactly one of them work and the others stand by. Correctness
//! does not rest on the lock: each batch locks its checkpoint row (`FOR UPDATE`) before
//! reading it, so two writers (say a rebuild from the CLI and a server) serialise.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use sigil_eventstore::sqlx::{self, Any, AnyConnection, Connection, Transaction};
use sigil_eventstore::{Backend, EventStore, StoredEvent, placeholders, read_range_on};
use tokio::sync::watch;

use crate::{ProjectionError, indexes};

/// The transaction a projection writes its rows in.
pub type ProjectionTx = Transaction<'static, Any>;

/// A read model fed from the log.
#[async_trait]
pub trait Projection: Send + Sync {
    /// Stable name: the checkpoint key and the CLI's `projections rebuild NAME`.
    fn name(&self) -> &'static str;

    /// The tables this read model owns; a rebuild empties them. They are created by the
    /// migrations.
    fn tables(&self) -> &'static [&'static str];

    /// Applies one event. Must be idempotent with respect to the rows it writes for it only
    /// in the sense that the checkpoint makes each event arrive once per rebuild.
    async fn apply(
        &self,
        tx: &mut AnyConnection,
        event: &StoredEvent,
    ) -> Result<(), ProjectionError>;

    /// Applies a batch of events, in position order, with the same result as applying each
    /// in turn. A read model that writes a row per event overrides it to write them with
    /// few statements (a rebuild replays the whole log through here).
    async fn apply_batch(
        &self,
        tx: &mut AnyConnection,
        events: &[&StoredEvent],
    ) -> Result<(), ProjectionError> {
        for event in events {
            self.apply(tx, event).await?;
        }
        Ok(())
    }
}

/// Drives one [`Projection`], or several together ([`ProjectionRunner::group`]): a group
/// reads each batch of the log once and applies it to every member in one transaction, so
/// the read models cost one write transaction per batch, not one each.
#[derive(Clone)]
pub struct ProjectionRunner {
    store: EventStore,
    name: &'static str,
    projections: Vec<Arc<dyn Projection>>,
    batch: i64,
}

impl ProjectionRunner {
    pub fn new(store: EventStore, projection: Arc<dyn Projection>) -> Self {
        ProjectionRunner {
            store,
            name: projection.name(),
            projections: vec![projection],
            batch: 500,
        }
    }

    /// One runner for all of `projections`, named `name` (its lock's name). Each member keeps
    /// its own checkpoint, so a member rebuilt on its own catches up inside the group.
    pub fn group(
        store: EventStore,
        name: &'static str,
        projections: Vec<Arc<dyn Projection>>,
    ) -> Self {
        ProjectionRunner {
            store,
            name,
            projections,
            batch: 500,
        }
    }

    /// Reads at most `events` events per batch (500 unless told).
    pub fn with_batch(mut self, events: i64) -> Self {
        self.batch = events.max(1);
        self
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    fn names(&self) -> Vec<&'static str> {
        self.projections.iter().map(|p| p.name()).collect()
    }

    /// The position every read model of this runner has applied up to.
    pub async fn position(&self) -> Result<i64, ProjectionError> {
        let names = self.names();
        let sql = format!(
            "SELECT name, position FROM projection_checkpoints WHERE name IN ({})",
            placeholders(1, names.len())
        );
        let mut query = sqlx::query_as::<_, (String, i64)>(&sql);
        for name in &names {
            query = query.bind(*name);
        }
        let rows = query.fetch_all(self.store.read_model_pool()).await?;
        Ok(in_order(&names, &rows).into_iter().min().unwrap_or(0))
    }

    /// Applies one batch; returns how many events it read.
    pub async fn step(&self) -> Result<usize, ProjectionError> {
        Ok(self.step_with(&mut None, false).await?.0)
    }

    /// [`ProjectionRunner::step`], taking its events from `ahead` when they were read ahead
    /// from where the checkpoints are; with `read_ahead`, it leaves the next batch being read
    /// there while it applies this one, on a reader beside the write transaction.
    async fn step_with(
        &self,
        ahead: &mut Option<ReadAhead>,
        read_ahead: bool,
    ) -> Result<(usize, i64), ProjectionError> {
        // The frontier first: once this transaction writes it has a transaction id of its
        // own, and a frontier taken inside it would wait for itself.
        let frontier = self.store.read_model_frontier_settled(SETTLE).await?;
        let mut tx = self.store.begin_read_model_tx().await?;
        let names = self.names();
        let positions = lock_checkpoints(&mut tx, &names).await?;
        let from = positions.iter().copied().min().unwrap_or(0);
        if frontier <= from {
            return Ok((0, from));
        }
        let events = match ahead.take() {
            Some(read) => read.take(from).await,
            None => None,
        };
        let events = match events {
            Some(events) => events,
            None => read_range_on(&mut tx, from, frontier, self.batch).await?,
        };
        let Some(last) = events.last().map(|e| e.position) else {
            return Ok((0, from));
        };
        if read_ahead && events.len() >= self.batch_len() && last < frontier {
            *ahead = Some(ReadAhead::start(&self.store, last, frontier, self.batch));
        }
        // Read models own separate tables, so each may take its part of the batch in turn.
        for (projection, applied) in self.projections.iter().zip(&positions) {
            let part: Vec<&StoredEvent> = events.iter().filter(|e| e.position > *applied).collect();
            if !part.is_empty() {
                projection.apply_batch(&mut tx, &part).await?;
            }
        }
        let behind: Vec<&str> = names
            .iter()
            .zip(&positions)
            .filter(|(_, p)| **p < last)
            .map(|(n, _)| *n)
            .collect();
        let sql = format!(
            "UPDATE projection_checkpoints SET position = $1 WHERE name IN ({})",
            placeholders(2, behind.len())
        );
        let mut update = sqlx::query(&sql).bind(last);
        for name in behind {
            update = update.bind(name);
        }
        update.execute(&mut *tx).await?;
        tx.commit().await?;
        record_lag(self.name, &events);
        Ok((events.len(), last))
    }

    /// Applies batches until the read models reach the safe frontier; returns the position
    /// all of them have applied. While a batch is applied the next one is read.
    pub async fn catch_up(&self) -> Result<i64, ProjectionError> {
        self.catch_up_reporting(|_| {}).await
    }

    /// [`ProjectionRunner::catch_up`], telling `progress` the position after each batch.
    pub async fn catch_up_reporting(
        &self,
        mut progress: impl FnMut(i64),
    ) -> Result<i64, ProjectionError> {
        let mut ahead = None;
        // A batch shorter than the limit stopped at the frontier: asking again would cost a
        // write transaction (SQLite's single writer) and half a dozen round trips for nothing.
        let caught_up = loop {
            match self.step_with(&mut ahead, true).await {
                Ok((applied, through)) => {
                    progress(through);
                    if applied < self.batch_len() {
                        break Ok(());
                    }
                }
                Err(e) => break Err(e),
            }
        };
        if let Some(unused) = ahead {
            unused.cancel();
        }
        caught_up?;
        self.position().await
    }

    fn batch_len(&self) -> usize {
        usize::try_from(self.batch).unwrap_or(usize::MAX)
    }

    /// Catches up until the read models have applied `position`, waiting for the frontier
    /// if a transaction elsewhere holds it back. Returns the position reached (below
    /// `position` only if `timeout` passed first).
    pub async fn catch_up_to(
        &self,
        position: i64,
        timeout: Duration,
    ) -> Result<i64, ProjectionError> {
        self.store
            .wait_until_read_model_safe(position, timeout)
            .await?;
        self.catch_up().await
    }

    /// Empties the read models and moves their checkpoints back to the start of the log, in
    /// one transaction; the next steps replay everything.
    pub async fn reset(&self) -> Result<(), ProjectionError> {
        self.reset_with(false).await
    }

    /// [`ProjectionRunner::reset`] for a rebuild by this process: it also sets the tables'
    /// secondary indexes aside, for [`ProjectionRunner::build_indexes`] to build once the
    /// replay is done. Queries meanwhile read the tables without them.
    pub async fn begin_rebuild(&self) -> Result<(), ProjectionError> {
        self.reset_with(true).await
    }

    /// Builds the indexes a rebuild set aside, if any (a rebuild that finished, or one that
    /// stopped half way: the server calls it as it starts). Returns how many it built.
    pub async fn build_indexes(&self) -> Result<usize, ProjectionError> {
        let mut tx = self.store.begin_read_model_tx().await?;
        let mut built = 0;
        for projection in &self.projections {
            built += indexes::build(&mut tx, projection.tables()).await?;
        }
        tx.commit().await?;
        Ok(built)
    }

    async fn reset_with(&self, set_indexes_aside: bool) -> Result<(), ProjectionError> {
        let mut tx = self.store.begin_read_model_tx().await?;
        let names = self.names();
        lock_checkpoints(&mut tx, &names).await?;
        for projection in &self.projections {
            if set_indexes_aside {
                indexes::set_aside(&mut tx, projection.tables()).await?;
            }
            for table in projection.tables() {
                sqlx::query(&format!("DELETE FROM {table}"))
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let sql = format!(
            "UPDATE projection_checkpoints SET position = 0 WHERE name IN ({})",
            placeholders(1, names.len())
        );
        let mut update = sqlx::query(&sql);
        for name in names {
            update = update.bind(name);
        }
        update.execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Tries to become this projection's single active runner (PostgreSQL advisory lock, held
    /// by a dedicated connection for as long as it lives). SQLite serves one node: always yes.
    pub async fn try_lead(&self) -> Result<Option<Leadership>, ProjectionError> {
        if self.store.backend() == Backend::Sqlite {
            return Ok(Some(Leadership {
                connection: None,
                checked: Instant::now(),
            }));
        }
        let mut connection = AnyConnection::connect(self.store.url()).await?;
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(lock_key(self.name()))
            .fetch_one(&mut connection)
            .await?;
        Ok(locked.then_some(Leadership {
            connection: Some(connection),
            checked: Instant::now(),
        }))
    }

    /// Runs until `shutdown` turns true: leads when it can, catches up, waits for appends.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut wake = self.store.appended();
        let mut leadership = None;
        match self.build_indexes().await {
            Ok(0) => {}
            Ok(built) => tracing::info!(
                projection = self.name(),
                built,
                "built the indexes a rebuild left"
            ),
            Err(e) => {
                tracing::warn!(projection = self.name(), error = %e, "cannot build the indexes a rebuild left")
            }
        }
        while !*shutdown.borrow() {
            if leadership.is_none() {
                leadership = match self.try_lead().await {
                    Ok(lead) => lead,
                    Err(e) => {
                        tracing::warn!(projection = self.name(), error = %e, "cannot take the projection lock");
                        None
                    }
                };
            }
            let alive = match &mut leadership {
                Some(lead) => lead.alive().await,
                None => false,
            };
            let pause = if leadership.is_none() {
                Duration::from_secs(2)
            } else if !alive {
                leadership = None;
                Duration::from_millis(100)
            } else {
                let started = Instant::now();
                match self.catch_up().await {
                    Ok(position) => {
                        tracing::debug!(projection = self.name(), position, "caught up");
                        self.store.wait_for_append(&mut wake).await;
                        BATCH_WINDOW.saturating_sub(started.elapsed())
                    }
                    Err(e) => {
                        // Stop here rather than skip: a read model with a hole is worse than a
                        // stale one, and the error names the event.
                        tracing::error!(projection = self.name(), error = %e, "projection stalled");
                        Duration::from_secs(5)
                    }
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

/// The least time between two catch-ups under a steady flow of appends: each costs a write
/// transaction (on SQLite, the single writer that appends wait for), so the events of this
/// window share one. It bounds the added lag.
const BATCH_WINDOW: Duration = Duration::from_millis(50);

/// How long a step waits, at most, for the appends in flight when it read the frontier to
/// finish, so that it applies them now rather than a cycle later (PostgreSQL; see
/// [`EventStore::read_model_frontier_settled`]).
const SETTLE: Duration = Duration::from_millis(20);

/// Proof of being the active runner; dropping it releases the lock (the session ends).
pub struct Leadership {
    connection: Option<AnyConnection>,
    checked: Instant,
}

/// How often a leader checks that its lock's session still stands. Between checks a lost
/// lock costs nothing but duplicated effort: checkpoint rows serialise the writers.
const LEADERSHIP_CHECK: Duration = Duration::from_secs(1);

impl Leadership {
    async fn alive(&mut self) -> bool {
        let Some(c) = &mut self.connection else {
            return true;
        };
        if self.checked.elapsed() < LEADERSHIP_CHECK {
            return true;
        }
        self.checked = Instant::now();
        sqlx::query("SELECT 1").execute(c).await.is_ok()
    }
}

/// The next batch of the log, being read on a reader of its own while the current one is
/// applied: on SQLite reading and writing then take turns on two threads, not one.
struct ReadAhead {
    after: i64,
    read: tokio::task::JoinHandle<Result<Vec<StoredEvent>, sigil_eventstore::StoreError>>,
}

impl ReadAhead {
    fn start(store: &EventStore, after: i64, through: i64, limit: i64) -> ReadAhead {
        let store = store.clone();
        ReadAhead {
            after,
            read: tokio::spawn(async move { store.read_range(after, through, limit).await }),
        }
    }

    /// The events read, if they start where the checkpoints are now (a rebuild or another
    /// runner may have moved them meanwhile: then they are read again in the transaction).
    /// Below the frontier the log has no gaps and never changes, so events read outside the
    /// transaction are the ones it would read. A batch shorter than the limit ends at the
    /// frontier the previous step saw, which is as far as a catch-up promises to go.
    async fn take(self, from: i64) -> Option<Vec<StoredEvent>> {
        if self.after != from {
            self.cancel();
            return None;
        }
        match self.read.await {
            Ok(Ok(events)) => Some(events),
            // Read again in the transaction: a reader that failed (a pool timeout under load,
            // say) should not stall the read model for the retry's pause.
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "reading ahead failed; reading in the transaction");
                None
            }
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => None,
        }
    }

    fn cancel(self) {
        self.read.abort();
    }
}

/// How long each event took from its command to being visible in the read models: the
/// `sigil_projection_lag_seconds` histogram (docs/performance.md reads its p99 under load).
fn record_lag(runner: &'static str, events: &[StoredEvent]) {
    let now = sigil_eventstore::now_micros();
    let histogram = metrics::histogram!("sigil_projection_lag_seconds", "runner" => runner);
    for event in events {
        histogram.record((now - event.occurred_at).max(0) as f64 / 1e6);
    }
}

/// Locks (creating if needed) the checkpoint rows of `names`; returns their positions in the
/// same order.
async fn lock_checkpoints(
    tx: &mut ProjectionTx,
    names: &[&'static str],
) -> Result<Vec<i64>, ProjectionError> {
    let values: Vec<String> = (1..=names.len()).map(|i| format!("(${i}, 0)")).collect();
    let sql = format!(
        "INSERT INTO projection_checkpoints (name, position) VALUES {} ON CONFLICT (name) DO NOTHING",
        values.join(", ")
    );
    let mut insert = sqlx::query(&sql);
    for name in names {
        insert = insert.bind(*name);
    }
    insert.execute(&mut **tx).await?;
    let lock = match Backend::of(tx) {
        // SQLite's write transaction (BEGIN IMMEDIATE) already excludes other writers.
        Backend::Sqlite => "",
        Backend::Postgres => " FOR UPDATE",
    };
    let sql = format!(
        "SELECT name, position FROM projection_checkpoints WHERE name IN ({}){lock}",
        placeholders(1, names.len())
    );
    let mut select = sqlx::query_as::<_, (String, i64)>(&sql);
    for name in names {
        select = select.bind(*name);
    }
    let rows = select.fetch_all(&mut **tx).await?;
    Ok(in_order(names, &rows))
}

/// The positions of `names` from checkpoint rows, in the order of `names`; 0 for none yet.
fn in_order(names: &[&str], rows: &[(String, i64)]) -> Vec<i64> {
    names
        .iter()
        .map(|n| rows.iter().find(|(r, _)| r == n).map_or(0, |(_, p)| *p))
        .collect()
}

/// Advisory lock keys are 64-bit: the first eight bytes of a hash of the projection's name.
fn lock_key(name: &str) -> i64 {
    let digest = Sha256::digest(format!("sigil.projection:{name}").as_bytes());
    i64::from_be_bytes(digest[..8].try_into().expect("eight bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AuditView;
    use sigil_eventstore::NewEvent;
    use sigil_eventstore::testing::TestDatabase;

    #[test]
    fn lock_keys_differ_per_projection_and_are_stable() {
        assert_ne!(super::lock_key("applications"), super::lock_key("users"));
        assert_eq!(super::lock_key("users"), super::lock_key("users"));
    }

    fn event(n: usize) -> NewEvent {
        NewEvent {
            aggregate_type: "session".into(),
            aggregate_id: format!("s{n}"),
            sequence: 1,
            event_type: "SessionStarted".into(),
            event_version: "1.0".into(),
            payload: r#"{"SessionStarted":{"user_id":"u"}}"#.into(),
            metadata: "{}".into(),
            occurred_at: sigil_eventstore::now_micros(),
        }
    }

    /// Appends `n` events and waits until the read models may read them (PostgreSQL's
    /// frontier passes a commit a moment after it); returns their positions.
    async fn appended(db: &TestDatabase, n: usize) -> Vec<i64> {
        let events: Vec<NewEvent> = (0..n).map(event).collect();
        let stored = db.store.append(&events).await.unwrap();
        let positions: Vec<i64> = stored.iter().map(|e| e.position).collect();
        db.store
            .wait_until_read_model_safe(positions[n - 1], Duration::from_secs(10))
            .await
            .unwrap();
        positions
    }

    async fn audited(db: &TestDatabase) -> Vec<i64> {
        sqlx::query_scalar("SELECT position FROM rm_audit_log ORDER BY position")
            .fetch_all(db.store.pool())
            .await
            .unwrap()
    }

    /// A batch read ahead from where the checkpoint was is not applied once a reset (or
    /// another runner) has moved the checkpoint: it would leave a hole in the read model.
    #[tokio::test]
    async fn a_batch_read_ahead_is_used_only_from_where_the_checkpoint_is() {
        for db in TestDatabase::all().await {
            let positions = appended(&db, 10).await;
            let runner = ProjectionRunner::new(db.store.clone(), Arc::new(AuditView)).with_batch(4);
            runner.catch_up().await.unwrap();
            assert_eq!(audited(&db).await, positions, "{:?}", db.backend());

            // As if a catch-up had read ahead past the fourth event, then a rebuild reset.
            let frontier = db.store.read_model_frontier().await.unwrap();
            let mut ahead = Some(ReadAhead::start(&db.store, positions[3], frontier, 4));
            runner.reset().await.unwrap();
            let (applied, through) = runner.step_with(&mut ahead, false).await.unwrap();
            assert_eq!((applied, through), (4, positions[3]), "{:?}", db.backend());
            runner.catch_up().await.unwrap();
            assert_eq!(audited(&db).await, positions, "{:?}", db.backend());
        }
    }

    /// The read-ahead is taken when it does start at the checkpoint, and a catch-up that
    /// reads ahead batch after batch applies every event once, in order.
    #[tokio::test]
    async fn catching_up_in_batches_read_ahead_applies_every_event_once() {
        for db in TestDatabase::all().await {
            let positions = appended(&db, 23).await;
            let runner = ProjectionRunner::new(db.store.clone(), Arc::new(AuditView)).with_batch(5);
            let mut reported = Vec::new();
            let reached = runner
                .catch_up_reporting(|p| reported.push(p))
                .await
                .unwrap();
            assert_eq!(reached, positions[22]);
            assert_eq!(reported.last(), Some(&positions[22]));
            assert_eq!(audited(&db).await, positions, "{:?}", db.backend());

            // A read-ahead of two events from the checkpoint is what the next step applies
            // (read in the transaction, the batch would be five).
            let frontier = db.store.read_model_frontier().await.unwrap();
            runner.reset().await.unwrap();
            let mut ahead = Some(ReadAhead::start(&db.store, 0, frontier, 2));
            let (applied, through) = runner.step_with(&mut ahead, false).await.unwrap();
            assert_eq!((applied, through), (2, positions[1]), "{:?}", db.backend());
        }
    }
}
