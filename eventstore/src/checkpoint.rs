//! Signed checkpoints: every so often the log's safe prefix since the previous checkpoint is
//! summarised (a digest over `(position, event hash)` in order), chained to the previous
//! checkpoint and signed with Ed25519. Streams are chained on their own; checkpoints are what
//! make deleting a whole stream, a stream's tail, or moving events between positions evident.

use ed25519_dalek::{Signer, SigningKey};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::StoreError;
use crate::hash::{CheckpointBody, GENESIS, RangeDigest};
use crate::store::EventStore;

const PAGE: i64 = 1000;

/// A checkpoint as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub body: CheckpointBody,
    pub hash: [u8; 32],
    pub public_key: Vec<u8>,
    pub signature: Vec<u8>,
    /// Microseconds since the Unix epoch.
    pub created_at: i64,
}

impl EventStore {
    /// Writes the next checkpoint over the safe part of the log not yet covered, at most
    /// `max_events` events. Returns `None` when there is nothing new, or when another node
    /// wrote the same checkpoint first.
    pub async fn write_checkpoint(
        &self,
        key: &SigningKey,
        max_events: i64,
        now_micros: i64,
    ) -> Result<Option<Checkpoint>, StoreError> {
        let last = self.last_checkpoint().await?;
        let (number, after, previous_hash) = match &last {
            Some(c) => (c.body.number + 1, c.body.through_position, c.hash),
            None => (1, 0, GENESIS),
        };
        let frontier = self.safe_position().await?;
        if frontier <= after {
            return Ok(None);
        }
        let mut digest = RangeDigest::default();
        let mut cursor = after;
        let mut through = frontier;
        'pages: loop {
            let page = self.read_range(cursor, frontier, PAGE).await?;
            let full = page.len() as i64 == PAGE;
            for event in page {
                digest.push(event.position, &event.hash);
                cursor = event.position;
                if digest.count == max_events {
                    through = event.position;
                    break 'pages;
                }
            }
            if !full {
                break;
            }
        }
        if digest.count == 0 {
            return Ok(None);
        }
        let body = CheckpointBody {
            number,
            after_position: after,
            through_position: through,
            event_count: digest.count,
            range_digest: digest.finish(),
            previous_hash,
        };
        let hash = body.hash();
        let checkpoint = Checkpoint {
            hash,
            public_key: key.verifying_key().to_bytes().to_vec(),
            signature: key.sign(&hash).to_bytes().to_vec(),
            created_at: now_micros,
            body,
        };
        let inserted = sqlx::query(
            "INSERT INTO event_checkpoints (number, after_position, through_position, event_count, \
             range_digest, previous_hash, hash, public_key, signature, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(checkpoint.body.number)
        .bind(checkpoint.body.after_position)
        .bind(checkpoint.body.through_position)
        .bind(checkpoint.body.event_count)
        .bind(checkpoint.body.range_digest.to_vec())
        .bind(checkpoint.body.previous_hash.to_vec())
        .bind(checkpoint.hash.to_vec())
        .bind(checkpoint.public_key.clone())
        .bind(checkpoint.signature.clone())
        .bind(checkpoint.created_at)
        .execute(&self.inner.pools.write)
        .await;
        match inserted {
            Ok(_) => Ok(Some(checkpoint)),
            Err(sqlx::Error::Database(e))
                if e.kind() == sqlx::error::ErrorKind::UniqueViolation =>
            {
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn last_checkpoint(&self) -> Result<Option<Checkpoint>, StoreError> {
        let row = sqlx::query("SELECT * FROM event_checkpoints ORDER BY number DESC LIMIT 1")
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(checkpoint_from_row).transpose()
    }

    /// The first checkpoint that covers `position` (its range ends at or after it), if one
    /// has been written yet.
    pub async fn checkpoint_covering(
        &self,
        position: i64,
    ) -> Result<Option<Checkpoint>, StoreError> {
        let row = sqlx::query(
            "SELECT * FROM event_checkpoints WHERE through_position >= $1 ORDER BY number LIMIT 1",
        )
        .bind(position)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(checkpoint_from_row).transpose()
    }

    /// Checkpoints after number `after`, in order.
    pub async fn checkpoints(&self, after: i64, limit: i64) -> Result<Vec<Checkpoint>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM event_checkpoints WHERE number > $1 ORDER BY number LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(checkpoint_from_row).collect()
    }
}

fn bytes32(row: &AnyRow, column: &str) -> Result<[u8; 32], StoreError> {
    let v: Vec<u8> = row.try_get(column)?;
    v.try_into().map_err(|_| StoreError::Corrupt {
        position: row.try_get("through_position").unwrap_or(0),
        reason: format!("checkpoint {column} is not 32 bytes"),
    })
}

fn checkpoint_from_row(row: &AnyRow) -> Result<Checkpoint, StoreError> {
    Ok(Checkpoint {
        body: CheckpointBody {
            number: row.try_get("number")?,
            after_position: row.try_get("after_position")?,
            through_position: row.try_get("through_position")?,
            event_count: row.try_get("event_count")?,
            range_digest: bytes32(row, "range_digest")?,
            previous_hash: bytes32(row, "previous_hash")?,
        },
        hash: bytes32(row, "hash")?,
        public_key: row.try_get("public_key")?,
        signature: row.try_get("signature")?,
        created_at: row.try_get("created_at")?,
    })
}
