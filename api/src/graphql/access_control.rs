//! RBAC as Logto has it: API resources named by resource indicators (RFC 8707) with their
//! scopes, roles for users and for machine-to-machine applications, and the organization
//! template (organization scopes and roles). All of it is one aggregate, so a role can only
//! ever name scopes that exist.

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, InputObject, Object};
use sigil_domain::access_control::{
    ACCESS_CONTROL_ID, AccessControl, AccessControlCommand, AccessControlError,
    ApiResource as DomainResource, OrganizationRole as DomainOrgRole,
    OrganizationScope as DomainOrgScope, ResourceScope as DomainScope, Role as DomainRole,
    RoleKind,
};

use super::error::{ApiError, ApiResult, Classify, Code};
use super::{app, command_context, ids, new_id, settle};
use crate::commands::CommandError;
use crate::state::AppState;

/// Access tokens for a resource live an hour unless the resource says otherwise.
const DEFAULT_ACCESS_TOKEN_TTL_SECS: u32 = 3600;

impl Classify for AccessControlError {
    fn code(&self) -> Code {
        use AccessControlError as E;
        match self {
            E::ApiResourceNotFound { .. }
            | E::ResourceScopeNotFound { .. }
            | E::RoleNotFound { .. }
            | E::OrganizationScopeNotFound { .. }
            | E::OrganizationRoleNotFound { .. } => Code::NotFound,
            E::IdTaken { .. }
            | E::IndicatorTaken { .. }
            | E::ScopeNameTaken { .. }
            | E::OrganizationScopeNameTaken { .. }
            | E::RoleNameTaken { .. }
            | E::OrganizationRoleNameTaken { .. } => Code::Conflict,
            E::SystemResource { .. } | E::IndicatorReserved => Code::Forbidden,
            _ => Code::Validation,
        }
    }
}

/// The configuration as its stream says it is now.
pub async fn load(state: &AppState) -> ApiResult<Arc<AccessControl>> {
    let (ac, _) = state
        .commands
        .load::<AccessControl>(ACCESS_CONTROL_ID)
        .await?;
    Ok(Arc::new(ac))
}

/// Runs a command on the configuration. Every change goes through one stream, so two
/// admins racing conflict; the loser's command is decided again on the new state.
pub async fn execute(
    state: &AppState,
    command: AccessControlCommand,
    context: &crate::commands::CommandContext,
) -> ApiResult<()> {
    for attempt in 0.. {
        match state
            .commands
            .execute::<AccessControl>(ACCESS_CONTROL_ID, command.clone(), context)
            .await
        {
            Err(CommandError::Conflict) if attempt < 5 => continue,
            Err(e) => return Err(e.into()),
            Ok(_) => break,
        }
    }
    settle(state).await
}

async fn run(ctx: &Context<'_>, command: AccessControlCommand) -> ApiResult<Arc<AccessControl>> {
    let state = app(ctx);
    execute(state, command, &command_context(ctx)).await?;
    load(state).await
}

/// Refuses role ids that are not live roles of `kind`.
pub async fn check_roles(state: &AppState, role_ids: &[String], kind: RoleKind) -> ApiResult<()> {
    let ac = load(state).await?;
    let unknown = ac.unknown_roles(role_ids, kind);
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(ApiError::validation(format!(
            "no {} role with id {}",
            match kind {
                RoleKind::User => "user",
                RoleKind::MachineToMachine => "machine-to-machine",
            },
            unknown.join(", ")
        )))
    }
}

/// Refuses scope ids that name no live resource scope or organization scope.
pub async fn check_scope_ids(
    state: &AppState,
    resource_scope_ids: &[String],
    organization_scope_ids: &[String],
) -> ApiResult<()> {
    let ac = load(state).await?;
    if let Some(id) = resource_scope_ids
        .iter()
        .find(|id| ac.resource_scope(id).is_none())
    {
        return Err(ApiError::validation(format!(
            "no resource scope with id {id}"
        )));
    }
    if let Some(id) = organization_scope_ids
        .iter()
        .find(|id| ac.organization_scope(id).is_none())
    {
        return Err(ApiError::validation(format!(
            "no organization scope with id {id}"
        )));
    }
    Ok(())
}

/// The live roles among `ids` (a deleted role held by a user is simply no longer shown).
pub fn roles_by_ids<'a>(
    ac: &Arc<AccessControl>,
    ids: impl Iterator<Item = &'a String>,
) -> Vec<Role> {
    ids.filter_map(|id| ac.role(id).cloned())
        .map(|role| Role {
            ac: ac.clone(),
            role,
        })
        .collect()
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "RoleType", remote = "sigil_domain::access_control::RoleKind")]
pub enum RoleType {
    User,
    MachineToMachine,
}

pub struct ApiResource {
    ac: Arc<AccessControl>,
    resource: DomainResource,
}

