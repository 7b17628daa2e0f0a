//! `sigil audit export`: the audit trail as NDJSON or CSV, read in pages (constant memory
//! however long the log), ending with the signed checkpoint that covers every exported entry.
//!
//! Each entry carries its event's hash. An auditor checks a file against the log by running
//! `sigil events verify` (streams and checkpoints are intact) and comparing each entry's
//! `hash` with the event at its position; the trailing checkpoint, signed with the log's
//! checkpoint key, binds all of them up to its `through_position`.

use std::io::Write;

use chrono::SecondsFormat;
use serde_json::json;
use sigil_eventstore::{Checkpoint, EventStore, SigningKey, micros_to_utc, now_micros};
use sigil_projections::ProjectionRunner;

use super::{AuditEntry, AuditFilter, page};

const PAGE: i64 = 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Ndjson,
    Csv,
}

/// What an export wrote.
#[derive(Debug)]
pub struct Exported {
    pub entries: u64,
    /// The audit trail's position the export was cut at.
    pub through_position: i64,
    pub checkpoint: Checkpoint,
}

/// The CSV columns, in order; `details` is JSON text. The last record is the checkpoint:
/// `event_type` is `checkpoint`, `position` its `through_position`, `hash` its hash and
/// `details` the whole checkpoint.
const CSV_COLUMNS: [&str; 14] = [
    "position",
    "occurred_at",
    "event_type",
    "aggregate_type",
    "aggregate_id",
    "actor",
    "application_id",
    "user_id",
    "organization_id",
    "ip",
    "user_agent",
    "request_id",
    "details",
    "hash",
];

/// Writes the entries matching `filter`, cut at the position the audit read model reaches
/// now, then the checkpoint covering that position (signing one with `key` if the newest
/// does not reach it yet).
pub async fn export(
    store: &EventStore,
    audit: &ProjectionRunner,
    key: &SigningKey,
    filter: &AuditFilter,
    format: Format,
    out: impl Write,
) -> anyhow::Result<Exported> {
    let cut = audit.catch_up().await?;
    let mut writer = Writer::new(format, out)?;
    let mut entries = 0;
    let mut after = 0;
    'pages: loop {
        let batch = page(store.pool(), filter, after, PAGE).await?;
        let full = batch.len() as i64 == PAGE;
        for entry in batch {
            if entry.position > cut {
                break 'pages;
            }
            after = entry.position;
            writer.entry(&entry)?;
            entries += 1;
        }
        if !full {
            break;
        }
    }
    let checkpoint = covering(store, key, cut).await?;
    writer.checkpoint(&checkpoint)?;
    writer.finish()?;
    Ok(Exported {
        entries,
        through_position: cut,
        checkpoint,
    })
}

/// The first checkpoint whose range reaches `position`, writing new ones until there is one.
async fn covering(
    store: &EventStore,
    key: &SigningKey,
    position: i64,
) -> anyhow::Result<Checkpoint> {
    loop {
        if let Some(c) = store.checkpoint_covering(position).await? {
            return Ok(c);
        }
        // `None` means another node wrote the same checkpoint first; look again.
        store
            .write_checkpoint(key, crate::server::CHECKPOINT_MAX_EVENTS, now_micros())
            .await?;
    }
}

/// The checkpoint as an auditor reads it: binary fields in hex.
pub fn checkpoint_json(c: &Checkpoint) -> serde_json::Value {
    json!({
        "number": c.body.number,
        "after_position": c.body.after_position,
        "through_position": c.body.through_position,
        "event_count": c.body.event_count,
        "range_digest": hex::encode(c.body.range_digest),
        "previous_hash": hex::encode(c.body.previous_hash),
        "hash": hex::encode(c.hash),
        "public_key": hex::encode(&c.public_key),
        "signature": hex::encode(&c.signature),
        "created_at": micros_to_utc(c.created_at).to_rfc3339_opts(SecondsFormat::Micros, true),
    })
}

enum Writer<W: Write> {
    Ndjson(W),
    // Boxed: the CSV writer carries its buffer inline.
    Csv(Box<csv::Writer<W>>),
}

impl<W: Write> Writer<W> {
    fn new(format: Format, out: W) -> anyhow::Result<Self> {
        Ok(match format {
            Format::Ndjson => Writer::Ndjson(out),
            Format::Csv => {
                let mut w = csv::Writer::from_writer(out);
                w.write_record(CSV_COLUMNS)?;
                Writer::Csv(Box::new(w))
            }
        })
    }

    fn entry(&mut self, e: &AuditEntry) -> anyhow::Result<()> {
        match self {
            Writer::Ndjson(w) => {
                serde_json::to_writer(&mut *w, e)?;
                w.write_all(b"\n")?;
            }
            Writer::Csv(w) => {
                let opt = |v: &Option<String>| v.clone().unwrap_or_default();
                w.write_record([
                    e.position.to_string(),
                    e.occurred_at.to_rfc3339_opts(SecondsFormat::Micros, true),
                    e.event_type.clone(),
                    e.aggregate_type.clone(),
                    e.aggregate_id.clone(),
                    opt(&e.actor),
                    opt(&e.application_id),
                    opt(&e.user_id),
                    opt(&e.organization_id),
                    opt(&e.ip),
                    opt(&e.user_agent),
                    opt(&e.request_id),
                    e.details.to_string(),
                    e.hash.clone(),
                ])?;
            }
        }
        Ok(())
    }

    fn checkpoint(&mut self, c: &Checkpoint) -> anyhow::Result<()> {
        let body = checkpoint_json(c);
        match self {
            Writer::Ndjson(w) => {
                serde_json::to_writer(&mut *w, &json!({ "checkpoint": body }))?;
                w.write_all(b"\n")?;
            }
            Writer::Csv(w) => {
                let mut record = vec![String::new(); CSV_COLUMNS.len()];
                record[0] = c.body.through_position.to_string();
                record[1] = body["created_at"].as_str().unwrap_or_default().to_owned();
                record[2] = "checkpoint".to_owned();
                record[12] = body.to_string();
                record[13] = hex::encode(c.hash);
                w.write_record(&record)?;
            }
        }
        Ok(())
    }

    fn finish(self) -> anyhow::Result<()> {
        match self {
            Writer::Ndjson(mut w) => w.flush()?,
            Writer::Csv(mut w) => w.flush()?,
        }
        Ok(())
    }
}
