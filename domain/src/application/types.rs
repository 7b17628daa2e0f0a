//! Value types of an application (an OAuth 2.0 client, RFC 6749 §2), the
//! refresh-token settings a new one starts with, and what a third-party
//! application may ask for and show.

use serde::{Deserialize, Serialize};

/// The kind of client, which decides whether it can hold a secret and which
/// redirect URIs it may register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ApplicationType {
    Native,
    Spa,
    Traditional,
    MachineToMachine,
}

impl ApplicationType {
    /// Confidential clients can keep a secret; native apps and SPAs ship their
    /// code to the user and cannot (RFC 6749 §2.1).
    pub fn is_confidential(self) -> bool {
        matches!(self, Self::Traditional | Self::MachineToMachine)
    }
}

/// JWS algorithm for ID tokens (`id_token_signed_response_alg`, OpenID
/// Connect Dynamic Client Registration 1.0 §2), named as in RFC 7518 / 8037.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum SigningAlgorithm {
    #[default]
    ES384,
    EdDSA,
    RS256,
}

// Defaults and limits for refresh tokens, as in Logto.
pub const DEFAULT_ALWAYS_ISSUE_REFRESH_TOKEN: bool = false;
pub const DEFAULT_ROTATE_REFRESH_TOKEN: bool = true;
pub const DEFAULT_REFRESH_TOKEN_TTL_DAYS: u32 = 14;
pub const DEFAULT_REFRESH_TOKEN_REUSE_GRACE_SECONDS: u32 = 0;
pub const REFRESH_TOKEN_TTL_DAYS: std::ops::RangeInclusive<u32> = 1..=730;
pub const MAX_REFRESH_TOKEN_REUSE_GRACE_SECONDS: u32 = 60;

/// Most entries in each of the redirect URI, post-logout and CORS lists.
pub const MAX_URIS: usize = 32;
/// Longest application name, in characters.
pub const MAX_NAME_CHARS: usize = 256;

/// The user scopes a third-party application may be allowed to request:
/// OpenID Connect's (Core §5.4, §11) and Sigil's `organizations`.
pub const USER_SCOPES: [&str; 5] = [
    "openid",
    "profile",
    "email",
    "offline_access",
    "organizations",
];

/// Longest branding display name, in characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 128;
/// Longest branding URL, in characters.
pub const MAX_BRANDING_URL_CHARS: usize = 2048;

/// What a third-party application may ask its users to consent to: user
/// scopes (from `USER_SCOPES`), resource scopes and organization scopes,
/// the last two by id in `AccessControl`. As stored, each list is sorted and
/// holds no duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConsentScopes {
    pub user_scopes: Vec<String>,
    pub resource_scope_ids: Vec<String>,
    pub organization_scope_ids: Vec<String>,
}

/// How an application presents itself to users, on the consent page above
/// all. Every field is optional; a blank one counts as unset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Branding {
    pub display_name: Option<String>,
    pub logo_url: Option<String>,
    pub terms_of_use_url: Option<String>,
    pub privacy_policy_url: Option<String>,
}
