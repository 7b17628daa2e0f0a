//! `rm_audit_log`: the audit trail. One entry per event of the log (every event is a state
//! change somebody may have to account for: a sign-in, a token, a revocation, an admin's
//! change), with who caused it, from where, and which application, user and organization it
//! is about. The entry's `details` are the event's payload with every secret-bearing field
//! left out.
//!
//! Later events of a stream often do not repeat whom the stream is about (a refresh-token
//! family's rotation names no user), so the first event that says it is remembered in
//! `rm_audit_streams` and fills the gaps of the ones after.

use std::collections::{BTreeMap, HashMap, HashSet};

use async_trait::async_trait;
use serde_json::{Map, Value};
use sigil_eventstore::sqlx::{self, AnyConnection, Row};
use sigil_eventstore::{Backend, StoredEvent, placeholders};

use crate::rows::{Column, insert_rows};
use crate::{Projection, ProjectionError};

pub struct AuditView;

/// Whom an event is about.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attribution {
    pub application_id: Option<String>,
    pub user_id: Option<String>,
    pub organization_id: Option<String>,
}

impl Attribution {
    /// What the event itself says: its stream when the stream is an application, a user or an
    /// organization, otherwise the payload's `client_id`, `user_id`/`subject` and
    /// `organization_id`.
    pub fn of(event: &StoredEvent, payload: &Value) -> Attribution {
        let field = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| payload.get(*n).and_then(Value::as_str))
                .map(str::to_owned)
        };
        let own = |kind: &str| (event.aggregate_type == kind).then(|| event.aggregate_id.clone());
        Attribution {
            application_id: own("application").or_else(|| field(&["client_id"])),
            user_id: own("user").or_else(|| field(&["user_id", "subject"])),
            organization_id: own("organization").or_else(|| field(&["organization_id"])),
        }
    }

    fn is_empty(&self) -> bool {
        self.application_id.is_none() && self.user_id.is_none() && self.organization_id.is_none()
    }

    /// Fills what this one lacks from `other`.
    fn or(self, other: &Attribution) -> Attribution {
        Attribution {
            application_id: self.application_id.or_else(|| other.application_id.clone()),
            user_id: self.user_id.or_else(|| other.user_id.clone()),
            organization_id: self
                .organization_id
                .or_else(|| other.organization_id.clone()),
        }
    }
}

/// The fields of an event: the log stores enums externally tagged (`{"Kind": {…}}`, or
/// `"Kind"` for one without fields).
pub fn fields(event: &StoredEvent) -> Value {
    match serde_json::from_str::<Value>(&event.payload) {
        Ok(Value::Object(mut outer)) if outer.len() == 1 => match outer.remove(&event.event_type) {
            Some(inner @ Value::Object(_)) => inner,
            Some(Value::Null) | None => Value::Object(outer),
            Some(other) => serde_json::json!({ "value": other }),
        },
        Ok(Value::String(_)) | Ok(Value::Null) => Value::Object(Map::new()),
        Ok(other) => other,
        Err(_) => Value::Object(Map::new()),
    }
}

/// Field names that carry a secret or something derived from one. Digests are not secrets,
/// but an audit reader has no use for them and a leaked table should not help anyone guess.
const REDACTED: &[&str] = &[
    "digest", "secret", "sealed", "password", "private", "hash", "verifier",
];

/// The payload with every field whose name mentions a secret left out, at any depth.
pub fn redact(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(k, _)| {
                    let k = k.to_ascii_lowercase();
                    // `access_token_id` names a token's stream, not the token.
                    k.ends_with("_id")
                        || k.ends_with("_ids")
                        || !REDACTED.iter().any(|r| k.contains(r))
                })
                .map(|(k, v)| (k, redact(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(redact).collect()),
        other => other,
    }
}

