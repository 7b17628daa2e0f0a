//! Facts about an application, as stored in the event log. Version "1.0";
//! a change of shape gets a new version and an upcaster, never an edit.

use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use super::command::ApplicationChanges;
use super::types::{ApplicationType, Branding, ConsentScopes, SigningAlgorithm};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ApplicationEvent {
    /// Carries the refresh-token settings the application starts with, so
    /// replay never depends on defaults in code that may change later.
    ApplicationRegistered {
        name: String,
        description: Option<String>,
        app_type: ApplicationType,
        is_third_party: bool,
        redirect_uris: Vec<String>,
        post_logout_redirect_uris: Vec<String>,
        cors_allowed_origins: Vec<String>,
        client_secret_digest: Option<String>,
        always_issue_refresh_token: bool,
        rotate_refresh_token: bool,
        refresh_token_ttl_days: u32,
        refresh_token_reuse_grace_seconds: u32,
        id_token_signed_response_alg: SigningAlgorithm,
    },
    /// Only the fields that actually changed.
    ApplicationUpdated {
        changes: ApplicationChanges,
    },
    ClientSecretRotated {
        client_secret_digest: String,
    },
    ApplicationDeleted,
    /// Only the roles the application did not hold yet; sorted.
    ApplicationRolesAssigned {
        role_ids: Vec<String>,
    },
    /// Only the roles the application held; sorted.
    ApplicationRolesRemoved {
        role_ids: Vec<String>,
    },
    /// The whole new set, normalised (sorted, `openid` always included).
    ApplicationConsentScopesSet {
        consent_scopes: ConsentScopes,
    },
    /// The whole new branding, normalised.
    ApplicationBrandingSet {
        branding: Branding,
    },
}

impl DomainEvent for ApplicationEvent {
    fn event_type(&self) -> String {
        match self {
            Self::ApplicationRegistered { .. } => "ApplicationRegistered",
            Self::ApplicationUpdated { .. } => "ApplicationUpdated",
            Self::ClientSecretRotated { .. } => "ClientSecretRotated",
            Self::ApplicationDeleted => "ApplicationDeleted",
            Self::ApplicationRolesAssigned { .. } => "ApplicationRolesAssigned",
            Self::ApplicationRolesRemoved { .. } => "ApplicationRolesRemoved",
            Self::ApplicationConsentScopesSet { .. } => "ApplicationConsentScopesSet",
            Self::ApplicationBrandingSet { .. } => "ApplicationBrandingSet",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}
