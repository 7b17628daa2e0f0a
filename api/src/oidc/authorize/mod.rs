//! The authorization endpoint (RFC 6749 §3.1, OIDC Core §3.1.2) and the interaction pages
//! that complete it: sign-in and consent, then a code back to the client.

mod consent;
mod flow;
pub mod request;
mod sign_in;

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use sigil_domain::Application;

pub use consent::consent;
pub use sign_in::sign_in;

use super::form::{OAuthForm, parse as parse_params};
use super::interaction::Interaction;
use crate::http::pages::error_page;
use crate::state::AppState;
use request::{Refusal, parse, trusted_redirect};

/// GET: the parameters are in the query (RFC 6749 §4.1.1).
pub async fn authorize_get(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    match parse_params(query.unwrap_or_default().as_bytes()) {
        Ok(params) => authorize(&state, &headers, params).await,
        Err(e) => bad_request(&headers, &e.to_string()),
    }
}

/// POST: OIDC Core §3.1.2.1 requires the form-encoded variant too.
pub async fn authorize_post(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    form: Result<OAuthForm, super::error::OAuthError>,
) -> Response {
    match form {
        Ok(form) => authorize(&state, &headers, form.0).await,
        Err(e) => bad_request(&headers, &e.to_string()),
    }
}

fn bad_request(headers: &HeaderMap, message: &str) -> Response {
    error_page(
        StatusCode::BAD_REQUEST,
        "This sign-in link does not work",
        message,
        headers,
    )
}

async fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    params: HashMap<String, String>,
) -> Response {
    let application = match params.get("client_id") {
        Some(id) => match state.commands.load::<Application>(id).await {
            Ok((app, _)) => Some(app),
            Err(e) => return flow::server_error(headers, e),
        },
        None => None,
    };
    let checked = trusted_redirect(&params, application.as_ref())
        .map_err(Refusal::Page)
        .and_then(|redirect| {
            parse(
                &params,
                application.as_ref().expect("trusted implies known"),
                redirect,
            )
            .map_err(Refusal::Redirect)
        });
    match checked {
        Err(Refusal::Page(e)) => bad_request(headers, &e.0),
        Err(Refusal::Redirect(e)) => flow::redirect_error(state, &e),
        Ok(request) => {
            let interaction = Interaction {
                request,
                issued_at: chrono::Utc::now().timestamp(),
                session_id: None,
                consented: false,
            };
            flow::proceed(
                state,
                headers,
                interaction,
                application.expect("trusted implies known"),
            )
            .await
        }
    }
}
