//! Why a command on an application was refused. Messages never echo a secret
//! digest: if a secret in clear was sent by mistake, it must not be logged.

use std::fmt;

use crate::redirect_uri::UriError;

use super::types::{
    MAX_BRANDING_URL_CHARS, MAX_DISPLAY_NAME_CHARS, MAX_NAME_CHARS,
    MAX_REFRESH_TOKEN_REUSE_GRACE_SECONDS, MAX_URIS,
};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplicationError {
    #[error("application not found")]
    NotFound,
    #[error("application already exists")]
    AlreadyExists,
    #[error("name must not be empty")]
    NameEmpty,
    #[error("name must be at most {MAX_NAME_CHARS} characters")]
    NameTooLong,
    #[error(
        "a client secret digest is required for traditional and machine-to-machine applications"
    )]
    ClientSecretRequired,
    #[error(
        "native and single-page applications are public clients and cannot have a client secret"
    )]
    ClientSecretNotAllowed,
    #[error("client secret digest must be a lowercase hex SHA-256 (64 characters)")]
    InvalidClientSecretDigest,
    #[error("machine-to-machine applications cannot be third-party")]
    ThirdPartyMachineToMachine,
    #[error("machine-to-machine applications cannot have {list}")]
    UrisNotAllowed { list: UriList },
    #[error("{list} may hold at most {MAX_URIS} entries")]
    TooManyUris { list: UriList },
    #[error("{list} entry {uri:?} {reason}")]
    InvalidUri {
        list: UriList,
        uri: String,
        reason: UriError,
    },
    #[error("refresh_token_ttl_days must be between 1 and 730, got {days}")]
    InvalidRefreshTokenTtl { days: u32 },
    #[error(
        "refresh_token_reuse_grace_seconds must be at most {MAX_REFRESH_TOKEN_REUSE_GRACE_SECONDS}, got {seconds}"
    )]
    InvalidRefreshTokenReuseGrace { seconds: u32 },
    #[error("only machine-to-machine applications have roles")]
    RolesNeedMachineToMachine,
    #[error("only third-party applications ask users for consent")]
    NotThirdParty,
    #[error(
        "{scope:?} is not a user scope; user scopes are openid, profile, email, offline_access and organizations"
    )]
    UnknownUserScope { scope: String },
    #[error("display_name must be at most {MAX_DISPLAY_NAME_CHARS} characters")]
    DisplayNameTooLong,
    #[error(
        "{field} must be an absolute https:// URL (http:// only on localhost or 127.0.0.1) of at most {MAX_BRANDING_URL_CHARS} characters"
    )]
    InvalidBrandingUrl { field: BrandingField },
}

/// Which list of URIs an error is about; displays as the field name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriList {
    RedirectUris,
    PostLogoutRedirectUris,
    CorsAllowedOrigins,
}

impl fmt::Display for UriList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::RedirectUris => "redirect_uris",
            Self::PostLogoutRedirectUris => "post_logout_redirect_uris",
            Self::CorsAllowedOrigins => "cors_allowed_origins",
        })
    }
}

/// Which branding URL an error is about; displays as the field name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrandingField {
    LogoUrl,
    TermsOfUseUrl,
    PrivacyPolicyUrl,
}

impl fmt::Display for BrandingField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::LogoUrl => "logo_url",
            Self::TermsOfUseUrl => "terms_of_use_url",
            Self::PrivacyPolicyUrl => "privacy_policy_url",
        })
    }
}
