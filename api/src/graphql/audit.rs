//! The audit trail (`auditLog`, and `auditEvents` live in the subscription module) and the
//! log's tamper evidence (`logIntegrity`), for the people who must prove who accessed what.

use std::time::Duration;

use async_graphql::connection::{Connection, Edge, EmptyFields, OpaqueCursor};
use async_graphql::{Context, ID, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::app;
use super::error::ApiError;
use super::pagination::{DEFAULT_PAGE, MAX_PAGE};
use crate::audit::{self, AuditFilter};

/// One entry of the audit trail: an event of the log, described for people.
#[derive(SimpleObject)]
pub struct AuditEntry {
    /// The event's place in the log; entries come in this order.
    position: i64,
    occurred_at: DateTime<Utc>,
    event_type: String,
    aggregate_type: String,
    aggregate_id: ID,
    /// Who caused it: `user:…`, `client:…` (an admin or client application), `cli`, or
    /// `identifier:…` (a pseudonym for a sign-in name that matched nobody).
    actor: Option<String>,
    application_id: Option<ID>,
    user_id: Option<ID>,
    organization_id: Option<ID>,
    ip: Option<String>,
    user_agent: Option<String>,
    request_id: Option<String>,
    /// The event's fields; digests, sealed keys and password hashes are never here.
    details: Json<serde_json::Value>,
    /// The event's hash in the log (hex).
    hash: String,
}

impl From<audit::AuditEntry> for AuditEntry {
    fn from(e: audit::AuditEntry) -> Self {
        AuditEntry {
            position: e.position,
            occurred_at: e.occurred_at,
            event_type: e.event_type,
            aggregate_type: e.aggregate_type,
            aggregate_id: ID(e.aggregate_id),
            actor: e.actor,
            application_id: e.application_id.map(ID),
            user_id: e.user_id.map(ID),
            organization_id: e.organization_id.map(ID),
            ip: e.ip,
            user_agent: e.user_agent,
            request_id: e.request_id,
            details: Json(e.details),
            hash: e.hash,
        }
    }
}

/// Every condition given must hold. `from` is inclusive, `to` exclusive.
#[derive(InputObject, Default)]
pub struct AuditLogFilter {
    user_id: Option<ID>,
    application_id: Option<ID>,
    organization_id: Option<ID>,
    actor: Option<String>,
    event_types: Option<Vec<String>>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
}

impl From<AuditLogFilter> for AuditFilter {
    fn from(f: AuditLogFilter) -> Self {
        AuditFilter {
            user_id: f.user_id.map(|i| i.0),
            application_id: f.application_id.map(|i| i.0),
            organization_id: f.organization_id.map(|i| i.0),
            actor: f.actor,
            event_types: f.event_types.unwrap_or_default(),
            from: f.from,
            to: f.to,
        }
    }
}

/// The result of walking the whole log (what `sigil events verify` does).
#[derive(SimpleObject)]
pub struct LogIntegrity {
    ok: bool,
    /// Everything up to here is bound by a verified signed checkpoint.
    verified_through: i64,
    first_bad_position: Option<i64>,
    /// What is wrong at `firstBadPosition`.
    reason: Option<String>,
    last_position: i64,
    events: u64,
    checkpoints: u64,
}

#[derive(Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    /// The audit trail in position order. The read model follows the log within moments of
    /// an append; `after` is the cursor of the last entry already read.
    #[graphql(complexity = "first.unwrap_or(20).max(0) as usize * child_complexity")]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        filter: Option<AuditLogFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<OpaqueCursor<i64>, AuditEntry, EmptyFields, EmptyFields>>
    {
        let first = i64::from(first.unwrap_or(DEFAULT_PAGE));
        if !(0..=i64::from(MAX_PAGE)).contains(&first) {
            return Err(
                ApiError::validation(format!("first must be between 0 and {MAX_PAGE}")).into(),
            );
        }
        let after_position = match &after {
            Some(a) => {
                use async_graphql::connection::CursorType;
                OpaqueCursor::<i64>::decode_cursor(a)
                    .map_err(|_| ApiError::validation("the cursor is not one this API gave out"))?
                    .0
            }
            None => 0,
        };
        let filter: AuditFilter = filter.unwrap_or_default().into();
        let state = app(ctx);
        let mut rows = audit::page(state.store.pool(), &filter, after_position, first + 1)
            .await
            .map_err(ApiError::from)?;
        let has_next = rows.len() as i64 > first;
        rows.truncate(first as usize);
        let mut connection = Connection::new(after.is_some(), has_next);
        connection.edges.extend(
            rows.into_iter()
                .map(|e| Edge::new(OpaqueCursor(e.position), AuditEntry::from(e))),
        );
        Ok(connection)
    }

    /// Walks every stream's hash chain and every signed checkpoint. It reads the whole log,
    /// so it takes as long as `sigil events verify`.
    async fn log_integrity(&self, ctx: &Context<'_>) -> async_graphql::Result<LogIntegrity> {
        let state = app(ctx);
        let report = state
            .store
            .verify(&state.checkpoint_verifier)
            .await
            .map_err(ApiError::from)?;
        Ok(LogIntegrity {
            ok: report.ok(),
            verified_through: report.verified_through,
            first_bad_position: report.first_bad.as_ref().map(|p| p.position),
            reason: report.first_bad.map(|p| p.reason),
            last_position: report.last_position,
            events: report.events,
            checkpoints: report.checkpoints,
        })
    }
}

/// How often a live subscriber looks for new entries when no append woke it: the read model
/// may be written by another node, whose appends this node hears only through PostgreSQL.
pub const POLL: Duration = Duration::from_millis(250);
