//! The client credentials grant (RFC 6749 §4.4): a machine-to-machine application gets an
//! access token for itself.

use std::net::SocketAddr;

use axum::http::HeaderMap;
use sigil_domain::ApplicationType;
use sigil_domain::access_token::GrantType;

use super::TokenResponse;
use super::issue::mint;
use crate::oidc::access_tokens;
use crate::oidc::client_auth::AuthenticatedClient;
use crate::oidc::context::request_context;
use crate::oidc::error::OAuthError;
use crate::oidc::form::OAuthForm;
use crate::oidc::resources;
use crate::oidc::tokens::{digest, new_stream_id};
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
    let token_id = new_stream_id();
    // A client acting for itself is the token's subject (RFC 9068 §2.2).
    let token = mint(
        state, client, &target, &client.id, &token_id, issued_at, None,
    )?;
    let issue = target.issue(
        GrantType::ClientCredentials,
        &client.id,
        None,
        digest(&token),
        issued_at,
    );
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
