//! The OpenID Connect and OAuth 2.0 endpoints under `/oidc`, one module per endpoint, as the
//! RFCs name them. Every endpoint answers errors through [`error::OAuthError`].

mod access_tokens;
mod authorize;
mod client_auth;
mod codes;
mod context;
pub mod discovery;
pub mod error;
mod form;
mod id_token;
pub mod interaction;
mod introspection;
pub mod refresh_tokens;
mod revocation;
mod sessions;
mod token;
pub mod tokens;
mod userinfo;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::state::AppState;

/// Routes relative to `/oidc`.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(discovery::metadata),
        )
        .route(
            "/auth",
            get(authorize::authorize_get).post(authorize::authorize_post),
        )
        .route("/interaction/sign-in", post(authorize::sign_in))
        .route("/interaction/consent", post(authorize::consent))
        .route("/jwks", get(jwks))
        .route("/me", get(userinfo::userinfo).post(userinfo::userinfo))
        .route("/token", post(token::token))
        .route("/token/introspection", post(introspection::introspect))
        .route("/token/revocation", post(revocation::revoke))
}

/// The public signing keys (RFC 7517), current and recently retired.
async fn jwks(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
) -> axum::Json<serde_json::Value> {
    axum::Json(state.keys().jwks())
}
