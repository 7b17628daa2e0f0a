//! Facts about an application, as stored in the event log. Version "1.0";
//! a change of shape gets a new version and an upcaster, never an edit.

use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use super::command::ApplicationChanges;
use super::types::{ApplicationType, SigningAlgorithm};

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
}

impl DomainEvent for ApplicationEvent {
    fn event_type(&self) -> String {
        match self {
            Self::ApplicationRegistered { .. } => "ApplicationRegistered",
            Self::ApplicationUpdated { .. } => "ApplicationUpdated",
            Self::ClientSecretRotated { .. } => "ClientSecretRotated",
            Self::ApplicationDeleted => "ApplicationDeleted",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}
