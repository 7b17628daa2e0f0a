//! The read models of the foundation: applications and users, for lists and admin views.
//! Secrets never reach them: no client secret digest, no password hash.

use std::sync::Arc;

use async_trait::async_trait;
use sigil_domain::{ApplicationEvent, UserEvent};
use sigil_eventstore::StoredEvent;
use sigil_eventstore::sqlx::{self, AnyConnection};

use crate::{Projection, ProjectionError};

/// Every read model, in the order `sigil serve` starts them.
pub fn all() -> Vec<Arc<dyn Projection>> {
    vec![
        Arc::new(ApplicationsView),
        Arc::new(UsersView),
        Arc::new(CorsOriginsView),
        Arc::new(crate::organizations::OrganizationsView),
        Arc::new(crate::audit::AuditView),
        Arc::new(crate::analytics::AnalyticsView),
    ]
}

pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    projection: &'static str,
    event: &StoredEvent,
) -> Result<T, ProjectionError> {
    serde_json::from_str(&event.payload).map_err(|e| ProjectionError::Unreadable {
        projection,
        position: event.position,
        event_type: event.event_type.clone(),
        reason: e.to_string(),
    })
}

/// `""` is how an update removes an optional text field.
pub(crate) fn text(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

/// `rm_applications`: one row per live application.
pub struct ApplicationsView;

#[async_trait]
impl Projection for ApplicationsView {
    fn name(&self) -> &'static str {
        "applications"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["rm_applications"]
    }

    async fn apply(
        &self,
        tx: &mut AnyConnection,
        event: &StoredEvent,
    ) -> Result<(), ProjectionError> {
        if event.aggregate_type != "application" {
            return Ok(());
        }
        let id = &event.aggregate_id;
        match decode::<ApplicationEvent>(self.name(), event)? {
            ApplicationEvent::ApplicationRegistered {
                name,
                description,
                app_type,
                is_third_party,
                ..
            } => {
                let app_type = serde_json::to_value(app_type)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                sqlx::query(
                    "INSERT INTO rm_applications (id, name, description, app_type, is_third_party, \
                     created_at, updated_at, last_position) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(id)
                .bind(name)
                .bind(text(description))
                .bind(app_type)
                .bind(is_third_party)
                .bind(event.occurred_at)
                .bind(event.occurred_at)
                .bind(event.position)
                .execute(&mut *tx)
                .await?;
            }
            ApplicationEvent::ApplicationUpdated { changes } => {
                if let Some(name) = changes.name {
                    sqlx::query("UPDATE rm_applications SET name = $1 WHERE id = $2")
                        .bind(name)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
                if let Some(description) = changes.description {
                    sqlx::query("UPDATE rm_applications SET description = $1 WHERE id = $2")
                        .bind(text(Some(description)))
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
                touch(tx, "rm_applications", event).await?;
            }
            ApplicationEvent::ClientSecretRotated { .. }
            | ApplicationEvent::ApplicationRolesAssigned { .. }
            | ApplicationEvent::ApplicationRolesRemoved { .. }
            | ApplicationEvent::ApplicationConsentScopesSet { .. }
            | ApplicationEvent::ApplicationBrandingSet { .. } => {
                touch(tx, "rm_applications", event).await?;
            }
            ApplicationEvent::ApplicationDeleted => {
                sqlx::query("DELETE FROM rm_applications WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        Ok(())
    }
}

/// `rm_users`: one row per user that is not deleted.
pub struct UsersView;

#[async_trait]
impl Projection for UsersView {
    fn name(&self) -> &'static str {
        "users"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["rm_users"]
    }

    async fn apply(
        &self,
        tx: &mut AnyConnection,
        event: &StoredEvent,
    ) -> Result<(), ProjectionError> {
        if event.aggregate_type != "user" {
            return Ok(());
        }
        let id = &event.aggregate_id;
        match decode::<UserEvent>(self.name(), event)? {
            UserEvent::UserRegistered {
                username,
                primary_email,
                name,
                ..
            } => {
                sqlx::query(
                    "INSERT INTO rm_users (id, username, primary_email, name, suspended, created_at, \
                     updated_at, last_position) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(id)
                .bind(text(username))
                .bind(text(primary_email))
                .bind(text(name))
                .bind(false)
                .bind(event.occurred_at)
                .bind(event.occurred_at)
                .bind(event.position)
                .execute(&mut *tx)
                .await?;
            }
            UserEvent::UserUpdated { changes } => {
                for (column, value) in [
                    ("username", changes.username),
                    ("primary_email", changes.primary_email),
                    ("name", changes.name),
                ] {
                    if let Some(value) = value {
                        sqlx::query(&format!("UPDATE rm_users SET {column} = $1 WHERE id = $2"))
                            .bind(text(Some(value)))
                            .bind(id)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                touch(tx, "rm_users", event).await?;
            }
            event_kind @ (UserEvent::UserSuspended | UserEvent::UserReinstated) => {
                sqlx::query("UPDATE rm_users SET suspended = $1 WHERE id = $2")
                    .bind(matches!(event_kind, UserEvent::UserSuspended))
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                touch(tx, "rm_users", event).await?;
            }
            UserEvent::UserPasswordChanged { .. }
            | UserEvent::UserRolesAssigned { .. }
            | UserEvent::UserRolesRemoved { .. }
            | UserEvent::UserIdentityLinked { .. } => touch(tx, "rm_users", event).await?,
            UserEvent::UserDeleted => {
                sqlx::query("DELETE FROM rm_users WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        Ok(())
    }
}

/// Records that an event changed the row (its time and position).
pub(crate) async fn touch(
    tx: &mut AnyConnection,
    table: &str,
    event: &StoredEvent,
) -> Result<(), ProjectionError> {
    sqlx::query(&format!(
        "UPDATE {table} SET updated_at = $1, last_position = $2 WHERE id = $3"
    ))
    .bind(event.occurred_at)
    .bind(event.position)
    .bind(&event.aggregate_id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// `rm_cors_origins`: each origin a live application lets call the token, userinfo,
/// introspection and revocation endpoints from a browser, so the api answers CORS with one
/// indexed lookup instead of loading every application from the log.
///
/// Eventually consistent, which is fine here: CORS only lets a browser show a response to a
/// page (Fetch Standard §3.2); it decides nothing about tokens, which every endpoint still
/// checks against the aggregates. An origin added a moment ago is allowed a moment later.
pub struct CorsOriginsView;

impl CorsOriginsView {
    async fn insert(
        tx: &mut AnyConnection,
        application_id: &str,
        origins: &[String],
    ) -> Result<(), ProjectionError> {
        for origin in origins {
            // The domain does not forbid listing an origin twice; the row is the same.
            sqlx::query(
                "INSERT INTO rm_cors_origins (origin, application_id) VALUES ($1, $2) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(origin)
            .bind(application_id)
            .execute(&mut *tx)
            .await?;
        }
        Ok(())
    }

    async fn remove(tx: &mut AnyConnection, application_id: &str) -> Result<(), ProjectionError> {
        sqlx::query("DELETE FROM rm_cors_origins WHERE application_id = $1")
            .bind(application_id)
            .execute(&mut *tx)
            .await?;
        Ok(())
    }
}

#[async_trait]
impl Projection for CorsOriginsView {
    fn name(&self) -> &'static str {
        "cors_origins"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["rm_cors_origins"]
    }

    async fn apply(
        &self,
        tx: &mut AnyConnection,
        event: &StoredEvent,
    ) -> Result<(), ProjectionError> {
        if event.aggregate_type != "application" {
            return Ok(());
        }
        let id = &event.aggregate_id;
        match decode::<ApplicationEvent>(self.name(), event)? {
            ApplicationEvent::ApplicationRegistered {
                cors_allowed_origins,
                ..
            } => Self::insert(tx, id, &cors_allowed_origins).await?,
            // An update carries the whole new list when the list changed.
            ApplicationEvent::ApplicationUpdated { changes } => {
                if let Some(origins) = changes.cors_allowed_origins {
                    Self::remove(tx, id).await?;
                    Self::insert(tx, id, &origins).await?;
                }
            }
            ApplicationEvent::ApplicationDeleted => Self::remove(tx, id).await?,
            ApplicationEvent::ClientSecretRotated { .. }
            | ApplicationEvent::ApplicationRolesAssigned { .. }
            | ApplicationEvent::ApplicationRolesRemoved { .. }
            | ApplicationEvent::ApplicationConsentScopesSet { .. }
            | ApplicationEvent::ApplicationBrandingSet { .. } => {}
        }
        Ok(())
    }
}
