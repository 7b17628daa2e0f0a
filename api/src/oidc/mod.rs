//! The OpenID Connect and OAuth 2.0 endpoints under `/oidc`, one module per endpoint, as the
//! RFCs name them. Every endpoint answers errors through [`error::OAuthError`].

mod access_tokens;
mod client_auth;
mod context;
pub mod discovery;
pub mod error;
mod form;
mod introspection;
mod revocation;
mod token;
pub mod tokens;

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
        .route("/token", post(token::token))
        .route("/token/introspection", post(introspection::introspect))
        .route("/token/revocation", post(revocation::revoke))
}
