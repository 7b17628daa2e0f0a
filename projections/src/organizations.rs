//! `rm_organizations` and `rm_organization_members`: organizations for lists, and who belongs
//! to which (the `organizations` claim reads it).

use async_trait::async_trait;
use sigil_domain::organization::OrganizationEvent;
use sigil_eventstore::StoredEvent;
use sigil_eventstore::sqlx::{self, AnyConnection};

use crate::read_models::{decode, text, touch};
use crate::{Projection, ProjectionError};

pub struct OrganizationsView;

#[async_trait]
impl Projection for OrganizationsView {
    fn name(&self) -> &'static str {
        "organizations"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["rm_organizations", "rm_organization_members"]
    }

    async fn apply(
        &self,
        tx: &mut AnyConnection,
        event: &StoredEvent,
    ) -> Result<(), ProjectionError> {
        if event.aggregate_type != "organization" {
            return Ok(());
        }
        let id = &event.aggregate_id;
        match decode::<OrganizationEvent>(self.name(), event)? {
            OrganizationEvent::OrganizationCreated { name, description } => {
                sqlx::query(
                    "INSERT INTO rm_organizations (id, name, description, created_at, updated_at, \
                     last_position) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(id)
                .bind(name)
                .bind(text(description))
                .bind(event.occurred_at)
                .bind(event.occurred_at)
                .bind(event.position)
                .execute(&mut *tx)
                .await?;
            }
            OrganizationEvent::OrganizationUpdated { name, description } => {
                if let Some(name) = name {
                    sqlx::query("UPDATE rm_organizations SET name = $1 WHERE id = $2")
                        .bind(name)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
                if let Some(description) = description {
                    sqlx::query("UPDATE rm_organizations SET description = $1 WHERE id = $2")
                        .bind(text(Some(description)))
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
                touch(tx, "rm_organizations", event).await?;
            }
            OrganizationEvent::OrganizationDeleted => {
                for table in ["rm_organizations", "rm_organization_members"] {
                    let column = if table == "rm_organizations" {
                        "id"
                    } else {
                        "organization_id"
                    };
                    sqlx::query(&format!("DELETE FROM {table} WHERE {column} = $1"))
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            OrganizationEvent::OrganizationMembersAdded { user_ids } => {
                for user_id in user_ids {
                    sqlx::query(
                        "INSERT INTO rm_organization_members (organization_id, user_id) \
                         VALUES ($1, $2)",
                    )
                    .bind(id)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
                }
                touch(tx, "rm_organizations", event).await?;
            }
            OrganizationEvent::OrganizationMembersRemoved { user_ids } => {
                for user_id in user_ids {
                    sqlx::query(
                        "DELETE FROM rm_organization_members \
                         WHERE organization_id = $1 AND user_id = $2",
                    )
                    .bind(id)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
                }
                touch(tx, "rm_organizations", event).await?;
            }
            OrganizationEvent::OrganizationMemberRolesAssigned { .. }
            | OrganizationEvent::OrganizationMemberRolesRemoved { .. } => {
                touch(tx, "rm_organizations", event).await?;
            }
        }
        Ok(())
    }
}
