//! What an administrator (or Sigil itself, for its management API) can ask
//! of the access-control configuration. Ids are chosen by the api.

use serde::{Deserialize, Serialize};

use super::types::RoleKind;

/// Lists of ids may hold duplicates and come in any order; only the set
/// counts. A `description` of `Some("")` in an update clears it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AccessControlCommand {
    CreateApiResource {
        resource_id: String,
        name: String,
        indicator: String,
        access_token_ttl_secs: u32,
        /// Only Sigil sets this, for the management API; an admin never can.
        system: bool,
    },
    /// `None` leaves a field as it is. The indicator cannot change: tokens
    /// already issued carry it as their audience.
    UpdateApiResource {
        resource_id: String,
        name: Option<String>,
        access_token_ttl_secs: Option<u32>,
    },
    /// Also deletes the resource's scopes and takes them from every role.
    DeleteApiResource {
        resource_id: String,
    },
    CreateResourceScope {
        scope_id: String,
        resource_id: String,
        name: String,
        description: Option<String>,
    },
    /// Also takes the scope from every role.
    DeleteResourceScope {
        scope_id: String,
    },
    CreateRole {
        role_id: String,
        name: String,
        description: Option<String>,
        kind: RoleKind,
        scope_ids: Vec<String>,
    },
    /// `None` leaves a field as it is. The kind cannot change: users and
    /// applications already holding the role were checked against it.
    UpdateRole {
        role_id: String,
        name: Option<String>,
        description: Option<String>,
    },
    AssignRoleScopes {
        role_id: String,
        scope_ids: Vec<String>,
    },
    RemoveRoleScopes {
        role_id: String,
        scope_ids: Vec<String>,
    },
    DeleteRole {
        role_id: String,
    },
    CreateOrganizationScope {
        scope_id: String,
        name: String,
        description: Option<String>,
    },
    /// Also takes the scope from every organization role.
    DeleteOrganizationScope {
        scope_id: String,
    },
    CreateOrganizationRole {
        role_id: String,
        name: String,
        description: Option<String>,
        scope_ids: Vec<String>,
    },
    AssignOrganizationRoleScopes {
        role_id: String,
        scope_ids: Vec<String>,
    },
    RemoveOrganizationRoleScopes {
        role_id: String,
        scope_ids: Vec<String>,
    },
    DeleteOrganizationRole {
        role_id: String,
    },
}
