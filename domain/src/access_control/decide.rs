//! Decisions: each checks a command against the state and returns the event
//! to record, or `None` when there is nothing new to record.

use std::collections::BTreeSet;

use crate::id_set;

use super::types::{
    ApiResource, OrganizationRole, OrganizationScope, ResourceScope, Role, RoleKind,
};
use super::{AccessControl, Error, Event, rules};

impl AccessControl {
    pub(super) fn create_api_resource(
        &self,
        resource_id: String,
        name: &str,
        indicator: String,
        access_token_ttl_secs: u32,
        system: bool,
    ) -> Result<Event, Error> {
        self.fresh_id(&resource_id)?;
        let name = rules::name(name)?;
        rules::indicator(&indicator)?;
        if rules::is_reserved(&indicator) && !system {
            return Err(Error::IndicatorReserved);
        }
        // The indicator is what a token request names: two live resources
        // with one indicator would make the audience ambiguous.
        if self.api_resource_by_indicator(&indicator).is_some() {
            return Err(Error::IndicatorTaken { indicator });
        }
        rules::access_token_ttl(access_token_ttl_secs)?;
        Ok(Event::ApiResourceCreated {
            resource_id,
            name,
            indicator,
            access_token_ttl_secs,
            system,
        })
    }

    pub(super) fn update_api_resource(
        &self,
        resource_id: String,
        name: Option<String>,
        access_token_ttl_secs: Option<u32>,
    ) -> Result<Option<Event>, Error> {
        let resource = self.live_api_resource(&resource_id)?;
        let name = match name {
            Some(name) => differs(rules::name(&name)?, &resource.name),
            None => None,
        };
        let access_token_ttl_secs = match access_token_ttl_secs {
            Some(secs) => {
                rules::access_token_ttl(secs)?;
                differs(secs, &resource.access_token_ttl_secs)
            }
            None => None,
        };
        if name.is_none() && access_token_ttl_secs.is_none() {
            return Ok(None);
        }
        Ok(Some(Event::ApiResourceUpdated {
            resource_id,
            name,
            access_token_ttl_secs,
        }))
    }

    pub(super) fn create_resource_scope(
        &self,
        scope_id: String,
        resource_id: String,
        name: String,
        description: Option<String>,
    ) -> Result<Event, Error> {
        self.fresh_id(&scope_id)?;
        self.live_api_resource(&resource_id)?;
        let name = rules::scope_name(&name)?;
        // Scope names are case-sensitive (RFC 6749 §3.3), and only unique
        // per resource: tokens carry the resource as their audience.
        if self.resource_scopes(&resource_id).any(|s| s.name == name) {
            return Err(Error::ScopeNameTaken { name });
        }
        Ok(Event::ResourceScopeCreated {
            scope_id,
            resource_id,
            name,
            description: rules::description(description.as_deref())?,
        })
    }

    pub(super) fn create_role(
        &self,
        role_id: String,
        name: &str,
        description: Option<String>,
        kind: RoleKind,
        scope_ids: Vec<String>,
    ) -> Result<Event, Error> {
        self.fresh_id(&role_id)?;
        let name = rules::name(name)?;
        if self.roles().any(|r| rules::same_role_name(&r.name, &name)) {
            return Err(Error::RoleNameTaken { name });
        }
        let description = rules::description(description.as_deref())?;
        self.known_resource_scopes(&scope_ids)?;
        Ok(Event::RoleCreated {
            role_id,
            name,
            description,
            kind,
            scope_ids: id_set::added(scope_ids, &BTreeSet::new()),
        })
    }

    pub(super) fn update_role(
        &self,
        role_id: String,
        name: Option<String>,
        description: Option<String>,
    ) -> Result<Option<Event>, Error> {
        let role = self.live_role(&role_id)?;
        let name = match name {
            Some(name) => {
                let name = rules::name(&name)?;
                let taken = self
                    .roles()
                    .any(|r| r.role_id != role_id && rules::same_role_name(&r.name, &name));
                if taken {
                    return Err(Error::RoleNameTaken { name });
                }
                differs(name, &role.name)
            }
            None => None,
        };
        // Recorded as "" when cleared, so the event can say so.
        let description = match description {
            Some(description) => {
                differs(rules::description(Some(&description))?, &role.description)
                    .map(Option::unwrap_or_default)
            }
            None => None,
        };
        if name.is_none() && description.is_none() {
            return Ok(None);
        }
        Ok(Some(Event::RoleUpdated {
            role_id,
            name,
            description,
        }))
    }

