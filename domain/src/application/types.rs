//! Value types of an application (an OAuth 2.0 client, RFC 6749 §2) and the
//! refresh-token settings a new one starts with.

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
