//! What happens after a request is checked: sign the person in if needed, ask consent if
//! needed, then issue the code and send the browser back to the client.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use sigil_domain::authorization_code::{
    AuthorizationCode, AuthorizationCodeCommand, CODE_TTL_SECS, IssueCode,
};
use sigil_domain::connector::Connector;
use sigil_domain::consent::{Consent, consent_id};
use sigil_domain::sign_in_experience::{SIGN_IN_EXPERIENCE_ID, SignInExperience};
use sigil_domain::{Application, User};
use sigil_web_consent::{
    Account, Branding, ConnectorButton, ConsentPage, ErrorMessage, OrganizationChoice, Permission,
    ResourcePermissions, SignInError, SignInPage, render,
};

use super::request::RedirectError;
use crate::http::pages::{allow_form_redirect, error_page, html};
use crate::oidc::codes;
use crate::oidc::context::request_context;
use crate::oidc::interaction::{CSRF_COOKIE, Interaction, cookie, set_cookie};
use crate::oidc::resources::{self, Grantable};
use crate::oidc::sessions::{self, ActiveSession, SESSION_COOKIE};
use crate::oidc::tokens::{digest, new_stream_id, new_token};
use crate::state::AppState;

pub const SIGN_IN_ACTION: &str = "/oidc/interaction/sign-in";
pub const CONSENT_ACTION: &str = "/oidc/interaction/consent";

pub fn server_error(headers: &HeaderMap, cause: impl std::fmt::Display) -> Response {
    tracing::error!(%cause, "authorization failed");
    error_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        ErrorMessage::SignInFailed,
        headers,
    )
}

/// Sends an error back to the client (RFC 6749 §4.1.2.1), with `iss` (RFC 9207).
pub fn redirect_error(state: &AppState, e: &RedirectError) -> Response {
    let mut params = vec![
        ("error", e.error.to_string()),
        ("error_description", e.description.clone()),
    ];
    if let Some(s) = &e.state {
        params.push(("state", s.clone()));
    }
    params.push(("iss", state.config.issuer()));
    redirect_with(&e.redirect_uri, &params)
}

fn redirect_with(uri: &str, params: &[(&str, String)]) -> Response {
    match url::Url::parse(uri) {
        Ok(mut url) => {
            url.query_pairs_mut()
                .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())));
            Redirect::to(url.as_str()).into_response()
        }
        Err(_) => (StatusCode::BAD_REQUEST, "invalid redirect").into_response(),
    }
}

fn refuse(interaction: &Interaction, error: &'static str, description: &str) -> RedirectError {
    RedirectError {
        redirect_uri: interaction.request.redirect_uri.clone(),
        state: interaction.request.state.clone(),
        error,
        description: description.into(),
    }
}

/// The session the browser's cookie names, if it is live and its user still active.
pub async fn current_session(
    state: &AppState,
    headers: &HeaderMap,
    now: i64,
) -> Result<Option<(ActiveSession, User)>, Response> {
    let Some(token) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let session = sessions::find(state.store.pool(), &digest(&token), now)
        .await
        .map_err(|e| server_error(headers, e))?;
    let Some(session) = session else {
        return Ok(None);
    };
    let (user, _) = state
        .commands
        .load_folded::<User>(&session.user_id)
        .await
        .map_err(|e| server_error(headers, e))?;
    Ok(user.is_active().then_some((session, user)))
}

