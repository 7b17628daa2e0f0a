//! The consent form's POST: Authorize records the consent (an event) and continues; Cancel
//! returns `access_denied` to the client; "not you?" (`switch`) forgets the browser's
//! session and asks who is signing in, for the same request.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use sigil_domain::Application;
use sigil_domain::consent::{Consent, ConsentCommand, consent_id};
use sigil_web_consent::ErrorMessage;

use super::flow::{current_session, proceed, redirect_error, server_error, sign_in_page};
use super::request::RedirectError;
use crate::http::pages::error_page;
use crate::oidc::context::request_context;
use crate::oidc::form::OAuthForm;
use crate::oidc::interaction::{Interaction, csrf_ok, set_cookie};
use crate::oidc::resources;
use crate::oidc::sessions::SESSION_COOKIE;
use crate::state::AppState;

pub async fn consent(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    form: Result<OAuthForm, crate::oidc::error::OAuthError>,
) -> Response {
    let now = chrono::Utc::now().timestamp();
    let Ok(form) = form else {
        return expired(&headers);
    };
    if !csrf_ok(&headers, form.get("csrf")) {
        return expired(&headers);
    }
    let Some(mut interaction) = form
        .get("interaction")
        .and_then(|i| state.interactions.open(i, now))
    else {
        return expired(&headers);
    };
    if form.get("decision") == Some("switch") {
        return switch_account(&state, &headers, interaction).await;
    }
    // Consent is the signed-in person's to give: no session, no decision.
    let (session, user) = match current_session(&state, &headers, now).await {
        Ok(Some(signed_in)) => signed_in,
        Ok(None) => return expired(&headers),
        Err(page) => return page,
    };
    let request = interaction.request.clone();
    if form.get("decision") != Some("authorize") {
        return redirect_error(
            &state,
            &RedirectError {
                redirect_uri: request.redirect_uri,
                state: request.state,
                error: "access_denied",
                description: "the user declined".into(),
            },
        );
    }
    let application = match state
        .commands
        .current::<Application>(&request.client_id)
        .await
    {
        Ok(app) if app.is_active() => app,
        Ok(_) => return expired(&headers),
        Err(e) => return server_error(&headers, e),
    };
    let context = request_context(&headers, Some(peer), format!("user:{}", session.user_id));
    // Consent covers exactly what the page listed: what the user holds and the app may ask.
    let grantable =
        match resources::grantable(&state, &application, &session.user_id, &user, &request).await {
            Ok(g) => g,
            Err(e) => return server_error(&headers, e),
        };
    let grant = ConsentCommand::Grant {
        user_id: session.user_id.clone(),
        client_id: request.client_id.clone(),
        scopes: grantable.consent_items_for(form.get("organization_id")),
    };
    let id = consent_id(&session.user_id, &request.client_id);
    if let Err(e) = state
        .commands
        .execute::<Consent>(&id, grant, &context)
        .await
    {
        return server_error(&headers, e);
    }
    interaction.consented = true;
    proceed(&state, &headers, interaction, application).await
}

/// "Not you?": the sign-in page again for the same request, with the browser's session
/// cookie expired so that whoever signs in next starts a session of their own.
async fn switch_account(
    state: &AppState,
    headers: &HeaderMap,
    mut interaction: Interaction,
) -> Response {
    let application = match state
        .commands
        .current::<Application>(&interaction.request.client_id)
        .await
    {
        Ok(app) if app.is_active() => app,
        Ok(_) => return expired(headers),
        Err(e) => return server_error(headers, e),
    };
    interaction.session_id = None;
    interaction.consented = false;
    let mut response = sign_in_page(state, &interaction, &application, "", None).await;
    let forget = set_cookie(SESSION_COOKIE, "", state.secure_cookies(), Some(0));
    if let Ok(v) = HeaderValue::from_str(&forget) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

fn expired(headers: &HeaderMap) -> Response {
    error_page(
        StatusCode::BAD_REQUEST,
        ErrorMessage::RequestExpired,
        headers,
    )
}
