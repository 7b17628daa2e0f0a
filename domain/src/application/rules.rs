//! Field-level rules for applications, shared by `Create` and `Update`.
//! Each returns the value to store (normalised) or the reason it was refused.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use url::{Host, Url};

use crate::redirect_uri::{validate_cors_origin, validate_redirect_uri};

use super::error::{ApplicationError, BrandingField, UriList};
use super::types::{
    ApplicationType, Branding, ConsentScopes, MAX_BRANDING_URL_CHARS, MAX_DISPLAY_NAME_CHARS,
    MAX_NAME_CHARS, MAX_REFRESH_TOKEN_REUSE_GRACE_SECONDS, MAX_URIS, REFRESH_TOKEN_TTL_DAYS,
    USER_SCOPES,
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

/// Sorted, without duplicates, and with `openid`: signing in is what a
/// third-party application is for, so it is always allowed.
pub(super) fn consent_scopes(scopes: ConsentScopes) -> Result<ConsentScopes, ApplicationError> {
    if let Some(scope) = scopes
        .user_scopes
        .iter()
        .find(|scope| !USER_SCOPES.contains(&scope.as_str()))
    {
        return Err(ApplicationError::UnknownUserScope {
            scope: scope.clone(),
        });
    }
    let mut user_scopes = sorted(scopes.user_scopes);
    user_scopes.insert("openid".to_owned());
    Ok(ConsentScopes {
        user_scopes: user_scopes.into_iter().collect(),
        resource_scope_ids: sorted(scopes.resource_scope_ids).into_iter().collect(),
        organization_scope_ids: sorted(scopes.organization_scope_ids).into_iter().collect(),
    })
}

fn sorted(values: Vec<String>) -> BTreeSet<String> {
    values.into_iter().collect()
}

pub(super) fn branding(branding: Branding) -> Result<Branding, ApplicationError> {
    let display_name = branding
        .display_name
        .as_deref()
        .map(str::trim)
        .filter(|name| !name.is_empty());
    if display_name.is_some_and(|name| name.chars().count() > MAX_DISPLAY_NAME_CHARS) {
        return Err(ApplicationError::DisplayNameTooLong);
    }
    Ok(Branding {
        display_name: display_name.map(str::to_owned),
        logo_url: branding_url(BrandingField::LogoUrl, branding.logo_url)?,
        terms_of_use_url: branding_url(BrandingField::TermsOfUseUrl, branding.terms_of_use_url)?,
        privacy_policy_url: branding_url(
            BrandingField::PrivacyPolicyUrl,
            branding.privacy_policy_url,
        )?,
    })
}

/// Branding URLs end up in pages users see, as links and images: https
/// only, so nothing is mixed content or a script, except plain http on the
/// developer's own machine.
fn branding_url(
    field: BrandingField,
    url: Option<String>,
) -> Result<Option<String>, ApplicationError> {
    let Some(url) = url.filter(|url| !url.trim().is_empty()) else {
        return Ok(None);
    };
    let invalid = || ApplicationError::InvalidBrandingUrl { field };
    // The url crate silently drops tabs, newlines and surrounding spaces,
    // which would make the stored string differ from what was checked.
    if url.chars().count() > MAX_BRANDING_URL_CHARS
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(invalid());
    }
    let parsed = Url::parse(&url).map_err(|_| invalid())?;
    let allowed = match (parsed.scheme(), parsed.host()) {
        ("https", Some(_)) => true,
        ("http", Some(Host::Domain(host))) => host == "localhost",
        ("http", Some(Host::Ipv4(ip))) => ip == Ipv4Addr::LOCALHOST,
        _ => false,
    };
    if allowed {
        Ok(Some(url))
    } else {
        Err(invalid())
    }
}