/// Decides the next step of an interaction.
pub async fn proceed(
    state: &AppState,
    headers: &HeaderMap,
    interaction: Interaction,
    application: std::sync::Arc<Application>,
) -> Response {
    let now = chrono::Utc::now().timestamp();
    let session = match current_session(state, headers, now).await {
        Ok(s) => s,
        Err(page) => return page,
    };
    let request = &interaction.request;
    let signed_in_now = interaction.session_id.is_some()
        && interaction.session_id.as_deref()
            == session.as_ref().map(|(s, _)| s.session_id.as_str());
    // OIDC Core §3.1.2.1: max_age=0 asks for a fresh sign-in, like prompt=login (with
    // one-second timestamps, "elapsed > 0" would miss a sign-in in the same second).
    let needs_login = match &session {
        None => true,
        Some(_) if signed_in_now => false,
        Some((s, _)) => {
            request.prompt.login
                || request
                    .max_age
                    .is_some_and(|max| max == 0 || now - s.auth_time > max)
        }
    };
    if needs_login {
        if request.prompt.none {
            return redirect_error(
                state,
                &refuse(&interaction, "login_required", "the user is not signed in"),
            );
        }
        return sign_in_page(
            state,
            &interaction,
            &application,
            request.login_hint.as_deref().unwrap_or(""),
            None,
        )
        .await;
    }
    let (session, user) = session.expect("signed in");
    // Only what the user holds, and a third-party app may ask for, is ever granted.
    let grantable =
        match resources::grantable(state, &application, &session.user_id, &user, request).await {
            Ok(g) => g,
            Err(e) => return server_error(headers, e),
        };
    // Third-party applications get nothing without the user's consent (seed 001); first-party
    // applications are the provider's own and skip it.
    if application.is_third_party() {
        let (consent, _) = match state
            .commands
            .load::<Consent>(&consent_id(&session.user_id, &request.client_id))
            .await
        {
            Ok(c) => c,
            Err(e) => return server_error(headers, e),
        };
        let covered = consent.covers(&grantable.consent_items());
        if !interaction.consented && (request.prompt.consent || !covered) {
            if request.prompt.none {
                return redirect_error(
                    state,
                    &refuse(
                        &interaction,
                        "consent_required",
                        "the user has not consented",
                    ),
                );
            }
            return consent_page(state, &interaction, &application, &user, &grantable);
        }
    }
    issue_code(state, headers, &interaction, &session, grantable.scope()).await
}

async fn issue_code(
    state: &AppState,
    headers: &HeaderMap,
    interaction: &Interaction,
    session: &ActiveSession,
    scope: Vec<String>,
) -> Response {
    let request = &interaction.request;
    let code = new_token();
    let code_id = new_stream_id();
    let context = request_context(headers, None, format!("user:{}", session.user_id));
    let issued_at = context.now.timestamp();
    let issue = IssueCode {
        client_id: request.client_id.clone(),
        user_id: session.user_id.clone(),
        session_id: session.session_id.clone(),
        redirect_uri: request.redirect_uri.clone(),
        scope,
        nonce: request.nonce.clone(),
        code_challenge: request.code_challenge.clone(),
        auth_time: session.auth_time,
        issued_at,
        expires_at: issued_at + CODE_TTL_SECS,
        code_digest: digest(&code),
        prompt_consent: request.prompt.consent,
        resources: request.resources.clone(),
    };
    let index_id = code_id.clone();
    let code_digest = issue.code_digest.clone();
    // The id was made up for this code (`new_stream_id`): its stream is empty, nothing to
    // read first.
    let issued = state
        .commands
        .execute_loaded::<AuthorizationCode>(
            &code_id,
            (AuthorizationCode::default(), 0),
            AuthorizationCodeCommand::Issue(issue),
            &context,
            Box::new(move |conn, events| Box::pin(codes::index(conn, index_id.clone(), events))),
        )
        .await;
    match issued {
        Ok(events) => {
            // Kept for the code's redemption, which then reads neither lookup nor stream.
            state.codes.learn(&code_digest, &code_id);
            state
                .commands
                .keep_committed(&code_id, (AuthorizationCode::default(), 0), &events);
        }
        Err(e) => return server_error(headers, e),
    }
    let mut params = vec![("code", code)];
    if let Some(s) = &request.state {
        params.push(("state", s.clone()));
    }
    params.push(("iss", state.config.issuer()));
    redirect_with(&request.redirect_uri, &params)
}

