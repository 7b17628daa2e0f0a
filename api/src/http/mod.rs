//! The HTTP surface, one module per concern, merged in [`router`].

mod health;
pub mod pages;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::get;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::oidc;
use crate::state::AppState;
use crate::telemetry;

/// Largest request body accepted anywhere; OAuth forms and GraphQL queries are far smaller.
const MAX_BODY_BYTES: usize = 256 * 1024;

pub fn router(state: Arc<AppState>, request_timeout: Duration) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route(sigil_web_consent::STYLESHEET_PATH, get(pages::stylesheet))
        .nest("/oidc", oidc::router())
        .route(
            "/.well-known/oauth-authorization-server/oidc",
            get(oidc::discovery::metadata),
        )
        .fallback(pages::not_found)
        .with_state(state.clone())
        .merge(crate::graphql::router(state))
        .layer(middleware::from_fn(telemetry::track_http))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            request_timeout,
        ))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}
