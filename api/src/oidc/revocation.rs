//! Token revocation (RFC 7009): the client that holds a token ends it.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use sigil_domain::access_token::{AccessToken, AccessTokenCommand};

use super::access_tokens;
use super::client_auth::authenticate;
use super::context::request_context;
use super::error::OAuthError;
use super::form::OAuthForm;
use super::tokens::digest;
use crate::commands::CommandError;
use crate::state::AppState;

pub async fn revoke(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    form: OAuthForm,
) -> Result<StatusCode, OAuthError> {
    let client = authenticate(&state, &headers, &form).await?;
    let token = form.require("token")?;
    // RFC 7009 §2.2: an unknown or already invalid token is answered 200 all the same, so a
    // client cannot use this endpoint to probe.
    let Some(row) = access_tokens::find(state.store.pool(), &digest(token)).await? else {
        return Ok(StatusCode::OK);
    };
    let context = request_context(&headers, Some(peer), format!("client:{}", client.id));
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
                Box::pin(access_tokens::index(conn, token_id, now, events))
            }),
        )
        .await;
    match revoked {
        Ok(_) => Ok(StatusCode::OK),
        // RFC 7009 §2.1: a token issued to another client is not this client's to revoke.
        Err(CommandError::Rejected(_)) => Err(OAuthError::InvalidRequest(
            "the token was not issued to this client".into(),
        )),
        Err(e) => Err(e.into()),
    }
}