impl AuditView {
    /// What `rm_audit_streams` remembers of the streams whose memory the batch needs: those
    /// that enter the batch past their first event. One query per stream type.
    async fn remembered(
        tx: &mut AnyConnection,
        events: &[&StoredEvent],
    ) -> Result<HashMap<(String, String), Attribution>, ProjectionError> {
        let mut seen = HashSet::new();
        let mut wanted: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for event in events {
            let key = (event.aggregate_type.as_str(), event.aggregate_id.as_str());
            if !self_describing(key.0) && seen.insert(key) && event.sequence > 1 {
                wanted.entry(key.0).or_default().push(key.1);
            }
        }
        let mut remembered = HashMap::new();
        for (aggregate_type, ids) in wanted {
            for chunk in ids.chunks(IDS_PER_QUERY) {
                let sql = format!(
                    "SELECT aggregate_id, application_id, user_id, organization_id \
                     FROM rm_audit_streams WHERE aggregate_type = $1 AND aggregate_id IN ({})",
                    placeholders(2, chunk.len())
                );
                let sql = Backend::of(tx).parameters(&sql);
                let mut query = sqlx::query(&sql).bind(aggregate_type);
                for id in chunk {
                    query = query.bind(*id);
                }
                for row in query.fetch_all(&mut *tx).await? {
                    let id: String = row.try_get("aggregate_id")?;
                    let who = Attribution {
                        application_id: row.try_get("application_id")?,
                        user_id: row.try_get("user_id")?,
                        organization_id: row.try_get("organization_id")?,
                    };
                    remembered.insert((aggregate_type.to_owned(), id), who);
                }
            }
        }
        Ok(remembered)
    }
}

/// Stream ids per `IN (…)` list when the streams' memory is read.
const IDS_PER_QUERY: usize = 100;

/// Streams whose own id says whom they are about need no memory.
fn self_describing(aggregate_type: &str) -> bool {
    matches!(aggregate_type, "application" | "user" | "organization")
}

#[async_trait]
impl Projection for AuditView {
    fn name(&self) -> &'static str {
        "audit"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["rm_audit_log", "rm_audit_streams"]
    }

    async fn apply(
        &self,
        tx: &mut AnyConnection,
        event: &StoredEvent,
    ) -> Result<(), ProjectionError> {
        self.apply_batch(tx, &[event]).await
    }

    /// Whom each event is about: the streams' memory is read for the whole batch at once and
    /// kept in a map; then the entries and the changed memories are written a few dozen rows
    /// per statement.
    async fn apply_batch(
        &self,
        tx: &mut AnyConnection,
        events: &[&StoredEvent],
    ) -> Result<(), ProjectionError> {
        let stored = Self::remembered(tx, events).await?;
        let mut memory: HashMap<(&str, &str), Attribution> = HashMap::new();
        let mut changed: HashSet<(&str, &str)> = HashSet::new();
        let mut entries = Vec::with_capacity(events.len());
        for event in events {
            let payload = fields(event);
            let own = Attribution::of(event, &payload);
            let who = if self_describing(&event.aggregate_type) {
                own
            } else {
                let key = (event.aggregate_type.as_str(), event.aggregate_id.as_str());
                let remembered = match memory.get(&key) {
                    Some(known) => known.clone(),
                    None => stored
                        .get(&(key.0.to_owned(), key.1.to_owned()))
                        .cloned()
                        .unwrap_or_default(),
                };
                let who = own.or(&remembered);
                if !who.is_empty() && who != remembered {
                    changed.insert(key);
                    memory.insert(key, who.clone());
                } else {
                    memory.insert(key, remembered);
                }
                who
            };
            entries.push((event, who, redact(payload).to_string()));
        }
        let changed: Vec<(&str, &str, Attribution)> = changed
            .into_iter()
            .map(|key| (key.0, key.1, memory.get(&key).cloned().unwrap_or_default()))
            .collect();
        Self::remember_all(tx, &changed).await?;
        Self::insert_entries(tx, &entries).await
    }
}

