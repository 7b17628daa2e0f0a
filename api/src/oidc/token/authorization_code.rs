//! The authorization code grant (RFC 6749 §4.1.3): redeems a code bound to this client, its
//! redirect URI and its PKCE verifier (RFC 7636 §4.6), then issues an access token and, for
//! `openid`, an ID token. A code redeemed twice fails and revokes what the first redemption
//! issued (RFC 6749 §4.1.2).

use std::net::SocketAddr;

use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use sigil_domain::User;
use sigil_domain::access_token::{AccessToken, AccessTokenCommand, GrantType, IssueAccessToken};
use sigil_domain::authorization_code::{
    AuthorizationCode, AuthorizationCodeCommand, AuthorizationCodeEvent,
};

use super::TokenResponse;
use super::client_credentials::ACCESS_TOKEN_TTL_SECS;
use crate::commands::CommandError;
use crate::oidc::client_auth::AuthenticatedClient;
use crate::oidc::context::request_context;
use crate::oidc::error::OAuthError;
use crate::oidc::form::OAuthForm;
use crate::oidc::id_token::{IdTokenInput, id_token};
use crate::oidc::tokens::{digest, new_token};
use crate::oidc::{access_tokens, codes};
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
    let Some(code_id) = codes::find(state.store.pool(), &digest(code)).await? else {
        return Err(OAuthError::InvalidGrant(
            "the authorization code is not valid".into(),
        ));
    };
    let context = request_context(headers, Some(peer), format!("client:{}", client.id));
    let now = context.now.timestamp();
    let access_token = new_token();
    let access_token_id = uuid::Uuid::new_v4().to_string();
    let redeemed = state
        .commands
        .execute_indexed::<AuthorizationCode>(
            &code_id,
            AuthorizationCodeCommand::Redeem {
                client_id: client.id.clone(),
                redirect_uri: form.get("redirect_uri").map(str::to_string),
                verifier_challenge: verifier,
                now,
                access_token_id: access_token_id.clone(),
            },
            &context,
            Box::new(|_, _| Box::pin(async { Ok(()) })),
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
    }) = events.first()
    {
        let (code_state, _) = state.commands.load::<AuthorizationCode>(&code_id).await?;
        let holder = code_state
            .grant()
            .map(|g| g.client_id.clone())
            .unwrap_or_default();
        for token_id in revoke_access_token_ids {
            let index_id = token_id.clone();
            state
                .commands
                .execute_indexed::<AccessToken>(
                    token_id,
                    AccessTokenCommand::Revoke {
                        client_id: holder.clone(),
                    },
                    &context,
                    Box::new(move |conn, events| {
                        Box::pin(access_tokens::index(conn, index_id, now, events))
                    }),
                )
                .await?;
        }
        return Err(OAuthError::InvalidGrant(
            "the authorization code was already used".into(),
        ));
    }
    let (code_state, _) = state.commands.load::<AuthorizationCode>(&code_id).await?;
    let grant = code_state
        .grant()
        .cloned()
        .ok_or_else(|| OAuthError::ServerError("a redeemed code has no grant".into()))?;

    let issue = IssueAccessToken {
        grant_type: GrantType::AuthorizationCode,
        client_id: client.id.clone(),
        subject: Some(grant.user_id.clone()),
        scope: grant.scope.clone(),
        token_digest: digest(&access_token),
        issued_at: now,
        expires_at: now + ACCESS_TOKEN_TTL_SECS,
    };
    let index_id = access_token_id.clone();
    state
        .commands
        .execute_indexed::<AccessToken>(
            &access_token_id,
            AccessTokenCommand::Issue(issue),
            &context,
            Box::new(move |conn, events| {
                Box::pin(access_tokens::index(conn, index_id, now, events))
            }),
        )
        .await?;

    let id_token = if grant.scope.iter().any(|s| s == "openid") {
        let (user, _) = state.commands.load::<User>(&grant.user_id).await?;
        let keys = state.keys();
        let token = id_token(
            &keys,
            IdTokenInput {
                issuer: &state.config.issuer(),
                client_id: &client.id,
                user_id: &grant.user_id,
                user: &user,
                scope: &grant.scope,
                nonce: grant.nonce.as_deref(),
                auth_time: grant.auth_time,
                now,
                access_token: &access_token,
                alg: client.application.id_token_signed_response_alg(),
            },
        )
        .ok_or_else(|| {
            OAuthError::ServerError("no active signing key for the application's algorithm".into())
        })?;
        Some(token)
    } else {
        None
    };
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: ACCESS_TOKEN_TTL_SECS,
        scope: Some(grant.scope.join(" ")),
        id_token,
    })
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
