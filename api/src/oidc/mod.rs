//! The OpenID Connect and OAuth 2.0 endpoints under `/oidc`, one module per endpoint, as the
//! RFCs name them. Every endpoint answers errors through [`error::OAuthError`].

pub(crate) mod access_tokens;
pub(crate) mod authorize;
pub(crate) mod client_auth;
mod codes;
pub(crate) mod context;
mod cors;
pub mod discovery;
pub(crate) mod end_session;
pub mod error;
pub(crate) mod form;
pub mod id_token;
pub mod interaction;
mod introspection;
pub mod jwt_access_token;
pub mod organizations;
pub mod refresh_tokens;
pub mod resources;
mod revocation;
pub(crate) mod sessions;
pub(crate) mod token;
pub mod tokens;
mod userinfo;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::state::AppState;

/// Routes relative to `/oidc`.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        // CORS (cors.rs): the public documents for any origin, the endpoints a single-page
        // application calls for the origins applications registered; nothing else, so the
        // pages and the authorization endpoint stay same-origin.
        .route(
            "/.well-known/openid-configuration",
            get(cors::public(discovery::metadata)).options(cors::public_preflight),
        )
        .route(
            "/auth",
            get(authorize::authorize_get).post(authorize::authorize_post),
        )
        .route("/interaction/sign-in", post(authorize::sign_in))
        .route("/interaction/consent", post(authorize::consent))
        .merge(crate::connectors::router())
        .route(
            "/jwks",
            get(cors::public(jwks)).options(cors::public_preflight),
        )
        .route(
            "/me",
            get(cors::registered(userinfo::userinfo))
                .post(cors::registered(userinfo::userinfo))
                .options(cors::registered_preflight),
        )
        .route(
            "/session/end",
            get(end_session::end_session_get).post(end_session::end_session_post),
        )
        .route(
            "/token",
            post(cors::registered(token::token)).options(cors::registered_preflight),
        )
        .route(
            "/token/introspection",
            post(cors::registered(introspection::introspect)).options(cors::registered_preflight),
        )
        .route(
            "/token/revocation",
            post(cors::registered(revocation::revoke)).options(cors::registered_preflight),
        )
}

/// The public signing keys (RFC 7517), current and recently retired.
async fn jwks(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
) -> axum::Json<serde_json::Value> {
    axum::Json(state.keys().jwks())
}
