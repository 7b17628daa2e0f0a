//! Token introspection (RFC 7662). Only clients that authenticate with a secret may ask:
//! otherwise anyone holding a public client id could probe tokens.

use std::sync::Arc;

use axum::Json;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};

use super::access_tokens;
use super::client_auth::{AuthMethod, authenticate};
use super::error::OAuthError;
use super::form::OAuthForm;
use super::tokens::digest;
use crate::state::AppState;

pub async fn introspect(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    form: OAuthForm,
) -> Result<Json<Value>, OAuthError> {
    let client = authenticate(&state, &headers, &form, peer).await?;
    if client.method == AuthMethod::None {
        return Err(OAuthError::invalid_client(false));
    }
    let token = form.require("token")?;
    let now = chrono::Utc::now().timestamp();
    // RFC 7662 §2.2: anything not currently valid is just "inactive", with no reason given.
    let Some(row) = access_tokens::find(state.store.pool(), &digest(token))
        .await?
        .filter(|row| row.is_active(now))
    else {
        return Ok(Json(json!({ "active": false })));
    };
    let mut body = json!({
        "active": true,
        "client_id": row.client_id,
        "token_type": "Bearer",
        "exp": row.expires_at,
        "iat": row.issued_at,
        "iss": state.config.issuer(),
    });
    if !row.scope.is_empty() {
        body["scope"] = json!(row.scope);
    }
    if let Some(subject) = row.subject {
        body["sub"] = json!(subject);
    }
    if let Some(audience) = row.audience {
        body["aud"] = json!(audience);
    }
    if let Some(organization_id) = row.organization_id {
        body["organization_id"] = json!(organization_id);
    }
    Ok(Json(body))
}
