//! The client credentials grant (RFC 6749 §4.4): a machine-to-machine application gets an
//! access token for itself.

use std::net::SocketAddr;

use axum::http::HeaderMap;
use sigil_domain::ApplicationType;
use sigil_domain::access_token::{GrantType, IssueAccessToken};

use super::TokenResponse;
use super::issue::no_key;
use crate::oidc::access_tokens;
use crate::oidc::client_auth::AuthenticatedClient;
use crate::oidc::context::request_context;
use crate::oidc::error::OAuthError;
use crate::oidc::form::OAuthForm;
use crate::oidc::jwt_access_token::JwtAccessToken;
use crate::oidc::resources;
use crate::oidc::tokens::{digest, new_token};
use crate::state::AppState;

/// Access tokens live an hour, as Logto's do, unless their API resource says otherwise.
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
    // Scopes come from the application's roles, for the API resource it names (RFC 8707);
    // without a resource the token is opaque and carries nothing.
    let target = resources::for_client(state, &client.application, form).await?;
    let context = request_context(headers, Some(peer), format!("client:{}", client.id));
    let issued_at = context.now.timestamp();
    let expires_at = issued_at + target.ttl_secs;
    let token_id = uuid::Uuid::new_v4().to_string();
    let token = match &target.audience {
        None => new_token(),
        Some(audience) => JwtAccessToken {
            issuer: &state.config.issuer(),
            audience,
            subject: &client.id,
            client_id: &client.id,
            scope: &target.scope,
            jti: &token_id,
            issued_at,
            expires_at,
            auth_time: None,
            organization_id: None,
            alg: client.application.id_token_signed_response_alg(),
        }
        .sign(&state.keys())
        .ok_or_else(no_key)?,
    };
    let issue = IssueAccessToken {
        grant_type: GrantType::ClientCredentials,
        client_id: client.id.clone(),
        subject: None,
        scope: target.scope.clone(),
        audience: target.audience.clone(),
        organization_id: None,
        token_digest: digest(&token),
        issued_at,
        expires_at,
    };
    access_tokens::issue(state, &token_id, issue, &context).await?;
    Ok(TokenResponse {
        access_token: token,
        token_type: "Bearer",
        expires_in: target.ttl_secs,
        scope: (!target.scope.is_empty()).then(|| target.scope.join(" ")),
        id_token: None,
        refresh_token: None,
    })
}