/// A fresh CSRF token, set as a cookie on the page that embeds it.
fn with_csrf(mut response: Response, csrf: &str, secure: bool) -> Response {
    if let Ok(v) = HeaderValue::from_str(&set_cookie(CSRF_COOKIE, csrf, secure, None)) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

pub async fn sign_in_page(
    state: &AppState,
    interaction: &Interaction,
    application: &Application,
    identifier: &str,
    error: Option<SignInError>,
) -> Response {
    let csrf = new_token();
    let sealed = state.interactions.seal(interaction);
    let (password, connectors) = match sign_in_methods(state).await {
        Ok(methods) => methods,
        Err(e) => return server_error(&HeaderMap::new(), e),
    };
    let buttons: Vec<ConnectorButton> = connectors
        .iter()
        .map(|(id, c)| ConnectorButton {
            action: format!("/oidc/connectors/{id}/start"),
            display_name: c.config().display_name.clone(),
            logo_url: c.config().logo_url.clone(),
        })
        .collect();
    let page = render(&SignInPage {
        password,
        connectors: &buttons,
        locale: interaction.locale(),
        action: SIGN_IN_ACTION,
        interaction: &sealed,
        csrf: &csrf,
        app_name: Some(application.name()),
        identifier,
        error,
    });
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    let mut response = html(status, page);
    // The sign-in POST ends in a redirect to the application: CSP form-action applies to it.
    allow_form_redirect(&mut response, &interaction.request.redirect_uri);
    // A connector's button ends in a redirect to its upstream.
    for (_, c) in &connectors {
        allow_form_redirect(&mut response, &c.config().authorization_endpoint);
    }
    with_csrf(response, &csrf, state.secure_cookies())
}

/// Whether the password form is offered, and the connectors whose buttons are.
pub(crate) async fn sign_in_methods(
    state: &AppState,
) -> Result<(bool, Vec<(String, Connector)>), sigil_eventstore::StoreError> {
    let (experience, _) = state
        .commands
        .load::<SignInExperience>(SIGN_IN_EXPERIENCE_ID)
        .await?;
    let methods = experience.methods();
    let connectors = if methods.connectors {
        crate::connectors::all(state)
            .await?
            .into_iter()
            .filter(|(_, c)| c.is_enabled())
            .collect()
    } else {
        Vec::new()
    };
    // With no connector to offer, the password form stays, whatever the setting says.
    Ok((methods.password || connectors.is_empty(), connectors))
}

fn permission(p: &resources::Permission) -> Permission {
    Permission {
        name: p.name.clone(),
        description: p.description.clone(),
    }
}

/// The consent page: the application as its branding presents it, and exactly the
/// permissions the user holds and the application may ask for.
pub fn consent_page(
    state: &AppState,
    interaction: &Interaction,
    application: &Application,
    user: &User,
    grantable: &Grantable,
) -> Response {
    let csrf = new_token();
    let sealed = state.interactions.seal(interaction);
    let branding = application.branding();
    let identifier = user
        .username()
        .or(user.primary_email())
        .unwrap_or_default()
        .to_string();
    let page = render(&ConsentPage {
        locale: interaction.locale(),
        action: CONSENT_ACTION,
        interaction: &sealed,
        csrf: &csrf,
        branding: Branding {
            display_name: application.display_name().to_string(),
            logo_url: branding.logo_url.clone(),
            terms_of_use_url: branding.terms_of_use_url.clone(),
            privacy_policy_url: branding.privacy_policy_url.clone(),
        },
        account: Account {
            identifier,
            name: user.name().map(str::to_string),
        },
        // Only what the user holds and the application may ask (oidc::resources).
        user_scopes: grantable.user_scopes.clone(),
        resources: grantable
            .resources
            .iter()
            .map(|r| ResourcePermissions {
                name: r.name.clone(),
                scopes: r.scopes.iter().map(permission).collect(),
            })
            .collect(),
        organization_scopes: grantable
            .organization_scopes
            .iter()
            .map(permission)
            .collect(),
        organizations: if grantable.organization_scopes.is_empty() {
            vec![]
        } else {
            grantable
                .organizations
                .iter()
                .map(|(id, name)| OrganizationChoice {
                    id: id.clone(),
                    name: name.clone(),
                })
                .collect()
        },
    });
    let mut response = html(StatusCode::OK, page);
    allow_form_redirect(&mut response, &interaction.request.redirect_uri);
    with_csrf(response, &csrf, state.secure_cookies())
}
