//! Runs one projection: reads the log after its checkpoint (up to the store's safe frontier),
//! applies a batch and moves the checkpoint in one transaction, then waits for the next append.
//!
//! Several `sigil serve` processes on one PostgreSQL each start a runner per projection; a
//! session advisory lock lets exactly one of them work and the others stand by. Correctness
//! does not rest on the lock: each batch locks its checkpoint row (`FOR UPDATE`) before
//! reading it, so two writers (say a rebuild from the CLI and a server) serialise.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use sigil_eventstore::sqlx::{self, Any, AnyConnection, Connection, Transaction};
use sigil_eventstore::{Backend, EventStore, StoredEvent};
use tokio::sync::watch;

use crate::ProjectionError;

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
}

/// Drives one [`Projection`].
#[derive(Clone)]
pub struct ProjectionRunner {
    store: EventStore,
    projection: Arc<dyn Projection>,
    batch: i64,
}

impl ProjectionRunner {
    pub fn new(store: EventStore, projection: Arc<dyn Projection>) -> Self {
        ProjectionRunner {
            store,
            projection,
            batch: 500,
        }
    }

    pub fn name(&self) -> &'static str {
        self.projection.name()
    }

    /// The position this read model has applied up to.
    pub async fn position(&self) -> Result<i64, ProjectionError> {
        Ok(sqlx::query_scalar::<_, i64>(
            "SELECT position FROM projection_checkpoints WHERE name = $1",
        )
        .bind(self.name())
        .fetch_optional(self.store.pool())
        .await?
        .unwrap_or(0))
    }

    /// Applies one batch; returns how many events it applied.
    pub async fn step(&self) -> Result<usize, ProjectionError> {
        // The frontier first: once this transaction writes it has a transaction id of its
        // own, and a frontier taken inside it would wait for itself.
        let frontier = self.store.safe_position().await?;
        let mut tx = self.store.begin_read_model_tx().await?;
        let position = lock_checkpoint(&mut tx, self.name()).await?;
        if frontier <= position {
            return Ok(0);
        }
        let events = self
            .store
            .read_range(position, frontier, self.batch)
            .await?;
        let Some(last) = events.last().map(|e| e.position) else {
            return Ok(0);
        };
        for event in &events {
            self.projection.apply(&mut tx, event).await?;
        }
        sqlx::query("UPDATE projection_checkpoints SET position = $1 WHERE name = $2")
            .bind(last)
            .bind(self.name())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(events.len())
    }

    /// Applies batches until the read model reaches the safe frontier; returns its position.
    pub async fn catch_up(&self) -> Result<i64, ProjectionError> {
        while self.step().await? > 0 {}
        self.position().await
    }

    /// Catches up until the read model has applied `position`, waiting for the frontier if a
    /// transaction elsewhere holds it back. Returns the position reached (below `position`
    /// only if `timeout` passed first).
    pub async fn catch_up_to(
        &self,
        position: i64,
        timeout: Duration,
    ) -> Result<i64, ProjectionError> {
        self.store.wait_until_safe(position, timeout).await?;
        self.catch_up().await
    }

    /// Empties the read model and moves its checkpoint back to the start of the log, in one
    /// transaction; the next steps replay everything.
    pub async fn reset(&self) -> Result<(), ProjectionError> {
        let mut tx = self.store.begin_read_model_tx().await?;
        lock_checkpoint(&mut tx, self.name()).await?;
        for table in self.projection.tables() {
            sqlx::query(&format!("DELETE FROM {table}"))
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE projection_checkpoints SET position = 0 WHERE name = $1")
            .bind(self.name())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Tries to become this projection's single active runner (PostgreSQL advisory lock, held
    /// by a dedicated connection for as long as it lives). SQLite serves one node: always yes.
    pub async fn try_lead(&self) -> Result<Option<Leadership>, ProjectionError> {
        if self.store.backend() == Backend::Sqlite {
            return Ok(Some(Leadership { connection: None }));
        }
        let mut connection = AnyConnection::connect(self.store.url()).await?;
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(lock_key(self.name()))
            .fetch_one(&mut connection)
            .await?;
        Ok(locked.then_some(Leadership {
            connection: Some(connection),
        }))
    }

    /// Runs until `shutdown` turns true: leads when it can, catches up, waits for appends.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut wake = self.store.appended();
        let mut leadership = None;
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
                match self.catch_up().await {
                    Ok(position) => {
                        tracing::debug!(projection = self.name(), position, "caught up");
                        self.store.wait_for_append(&mut wake).await;
                        Duration::ZERO
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

/// Proof of being the active runner; dropping it releases the lock (the session ends).
pub struct Leadership {
    connection: Option<AnyConnection>,
}

impl Leadership {
    async fn alive(&mut self) -> bool {
        match &mut self.connection {
            None => true,
            Some(c) => sqlx::query("SELECT 1").execute(c).await.is_ok(),
        }
    }
}

/// Locks (creating if needed) the checkpoint row and returns its position.
async fn lock_checkpoint(tx: &mut ProjectionTx, name: &str) -> Result<i64, ProjectionError> {
    sqlx::query(
        "INSERT INTO projection_checkpoints (name, position) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .execute(&mut **tx)
    .await?;
    let sql = match tx.backend_name() {
        // SQLite's write transaction (BEGIN IMMEDIATE) already excludes other writers.
        "SQLite" => "SELECT position FROM projection_checkpoints WHERE name = $1",
        _ => "SELECT position FROM projection_checkpoints WHERE name = $1 FOR UPDATE",
    };
    Ok(sqlx::query_scalar(sql)
        .bind(name)
        .fetch_one(&mut **tx)
        .await?)
}

/// Advisory lock keys are 64-bit: the first eight bytes of a hash of the projection's name.
fn lock_key(name: &str) -> i64 {
    let digest = Sha256::digest(format!("sigil.projection:{name}").as_bytes());
    i64::from_be_bytes(digest[..8].try_into().expect("eight bytes"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn lock_keys_differ_per_projection_and_are_stable() {
        assert_ne!(super::lock_key("applications"), super::lock_key("users"));
        assert_eq!(super::lock_key("users"), super::lock_key("users"));
    }
}