#[Object]
impl ApiResource {
    async fn id(&self) -> ID {
        ID(self.resource.resource_id.clone())
    }
    async fn name(&self) -> &str {
        &self.resource.name
    }
    /// The resource indicator (RFC 8707): clients send it as `resource`; tokens carry it as
    /// `aud`.
    async fn indicator(&self) -> &str {
        &self.resource.indicator
    }
    async fn access_token_ttl_seconds(&self) -> u32 {
        self.resource.access_token_ttl_secs
    }
    /// Sigil's own management API: it cannot be deleted.
    async fn is_system(&self) -> bool {
        self.resource.system
    }
    async fn scopes(&self) -> Vec<ResourceScope> {
        self.ac
            .resource_scopes(&self.resource.resource_id)
            .map(|s| ResourceScope {
                ac: self.ac.clone(),
                scope: s.clone(),
            })
            .collect()
    }
}

pub struct ResourceScope {
    ac: Arc<AccessControl>,
    scope: DomainScope,
}

#[Object]
impl ResourceScope {
    async fn id(&self) -> ID {
        ID(self.scope.scope_id.clone())
    }
    async fn name(&self) -> &str {
        &self.scope.name
    }
    async fn description(&self) -> Option<&str> {
        self.scope.description.as_deref()
    }
    async fn resource_id(&self) -> ID {
        ID(self.scope.resource_id.clone())
    }
    async fn resource(&self) -> Option<ApiResource> {
        self.ac
            .api_resource(&self.scope.resource_id)
            .map(|r| ApiResource {
                ac: self.ac.clone(),
                resource: r.clone(),
            })
    }
}

pub struct Role {
    ac: Arc<AccessControl>,
    role: DomainRole,
}

#[Object]
impl Role {
    async fn id(&self) -> ID {
        ID(self.role.role_id.clone())
    }
    async fn name(&self) -> &str {
        &self.role.name
    }
    async fn description(&self) -> Option<&str> {
        self.role.description.as_deref()
    }
    #[graphql(name = "type")]
    async fn role_type(&self) -> RoleType {
        self.role.kind.into()
    }
    async fn scopes(&self) -> Vec<ResourceScope> {
        self.role
            .scope_ids
            .iter()
            .filter_map(|id| self.ac.resource_scope(id))
            .map(|s| ResourceScope {
                ac: self.ac.clone(),
                scope: s.clone(),
            })
            .collect()
    }
}

pub struct OrganizationScope {
    scope: DomainOrgScope,
}

#[Object]
impl OrganizationScope {
    async fn id(&self) -> ID {
        ID(self.scope.scope_id.clone())
    }
    async fn name(&self) -> &str {
        &self.scope.name
    }
    async fn description(&self) -> Option<&str> {
        self.scope.description.as_deref()
    }
}

pub struct OrganizationRole {
    pub(super) ac: Arc<AccessControl>,
    pub(super) role: DomainOrgRole,
}

#[Object]
impl OrganizationRole {
    async fn id(&self) -> ID {
        ID(self.role.role_id.clone())
    }
    async fn name(&self) -> &str {
        &self.role.name
    }
    async fn description(&self) -> Option<&str> {
        self.role.description.as_deref()
    }
    async fn scopes(&self) -> Vec<OrganizationScope> {
        self.role
            .scope_ids
            .iter()
            .filter_map(|id| self.ac.organization_scope(id))
            .map(|s| OrganizationScope { scope: s.clone() })
            .collect()
    }
}

#[derive(InputObject)]
pub struct CreateApiResourceInput {
    name: String,
    /// An absolute URI without a fragment (RFC 8707 §2), unique.
    indicator: String,
    /// Between 60 and 86400; 3600 when left out.
    access_token_ttl_seconds: Option<u32>,
}

#[derive(InputObject)]
pub struct UpdateApiResourceInput {
    name: Option<String>,
    access_token_ttl_seconds: Option<u32>,
}

#[derive(InputObject)]
pub struct CreateResourceScopeInput {
    resource_id: ID,
    /// An RFC 6749 scope-token, unique within the resource.
    name: String,
    description: Option<String>,
}

#[derive(InputObject)]
pub struct CreateRoleInput {
    name: String,
    description: Option<String>,
    #[graphql(default)]
    scope_ids: Vec<ID>,
    /// USER when left out.
    #[graphql(name = "type")]
    role_type: Option<RoleType>,
}

#[derive(InputObject)]
pub struct UpdateRoleInput {
    name: Option<String>,
    description: Option<String>,
}

#[derive(InputObject)]
pub struct CreateOrganizationScopeInput {
    name: String,
    description: Option<String>,
}

#[derive(InputObject)]
pub struct CreateOrganizationRoleInput {
    name: String,
    description: Option<String>,
    #[graphql(default)]
    organization_scope_ids: Vec<ID>,
}

