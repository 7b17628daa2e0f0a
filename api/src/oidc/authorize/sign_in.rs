//! The sign-in form's POST: checks the password (Argon2id, off the runtime), records the
//! outcome, starts the session and continues the interaction.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use sigil_domain::session::{RecordSignInFailure, Session, SessionCommand, SignInAttempt};
use sigil_domain::{Application, User};
use sigil_web_consent::{ErrorMessage, SignInError};

use super::flow::{proceed, server_error, sign_in_methods, sign_in_page};
use crate::http::pages::error_page;
use crate::oidc::context::request_context;
use crate::oidc::form::OAuthForm;
use crate::oidc::interaction::{Interaction, csrf_ok, set_cookie};
use crate::oidc::sessions::{self, SESSION_COOKIE, SESSION_TTL_SECS};
use crate::oidc::tokens::{digest, new_token};
use crate::state::AppState;
use crate::{passwords, throttle, users};
use sigil_domain::throttle::ThrottledAction;

pub async fn sign_in(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    form: Result<OAuthForm, crate::oidc::error::OAuthError>,
) -> Response {
    let now = chrono::Utc::now().timestamp();
    let form = match form {
        Ok(f) => f,
        Err(_) => return expired(&headers),
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
    let application = match state
        .commands
        .current::<Application>(&interaction.request.client_id)
        .await
    {
        Ok(app) if app.is_active() => app,
        Ok(_) => return expired(&headers),
        Err(e) => return server_error(&headers, e),
    };
    // The sign-in experience may offer connectors only: then no password is checked at all.
    match sign_in_methods(&state).await {
        Ok((true, _)) => {}
        Ok((false, _)) => return expired(&headers),
        Err(e) => return server_error(&headers, e),
    }
    let identifier = form.get("identifier").unwrap_or("").trim().to_string();
    let password = form.get("password").unwrap_or("");
    let user_id = match users::find_by_identifier(state.store.pool(), &identifier).await {
        Ok(id) => id,
        Err(e) => return server_error(&headers, e),
    };
    // Who is signing in, as the log and the throttle name them: the account when the
    // identifier names one; otherwise a keyed pseudonym, since an unknown identifier may be a
    // password typed in the wrong field and must never reach the log in clear.
    let who = match &user_id {
        Some(id) => format!("user:{id}"),
        None => format!(
            "identifier:{}",
            state.pseudonyms.of(&identifier.to_lowercase())
        ),
    };
    let context = request_context(&headers, Some(peer), who.clone());

    // Throttled: refuse before looking at the password, right or wrong.
    let throttle_keys = vec![format!("account:{who}"), format!("ip:{}", peer.ip())];
    if let Some(wait) = state.sign_in_throttle.blocked(&throttle_keys) {
        return throttled(&state, &interaction, &application, &identifier, wait).await;
    }
    let user = match &user_id {
        Some(id) => match state.commands.load::<User>(id).await {
            Ok((user, _)) => Some(user),
            Err(e) => return server_error(&headers, e),
        },
        None => None,
    };
    // Verify even when there is no such user, so timing does not tell which names exist.
    let password_ok =
        passwords::verify_or_dummy(password, user.as_ref().and_then(|u| u.password_hash())).await;
    let failure = match (&user, password_ok) {
        (None, _) => Some("unknown_identifier"),
        (Some(_), false) => Some("wrong_password"),
        (Some(u), true) if !u.is_active() => Some("suspended"),
        _ => None,
    };
    if let Some(reason) = failure {
        let record = RecordSignInFailure {
            user_id: user_id.clone().filter(|_| reason != "unknown_identifier"),
            client_id: Some(interaction.request.client_id.clone()),
            reason: reason.to_string(),
        };
        let attempt = uuid::Uuid::new_v4().to_string();
        if let Err(e) = state
            .commands
            .execute::<SignInAttempt>(&attempt, record, &context)
            .await
        {
            return server_error(&headers, e);
        }
        let newly = state.sign_in_throttle.failed(&throttle_keys);
        if !newly.is_empty() {
            if let Err(e) =
                throttle::record(&state, ThrottledAction::SignIn, &newly, &context).await
            {
                return server_error(&headers, e);
            }
            let wait = newly.iter().map(|(_, w)| *w).max().unwrap_or_default();
            return throttled(&state, &interaction, &application, &identifier, wait).await;
        }
        return sign_in_page(
            &state,
            &interaction,
            &application,
            &identifier,
            // The same words for every failure: which part was wrong is not for an
            // attacker to learn.
            Some(SignInError::WrongCredentials),
        )
        .await;
    }
    let user_id = user_id.expect("a user signed in");

    let token = new_token();
    let session_id = uuid::Uuid::new_v4().to_string();
    let command = SessionCommand::SignIn {
        user_id: user_id.clone(),
        token_digest: digest(&token),
        auth_time: now,
        client_id: Some(interaction.request.client_id.clone()),
        connector_id: None,
    };
    let index_id = session_id.clone();
    let context = request_context(&headers, Some(peer), format!("user:{user_id}"));
    if let Err(e) = state
        .commands
        .execute_indexed::<Session>(
            &session_id,
            command,
            &context,
            Box::new(move |conn, events| {
                Box::pin(sessions::index(conn, index_id.clone(), now, events))
            }),
        )
        .await
    {
        return server_error(&headers, e);
    }
    interaction.session_id = Some(session_id);
    with_session(&state, &headers, interaction, application, &token).await
}

/// Continues an interaction after a sign-in elsewhere (a connector's callback): the new
/// session `session_id`, whose cookie value is `token`, meets the sign-in step.
pub async fn continue_signed_in(
    state: &AppState,
    headers: &HeaderMap,
    mut interaction: Interaction,
    session_id: String,
    token: &str,
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
    interaction.session_id = Some(session_id);
    with_session(state, headers, interaction, application, token).await
}

/// The rest of the interaction, with the new session's cookie set.
async fn with_session(
    state: &AppState,
    headers: &HeaderMap,
    interaction: Interaction,
    application: std::sync::Arc<Application>,
    token: &str,
) -> Response {
    // The rest of the flow reads the new session from the cookie it is about to receive.
    let mut headers = headers.clone();
    if let Ok(cookie) = HeaderValue::from_str(&format!("{SESSION_COOKIE}={token}")) {
        headers.insert(header::COOKIE, cookie);
    }
    let mut response = proceed(state, &headers, interaction, application).await;
    if let Ok(v) = HeaderValue::from_str(&set_cookie(
        SESSION_COOKIE,
        token,
        state.secure_cookies(),
        Some(SESSION_TTL_SECS),
    )) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// The sign-in page again, answered 429, saying how long to wait.
async fn throttled(
    state: &AppState,
    interaction: &Interaction,
    application: &Application,
    identifier: &str,
    wait: std::time::Duration,
) -> Response {
    let minutes = throttle::seconds(wait).div_ceil(60);
    let error = SignInError::Throttled { minutes };
    let mut response = sign_in_page(state, interaction, application, identifier, Some(error)).await;
    *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    if let Ok(v) = HeaderValue::from_str(&throttle::seconds(wait).to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

fn expired(headers: &HeaderMap) -> Response {
    error_page(
        StatusCode::BAD_REQUEST,
        ErrorMessage::SignInExpired,
        headers,
    )
}
