//! Live changes over the WebSocket: every event appended to the log, as it is appended, in
//! position order, described by its kind, its stream and who caused it. Payloads are left
//! out (the audit trail shapes them for people); a client follows up with a query.

use async_graphql::{Context, ID, SimpleObject, Subscription as SubscriptionTrait};
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt};
use sigil_eventstore::StoredEvent;

use super::app;
use super::error::ApiError;

pub struct Subscription;

/// One event of the log, without its payload.
#[derive(SimpleObject)]
pub struct LogEvent {
    /// Its place in the log: strictly increasing, no event is ever delivered out of order.
    position: i64,
    occurred_at: DateTime<Utc>,
    event_type: String,
    aggregate_type: String,
    aggregate_id: ID,
    /// Who caused it (`user:…`, `client:…`, `cli`), when known.
    actor: Option<String>,
}

impl From<StoredEvent> for LogEvent {
    fn from(e: StoredEvent) -> Self {
        LogEvent {
            actor: e.metadata().actor,
            occurred_at: e.occurred_at_utc(),
            position: e.position,
            event_type: e.event_type,
            aggregate_type: e.aggregate_type,
            aggregate_id: ID(e.aggregate_id),
        }
    }
}

#[SubscriptionTrait]
impl Subscription {
    /// Events appended after `after` (a position; default: from now on). `aggregateTypes`
    /// narrows to streams of those types (e.g. `application`, `user`).
    async fn log_events(
        &self,
        ctx: &Context<'_>,
        after: Option<i64>,
        aggregate_types: Option<Vec<String>>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<LogEvent>> + use<>> {
        let store = app(ctx).store.clone();
        let after = match after {
            Some(a) => a,
            None => store.last_position().await.map_err(ApiError::from)?,
        };
        Ok(store.subscribe(after).filter_map(move |event| {
            let wanted = match &event {
                Ok(e) => aggregate_types
                    .as_ref()
                    .is_none_or(|types| types.contains(&e.aggregate_type)),
                Err(_) => true,
            };
            let item = event
                .map(LogEvent::from)
                .map_err(|e| ApiError::from(e).into());
            async move { wanted.then_some(item) }
        }))
    }
}
