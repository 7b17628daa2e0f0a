//! Why a command on the access-control configuration was refused. Ids and
//! names are echoed: they are configuration, not secrets.

use super::types::{
    MANAGEMENT_RESOURCE, MAX_DESCRIPTION_CHARS, MAX_INDICATOR_CHARS, MAX_NAME_CHARS,
    MAX_SCOPE_NAME_CHARS,
};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessControlError {
    #[error("the id {id:?} is already in use")]
    IdTaken { id: String },
    #[error("API resource {resource_id:?} not found")]
    ApiResourceNotFound { resource_id: String },
    #[error("resource scope {scope_id:?} not found")]
    ResourceScopeNotFound { scope_id: String },
    #[error("role {role_id:?} not found")]
    RoleNotFound { role_id: String },
    #[error("organization scope {scope_id:?} not found")]
    OrganizationScopeNotFound { scope_id: String },
    #[error("organization role {role_id:?} not found")]
    OrganizationRoleNotFound { role_id: String },
    #[error("name must not be empty")]
    NameEmpty,
    #[error("name must be at most {MAX_NAME_CHARS} characters")]
    NameTooLong,
    #[error("description must be at most {MAX_DESCRIPTION_CHARS} characters")]
    DescriptionTooLong,
    #[error("resource indicator must be an absolute URI without spaces or control characters")]
    IndicatorNotAbsolute,
    #[error("resource indicator must not contain a fragment")]
    IndicatorFragment,
    #[error("resource indicator must be at most {MAX_INDICATOR_CHARS} characters")]
    IndicatorTooLong,
    #[error("another API resource already has the indicator {indicator:?}")]
    IndicatorTaken { indicator: String },
    #[error("the indicator {MANAGEMENT_RESOURCE} is reserved for Sigil's management API")]
    IndicatorReserved,
    #[error("access_token_ttl_secs must be between 60 and 86400, got {secs}")]
    InvalidAccessTokenTtl { secs: u32 },
    #[error("API resource {resource_id:?} belongs to Sigil and cannot be deleted")]
    SystemResource { resource_id: String },
    #[error(
        "scope name must be 1 to {MAX_SCOPE_NAME_CHARS} printable ASCII characters other than space, '\"' and '\\'"
    )]
    InvalidScopeName,
    #[error("the API resource already has a scope named {name:?}")]
    ScopeNameTaken { name: String },
    #[error("an organization scope named {name:?} already exists")]
    OrganizationScopeNameTaken { name: String },
    #[error("a role named {name:?} already exists")]
    RoleNameTaken { name: String },
    #[error("an organization role named {name:?} already exists")]
    OrganizationRoleNameTaken { name: String },
    #[error("unknown resource scopes: {}", scope_ids.join(", "))]
    UnknownResourceScopes { scope_ids: Vec<String> },
    #[error("unknown organization scopes: {}", scope_ids.join(", "))]
    UnknownOrganizationScopes { scope_ids: Vec<String> },
}
