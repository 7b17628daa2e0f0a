//! The access-control aggregate: Sigil's whole role-based access control
//! configuration, shaped as Logto has it. API resources (RFC 8707) and their
//! scopes, global roles for users and machine-to-machine applications, and
//! the organization template (organization scopes and roles) that every
//! organization shares.
//!
//! A singleton (`ACCESS_CONTROL_ID`): a role names scopes and a scope names
//! a resource, and keeping them in one aggregate lets every such reference be
//! checked against one consistent state, with no cross-aggregate race.

mod command;
mod decide;
mod error;
mod event;
mod read;
mod rules;
mod types;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};

use crate::id_set;

pub use command::AccessControlCommand;
pub use error::AccessControlError;
pub use event::AccessControlEvent;
pub use rules::{is_resource_indicator, is_scope_token};
pub use types::{
    ACCESS_CONTROL_ID, ACCESS_TOKEN_TTL_SECS, ApiResource, MANAGEMENT_RESOURCE,
    MAX_DESCRIPTION_CHARS, MAX_INDICATOR_CHARS, MAX_NAME_CHARS, MAX_SCOPE_NAME_CHARS,
    OrganizationRole, OrganizationScope, ResourceScope, Role, RoleKind,
};

/// The whole configuration. The default value is the empty configuration,
/// which is where the singleton starts: there is nothing to create first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AccessControl {
    /// Every id ever used, by any kind of entry, deleted ones included: an id
    /// still named by a user, an application or a token must never come to
    /// mean something else.
    used_ids: BTreeSet<String>,
    /// How many entries were ever created; orders listings by creation.
    creations: u64,
    api_resources: BTreeMap<String, ApiResource>,
    resource_scopes: BTreeMap<String, ResourceScope>,
    roles: BTreeMap<String, Role>,
    organization_scopes: BTreeMap<String, OrganizationScope>,
    organization_roles: BTreeMap<String, OrganizationRole>,
}

type Error = AccessControlError;
type Event = AccessControlEvent;

impl Aggregate for AccessControl {
    const TYPE: &'static str = "access_control";
    type Command = AccessControlCommand;
    type Event = AccessControlEvent;
    type Error = AccessControlError;
    type Services = ();

