//! Reading the audit trail (`rm_audit_log`, kept by `sigil_projections::AuditView`): one
//! query, shared by the GraphQL `auditLog` and `auditEvents` and by `sigil audit export`.
//! Entries come in position order, the log's own order, and pages are keyed by position, so
//! reading the whole trail takes constant memory however long it is.

pub mod export;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;
use sigil_eventstore::sqlx::{self, AnyPool, Row, any::AnyRow};
use sigil_eventstore::{micros_to_utc, placeholders};

/// One entry of the audit trail.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AuditEntry {
    pub position: i64,
    #[serde(serialize_with = "rfc3339")]
    pub occurred_at: DateTime<Utc>,
    pub event_type: String,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub actor: Option<String>,
    pub application_id: Option<String>,
    pub user_id: Option<String>,
    pub organization_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    /// The event's fields, secrets left out.
    pub details: Value,
    /// The event's hash in the log (hex), to check the entry against it.
    pub hash: String,
}

fn rfc3339<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Micros, true))
}

/// Which entries: every condition given must hold. `from` is inclusive, `to` exclusive.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub user_id: Option<String>,
    pub application_id: Option<String>,
    pub organization_id: Option<String>,
    pub actor: Option<String>,
    pub event_types: Vec<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

enum Arg {
    Text(String),
    Int(i64),
}

impl AuditFilter {
    /// The `WHERE` clause (after `position > $1`) and its arguments, numbered from `$2`.
    fn clause(&self) -> (String, Vec<Arg>) {
        let mut sql = String::from("position > $1");
        let mut args = Vec::new();
        let mut push = |sql: &mut String, column: &str, op: &str, arg: Arg| {
            args.push(arg);
            sql.push_str(&format!(" AND {column} {op} ${}", args.len() + 1));
        };
        for (column, value) in [
            ("user_id", &self.user_id),
            ("application_id", &self.application_id),
            ("organization_id", &self.organization_id),
            ("actor", &self.actor),
        ] {
            if let Some(v) = value {
                push(&mut sql, column, "=", Arg::Text(v.clone()));
            }
        }
        if let Some(from) = self.from {
            push(
                &mut sql,
                "occurred_at",
                ">=",
                Arg::Int(from.timestamp_micros()),
            );
        }
        if let Some(to) = self.to {
            push(
                &mut sql,
                "occurred_at",
                "<",
                Arg::Int(to.timestamp_micros()),
            );
        }
        if !self.event_types.is_empty() {
            sql.push_str(&format!(
                " AND event_type IN ({})",
                placeholders(args.len() + 2, self.event_types.len())
            ));
            args.extend(self.event_types.iter().cloned().map(Arg::Text));
        }
        (sql, args)
    }
}

/// Up to `limit` entries after position `after` that match `filter`, in position order.
pub async fn page(
    pool: &AnyPool,
    filter: &AuditFilter,
    after: i64,
    limit: i64,
) -> Result<Vec<AuditEntry>, sqlx::Error> {
    let (clause, args) = filter.clause();
    let sql = format!(
        "SELECT position, occurred_at, event_type, aggregate_type, aggregate_id, actor, \
         application_id, user_id, organization_id, ip, user_agent, request_id, details, hash \
         FROM rm_audit_log WHERE {clause} ORDER BY position LIMIT ${}",
        args.len() + 2
    );
    let mut query = sqlx::query(&sql).bind(after);
    for arg in args {
        query = match arg {
            Arg::Text(t) => query.bind(t),
            Arg::Int(i) => query.bind(i),
        };
    }
    let rows = query.bind(limit).fetch_all(pool).await?;
    rows.iter().map(entry).collect()
}

fn entry(row: &AnyRow) -> Result<AuditEntry, sqlx::Error> {
    let details: String = row.try_get("details")?;
    Ok(AuditEntry {
        position: row.try_get("position")?,
        occurred_at: micros_to_utc(row.try_get("occurred_at")?),
        event_type: row.try_get("event_type")?,
        aggregate_type: row.try_get("aggregate_type")?,
        aggregate_id: row.try_get("aggregate_id")?,
        actor: row.try_get("actor")?,
        application_id: row.try_get("application_id")?,
        user_id: row.try_get("user_id")?,
        organization_id: row.try_get("organization_id")?,
        ip: row.try_get("ip")?,
        user_agent: row.try_get("user_agent")?,
        request_id: row.try_get("request_id")?,
        details: serde_json::from_str(&details).unwrap_or(Value::Null),
        hash: row.try_get("hash")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_in_order() {
        let filter = AuditFilter {
            user_id: Some("u".into()),
            actor: Some("client:x".into()),
            event_types: vec!["A".into(), "B".into()],
            from: Some(micros_to_utc(5)),
            ..AuditFilter::default()
        };
        let (sql, args) = filter.clause();
        assert_eq!(
            sql,
            "position > $1 AND user_id = $2 AND actor = $3 AND occurred_at >= $4 \
             AND event_type IN ($5, $6)"
        );
        assert_eq!(args.len(), 5);
    }
}