impl AuditView {
    async fn remember_all(
        tx: &mut AnyConnection,
        streams: &[(&str, &str, Attribution)],
    ) -> Result<(), ProjectionError> {
        let rows: Vec<_> = streams
            .iter()
            .map(|(aggregate_type, aggregate_id, who)| {
                (
                    aggregate_type,
                    aggregate_id,
                    &who.application_id,
                    &who.user_id,
                    &who.organization_id,
                )
            })
            .collect();
        insert_rows(
            tx,
            "INSERT INTO rm_audit_streams (aggregate_type, aggregate_id, application_id, \
             user_id, organization_id)",
            &[Column::Text; 5],
            "ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET \
             application_id = excluded.application_id, user_id = excluded.user_id, \
             organization_id = excluded.organization_id",
            &rows,
        )
        .await
    }

    async fn insert_entries(
        tx: &mut AnyConnection,
        entries: &[(&&StoredEvent, Attribution, String)],
    ) -> Result<(), ProjectionError> {
        use Column::{BigInt, Text};
        let rows: Vec<_> = entries
            .iter()
            .map(|(event, who, details)| {
                let metadata = event.metadata();
                (
                    event.position,
                    event.occurred_at,
                    &event.event_type,
                    &event.aggregate_type,
                    &event.aggregate_id,
                    metadata.actor,
                    &who.application_id,
                    &who.user_id,
                    &who.organization_id,
                    metadata.ip,
                    metadata.user_agent,
                    metadata.request_id,
                    details,
                    hex::encode(event.hash),
                )
            })
            .collect();
        insert_rows(
            tx,
            "INSERT INTO rm_audit_log (position, occurred_at, event_type, aggregate_type, \
             aggregate_id, actor, application_id, user_id, organization_id, ip, user_agent, \
             request_id, details, hash)",
            &[
                BigInt, BigInt, Text, Text, Text, Text, Text, Text, Text, Text, Text, Text, Text,
                Text,
            ],
            "",
            &rows,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(aggregate_type: &str, id: &str, event_type: &str, payload: Value) -> StoredEvent {
        StoredEvent {
            position: 1,
            aggregate_type: aggregate_type.into(),
            aggregate_id: id.into(),
            sequence: 1,
            event_type: event_type.into(),
            event_version: "1.0".into(),
            payload: payload.to_string(),
            metadata: "{}".into(),
            occurred_at: 0,
            hash: [0; 32],
        }
    }

    #[test]
    fn fields_unwrap_the_enum_tag() {
        let e = event(
            "consent",
            "u:c",
            "ConsentGranted",
            json!({"ConsentGranted": {"user_id": "u", "client_id": "c", "scopes": ["openid"]}}),
        );
        assert_eq!(fields(&e)["client_id"], "c");
        let unit = event("session", "s", "SessionEnded", json!("SessionEnded"));
        assert_eq!(fields(&unit), json!({}));
    }

    #[test]
    fn attribution_reads_the_stream_then_the_payload() {
        let token = event(
            "access_token",
            "t1",
            "AccessTokenIssued",
            json!({"AccessTokenIssued": {"client_id": "app", "subject": "alice"}}),
        );
        let who = Attribution::of(&token, &fields(&token));
        assert_eq!(who.application_id.as_deref(), Some("app"));
        assert_eq!(who.user_id.as_deref(), Some("alice"));

        let user = event(
            "user",
            "bob",
            "UserRolesAssigned",
            json!({"UserRolesAssigned": {"role_ids": ["r"]}}),
        );
        assert_eq!(
            Attribution::of(&user, &fields(&user)).user_id.as_deref(),
            Some("bob")
        );
    }

    #[test]
    fn secrets_and_digests_never_reach_the_details() {
        let details = redact(json!({
            "token_digest": "d1",
            "client_secret_digest": "d2",
            "sealed_private_key": "k",
            "password_hash": "h",
            "from_digest": "d3",
            "nested": [{"code_digest": "d4", "scope": ["openid"]}],
            "access_token_id": "t1",
            "revoke_access_token_ids": ["t2"],
            "client_id": "app",
        }));
        let text = details.to_string();
        for secret in ["d1", "d2", "\"k\"", "\"h\"", "d3", "d4"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert_eq!(details["access_token_id"], "t1");
        assert_eq!(details["revoke_access_token_ids"][0], "t2");
        assert_eq!(details["nested"][0]["scope"][0], "openid");
        assert_eq!(details["client_id"], "app");
    }
}
