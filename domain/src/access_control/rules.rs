//! Field-level rules for the access-control configuration. Each returns the
//! value to store (normalised) or the reason it was refused.

use url::Url;

use super::error::AccessControlError;
use super::types::{
    ACCESS_TOKEN_TTL_SECS, MANAGEMENT_RESOURCE, MAX_DESCRIPTION_CHARS, MAX_INDICATOR_CHARS,
    MAX_NAME_CHARS, MAX_SCOPE_NAME_CHARS,
};

/// Names of resources, roles and organization roles.
pub(super) fn name(name: &str) -> Result<String, AccessControlError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(AccessControlError::NameEmpty);
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(AccessControlError::NameTooLong);
    }
    Ok(name.to_owned())
}

/// A blank description is no description.
pub(super) fn description(description: Option<&str>) -> Result<Option<String>, AccessControlError> {
    let description = description.map(str::trim).filter(|d| !d.is_empty());
    if description.is_some_and(|d| d.chars().count() > MAX_DESCRIPTION_CHARS) {
        return Err(AccessControlError::DescriptionTooLong);
    }
    Ok(description.map(str::to_owned))
}

/// RFC 8707 §2: an absolute URI without a fragment. Stored as given, since
/// clients send it back verbatim and it is compared exactly.
pub(super) fn indicator(indicator: &str) -> Result<(), AccessControlError> {
    if indicator.chars().count() > MAX_INDICATOR_CHARS {
        return Err(AccessControlError::IndicatorTooLong);
    }
    // The url crate silently drops tabs, newlines and surrounding spaces,
    // which would make the stored string differ from what was checked.
    if indicator
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(AccessControlError::IndicatorNotAbsolute);
    }
    // `Url::parse` has no base, so a relative reference fails here.
    let url = Url::parse(indicator).map_err(|_| AccessControlError::IndicatorNotAbsolute)?;
    if url.fragment().is_some() {
        return Err(AccessControlError::IndicatorFragment);
    }
    Ok(())
}

/// Whether `indicator` names the management API. URN schemes and namespace
/// ids are case-insensitive (RFC 8141 §3.1), so any case counts.
pub(super) fn is_reserved(indicator: &str) -> bool {
    indicator.eq_ignore_ascii_case(MANAGEMENT_RESOURCE)
}

pub(super) fn access_token_ttl(secs: u32) -> Result<(), AccessControlError> {
    if ACCESS_TOKEN_TTL_SECS.contains(&secs) {
        Ok(())
    } else {
        Err(AccessControlError::InvalidAccessTokenTtl { secs })
    }
}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`, so that a
/// space-separated `scope` parameter splits back into the same names. The authorization
/// endpoint keeps only words of this shape from a request.
pub fn is_scope_token(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_SCOPE_NAME_CHARS
        && name
            .bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

/// RFC 8707 §2, as the token and authorization endpoints check a `resource` parameter.
pub fn is_resource_indicator(indicator: &str) -> bool {
    self::indicator(indicator).is_ok()
}

pub(super) fn scope_name(name: &str) -> Result<String, AccessControlError> {
    if is_scope_token(name) {
        Ok(name.to_owned())
    } else {
        Err(AccessControlError::InvalidScopeName)
    }
}

/// Role names are unique regardless of case: two roles that differ only in
/// case would be told apart by nobody reading an admin console.
pub(super) fn same_role_name(a: &str, b: &str) -> bool {
    a.to_lowercase() == b.to_lowercase()
}
