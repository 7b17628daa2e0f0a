//! Token revocation (RFC 7009): the client that holds a token ends it.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use sigil_domain::access_token::{AccessToken, AccessTokenCommand};
use sigil_domain::refresh_token::{RefreshTokenCommand, RefreshTokenEvent, RefreshTokenFamily};

use super::client_auth::authenticate;
use super::context::request_context;
use super::error::OAuthError;
use super::form::OAuthForm;
use super::tokens::digest;
use super::{access_tokens, refresh_tokens};
use crate::commands::CommandError;
use crate::state::AppState;

pub async fn revoke(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    form: OAuthForm,
) -> Result<StatusCode, OAuthError> {
    let client = authenticate(&state, &headers, &form, peer).await?;
    let token = form.require("token")?;
    // RFC 7009 §2.2: an unknown or already invalid token is answered 200 all the same, so a
    // client cannot use this endpoint to probe.
    let context = request_context(&headers, Some(peer), format!("client:{}", client.id));
    // Both kinds are looked up whatever `token_type_hint` says: the hint only saves a lookup
    // (RFC 7009 §2.1), and a wrong one must not make a token survive.
    if let Some(family_id) = refresh_tokens::family_of(&state, &digest(token)).await? {
        let revoked = state
            .commands
            .execute::<RefreshTokenFamily>(
                &family_id,
                RefreshTokenCommand::Revoke {
                    client_id: client.id.clone(),
                },
                &context,
            )
            .await;
        return match revoked {
            Ok(events) => {
                // RFC 7009 §2.1: revoking a refresh token also ends the access tokens of its grant.
                for event in events {
                    if let RefreshTokenEvent::RefreshTokenFamilyRevoked {
                        revoke_access_token_ids,
                    } = event
                    {
                        access_tokens::revoke_all(
                            &state,
                            &revoke_access_token_ids,
                            &client.id,
                            &context,
                        )
                        .await?;
                    }
                }
                Ok(StatusCode::OK)
            }
            Err(CommandError::Rejected(_)) => Err(not_this_clients()),
            Err(e) => Err(e.into()),
        };
    }
    // RFC 7009 §2.2: an unknown or already invalid token is answered 200 all the same, so a
    // client cannot use this endpoint to probe.
    let Some(row) = access_tokens::find(state.store.pool(), &digest(token)).await? else {
        return Ok(StatusCode::OK);
    };
    let now = context.now.timestamp();
    let token_id = row.token_id.clone();
    let revoked = state
        .commands
        .execute_indexed::<AccessToken>(
            &row.token_id,
            AccessTokenCommand::Revoke {
                client_id: client.id.clone(),
            },
            &context,
            Box::new(move |conn, events| {
                Box::pin(access_tokens::index(conn, token_id.clone(), now, events))
            }),
        )
        .await;
    match revoked {
        Ok(_) => Ok(StatusCode::OK),
        Err(CommandError::Rejected(_)) => Err(not_this_clients()),
        Err(e) => Err(e.into()),
    }
}

/// RFC 7009 §2.1: a token issued to another client is not this client's to revoke.
fn not_this_clients() -> OAuthError {
    OAuthError::InvalidRequest("the token was not issued to this client".into())
}
