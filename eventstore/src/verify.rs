//! `sigil events verify`: walks the whole log and every checkpoint and names the first
//! position where the stored log differs from what was written. Memory stays constant: both
//! passes read in pages.

use ed25519_dalek::{Signature, VerifyingKey};

use crate::StoreError;
use crate::event::StoredEvent;
use crate::hash::{GENESIS, RangeDigest, event_hash};
use crate::store::{EVENT_COLUMNS, EventStore, stored_event_from_row};

const PAGE: i64 = 1000;

/// What the walk found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    pub events: u64,
    pub streams: u64,
    pub checkpoints: u64,
    pub last_position: i64,
    /// The end of the last checkpoint that verified: everything up to here is bound by a
    /// signature; events after it by their stream chains only.
    pub verified_through: i64,
    pub first_bad: Option<Problem>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.first_bad.is_none()
    }

    fn problem(&mut self, position: i64, reason: String) {
        if self
            .first_bad
            .as_ref()
            .is_none_or(|p| position < p.position)
        {
            self.first_bad = Some(Problem { position, reason });
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub position: i64,
    pub reason: String,
}

impl EventStore {
    /// Verifies every stream's hash chain and every checkpoint (signed by `key`).
    pub async fn verify(&self, key: &VerifyingKey) -> Result<VerifyReport, StoreError> {
        let mut report = VerifyReport::default();
        self.verify_streams(&mut report).await?;
        self.verify_checkpoints(key, &mut report).await?;
        Ok(report)
    }

    async fn verify_streams(&self, report: &mut VerifyReport) -> Result<(), StoreError> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events \
             WHERE (aggregate_type, aggregate_id, sequence) > ($1, $2, $3) \
             ORDER BY aggregate_type, aggregate_id, sequence LIMIT $4"
        );
        let mut previous: Option<StoredEvent> = None;
        let mut key = (String::new(), String::new(), 0i64);
        loop {
            let rows = sqlx::query(&sql)
                .bind(&key.0)
                .bind(&key.1)
                .bind(key.2)
                .bind(PAGE)
                .fetch_all(self.pool())
                .await?;
            let full = rows.len() as i64 == PAGE;
            for row in &rows {
                let event = stored_event_from_row(row)?;
                report.events += 1;
                report.last_position = report.last_position.max(event.position);
                let same_stream = previous.as_ref().is_some_and(|p| {
                    p.aggregate_type == event.aggregate_type && p.aggregate_id == event.aggregate_id
                });
                if !same_stream {
                    report.streams += 1;
                }
                let (expected_sequence, predecessor) = match (&previous, same_stream) {
                    (Some(p), true) => (p.sequence + 1, p.hash),
                    _ => (1, GENESIS),
                };
                if event.sequence != expected_sequence {
                    report.problem(
                        event.position,
                        format!(
                            "{} {} jumps to sequence {} where {} was expected (an event is missing)",
                            event.aggregate_type, event.aggregate_id, event.sequence, expected_sequence
                        ),
                    );
                } else if event_hash(&predecessor, &event.content()) != event.hash {
                    report.problem(
                        event.position,
                        format!(
                            "{} {} sequence {}: content does not match its hash (edited)",
                            event.aggregate_type, event.aggregate_id, event.sequence
                        ),
                    );
                }
                key = (
                    event.aggregate_type.clone(),
                    event.aggregate_id.clone(),
                    event.sequence,
                );
                previous = Some(event);
            }
            if !full {
                return Ok(());
            }
        }
    }

    async fn verify_checkpoints(
        &self,
        key: &VerifyingKey,
        report: &mut VerifyReport,
    ) -> Result<(), StoreError> {
        let mut number = 0;
        let mut previous_hash = GENESIS;
        let mut through = 0;
        loop {
            let page = self.checkpoints(number, PAGE).await?;
            let full = page.len() as i64 == PAGE;
            for c in page {
                report.checkpoints += 1;
                let start = c.body.after_position + 1;
                let signature = Signature::from_slice(&c.signature).ok();
                let fault = if c.body.number != number + 1
                    || c.body.after_position != through
                    || c.body.previous_hash != previous_hash
                {
                    Some("does not follow the previous checkpoint")
                } else if c.body.hash() != c.hash
                    || signature.is_none_or(|s| key.verify_strict(&c.hash, &s).is_err())
                {
                    Some("is not signed by this installation's checkpoint key")
                } else if self
                    .range_digest(c.body.after_position, c.body.through_position)
                    .await?
                    != (c.body.event_count, c.body.range_digest)
                {
                    Some(
                        "no longer matches the events in its range (events were removed, added or moved)",
                    )
                } else {
                    None
                };
                // A stream chain that already named a position inside this range is more
                // precise than the range's start: a digest says that, not where.
                let named_inside = report.first_bad.as_ref().is_some_and(|p| {
                    p.position > c.body.after_position && p.position <= c.body.through_position
                });
                match fault {
                    Some(reason) if named_inside && reason.starts_with("no longer") => {
                        return Ok(());
                    }
                    Some(reason) => {
                        report.problem(
                            start,
                            format!(
                                "checkpoint {} over positions {}..={} {reason}",
                                c.body.number, start, c.body.through_position
                            ),
                        );
                        // Later checkpoints chain to this one; one fault is enough to name.
                        return Ok(());
                    }
                    None => report.verified_through = c.body.through_position,
                }
                number = c.body.number;
                previous_hash = c.hash;
                through = c.body.through_position;
            }
            if !full {
                return Ok(());
            }
        }
    }

    async fn range_digest(&self, after: i64, through: i64) -> Result<(i64, [u8; 32]), StoreError> {
        let mut digest = RangeDigest::default();
        let mut cursor = after;
        loop {
            let page = self.read_range(cursor, through, PAGE).await?;
            let full = page.len() as i64 == PAGE;
            for event in &page {
                digest.push(event.position, &event.hash);
                cursor = event.position;
            }
            if !full {
                let count = digest.count;
                return Ok((count, digest.finish()));
            }
        }
    }
}
