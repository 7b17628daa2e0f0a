//! Facts about the access-control configuration, as stored in the event log.
//! Version "1.0". Lists of ids are sorted and hold no duplicates.

use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use super::types::RoleKind;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AccessControlEvent {
    ApiResourceCreated {
        resource_id: String,
        name: String,
        indicator: String,
        access_token_ttl_secs: u32,
        system: bool,
    },
    /// Only the fields that actually changed.
    ApiResourceUpdated {
        resource_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        access_token_ttl_secs: Option<u32>,
    },
    /// The resource's scopes go with it, and out of every role: replay finds
    /// them in the state, so the event need not list them.
    ApiResourceDeleted {
        resource_id: String,
    },
    ResourceScopeCreated {
        scope_id: String,
        resource_id: String,
        name: String,
        description: Option<String>,
    },
    /// The scope also leaves every role that had it.
    ResourceScopeDeleted {
        scope_id: String,
    },
    RoleCreated {
        role_id: String,
        name: String,
        description: Option<String>,
        kind: RoleKind,
        scope_ids: Vec<String>,
    },
    /// Only the fields that actually changed; a description of `""` means
    /// removed.
    RoleUpdated {
        role_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
    },
    /// Only the scopes the role did not have yet.
    RoleScopesAssigned {
        role_id: String,
        scope_ids: Vec<String>,
    },
    /// Only the scopes the role had.
    RoleScopesRemoved {
        role_id: String,
        scope_ids: Vec<String>,
    },
    RoleDeleted {
        role_id: String,
    },
    OrganizationScopeCreated {
        scope_id: String,
        name: String,
        description: Option<String>,
    },
    /// The scope also leaves every organization role that had it.
    OrganizationScopeDeleted {
        scope_id: String,
    },
    OrganizationRoleCreated {
        role_id: String,
        name: String,
        description: Option<String>,
        scope_ids: Vec<String>,
    },
    /// Only the scopes the role did not have yet.
    OrganizationRoleScopesAssigned {
        role_id: String,
        scope_ids: Vec<String>,
    },
    /// Only the scopes the role had.
    OrganizationRoleScopesRemoved {
        role_id: String,
        scope_ids: Vec<String>,
    },
    OrganizationRoleDeleted {
        role_id: String,
    },
}

impl DomainEvent for AccessControlEvent {
    fn event_type(&self) -> String {
        match self {
            Self::ApiResourceCreated { .. } => "ApiResourceCreated",
            Self::ApiResourceUpdated { .. } => "ApiResourceUpdated",
            Self::ApiResourceDeleted { .. } => "ApiResourceDeleted",
            Self::ResourceScopeCreated { .. } => "ResourceScopeCreated",
            Self::ResourceScopeDeleted { .. } => "ResourceScopeDeleted",
            Self::RoleCreated { .. } => "RoleCreated",
            Self::RoleUpdated { .. } => "RoleUpdated",
            Self::RoleScopesAssigned { .. } => "RoleScopesAssigned",
            Self::RoleScopesRemoved { .. } => "RoleScopesRemoved",
            Self::RoleDeleted { .. } => "RoleDeleted",
            Self::OrganizationScopeCreated { .. } => "OrganizationScopeCreated",
            Self::OrganizationScopeDeleted { .. } => "OrganizationScopeDeleted",
            Self::OrganizationRoleCreated { .. } => "OrganizationRoleCreated",
            Self::OrganizationRoleScopesAssigned { .. } => "OrganizationRoleScopesAssigned",
            Self::OrganizationRoleScopesRemoved { .. } => "OrganizationRoleScopesRemoved",
            Self::OrganizationRoleDeleted { .. } => "OrganizationRoleDeleted",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}
