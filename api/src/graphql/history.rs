//! Point-in-time answers (`user(id:, asOf:)`, `application(id:, asOf:)`): each aggregate is
//! folded from its own stream up to the instant asked about, with the same `apply` that
//! decides today. There is no history table that could drift from the log.
//!
//! A user's consents and organization memberships live on other streams (one per consent,
//! one per organization); they are found through the log's stream ids and payloads and folded
//! the same way.

use std::sync::Arc;

use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};
use sigil_domain::consent::{Consent as DomainConsent, ConsentEvent};
use sigil_domain::organization::Organization as DomainOrg;
use sigil_domain::{ACCESS_CONTROL_ID, AccessControl};
use sigil_eventstore::micros_to_utc;
use sigil_eventstore::sqlx;

use super::app;
use super::applications::{self, Application};
use super::error::{ApiError, ApiResult};
use super::organizations::{self, Organization};
use crate::commands::fold_as_of;
use crate::state::AppState;

/// "Now" for the questions that take an optional instant.
pub fn instant(as_of: Option<DateTime<Utc>>) -> i64 {
    as_of.map_or(i64::MAX, |t| t.timestamp_micros())
}

/// The RBAC definitions as they stood at `as_of`.
pub async fn access_control_at(state: &AppState, as_of: i64) -> ApiResult<Arc<AccessControl>> {
    let (ac, _) = state
        .commands
        .load_as_of::<AccessControl>(ACCESS_CONTROL_ID, as_of)
        .await?;
    Ok(Arc::new(ac))
}

/// A user's consent to one application.
pub struct Consent {
    application_id: String,
    scopes: Vec<String>,
    updated_at: i64,
}

#[Object]
impl Consent {
    async fn application_id(&self) -> ID {
        ID(self.application_id.clone())
    }
    /// Null when the application has since been deleted.
    async fn application(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Application>> {
        Ok(applications::find(app(ctx), &self.application_id).await?)
    }
    /// Granted scopes: user scopes by name, resource and organization scopes by id.
    async fn scopes(&self) -> &[String] {
        &self.scopes
    }
    /// When it last changed (a grant or a revocation).
    async fn updated_at(&self) -> DateTime<Utc> {
        micros_to_utc(self.updated_at)
    }
}

/// The consents `user_id` held at `as_of`: those with at least one scope.
pub async fn consents_at(state: &AppState, user_id: &str, as_of: i64) -> ApiResult<Vec<Consent>> {
    // Consent streams are `{user}:{client}`: a range on the id finds them with the index.
    // A user id that itself contains ':' could match another's prefix, so the grant's own
    // user_id is checked below.
    let prefix = format!("{user_id}:");
    let upper = format!("{user_id};");
    let streams: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT aggregate_id FROM events WHERE aggregate_type = 'consent' \
         AND aggregate_id >= $1 AND aggregate_id < $2 AND occurred_at <= $3 ORDER BY aggregate_id",
    )
    .bind(&prefix)
    .bind(&upper)
    .bind(as_of)
    .fetch_all(state.store.pool())
    .await?;
    let mut consents = Vec::new();
    for stream in streams {
        // One read of the stream: its first event names whose consent it is, to which app.
        let events = state.store.stream("consent", &stream, 0).await?;
        let Some(ConsentEvent::ConsentGranted {
            user_id: owner,
            client_id,
            ..
        }) = events
            .first()
            .and_then(|e| serde_json::from_str(&e.payload).ok())
        else {
            continue;
        };
        if owner != user_id {
            continue;
        }
        let (consent, last) = fold_as_of::<DomainConsent>(events, as_of)?;
        if consent.scopes().is_empty() {
            continue;
        }
        consents.push(Consent {
            application_id: client_id,
            scopes: consent.scopes().iter().cloned().collect(),
            updated_at: last.map_or(0, |e| e.occurred_at),
        });
    }
    Ok(consents)
}

/// The organizations `user_id` belonged to at `as_of`.
pub async fn organizations_at(
    state: &AppState,
    user_id: &str,
    as_of: i64,
) -> ApiResult<Vec<Organization>> {
    // A coarse filter on the payload (it may match more, never less: the id appears quoted
    // in the event's `user_ids`); each candidate is then folded and asked.
    let quoted = serde_json::to_string(user_id).map_err(ApiError::internal)?;
    let candidates: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT aggregate_id FROM events WHERE aggregate_type = 'organization' \
         AND event_type = 'OrganizationMembersAdded' AND occurred_at <= $1 \
         AND payload LIKE $2 ORDER BY aggregate_id",
    )
    .bind(as_of)
    .bind(format!("%{quoted}%"))
    .fetch_all(state.store.pool())
    .await?;
    let mut found = Vec::new();
    for id in candidates {
        let (org, _) = state.commands.load_as_of::<DomainOrg>(&id, as_of).await?;
        if org.is_active() && org.is_member(user_id) {
            found.push(organizations::Organization::new(id, org));
        }
    }
    Ok(found)
}
