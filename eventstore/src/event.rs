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

impl NewEvent {
    /// The event as the log holds it once it has a position and a hash.
    pub fn into_stored(self, position: i64, hash: [u8; 32]) -> StoredEvent {
        StoredEvent {
            position,
            aggregate_type: self.aggregate_type,
            aggregate_id: self.aggregate_id,
            sequence: self.sequence,
            event_type: self.event_type,
            event_version: self.event_version,
            payload: self.payload,
            metadata: self.metadata,
            occurred_at: self.occurred_at,
            hash,
        }
    }
}

impl StoredEvent {
    /// What the event's hash covers (everything but its position and the hash itself).
    pub fn content(&self) -> NewEvent {
        NewEvent {
            aggregate_type: self.aggregate_type.clone(),
            aggregate_id: self.aggregate_id.clone(),
            sequence: self.sequence,
            event_type: self.event_type.clone(),
            event_version: self.event_version.clone(),
            payload: self.payload.clone(),
            metadata: self.metadata.clone(),
            occurred_at: self.occurred_at,
        }
    }

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
