//! The client credentials grant (RFC 6749 §4.4): a machine-to-machine application gets an
//! access token for itself.

use std::net::SocketAddr;

use axum::http::HeaderMap;
use sigil_domain::ApplicationType;
use sigil_domain::access_token::{GrantType, IssueAccessToken};

use super::TokenResponse;
use crate::oidc::access_tokens;
use crate::oidc::client_auth::AuthenticatedClient;
use crate::oidc::context::request_context;
use crate::oidc::error::OAuthError;
use crate::oidc::form::OAuthForm;
use crate::oidc::tokens::{digest, new_token};
use crate::state::AppState;

/// Access tokens live an hour, as Logto's do.
pub const ACCESS_TOKEN_TTL_SECS: i64 = 3600;

pub async fn grant(
    state: &AppState,
    client: &AuthenticatedClient,
    form: &OAuthForm,
    headers: &HeaderMap,
    peer: SocketAddr,
) -> Result<TokenResponse, OAuthError> {
    // RFC 6749 §4.4: only confidential clients, and here only those registered for it.
    if client.application.app_type() != Some(ApplicationType::MachineToMachine) {
        return Err(OAuthError::UnauthorizedClient(
            "only machine-to-machine applications may use client_credentials".into(),
        ));
    }
    // Scopes come from roles and API resources; until an application holds any, it may
    // ask for none (RFC 6749 §3.3: refuse what cannot be granted).
    if let Some(scope) = form.get("scope") {
        return Err(OAuthError::InvalidScope(format!(
            "this application may not be granted {scope:?}"
        )));
    }
    let token = new_token();
    let context = request_context(headers, Some(peer), format!("client:{}", client.id));
    let issued_at = context.now.timestamp();
    let issue = IssueAccessToken {
        grant_type: GrantType::ClientCredentials,
        client_id: client.id.clone(),
        subject: None,
        scope: vec![],
        token_digest: digest(&token),
        issued_at,
        expires_at: issued_at + ACCESS_TOKEN_TTL_SECS,
    };
    let token_id = uuid::Uuid::new_v4().to_string();
    access_tokens::issue(state, &token_id, issue, &context).await?;
    Ok(TokenResponse {
        access_token: token,
        token_type: "Bearer",
        expires_in: ACCESS_TOKEN_TTL_SECS,
        scope: None,
        id_token: None,
        refresh_token: None,
    })
}