    pub(super) fn create_organization_scope(
        &self,
        scope_id: String,
        name: String,
        description: Option<String>,
    ) -> Result<Event, Error> {
        self.fresh_id(&scope_id)?;
        let name = rules::scope_name(&name)?;
        if self.organization_scopes().any(|s| s.name == name) {
            return Err(Error::OrganizationScopeNameTaken { name });
        }
        Ok(Event::OrganizationScopeCreated {
            scope_id,
            name,
            description: rules::description(description.as_deref())?,
        })
    }

    pub(super) fn create_organization_role(
        &self,
        role_id: String,
        name: &str,
        description: Option<String>,
        scope_ids: Vec<String>,
    ) -> Result<Event, Error> {
        self.fresh_id(&role_id)?;
        let name = rules::name(name)?;
        if self
            .organization_roles()
            .any(|r| rules::same_role_name(&r.name, &name))
        {
            return Err(Error::OrganizationRoleNameTaken { name });
        }
        let description = rules::description(description.as_deref())?;
        self.known_organization_scopes(&scope_ids)?;
        Ok(Event::OrganizationRoleCreated {
            role_id,
            name,
            description,
            scope_ids: id_set::added(scope_ids, &BTreeSet::new()),
        })
    }

    pub(super) fn fresh_id(&self, id: &str) -> Result<(), Error> {
        if self.used_ids.contains(id) {
            return Err(Error::IdTaken { id: id.to_owned() });
        }
        Ok(())
    }

    pub(super) fn known_resource_scopes(&self, scope_ids: &[String]) -> Result<(), Error> {
        let scope_ids = self.unknown_resource_scopes(scope_ids);
        if !scope_ids.is_empty() {
            return Err(Error::UnknownResourceScopes { scope_ids });
        }
        Ok(())
    }

    pub(super) fn known_organization_scopes(&self, scope_ids: &[String]) -> Result<(), Error> {
        let scope_ids = self.unknown_organization_scopes(scope_ids);
        if !scope_ids.is_empty() {
            return Err(Error::UnknownOrganizationScopes { scope_ids });
        }
        Ok(())
    }

    pub(super) fn live_api_resource(&self, resource_id: &str) -> Result<&ApiResource, Error> {
        self.api_resource(resource_id)
            .ok_or_else(|| Error::ApiResourceNotFound {
                resource_id: resource_id.to_owned(),
            })
    }

    pub(super) fn live_resource_scope(&self, scope_id: &str) -> Result<&ResourceScope, Error> {
        self.resource_scope(scope_id)
            .ok_or_else(|| Error::ResourceScopeNotFound {
                scope_id: scope_id.to_owned(),
            })
    }

    pub(super) fn live_role(&self, role_id: &str) -> Result<&Role, Error> {
        self.role(role_id).ok_or_else(|| Error::RoleNotFound {
            role_id: role_id.to_owned(),
        })
    }

    pub(super) fn live_organization_scope(
        &self,
        scope_id: &str,
    ) -> Result<&OrganizationScope, Error> {
        self.organization_scope(scope_id)
            .ok_or_else(|| Error::OrganizationScopeNotFound {
                scope_id: scope_id.to_owned(),
            })
    }

    pub(super) fn live_organization_role(&self, role_id: &str) -> Result<&OrganizationRole, Error> {
        self.organization_role(role_id)
            .ok_or_else(|| Error::OrganizationRoleNotFound {
                role_id: role_id.to_owned(),
            })
    }
}

fn differs<T: PartialEq>(new: T, current: &T) -> Option<T> {
    (new != *current).then_some(new)
}