    async fn handle(
        &mut self,
        command: AccessControlCommand,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), AccessControlError> {
        use AccessControlCommand as C;
        let event = match command {
            C::CreateApiResource {
                resource_id,
                name,
                indicator,
                access_token_ttl_secs,
                system,
            } => Some(self.create_api_resource(
                resource_id,
                &name,
                indicator,
                access_token_ttl_secs,
                system,
            )?),
            C::UpdateApiResource {
                resource_id,
                name,
                access_token_ttl_secs,
            } => self.update_api_resource(resource_id, name, access_token_ttl_secs)?,
            C::DeleteApiResource { resource_id } => {
                if self.live_api_resource(&resource_id)?.system {
                    return Err(Error::SystemResource { resource_id });
                }
                Some(Event::ApiResourceDeleted { resource_id })
            }
            C::CreateResourceScope {
                scope_id,
                resource_id,
                name,
                description,
            } => Some(self.create_resource_scope(scope_id, resource_id, name, description)?),
            C::DeleteResourceScope { scope_id } => {
                self.live_resource_scope(&scope_id)?;
                Some(Event::ResourceScopeDeleted { scope_id })
            }
            C::CreateRole {
                role_id,
                name,
                description,
                kind,
                scope_ids,
            } => Some(self.create_role(role_id, &name, description, kind, scope_ids)?),
            C::UpdateRole {
                role_id,
                name,
                description,
            } => self.update_role(role_id, name, description)?,
            C::AssignRoleScopes { role_id, scope_ids } => {
                let held = &self.live_role(&role_id)?.scope_ids;
                self.known_resource_scopes(&scope_ids)?;
                let scope_ids = id_set::added(scope_ids, held);
                (!scope_ids.is_empty()).then_some(Event::RoleScopesAssigned { role_id, scope_ids })
            }
            C::RemoveRoleScopes { role_id, scope_ids } => {
                let scope_ids = id_set::removed(scope_ids, &self.live_role(&role_id)?.scope_ids);
                (!scope_ids.is_empty()).then_some(Event::RoleScopesRemoved { role_id, scope_ids })
            }
            C::DeleteRole { role_id } => {
                self.live_role(&role_id)?;
                Some(Event::RoleDeleted { role_id })
            }
            C::CreateOrganizationScope {
                scope_id,
                name,
                description,
            } => Some(self.create_organization_scope(scope_id, name, description)?),
            C::DeleteOrganizationScope { scope_id } => {
                self.live_organization_scope(&scope_id)?;
                Some(Event::OrganizationScopeDeleted { scope_id })
            }
            C::CreateOrganizationRole {
                role_id,
                name,
                description,
                scope_ids,
            } => Some(self.create_organization_role(role_id, &name, description, scope_ids)?),
            C::AssignOrganizationRoleScopes { role_id, scope_ids } => {
                let held = &self.live_organization_role(&role_id)?.scope_ids;
                self.known_organization_scopes(&scope_ids)?;
                let scope_ids = id_set::added(scope_ids, held);
                (!scope_ids.is_empty())
                    .then_some(Event::OrganizationRoleScopesAssigned { role_id, scope_ids })
            }
            C::RemoveOrganizationRoleScopes { role_id, scope_ids } => {
                let held = &self.live_organization_role(&role_id)?.scope_ids;
                let scope_ids = id_set::removed(scope_ids, held);
                (!scope_ids.is_empty())
                    .then_some(Event::OrganizationRoleScopesRemoved { role_id, scope_ids })
            }
            C::DeleteOrganizationRole { role_id } => {
                self.live_organization_role(&role_id)?;
                Some(Event::OrganizationRoleDeleted { role_id })
            }
        };
        if let Some(event) = event {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: AccessControlEvent) {
        match event {
            Event::ApiResourceCreated {
                resource_id,
                name,
                indicator,
                access_token_ttl_secs,
                system,
            } => {
                let created = self.record_creation(&resource_id);
                let resource = ApiResource {
                    resource_id: resource_id.clone(),
                    name,
                    indicator,
                    access_token_ttl_secs,
                    system,
                    created,
                };
                self.api_resources.insert(resource_id, resource);
            }
            Event::ApiResourceUpdated {
                resource_id,
                name,
                access_token_ttl_secs,
            } => {
                if let Some(resource) = self.api_resources.get_mut(&resource_id) {
                    set(&mut resource.name, name);
                    set(&mut resource.access_token_ttl_secs, access_token_ttl_secs);
                }
            }
            Event::ApiResourceDeleted { resource_id } => {
                self.api_resources.remove(&resource_id);
                let scope_ids: Vec<String> = self
                    .resource_scopes
                    .values()
                    .filter(|scope| scope.resource_id == resource_id)
                    .map(|scope| scope.scope_id.clone())
                    .collect();
                for scope_id in scope_ids {
                    self.remove_resource_scope(&scope_id);
                }
            }
            Event::ResourceScopeCreated {
                scope_id,
                resource_id,
                name,
                description,
            } => {
                let created = self.record_creation(&scope_id);
                let scope = ResourceScope {
                    scope_id: scope_id.clone(),
                    resource_id,
                    name,
                    description,
                    created,
                };
                self.resource_scopes.insert(scope_id, scope);
            }
            Event::ResourceScopeDeleted { scope_id } => self.remove_resource_scope(&scope_id),
            Event::RoleCreated {
                role_id,
                name,
                description,
                kind,
                scope_ids,
            } => {
                let created = self.record_creation(&role_id);
                let role = Role {
                    role_id: role_id.clone(),
                    name,
                    description,
                    kind,
                    scope_ids: scope_ids.into_iter().collect(),
                    created,
                };
                self.roles.insert(role_id, role);
            }
            Event::RoleUpdated {
                role_id,
                name,
                description,
            } => {
                if let Some(role) = self.roles.get_mut(&role_id) {
                    set(&mut role.name, name);
                    if let Some(description) = description {
                        role.description = (!description.is_empty()).then_some(description);
                    }
                }
            }
            Event::RoleScopesAssigned { role_id, scope_ids } => {
                if let Some(role) = self.roles.get_mut(&role_id) {
                    role.scope_ids.extend(scope_ids);
                }
            }
            Event::RoleScopesRemoved { role_id, scope_ids } => {
                if let Some(role) = self.roles.get_mut(&role_id) {
                    for scope_id in &scope_ids {
                        role.scope_ids.remove(scope_id);
                    }
                }
            }
            Event::RoleDeleted { role_id } => {
                self.roles.remove(&role_id);
            }
            Event::OrganizationScopeCreated {
                scope_id,
                name,
                description,
            } => {
                let created = self.record_creation(&scope_id);
                let scope = OrganizationScope {
                    scope_id: scope_id.clone(),
                    name,
                    description,
                    created,
                };
                self.organization_scopes.insert(scope_id, scope);
            }
            Event::OrganizationScopeDeleted { scope_id } => {
                self.organization_scopes.remove(&scope_id);
                for role in self.organization_roles.values_mut() {
                    role.scope_ids.remove(&scope_id);
                }
            }
            Event::OrganizationRoleCreated {
                role_id,
                name,
                description,
                scope_ids,
            } => {
                let created = self.record_creation(&role_id);
                let role = OrganizationRole {
                    role_id: role_id.clone(),
                    name,
                    description,
                    scope_ids: scope_ids.into_iter().collect(),
                    created,
                };
                self.organization_roles.insert(role_id, role);
            }
            Event::OrganizationRoleScopesAssigned { role_id, scope_ids } => {
                if let Some(role) = self.organization_roles.get_mut(&role_id) {
                    role.scope_ids.extend(scope_ids);
                }
            }
            Event::OrganizationRoleScopesRemoved { role_id, scope_ids } => {
                if let Some(role) = self.organization_roles.get_mut(&role_id) {
                    for scope_id in &scope_ids {
                        role.scope_ids.remove(scope_id);
                    }
                }
            }
            Event::OrganizationRoleDeleted { role_id } => {
                self.organization_roles.remove(&role_id);
            }
        }
    }
}

// Changes to the state that more than one event makes.
impl AccessControl {
    /// Marks `id` as used for good and returns the entry's creation number.
    fn record_creation(&mut self, id: &str) -> u64 {
        self.used_ids.insert(id.to_owned());
        self.creations += 1;
        self.creations
    }

    /// A deleted scope is taken from every role, so no role grants it.
    fn remove_resource_scope(&mut self, scope_id: &str) {
        self.resource_scopes.remove(scope_id);
        for role in self.roles.values_mut() {
            role.scope_ids.remove(scope_id);
        }
    }
}

fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *field = value;
    }
}
