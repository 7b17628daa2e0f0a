//! Field-level rules for applications, shared by `Create` and `Update`.
//! Each returns the value to store (normalised) or the reason it was refused.

use crate::redirect_uri::{validate_cors_origin, validate_redirect_uri};

use super::error::{ApplicationError, UriList};
use super::types::{
    ApplicationType, MAX_NAME_CHARS, MAX_REFRESH_TOKEN_REUSE_GRACE_SECONDS, MAX_URIS,
    REFRESH_TOKEN_TTL_DAYS,
};

pub(super) fn name(name: &str) -> Result<String, ApplicationError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ApplicationError::NameEmpty);
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(ApplicationError::NameTooLong);
    }
    Ok(name.to_owned())
}

/// A blank description is no description.
pub(super) fn description(description: Option<&str>) -> Option<String> {
    description
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(str::to_owned)
}

/// A digest must look like one: anything else may be a secret in clear that
/// should never reach the event log.
pub(super) fn client_secret_digest(
    app_type: ApplicationType,
    digest: Option<&str>,
) -> Result<(), ApplicationError> {
    match digest {
        // RFC 6749 §2.1: public clients cannot keep a secret, so none is issued.
        Some(_) if !app_type.is_confidential() => Err(ApplicationError::ClientSecretNotAllowed),
        Some(digest) if !is_sha256_hex(digest) => Err(ApplicationError::InvalidClientSecretDigest),
        Some(_) => Ok(()),
        // RFC 6749 §2.3: confidential clients authenticate to the token endpoint.
        None if app_type.is_confidential() => Err(ApplicationError::ClientSecretRequired),
        None => Ok(()),
    }
}

fn is_sha256_hex(digest: &str) -> bool {
    digest.len() == 64
        && digest
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Redirect URIs and post-logout redirect URIs follow the same rules.
pub(super) fn redirect_uris(
    list: UriList,
    uris: &[String],
    app_type: ApplicationType,
) -> Result<(), ApplicationError> {
    bounded(list, uris, app_type)?;
    for uri in uris {
        validate_redirect_uri(uri, app_type).map_err(|reason| ApplicationError::InvalidUri {
            list,
            uri: uri.clone(),
            reason,
        })?;
    }
    Ok(())
}

pub(super) fn cors_allowed_origins(
    origins: &[String],
    app_type: ApplicationType,
) -> Result<(), ApplicationError> {
    let list = UriList::CorsAllowedOrigins;
    bounded(list, origins, app_type)?;
    for origin in origins {
        validate_cors_origin(origin).map_err(|reason| ApplicationError::InvalidUri {
            list,
            uri: origin.clone(),
            reason,
        })?;
    }
    Ok(())
}

// Machine-to-machine clients use the client credentials grant (RFC 6749
// §4.4): no browser, so no redirects and no CORS.
fn bounded(
    list: UriList,
    uris: &[String],
    app_type: ApplicationType,
) -> Result<(), ApplicationError> {
    if app_type == ApplicationType::MachineToMachine && !uris.is_empty() {
        return Err(ApplicationError::UrisNotAllowed { list });
    }
    if uris.len() > MAX_URIS {
        return Err(ApplicationError::TooManyUris { list });
    }
    Ok(())
}

pub(super) fn refresh_token_ttl_days(days: u32) -> Result<(), ApplicationError> {
    if REFRESH_TOKEN_TTL_DAYS.contains(&days) {
        Ok(())
    } else {
        Err(ApplicationError::InvalidRefreshTokenTtl { days })
    }
}

pub(super) fn refresh_token_reuse_grace_seconds(seconds: u32) -> Result<(), ApplicationError> {
    if seconds <= MAX_REFRESH_TOKEN_REUSE_GRACE_SECONDS {
        Ok(())
    } else {
        Err(ApplicationError::InvalidRefreshTokenReuseGrace { seconds })
    }
}
