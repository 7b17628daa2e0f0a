//! The userinfo endpoint (OIDC Core §5.3) with Bearer tokens (RFC 6750).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use sigil_domain::User;

use super::access_tokens;
use super::id_token::scoped_claims;
use super::organizations::member_of;
use super::tokens::digest;
use crate::state::AppState;

/// RFC 6750 §3: a missing or bad token is 401 with a Bearer challenge.
fn unauthorized(error: Option<&str>) -> Response {
    let challenge = match error {
        Some(e) => format!("Bearer realm=\"sigil\", error=\"{e}\""),
        None => "Bearer realm=\"sigil\"".to_string(),
    };
    let mut response = StatusCode::UNAUTHORIZED.into_response();
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    response
}

pub async fn userinfo(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
    else {
        return unauthorized(None);
    };
    let now = chrono::Utc::now().timestamp();
    let row = match access_tokens::find(state.store.pool(), &digest(token.trim())).await {
        Ok(row) => row,
        Err(e) => {
            tracing::error!(error = %e, "userinfo lookup failed");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    // A JWT access token is for its resource server (its `aud`), not for userinfo.
    let Some(row) = row.filter(|r| r.is_active(now) && r.audience.is_none()) else {
        return unauthorized(Some("invalid_token"));
    };
    let scope: Vec<String> = row.scope.split(' ').map(str::to_string).collect();
    let Some(user_id) = row.subject.filter(|_| scope.iter().any(|s| s == "openid")) else {
        // A token without a user or without openid is not for userinfo (RFC 6750 §3.1).
        return unauthorized(Some("insufficient_scope"));
    };
    match state.commands.load::<User>(&user_id).await {
        Ok((user, _)) if user.is_active() => {
            let organizations = if scope.iter().any(|s| s == "organizations") {
                match member_of(state.store.pool(), &user_id).await {
                    Ok(ids) => Some(ids),
                    Err(e) => {
                        tracing::error!(error = %e, "userinfo organizations lookup failed");
                        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
                    }
                }
            } else {
                None
            };
            let claims = scoped_claims(&user_id, &user, &scope, organizations.as_deref());
            Json(Value::Object(claims)).into_response()
        }
        Ok(_) => unauthorized(Some("invalid_token")),
        Err(e) => {
            tracing::error!(error = %e, "userinfo load failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
