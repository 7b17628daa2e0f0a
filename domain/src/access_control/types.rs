//! What the access-control configuration holds: API resources (RFC 8707
//! resource indicators) and their scopes, global roles, and the organization
//! template (organization scopes and roles) shared by every organization.

use std::collections::BTreeSet;
use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};

/// The id of the one access-control aggregate: every command goes to it, so
/// every cross-reference (a role naming a scope, a scope naming a resource)
/// is checked against one consistent state.
pub const ACCESS_CONTROL_ID: &str = "default";

/// The indicator of Sigil's own management API. Reserved: only Sigil creates
/// it (with `system: true`), so no admin can make a look-alike of it.
pub const MANAGEMENT_RESOURCE: &str = "urn:sigil:management";

/// Longest resource, role and organization role name, in characters.
pub const MAX_NAME_CHARS: usize = 128;
/// Longest scope name, in characters.
pub const MAX_SCOPE_NAME_CHARS: usize = 128;
/// Longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 256;
/// Longest resource indicator, in characters.
pub const MAX_INDICATOR_CHARS: usize = 2048;
/// Allowed lifetimes of an access token for a resource: a minute to a day.
pub const ACCESS_TOKEN_TTL_SECS: RangeInclusive<u32> = 60..=86_400;

/// Who a global role is for: users get permissions by signing in, machine-to-
/// machine applications by the client credentials grant (RFC 6749 §4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RoleKind {
    User,
    MachineToMachine,
}

/// A protected API that access tokens can be issued for (RFC 8707).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiResource {
    pub resource_id: String,
    pub name: String,
    /// The absolute URI clients send as `resource` and get back as `aud`.
    pub indicator: String,
    pub access_token_ttl_secs: u32,
    /// Created by Sigil itself (its management API): cannot be deleted.
    pub system: bool,
    pub(super) created: u64,
}

/// A permission on one API resource, as it appears in an access token's
/// `scope` (RFC 6749 §3.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceScope {
    pub scope_id: String,
    pub resource_id: String,
    pub name: String,
    pub description: Option<String>,
    pub(super) created: u64,
}

/// A named set of resource scopes given to users or to machine-to-machine
/// applications.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    pub role_id: String,
    pub name: String,
    pub description: Option<String>,
    pub kind: RoleKind,
    pub scope_ids: BTreeSet<String>,
    pub(super) created: u64,
}

/// A permission within an organization, the same for every organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganizationScope {
    pub scope_id: String,
    pub name: String,
    pub description: Option<String>,
    pub(super) created: u64,
}

/// A named set of organization scopes given to members of an organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganizationRole {
    pub role_id: String,
    pub name: String,
    pub description: Option<String>,
    pub scope_ids: BTreeSet<String>,
    pub(super) created: u64,
}
