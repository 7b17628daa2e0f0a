//! The authorization code grant (RFC 6749 §4.1.3): redeems a code bound to this client, its
//! redirect URI and its PKCE verifier (RFC 7636 §4.6), then issues an access token, for
//! `openid` an ID token, and a refresh token when the request earned one. A code redeemed
//! twice fails and revokes what the first redemption issued (RFC 6749 §4.1.2).

use std::net::SocketAddr;

use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use sigil_domain::ApplicationType;
use sigil_domain::access_token::GrantType;
use sigil_domain::authorization_code::{
    AuthorizationCode, AuthorizationCodeCommand, AuthorizationCodeEvent, IssueCode,
};
use sigil_domain::refresh_token::{RefreshTokenCommand, RefreshTokenFamily, StartFamily};

use super::TokenResponse;
use super::client_credentials::ACCESS_TOKEN_TTL_SECS;
use super::issue::{Grant, access_and_id_token};
use super::refresh_token::policy;
use crate::commands::{CommandContext, CommandError};
use crate::oidc::client_auth::AuthenticatedClient;
use crate::oidc::context::request_context;
use crate::oidc::error::OAuthError;
use crate::oidc::form::OAuthForm;
use crate::oidc::tokens::{digest, new_token};
use crate::oidc::{access_tokens, codes, refresh_tokens};
use crate::state::AppState;

/// RFC 7636 §4.1: 43 to 128 unreserved characters.
fn verifier_challenge(verifier: &str) -> Result<String, OAuthError> {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    if !well_formed {
        return Err(OAuthError::InvalidGrant(
            "code_verifier is malformed".into(),
        ));
    }
    Ok(URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())))
}

/// Seed 002/003: a refresh token for `offline_access` asked with `prompt=consent` (OIDC Core
/// §11), or always when a traditional or single-page app is set to always issue one.
fn earns_refresh_token(client: &AuthenticatedClient, grant: &IssueCode) -> bool {
    let always = client.application.always_issue_refresh_token()
        && matches!(
            client.application.app_type(),
            Some(ApplicationType::Traditional | ApplicationType::Spa)
        );
    always || (grant.prompt_consent && grant.scope.iter().any(|s| s == "offline_access"))
}

pub async fn grant(
    state: &AppState,
    client: &AuthenticatedClient,
    form: &OAuthForm,
    headers: &HeaderMap,
    peer: SocketAddr,
) -> Result<TokenResponse, OAuthError> {
    let code = form.require("code")?;
    let verifier = form
        .get("code_verifier")
        .map(verifier_challenge)
        .transpose()?;
    let invalid = || OAuthError::InvalidGrant("the authorization code is not valid".into());
    let code_id = codes::find(state.store.pool(), &digest(code))
        .await?
        .ok_or_else(invalid)?;
    let (code_state, _) = state.commands.load::<AuthorizationCode>(&code_id).await?;
    let grant = code_state.grant().cloned().ok_or_else(invalid)?;
    let context = request_context(headers, Some(peer), format!("client:{}", client.id));
    let now = context.now.timestamp();
    let access_token_id = uuid::Uuid::new_v4().to_string();
    let refresh_family_id =
        earns_refresh_token(client, &grant).then(|| uuid::Uuid::new_v4().to_string());
    let redeemed = state
        .commands
        .execute::<AuthorizationCode>(
            &code_id,
            AuthorizationCodeCommand::Redeem {
                client_id: client.id.clone(),
                redirect_uri: form.get("redirect_uri").map(str::to_string),
                verifier_challenge: verifier,
                now,
                access_token_id: access_token_id.clone(),
                refresh_family_id: refresh_family_id.clone(),
            },
            &context,
        )
        .await;
    let events = match redeemed {
        Ok(events) => events,
        Err(CommandError::Rejected(e)) => return Err(OAuthError::InvalidGrant(e.to_string())),
        // Two redemptions racing: the loser is a reuse all the same.
        Err(CommandError::Conflict) => {
            return Err(OAuthError::InvalidGrant(
                "the authorization code was already used".into(),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(AuthorizationCodeEvent::AuthorizationCodeReuseDetected {
        revoke_access_token_ids,
        revoke_refresh_family_ids,
    }) = events.first()
    {
        revoke_everything(
            state,
            &grant.client_id,
            revoke_access_token_ids,
            revoke_refresh_family_ids,
            &context,
        )
        .await?;
        return Err(OAuthError::InvalidGrant(
            "the authorization code was already used".into(),
        ));
    }

    let issued = access_and_id_token(
        state,
        client,
        Grant {
            grant_type: GrantType::AuthorizationCode,
            user_id: &grant.user_id,
            scope: &grant.scope,
            nonce: grant.nonce.as_deref(),
            auth_time: grant.auth_time,
            access_token_id: &access_token_id,
        },
        &context,
    )
    .await?;
    let refresh_token = match refresh_family_id {
        None => None,
        Some(family_id) => {
            let token = new_token();
            let ttl = policy(client).ttl_secs;
            let start = StartFamily {
                client_id: client.id.clone(),
                user_id: grant.user_id.clone(),
                scope: grant.scope.clone(),
                token_digest: digest(&token),
                issued_at: now,
                expires_at: now + ttl,
                auth_time: grant.auth_time,
                access_token_id: access_token_id.clone(),
            };
            let index_id = family_id.clone();
            state
                .commands
                .execute_indexed::<RefreshTokenFamily>(
                    &family_id,
                    RefreshTokenCommand::Start(start),
                    &context,
                    Box::new(move |conn, events| {
                        Box::pin(refresh_tokens::index(conn, index_id, events))
                    }),
                )
                .await?;
            Some(token)
        }
    };
    Ok(TokenResponse {
        access_token: issued.access_token,
        token_type: "Bearer",
        expires_in: ACCESS_TOKEN_TTL_SECS,
        scope: Some(grant.scope.join(" ")),
        id_token: issued.id_token,
        refresh_token,
    })
}

async fn revoke_everything(
    state: &AppState,
    client_id: &str,
    access_token_ids: &[String],
    refresh_family_ids: &[String],
    context: &CommandContext,
) -> Result<(), OAuthError> {
    access_tokens::revoke_all(state, access_token_ids, client_id, context).await?;
    for family_id in refresh_family_ids {
        let events = state
            .commands
            .execute::<RefreshTokenFamily>(family_id, RefreshTokenCommand::RevokeForReuse, context)
            .await?;
        for event in events {
            if let sigil_domain::refresh_token::RefreshTokenEvent::RefreshTokenFamilyRevoked {
                revoke_access_token_ids,
            } = event
            {
                access_tokens::revoke_all(state, &revoke_access_token_ids, client_id, context)
                    .await?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc7636_appendix_b_verifier() {
        assert_eq!(
            super::verifier_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap(),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert!(super::verifier_challenge("short").is_err());
    }
}
