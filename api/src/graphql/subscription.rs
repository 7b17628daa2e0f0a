//! Live changes over the WebSocket: every event appended to the log, as it is appended, in
//! position order, described by its kind, its stream and who caused it. Payloads are left
//! out (the audit trail shapes them for people); a client follows up with a query.

use async_graphql::{Context, ID, SimpleObject, Subscription as SubscriptionTrait};
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt};
use sigil_eventstore::StoredEvent;

use std::collections::VecDeque;

use super::app;
use super::audit::{AuditEntry, AuditLogFilter, POLL};
use super::error::ApiError;
use crate::audit::{self, AuditFilter};

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

    /// Audit entries as they are appended (within a moment: the audit read model follows the
    /// log), in position order, matching `filter`. From now on, or after the position `after`
    /// when resuming.
    async fn audit_events(
        &self,
        ctx: &Context<'_>,
        filter: Option<AuditLogFilter>,
        after: Option<i64>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<AuditEntry>> + use<>> {
        let state = app(ctx).clone();
        let cursor = match after {
            Some(a) => a,
            None => state.store.last_position().await.map_err(ApiError::from)?,
        };
        let follow = Follow {
            wake: state.store.appended(),
            state,
            filter: filter.unwrap_or_default().into(),
            cursor,
            ready: VecDeque::new(),
            failed: false,
        };
        Ok(futures::stream::unfold(follow, |mut f| async move {
            let next = f.next().await?;
            Some((next, f))
        }))
    }
}

/// A live reader of the audit trail.
struct Follow {
    state: std::sync::Arc<crate::state::AppState>,
    wake: tokio::sync::watch::Receiver<i64>,
    filter: AuditFilter,
    /// Every entry at or below it has been delivered or did not match.
    cursor: i64,
    ready: VecDeque<audit::AuditEntry>,
    failed: bool,
}

impl Follow {
    async fn next(&mut self) -> Option<async_graphql::Result<AuditEntry>> {
        if self.failed {
            return None;
        }
        loop {
            if let Some(entry) = self.ready.pop_front() {
                return Some(Ok(entry.into()));
            }
            match self.poll().await {
                Ok(true) => {}
                Ok(false) => {
                    tokio::select! {
                        _ = self.wake.changed() => {}
                        _ = tokio::time::sleep(POLL) => {}
                    }
                }
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e.into()));
                }
            }
        }
    }

    /// Reads what the read model has applied past the cursor; true when it found entries.
    async fn poll(&mut self) -> Result<bool, ApiError> {
        // The read model's position first: every entry at or below it is already visible,
        // so entries that do not match need not be scanned again.
        let applied = match self.state.projection("audit") {
            Some(runner) => runner.position().await.map_err(ApiError::internal)?,
            None => 0,
        };
        let rows = audit::page(self.state.store.pool(), &self.filter, self.cursor, 100).await?;
        match rows.last() {
            Some(last) => {
                self.cursor = last.position;
                self.ready.extend(rows);
                Ok(true)
            }
            None => {
                self.cursor = self.cursor.max(applied);
                Ok(false)
            }
        }
    }
}
