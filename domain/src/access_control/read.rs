//! Read access for the rest of Sigil. Deleted entries are gone: they are
//! neither listed nor found, and grant nothing.

use std::collections::BTreeSet;

use super::AccessControl;
use super::types::{
    ApiResource, OrganizationRole, OrganizationScope, ResourceScope, Role, RoleKind,
};

/// Entries oldest first, so listings keep the order an admin made them in.
fn by_creation<'a, T: 'a>(
    entries: impl Iterator<Item = &'a T>,
    created: fn(&T) -> u64,
) -> impl Iterator<Item = &'a T> {
    let mut entries: Vec<&T> = entries.collect();
    entries.sort_by_key(|entry| created(entry));
    entries.into_iter()
}

impl AccessControl {
    /// API resources, oldest first.
    pub fn api_resources(&self) -> impl Iterator<Item = &ApiResource> {
        by_creation(self.api_resources.values(), |r| r.created)
    }

    pub fn api_resource(&self, resource_id: &str) -> Option<&ApiResource> {
        self.api_resources.get(resource_id)
    }

    /// The resource a token request names with `resource` (RFC 8707 §2),
    /// compared exactly.
    pub fn api_resource_by_indicator(&self, indicator: &str) -> Option<&ApiResource> {
        self.api_resources
            .values()
            .find(|resource| resource.indicator == indicator)
    }

    /// The scopes of one API resource, oldest first.
    pub fn resource_scopes<'a>(
        &'a self,
        resource_id: &str,
    ) -> impl Iterator<Item = &'a ResourceScope> + use<'a> {
        let resource_id = resource_id.to_owned();
        by_creation(
            self.resource_scopes
                .values()
                .filter(move |scope| scope.resource_id == resource_id),
            |s| s.created,
        )
    }

    /// A resource scope, which carries its resource's id.
    pub fn resource_scope(&self, scope_id: &str) -> Option<&ResourceScope> {
        self.resource_scopes.get(scope_id)
    }

    /// Global roles, oldest first.
    pub fn roles(&self) -> impl Iterator<Item = &Role> {
        by_creation(self.roles.values(), |r| r.created)
    }

    pub fn role(&self, role_id: &str) -> Option<&Role> {
        self.roles.get(role_id)
    }

    pub fn role_kind(&self, role_id: &str) -> Option<RoleKind> {
        self.role(role_id).map(|role| role.kind)
    }

    /// Organization scopes, oldest first.
    pub fn organization_scopes(&self) -> impl Iterator<Item = &OrganizationScope> {
        by_creation(self.organization_scopes.values(), |s| s.created)
    }

    pub fn organization_scope(&self, scope_id: &str) -> Option<&OrganizationScope> {
        self.organization_scopes.get(scope_id)
    }

    /// Organization roles, oldest first.
    pub fn organization_roles(&self) -> impl Iterator<Item = &OrganizationRole> {
        by_creation(self.organization_roles.values(), |r| r.created)
    }

    pub fn organization_role(&self, role_id: &str) -> Option<&OrganizationRole> {
        self.organization_roles.get(role_id)
    }

    /// The names of the scopes of the resource with this `indicator` that
    /// `role_ids` grant: what an access token for that audience may carry.
    /// Ids that are not live roles grant nothing.
    pub fn granted_resource_scopes<S: AsRef<str>>(
        &self,
        role_ids: impl IntoIterator<Item = S>,
        indicator: &str,
    ) -> BTreeSet<String> {
        let Some(resource) = self.api_resource_by_indicator(indicator) else {
            return BTreeSet::new();
        };
        role_ids
            .into_iter()
            .filter_map(|id| self.role(id.as_ref()))
            .flat_map(|role| &role.scope_ids)
            .filter_map(|scope_id| self.resource_scope(scope_id))
            .filter(|scope| scope.resource_id == resource.resource_id)
            .map(|scope| scope.name.clone())
            .collect()
    }

    /// The names of the organization scopes that `organization_role_ids`
    /// grant. Ids that are not live organization roles grant nothing.
    pub fn granted_organization_scopes<S: AsRef<str>>(
        &self,
        organization_role_ids: impl IntoIterator<Item = S>,
    ) -> BTreeSet<String> {
        organization_role_ids
            .into_iter()
            .filter_map(|id| self.organization_role(id.as_ref()))
            .flat_map(|role| &role.scope_ids)
            .filter_map(|scope_id| self.organization_scope(scope_id))
            .map(|scope| scope.name.clone())
            .collect()
    }

    /// The ids among `role_ids` that are not live roles of `kind`, sorted:
    /// the api refuses to give a user or an application any of them.
    pub fn unknown_roles<S: AsRef<str>>(
        &self,
        role_ids: impl IntoIterator<Item = S>,
        kind: RoleKind,
    ) -> Vec<String> {
        unknown(role_ids, |id| self.role_kind(id) == Some(kind))
    }

    /// The ids among `organization_role_ids` that are not live organization
    /// roles, sorted.
    pub fn unknown_organization_roles<S: AsRef<str>>(
        &self,
        organization_role_ids: impl IntoIterator<Item = S>,
    ) -> Vec<String> {
        unknown(organization_role_ids, |id| {
            self.organization_roles.contains_key(id)
        })
    }

    /// The ids among `scope_ids` that are not live resource scopes, sorted.
    pub fn unknown_resource_scopes<S: AsRef<str>>(
        &self,
        scope_ids: impl IntoIterator<Item = S>,
    ) -> Vec<String> {
        unknown(scope_ids, |id| self.resource_scopes.contains_key(id))
    }

    /// The ids among `scope_ids` that are not live organization scopes,
    /// sorted.
    pub fn unknown_organization_scopes<S: AsRef<str>>(
        &self,
        scope_ids: impl IntoIterator<Item = S>,
    ) -> Vec<String> {
        unknown(scope_ids, |id| self.organization_scopes.contains_key(id))
    }
}

fn unknown<S: AsRef<str>>(
    ids: impl IntoIterator<Item = S>,
    known: impl Fn(&str) -> bool,
) -> Vec<String> {
    let unknown: BTreeSet<String> = ids
        .into_iter()
        .filter(|id| !known(id.as_ref()))
        .map(|id| id.as_ref().to_owned())
        .collect();
    unknown.into_iter().collect()
}
