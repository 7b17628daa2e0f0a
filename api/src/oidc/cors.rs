//! Cross-origin resource sharing (Fetch Standard §3.2) for single-page applications, which
//! call the token, userinfo, introspection and revocation endpoints from the browser.
//!
//! - Those endpoints answer an `Origin` only when some live application registered it in its
//!   `cors_allowed_origins` (as in Logto), echoing that one origin with `Vary: Origin`.
//! - The JWKS and the discovery document are public: any origin may read them (`*`).
//! - `Access-Control-Allow-Credentials` is never sent: these endpoints take tokens and client
//!   credentials in headers or the body, never cookies, so a browser must not attach any.
//!
//! The check reads the `rm_cors_origins` read model rather than the log. It is eventually
//! consistent, which is acceptable because CORS decides nothing about tokens: it only lets a
//! browser show a response to a page, and every endpoint still authenticates the client and
//! checks the token against the aggregates. At worst a newly registered origin is refused
//! for a moment.
//!
//! axum's `middleware::from_fn` cannot reach the application state from a router built
//! without it ([`super::router`] gets its state later, from `with_state`), so the layer is a
//! wrapper around each handler instead: [`registered`] and [`public`] add the headers to
//! whatever the handler answers, errors included, so the page can read OAuth error bodies.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::handler::Handler;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sigil_eventstore::sqlx;

use crate::state::AppState;

/// The methods the endpoints take (GET for userinfo and JWKS, POST for the rest).
const ALLOW_METHODS: &str = "GET, POST, OPTIONS";
/// `authorization` carries Bearer tokens and HTTP Basic client credentials (neither is
/// CORS-safelisted, so those requests are preflighted); `content-type` for clients whose
/// libraries send a value outside the safelisted three (Fetch Standard §2.2.2).
const ALLOW_HEADERS: &str = "authorization, content-type";
/// Browsers cap this anyway (Chromium at two hours, Firefox at a day); ten minutes lets an
/// origin removed from an application stop working soon.
const MAX_AGE_SECS: &str = "600";

/// Who may read an endpoint's responses from another origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Policy {
    /// Origins some live application registered.
    Registered,
    /// Anyone: public documents.
    Public,
}

/// A handler whose responses carry CORS headers.
#[derive(Debug, Clone)]
pub struct Cors<H> {
    policy: Policy,
    handler: H,
}

/// Wraps an endpoint that registered origins may call.
pub fn registered<H>(handler: H) -> Cors<H> {
    Cors {
        policy: Policy::Registered,
        handler,
    }
}

/// Wraps an endpoint that any origin may read.
pub fn public<H>(handler: H) -> Cors<H> {
    Cors {
        policy: Policy::Public,
        handler,
    }
}

impl<H, T> Handler<T, Arc<AppState>> for Cors<H>
where
    H: Handler<T, Arc<AppState>>,
{
    type Future = Pin<Box<dyn Future<Output = Response> + Send>>;

    fn call(self, request: Request, state: Arc<AppState>) -> Self::Future {
        let origin = request.headers().get(header::ORIGIN).cloned();
        Box::pin(async move {
            let allowed = allowed_origin(&state, self.policy, origin).await;
            let mut response = self.handler.call(request, state).await;
            decorate(response.headers_mut(), self.policy, allowed);
            response
        })
    }
}

/// A preflight (Fetch Standard §3.2) for an endpoint registered origins may call.
pub async fn registered_preflight(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Response {
    preflight(&state, Policy::Registered, &headers).await
}

/// A preflight for a public document.
pub async fn public_preflight(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    preflight(&state, Policy::Public, &headers).await
}

async fn preflight(state: &AppState, policy: Policy, headers: &HeaderMap) -> Response {
    let allowed = allowed_origin(state, policy, headers.get(header::ORIGIN).cloned()).await;
    let mut response = StatusCode::NO_CONTENT.into_response();
    let h = response.headers_mut();
    if allowed.is_some() {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(ALLOW_METHODS),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(ALLOW_HEADERS),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static(MAX_AGE_SECS),
        );
    }
    decorate(h, policy, allowed);
    response
}

/// The value of `Access-Control-Allow-Origin` for this request, if it gets one.
async fn allowed_origin(
    state: &AppState,
    policy: Policy,
    origin: Option<HeaderValue>,
) -> Option<HeaderValue> {
    match policy {
        Policy::Public => Some(HeaderValue::from_static("*")),
        Policy::Registered => {
            let origin = origin?;
            // Browsers send the serialized origin (RFC 6454 §6.2), the same form the domain
            // requires at registration, so an exact comparison is right; anything else
            // (`null`, odd bytes) matches no row.
            let text = origin.to_str().ok()?;
            match is_registered(state, text).await {
                Ok(true) => Some(origin),
                Ok(false) => None,
                Err(e) => {
                    // Failing closed costs the page a response it may read; nothing more.
                    tracing::warn!(error = %e, "CORS origin lookup failed");
                    None
                }
            }
        }
    }
}

async fn is_registered(state: &AppState, origin: &str) -> Result<bool, sqlx::Error> {
    // Rows exist only for live applications: the read model drops a deleted one's.
    let row = sqlx::query("SELECT 1 FROM rm_cors_origins WHERE origin = $1 LIMIT 1")
        .bind(origin)
        .fetch_optional(state.store.pool())
        .await?;
    Ok(row.is_some())
}

fn decorate(headers: &mut HeaderMap, policy: Policy, allowed: Option<HeaderValue>) {
    if let Some(origin) = allowed {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
    if policy == Policy::Registered {
        // The answer depends on the Origin header, so shared caches must key on it (Fetch
        // Standard §3.2), whether or not this origin was allowed.
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
}