fn resource(ac: &Arc<AccessControl>, id: &str) -> ApiResult<ApiResource> {
    ac.api_resource(id)
        .map(|r| ApiResource {
            ac: ac.clone(),
            resource: r.clone(),
        })
        .ok_or_else(|| ApiError::not_found("API resource"))
}

fn role(ac: &Arc<AccessControl>, id: &str) -> ApiResult<Role> {
    ac.role(id)
        .map(|r| Role {
            ac: ac.clone(),
            role: r.clone(),
        })
        .ok_or_else(|| ApiError::not_found("role"))
}

fn organization_role(ac: &Arc<AccessControl>, id: &str) -> ApiResult<OrganizationRole> {
    ac.organization_role(id)
        .map(|r| OrganizationRole {
            ac: ac.clone(),
            role: r.clone(),
        })
        .ok_or_else(|| ApiError::not_found("organization role"))
}

#[derive(Default)]
pub struct AccessControlQuery;

#[Object]
impl AccessControlQuery {
    async fn api_resources(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ApiResource>> {
        let ac = load(app(ctx)).await?;
        Ok(ac
            .api_resources()
            .map(|r| ApiResource {
                ac: ac.clone(),
                resource: r.clone(),
            })
            .collect())
    }

    async fn api_resource(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<ApiResource>> {
        let ac = load(app(ctx)).await?;
        Ok(resource(&ac, &id).ok())
    }

    /// Roles, optionally only those for users or for machine-to-machine applications.
    async fn roles(
        &self,
        ctx: &Context<'_>,
        #[graphql(name = "type")] role_type: Option<RoleType>,
    ) -> async_graphql::Result<Vec<Role>> {
        let ac = load(app(ctx)).await?;
        let kind = role_type.map(RoleKind::from);
        Ok(ac
            .roles()
            .filter(|r| kind.is_none_or(|k| r.kind == k))
            .map(|r| Role {
                ac: ac.clone(),
                role: r.clone(),
            })
            .collect())
    }

    async fn role(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Role>> {
        let ac = load(app(ctx)).await?;
        Ok(role(&ac, &id).ok())
    }

    async fn organization_scopes(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<OrganizationScope>> {
        let ac = load(app(ctx)).await?;
        Ok(ac
            .organization_scopes()
            .map(|s| OrganizationScope { scope: s.clone() })
            .collect())
    }

    async fn organization_roles(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<OrganizationRole>> {
        let ac = load(app(ctx)).await?;
        Ok(ac
            .organization_roles()
            .map(|r| OrganizationRole {
                ac: ac.clone(),
                role: r.clone(),
            })
            .collect())
    }
}

#[derive(Default)]
pub struct AccessControlMutation;

#[Object]
impl AccessControlMutation {
    async fn create_api_resource(
        &self,
        ctx: &Context<'_>,
        input: CreateApiResourceInput,
    ) -> async_graphql::Result<ApiResource> {
        let id = new_id();
        let ac = run(
            ctx,
            AccessControlCommand::CreateApiResource {
                resource_id: id.clone(),
                name: input.name,
                indicator: input.indicator,
                access_token_ttl_secs: input
                    .access_token_ttl_seconds
                    .unwrap_or(DEFAULT_ACCESS_TOKEN_TTL_SECS),
                system: false,
            },
        )
        .await?;
        Ok(resource(&ac, &id)?)
    }

    async fn update_api_resource(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateApiResourceInput,
    ) -> async_graphql::Result<ApiResource> {
        let ac = run(
            ctx,
            AccessControlCommand::UpdateApiResource {
                resource_id: id.0.clone(),
                name: input.name,
                access_token_ttl_secs: input.access_token_ttl_seconds,
            },
        )
        .await?;
        Ok(resource(&ac, &id)?)
    }

    /// Deletes the resource and its scopes; roles lose those scopes. Returns the id.
    async fn delete_api_resource(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<ID> {
        run(
            ctx,
            AccessControlCommand::DeleteApiResource {
                resource_id: id.0.clone(),
            },
        )
        .await?;
        Ok(id)
    }

    async fn create_resource_scope(
        &self,
        ctx: &Context<'_>,
        input: CreateResourceScopeInput,
    ) -> async_graphql::Result<ResourceScope> {
        let id = new_id();
        let ac = run(
            ctx,
            AccessControlCommand::CreateResourceScope {
                scope_id: id.clone(),
                resource_id: input.resource_id.0,
                name: input.name,
                description: input.description,
            },
        )
        .await?;
        let scope = ac
            .resource_scope(&id)
            .cloned()
            .ok_or_else(|| ApiError::not_found("resource scope"))?;
        Ok(ResourceScope { ac, scope })
    }

    async fn delete_resource_scope(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<ID> {
        run(
            ctx,
            AccessControlCommand::DeleteResourceScope {
                scope_id: id.0.clone(),
            },
        )
        .await?;
        Ok(id)
    }

    async fn create_role(
        &self,
        ctx: &Context<'_>,
        input: CreateRoleInput,
    ) -> async_graphql::Result<Role> {
        let id = new_id();
        let ac = run(
            ctx,
            AccessControlCommand::CreateRole {
                role_id: id.clone(),
                name: input.name,
                description: input.description,
                kind: input.role_type.unwrap_or(RoleType::User).into(),
                scope_ids: ids(input.scope_ids),
            },
        )
        .await?;
        Ok(role(&ac, &id)?)
    }

    async fn update_role(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateRoleInput,
    ) -> async_graphql::Result<Role> {
        let ac = run(
            ctx,
            AccessControlCommand::UpdateRole {
                role_id: id.0.clone(),
                name: input.name,
                description: input.description,
            },
        )
        .await?;
        Ok(role(&ac, &id)?)
    }

    async fn delete_role(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<ID> {
        run(
            ctx,
            AccessControlCommand::DeleteRole {
                role_id: id.0.clone(),
            },
        )
        .await?;
        Ok(id)
    }

    async fn assign_role_scopes(
        &self,
        ctx: &Context<'_>,
        role_id: ID,
        scope_ids: Vec<ID>,
    ) -> async_graphql::Result<Role> {
        let ac = run(
            ctx,
            AccessControlCommand::AssignRoleScopes {
                role_id: role_id.0.clone(),
                scope_ids: ids(scope_ids),
            },
        )
        .await?;
        Ok(role(&ac, &role_id)?)
    }

    async fn remove_role_scopes(
        &self,
        ctx: &Context<'_>,
        role_id: ID,
        scope_ids: Vec<ID>,
    ) -> async_graphql::Result<Role> {
        let ac = run(
            ctx,
            AccessControlCommand::RemoveRoleScopes {
                role_id: role_id.0.clone(),
                scope_ids: ids(scope_ids),
            },
        )
        .await?;
        Ok(role(&ac, &role_id)?)
    }

    async fn create_organization_scope(
        &self,
        ctx: &Context<'_>,
        input: CreateOrganizationScopeInput,
    ) -> async_graphql::Result<OrganizationScope> {
        let id = new_id();
        let ac = run(
            ctx,
            AccessControlCommand::CreateOrganizationScope {
                scope_id: id.clone(),
                name: input.name,
                description: input.description,
            },
        )
        .await?;
        let scope = ac
            .organization_scope(&id)
            .cloned()
            .ok_or_else(|| ApiError::not_found("organization scope"))?;
        Ok(OrganizationScope { scope })
    }

    async fn delete_organization_scope(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<ID> {
        run(
            ctx,
            AccessControlCommand::DeleteOrganizationScope {
                scope_id: id.0.clone(),
            },
        )
        .await?;
        Ok(id)
    }

    async fn create_organization_role(
        &self,
        ctx: &Context<'_>,
        input: CreateOrganizationRoleInput,
    ) -> async_graphql::Result<OrganizationRole> {
        let id = new_id();
        let ac = run(
            ctx,
            AccessControlCommand::CreateOrganizationRole {
                role_id: id.clone(),
                name: input.name,
                description: input.description,
                scope_ids: ids(input.organization_scope_ids),
            },
        )
        .await?;
        Ok(organization_role(&ac, &id)?)
    }

    async fn delete_organization_role(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<ID> {
        run(
            ctx,
            AccessControlCommand::DeleteOrganizationRole {
                role_id: id.0.clone(),
            },
        )
        .await?;
        Ok(id)
    }

    async fn assign_organization_role_scopes(
        &self,
        ctx: &Context<'_>,
        organization_role_id: ID,
        organization_scope_ids: Vec<ID>,
    ) -> async_graphql::Result<OrganizationRole> {
        let ac = run(
            ctx,
            AccessControlCommand::AssignOrganizationRoleScopes {
                role_id: organization_role_id.0.clone(),
                scope_ids: ids(organization_scope_ids),
            },
        )
        .await?;
        Ok(organization_role(&ac, &organization_role_id)?)
    }

    async fn remove_organization_role_scopes(
        &self,
        ctx: &Context<'_>,
        organization_role_id: ID,
        organization_scope_ids: Vec<ID>,
    ) -> async_graphql::Result<OrganizationRole> {
        let ac = run(
            ctx,
            AccessControlCommand::RemoveOrganizationRoleScopes {
                role_id: organization_role_id.0.clone(),
                scope_ids: ids(organization_scope_ids),
            },
        )
        .await?;
        Ok(organization_role(&ac, &organization_role_id)?)
    }
}
