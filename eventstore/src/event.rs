//! The shapes of an event going into the log and coming out of it.

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// Who and what caused an event: written beside every event for the audit trail.
/// Never holds a secret.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMetadata {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// An event ready to be appended: its place in its stream is decided, its global position is not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEvent {
    pub aggregate_type: String,
    pub aggregate_id: String,
    /// 1 for a stream's first event, then one more for each.
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    /// JSON text; stored and hashed byte for byte.
    pub payload: String,
    /// JSON object text (see [`EventMetadata`]).
    pub metadata: String,
    /// Microseconds since the Unix epoch, UTC.
    pub occurred_at: i64,
}

/// An event as the log holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEvent {
    pub position: i64,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub payload: String,
    pub metadata: String,
    pub occurred_at: i64,
    pub hash: [u8; 32],
}

impl StoredEvent {
    pub fn payload_json(&self) -> serde_json::Result<serde_json::Value> {
        serde_json::from_str(&self.payload)
    }

    pub fn metadata(&self) -> EventMetadata {
        serde_json::from_str(&self.metadata).unwrap_or_default()
    }

    pub fn occurred_at_utc(&self) -> DateTime<Utc> {
        micros_to_utc(self.occurred_at)
    }
}

/// Microsecond timestamps are what the log stores: exact on both backends and in the hash.
pub fn utc_to_micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub fn micros_to_utc(micros: i64) -> DateTime<Utc> {
    Utc.timestamp_micros(micros)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

pub fn now_micros() -> i64 {
    utc_to_micros(Utc::now())
}
