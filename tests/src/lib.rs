//! Shared helpers for Sigil's store and end-to-end tests (the tests live in `tests/`).

pub use sigil_eventstore::testing::TestDatabase;
use sigil_eventstore::{NewEvent, now_micros};

/// An event for stream `(kind, id)` at `sequence` with a small JSON payload.
pub fn event(kind: &str, id: &str, sequence: i64, payload: &str) -> NewEvent {
    NewEvent {
        aggregate_type: kind.into(),
        aggregate_id: id.into(),
        sequence,
        event_type: "Noted".into(),
        event_version: "1.0".into(),
        payload: payload.into(),
        metadata: r#"{"actor":"test"}"#.into(),
        occurred_at: now_micros(),
    }
}
