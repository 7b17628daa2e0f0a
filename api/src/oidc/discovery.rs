//! Authorization server metadata: OpenID Connect Discovery 1.0 at
//! `/oidc/.well-known/openid-configuration` and RFC 8414 at
//! `/.well-known/oauth-authorization-server/oidc`, one document for both. It lists only what
//! this server implements; each endpoint adds itself here when it lands.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::state::AppState;

pub async fn metadata(State(state): State<Arc<AppState>>) -> Json<Value> {
    let issuer = state.config.issuer();
    Json(json!({
        "issuer": issuer,
        "token_endpoint": format!("{issuer}/token"),
        "introspection_endpoint": format!("{issuer}/token/introspection"),
        "revocation_endpoint": format!("{issuer}/token/revocation"),
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
    }))
}
