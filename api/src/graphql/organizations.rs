//! Organizations (multi-tenant B2B): members and the organization roles each member holds.
//! The roles and scopes themselves are the organization template (access_control).

use std::sync::Arc;

use async_graphql::{Context, ID, InputObject, Object};
use sigil_domain::organization::{Organization as DomainOrg, OrganizationCommand};
use sigil_eventstore::sqlx;

use super::access_control::{self, OrganizationRole};
use super::error::{ApiError, ApiResult};
use super::pagination::like;
use super::users::{self, User};
use super::{app, command_context, ids, new_id, settle};
use crate::state::AppState;

pub struct Organization {
    id: String,
    org: DomainOrg,
}

pub struct OrganizationMember {
    organization: Arc<DomainOrg>,
    user_id: String,
}

impl Organization {
    pub fn new(id: String, org: DomainOrg) -> Organization {
        Organization { id, org }
    }
}

#[Object]
impl Organization {
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }
    async fn name(&self) -> &str {
        self.org.name()
    }
    async fn description(&self) -> Option<&str> {
        self.org.description()
    }
    async fn members(&self) -> Vec<OrganizationMember> {
        let org = Arc::new(self.org.clone());
        self.org
            .members()
            .keys()
            .map(|user_id| OrganizationMember {
                organization: org.clone(),
                user_id: user_id.clone(),
            })
            .collect()
    }
}

#[Object]
impl OrganizationMember {
    async fn user_id(&self) -> ID {
        ID(self.user_id.clone())
    }
    /// Null when the user has since been deleted.
    async fn user(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        match users::load(app(ctx), &self.user_id).await {
            Ok(u) => Ok(Some(u)),
            Err(e) if e.code == super::Code::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
    async fn roles(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<OrganizationRole>> {
        let ac = access_control::load(app(ctx)).await?;
        Ok(self
            .organization
            .member_roles(&self.user_id)
            .into_iter()
            .flatten()
            .filter_map(|id| ac.organization_role(id))
            .map(|role| OrganizationRole {
                ac: ac.clone(),
                role: role.clone(),
            })
            .collect())
    }
}

pub async fn load(state: &AppState, id: &str) -> ApiResult<Organization> {
    let (org, _) = state.commands.load::<DomainOrg>(id).await?;
    if !org.is_active() {
        return Err(ApiError::not_found("organization"));
    }
    Ok(Organization {
        id: id.to_string(),
        org,
    })
}

/// The organizations of `ids` that still exist (the read model may be a moment behind a
/// deletion).
async fn load_all(state: &AppState, ids: Vec<String>) -> ApiResult<Vec<Organization>> {
    let mut all = Vec::with_capacity(ids.len());
    for id in ids {
        match load(state, &id).await {
            Ok(org) => all.push(org),
            Err(e) if e.code == super::Code::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(all)
}

/// The organizations `user_id` is a member of (the read model's view).
pub async fn organizations_of(state: &AppState, user_id: &str) -> ApiResult<Vec<Organization>> {
    let ids = crate::oidc::organizations::member_of(state.store.pool(), user_id).await?;
    load_all(state, ids).await
}

#[derive(InputObject)]
pub struct CreateOrganizationInput {
    name: String,
    description: Option<String>,
}

#[derive(InputObject)]
pub struct UpdateOrganizationInput {
    name: Option<String>,
    /// `""` clears it.
    description: Option<String>,
}

#[derive(Default)]
pub struct OrganizationQuery;

#[Object]
impl OrganizationQuery {
    async fn organization(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<Organization>> {
        match load(app(ctx), &id).await {
            Ok(o) => Ok(Some(o)),
            Err(e) if e.code == super::Code::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Organizations in the order they were created; `search` matches part of the name.
    async fn organizations(
        &self,
        ctx: &Context<'_>,
        search: Option<String>,
    ) -> async_graphql::Result<Vec<Organization>> {
        let state = app(ctx);
        let pattern = like(&search.unwrap_or_default());
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM rm_organizations WHERE LOWER(name) LIKE $1 ORDER BY created_at, id",
        )
        .bind(pattern)
        .fetch_all(state.store.pool())
        .await
        .map_err(ApiError::from)?;
        Ok(load_all(state, ids).await?)
    }
}

#[derive(Default)]
pub struct OrganizationMutation;

#[Object]
impl OrganizationMutation {
    async fn create_organization(
        &self,
        ctx: &Context<'_>,
        input: CreateOrganizationInput,
    ) -> async_graphql::Result<Organization> {
        let id = new_id();
        let command = OrganizationCommand::Create {
            name: input.name,
            description: input.description,
        };
        Ok(run(ctx, &id, command).await?)
    }

    async fn update_organization(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateOrganizationInput,
    ) -> async_graphql::Result<Organization> {
        let command = OrganizationCommand::Update {
            name: input.name,
            description: input.description,
        };
        Ok(run(ctx, &id, command).await?)
    }

    async fn delete_organization(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<ID> {
        let state = app(ctx);
        state
            .commands
            .execute::<DomainOrg>(&id, OrganizationCommand::Delete, &command_context(ctx))
            .await
            .map_err(ApiError::from)?;
        settle(state).await?;
        Ok(id)
    }

    async fn add_organization_members(
        &self,
        ctx: &Context<'_>,
        organization_id: ID,
        user_ids: Vec<ID>,
    ) -> async_graphql::Result<Organization> {
        let state = app(ctx);
        let user_ids: Vec<String> = ids(user_ids);
        for user_id in &user_ids {
            users::load(state, user_id).await?;
        }
        let command = OrganizationCommand::AddMembers { user_ids };
        Ok(run(ctx, &organization_id, command).await?)
    }

    async fn remove_organization_members(
        &self,
        ctx: &Context<'_>,
        organization_id: ID,
        user_ids: Vec<ID>,
    ) -> async_graphql::Result<Organization> {
        let user_ids = ids(user_ids);
        let command = OrganizationCommand::RemoveMembers { user_ids };
        Ok(run(ctx, &organization_id, command).await?)
    }

    /// Gives a member organization roles in this organization.
    async fn assign_organization_roles(
        &self,
        ctx: &Context<'_>,
        organization_id: ID,
        user_id: ID,
        organization_role_ids: Vec<ID>,
    ) -> async_graphql::Result<Organization> {
        let state = app(ctx);
        let role_ids: Vec<String> = ids(organization_role_ids);
        let ac = access_control::load(state).await?;
        if let Some(id) = role_ids
            .iter()
            .find(|id| ac.organization_role(id).is_none())
        {
            return Err(ApiError::validation(format!("no organization role with id {id}")).into());
        }
        let command = OrganizationCommand::AssignMemberRoles {
            user_id: user_id.0,
            organization_role_ids: role_ids,
        };
        Ok(run(ctx, &organization_id, command).await?)
    }

    async fn remove_organization_roles(
        &self,
        ctx: &Context<'_>,
        organization_id: ID,
        user_id: ID,
        organization_role_ids: Vec<ID>,
    ) -> async_graphql::Result<Organization> {
        let command = OrganizationCommand::RemoveMemberRoles {
            user_id: user_id.0,
            organization_role_ids: ids(organization_role_ids),
        };
        Ok(run(ctx, &organization_id, command).await?)
    }
}

async fn run(ctx: &Context<'_>, id: &str, command: OrganizationCommand) -> ApiResult<Organization> {
    let state = app(ctx);
    state
        .commands
        .execute::<DomainOrg>(id, command, &command_context(ctx))
        .await?;
    settle(state).await?;
    load(state, id).await
}
