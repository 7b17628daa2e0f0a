//! What an administrator can ask of an application. Secrets arrive only as
//! digests: the api hashes them before they reach the domain.

use serde::{Deserialize, Serialize};

use super::types::{ApplicationType, Branding, ConsentScopes, SigningAlgorithm};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ApplicationCommand {
    Create(NewApplication),
    Update(ApplicationChanges),
    /// Replaces the client secret; only confidential applications have one.
    RotateSecret {
        client_secret_digest: String,
    },
    Delete,
    /// Gives a machine-to-machine application global roles of that kind;
    /// the api checks that they exist (`AccessControl::unknown_roles`).
    AssignRoles {
        role_ids: Vec<String>,
    },
    RemoveRoles {
        role_ids: Vec<String>,
    },
    /// Replaces what a third-party application may ask users to consent to.
    /// The api checks that the scope ids exist in `AccessControl`.
    SetConsentScopes(ConsentScopes),
    /// Replaces the branding as a whole.
    SetBranding(Branding),
}

/// Registration of a new client (RFC 6749 §2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewApplication {
    pub name: String,
    pub description: Option<String>,
    pub app_type: ApplicationType,
    pub is_third_party: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub cors_allowed_origins: Vec<String>,
    /// Lowercase hex SHA-256 of the client secret, never the secret itself.
    pub client_secret_digest: Option<String>,
}

/// A partial update: `None` leaves a field as it is. The type and the
/// third-party flag are deliberately absent, they cannot change.
///
/// The same struct is the payload of `ApplicationUpdated`, where it holds only
/// the fields that changed. `description: Some("")` clears the description.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApplicationChanges {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_uris: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post_logout_redirect_uris: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cors_allowed_origins: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub always_issue_refresh_token: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotate_refresh_token: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token_ttl_days: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token_reuse_grace_seconds: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token_signed_response_alg: Option<SigningAlgorithm>,
}

impl ApplicationChanges {
    /// True when no field is set, i.e. the update would change nothing.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}
