//! The `cqrs-es` side: a `PersistedEventRepository` over the log, so aggregates are loaded
//! from their stream and a command's events are appended atomically, guarded by the stream's
//! sequence (optimistic concurrency: a racing second command gets `AggregateConflict`).

use cqrs_es::Aggregate;
use cqrs_es::persist::{
    PersistedEventRepository, PersistenceError, ReplayStream, SerializedEvent, SerializedSnapshot,
};
use serde_json::Value;

use crate::StoreError;
use crate::event::{NewEvent, StoredEvent, now_micros};
use crate::store::EventStore;

/// The metadata key through which the api hands in the command's time (RFC 3339). It becomes
/// the event's `occurred_at` column rather than staying in the metadata object.
pub const OCCURRED_AT_KEY: &str = "occurred_at";

/// `cqrs-es` repository over an [`EventStore`]. Snapshots are not kept: streams are short and
/// loading from the log keeps one source of truth.
#[derive(Clone)]
pub struct EventRepository {
    store: EventStore,
}

impl EventRepository {
    pub fn new(store: EventStore) -> Self {
        EventRepository { store }
    }

    pub fn store(&self) -> &EventStore {
        &self.store
    }
}

impl From<StoreError> for PersistenceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { .. } => PersistenceError::OptimisticLockError,
            StoreError::Database(e) => PersistenceError::ConnectionError(Box::new(e)),
            StoreError::Corrupt { .. } => PersistenceError::DeserializationError(Box::new(e)),
            other => PersistenceError::UnknownError(Box::new(other)),
        }
    }
}

fn to_serialized(e: StoredEvent) -> Result<SerializedEvent, PersistenceError> {
    let position = e.position;
    let corrupt = |err: serde_json::Error| {
        PersistenceError::from(StoreError::Corrupt {
            position,
            reason: err.to_string(),
        })
    };
    Ok(SerializedEvent {
        aggregate_id: e.aggregate_id,
        sequence: e.sequence as usize,
        aggregate_type: e.aggregate_type,
        event_type: e.event_type,
        event_version: e.event_version,
        payload: serde_json::from_str(&e.payload).map_err(corrupt)?,
        metadata: serde_json::from_str(&e.metadata).map_err(corrupt)?,
    })
}

/// Turns a serialized event into a log row: the command's time leaves the metadata for its
/// own column.
pub fn to_new_event(event: &SerializedEvent) -> Result<NewEvent, StoreError> {
    let mut metadata = match &event.metadata {
        Value::Object(map) => map.clone(),
        Value::Null => Default::default(),
        other => {
            return Err(StoreError::InvalidEvent(format!(
                "metadata must be an object, not {other}"
            )));
        }
    };
    let occurred_at = match metadata.remove(OCCURRED_AT_KEY) {
        Some(Value::String(t)) => chrono::DateTime::parse_from_rfc3339(&t)
            .map_err(|e| StoreError::InvalidEvent(format!("occurred_at {t:?}: {e}")))?
            .timestamp_micros(),
        Some(other) => {
            return Err(StoreError::InvalidEvent(format!(
                "occurred_at must be an RFC 3339 string, not {other}"
            )));
        }
        None => now_micros(),
    };
    Ok(NewEvent {
        aggregate_type: event.aggregate_type.clone(),
        aggregate_id: event.aggregate_id.clone(),
        sequence: event.sequence as i64,
        event_type: event.event_type.clone(),
        event_version: event.event_version.clone(),
        payload: serde_json::to_string(&event.payload)
            .map_err(|e| StoreError::InvalidEvent(e.to_string()))?,
        metadata: serde_json::to_string(&metadata)
            .map_err(|e| StoreError::InvalidEvent(e.to_string()))?,
        occurred_at,
    })
}

impl PersistedEventRepository for EventRepository {
    async fn get_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        self.get_last_events::<A>(aggregate_id, 0).await
    }

    async fn get_last_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
        last_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        let events = self
            .store
            .stream(A::TYPE, aggregate_id, last_sequence as i64)
            .await?;
        events.into_iter().map(to_serialized).collect()
    }

    async fn get_snapshot<A: Aggregate>(
        &self,
        _aggregate_id: &str,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        Ok(None)
    }

    async fn persist<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot_update: Option<(String, Value, usize)>,
    ) -> Result<(), PersistenceError> {
        if snapshot_update.is_some() {
            return Err(PersistenceError::UnknownError(
                "snapshots are not supported: use PersistedEventStore::new_event_store".into(),
            ));
        }
        let rows = events
            .iter()
            .map(to_new_event)
            .collect::<Result<Vec<_>, _>>()?;
        self.store.append(&rows).await?;
        Ok(())
    }

    async fn stream_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<ReplayStream, PersistenceError> {
        let events = self.get_events::<A>(aggregate_id).await?;
        replay(events).await
    }

    async fn stream_all_events<A: Aggregate>(&self) -> Result<ReplayStream, PersistenceError> {
        let rows = sqlx::query_scalar::<_, String>(
            "SELECT DISTINCT aggregate_id FROM events WHERE aggregate_type = $1",
        )
        .bind(A::TYPE)
        .fetch_all(self.store.pool())
        .await
        .map_err(StoreError::from)?;
        let mut all = Vec::new();
        for id in rows {
            all.extend(self.get_events::<A>(&id).await?);
        }
        replay(all).await
    }
}

async fn replay(events: Vec<SerializedEvent>) -> Result<ReplayStream, PersistenceError> {
    let (mut feed, stream) = ReplayStream::new(events.len().max(1));
    for event in events {
        feed.push(Ok(event)).await?;
    }
    Ok(stream)
}
