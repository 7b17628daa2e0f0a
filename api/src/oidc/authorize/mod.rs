//! The authorization endpoint (RFC 6749 §3.1, OIDC Core §3.1.2) and the interaction pages
//! that complete it: sign-in and consent, then a code back to the client.

mod consent;
pub(crate) mod flow;
pub mod request;
mod sign_in;

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use sigil_domain::Application;

pub use consent::consent;
pub use sign_in::{continue_signed_in, sign_in};

use super::form::{OAuthForm, parse as parse_params};
use super::interaction::Interaction;
use crate::http::pages::{self, error_page_with};
use crate::state::AppState;
use request::{Refusal, parse, trusted_redirect};
use sigil_web_consent::ErrorMessage;

/// GET: the parameters are in the query (RFC 6749 §4.1.1).
pub async fn authorize_get(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    match parse_params(query.unwrap_or_default().as_bytes()) {
        Ok(params) => authorize(&state, &headers, params).await,
        Err(e) => bad_request(&headers, &e.to_string(), None),
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
        Err(e) => bad_request(&headers, &e.to_string(), None),
    }
}

/// A request that cannot go back to the client: the page explains in the person's language
/// and shows why (`detail`, in the protocol's terms) for them to pass on.
fn bad_request(headers: &HeaderMap, detail: &str, ui_locales: Option<&str>) -> Response {
    error_page_with(
        StatusCode::BAD_REQUEST,
        ErrorMessage::BadSignInRequest,
        Some(detail),
        ui_locales,
        headers,
    )
}

async fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    params: HashMap<String, String>,
) -> Response {
    let application = match params.get("client_id") {
        Some(id) => match state.commands.current::<Application>(id).await {
            Ok(app) => Some(app),
            Err(e) => return flow::server_error(headers, e),
        },
        None => None,
    };
    let checked = trusted_redirect(&params, application.as_deref())
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
        Err(Refusal::Page(e)) => {
            bad_request(headers, &e.0, params.get("ui_locales").map(String::as_str))
        }
        Err(Refusal::Redirect(e)) => flow::redirect_error(state, &e),
        Ok(request) => {
            let locale = pages::locale(request.ui_locales.as_deref(), headers);
            let interaction = Interaction {
                request,
                issued_at: chrono::Utc::now().timestamp(),
                session_id: None,
                consented: false,
                locale_tag: Some(locale.tag().into()),
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
