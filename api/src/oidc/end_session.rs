//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) at `/oidc/session/end`: an
//! application sends the browser here to end the person's session at Sigil, and may ask to
//! have it sent back to one of its registered `post_logout_redirect_uris`.
//!
//! - `id_token_hint` (§2) must be an ID token Sigil issued: its signature is checked against
//!   Sigil's published keys and its `iss` against the issuer. An expired one is accepted
//!   (§2: the OP SHOULD accept ID tokens whose `exp` has passed as hints); a forged one or
//!   another issuer's is refused and nothing is ended (§4: what fails validation is not used).
//! - The session ends without a question only when a verified hint names the signed-in user
//!   (or nobody is signed in). Otherwise the person confirms on a page with a CSRF-protected
//!   form (§2: the OP MUST ask when there is no hint or it does not match the session).
//! - The browser goes back only to an exact registered URI of the application the hint or
//!   `client_id` names (§3); otherwise it stays on a signed-out page.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use serde_json::Value;
use sigil_domain::Application;
use sigil_domain::session::{Session, SessionCommand};
use sigil_web_consent::{ErrorMessage, Locale, SignOutConfirmPage, SignedOutPage, render};

use super::context::request_context;
use super::error::OAuthError;
use super::form::{OAuthForm, parse};
use super::interaction::{CSRF_COOKIE, cookie, csrf_ok, set_cookie};
use super::sessions::{self, ActiveSession, SESSION_COOKIE};
use super::tokens::{digest, new_token};
use crate::commands::CommandError;
use crate::http::pages::{self, error_page, error_page_with, html};
use crate::keys::verify::{VerifyError, verify_own};
use crate::state::AppState;

/// Where the confirmation form posts: this endpoint.
pub const END_SESSION_ACTION: &str = "/oidc/session/end";

/// The request parameters of §2, the only ones carried through the confirmation form.
const PARAMETERS: [&str; 5] = [
    "id_token_hint",
    "post_logout_redirect_uri",
    "state",
    "client_id",
    "ui_locales",
];

/// GET: the parameters are in the query (§2).
pub async fn end_session_get(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    match parse(query.unwrap_or_default().as_bytes()) {
        Ok(params) => logout(&state, peer, &headers, &params).await,
        Err(e) => refused(
            &headers,
            ErrorMessage::BadSignOutRequest,
            Some(&e.to_string()),
            None,
        ),
    }
}

/// POST (§2: OPs MUST support GET and POST): either the confirmation form,
/// which carries our CSRF token, or a request an application posted.
pub async fn end_session_post(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    form: Result<OAuthForm, OAuthError>,
) -> Response {
    let params = match form {
        Ok(form) => form.0,
        Err(e) => {
            return refused(
                &headers,
                ErrorMessage::BadSignOutRequest,
                Some(&e.to_string()),
                None,
            );
        }
    };
    if !params.contains_key("csrf") {
        // A form an application posted from its own site: the session cookie is SameSite=Lax,
        // so the browser left it out of this cross-site POST and the session cannot be seen.
        // A 303 turns it into a top-level GET, which carries the cookie.
        return see_other(&resend_as_get(&state, &params));
    }
    if !csrf_ok(&headers, params.get("csrf").map(String::as_str)) {
        return error_page_with(
            StatusCode::BAD_REQUEST,
            ErrorMessage::SignOutExpired,
            None,
            params.get("ui_locales").map(String::as_str),
            &headers,
        );
    }
    let checked = match check(&state, &headers, &params).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    match current_session(&state, &headers).await {
        Ok(session) => finish(&state, peer, &headers, session, checked).await,
        Err(page) => page,
    }
}

async fn logout(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
) -> Response {
    let checked = match check(state, headers, params).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    let session = match current_session(state, headers).await {
        Ok(s) => s,
        Err(page) => return page,
    };
    // §2: without a hint, or with one for someone other than the signed-in user, the request
    // might not be the user's (any site can link here), so the user is asked.
    let hint_names_the_user = checked.hint.as_ref().is_some_and(|hint| {
        session
            .as_ref()
            .is_none_or(|session| session.user_id == hint.subject)
    });
    if hint_names_the_user {
        finish(state, peer, headers, session, checked).await
    } else {
        confirmation_page(state, params, &checked)
    }
}

/// What the request asks, once checked.
#[derive(Debug)]
struct Checked {
    /// The pages' language: the request's `ui_locales` (§2), else the browser's.
    locale: Locale,
    hint: Option<Hint>,
    app_name: Option<String>,
    /// The registered post-logout redirect URI, with `state` already added.
    redirect: Option<String>,
}

/// Verifies the hint, works out the client and decides whether a redirect is allowed. A bad
/// hint or a contradiction is refused with a page: never a redirect, nothing ended.
async fn check(
    state: &AppState,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
) -> Result<Checked, Response> {
    let get = |name: &str| params.get(name).map(String::as_str);
    let locale = pages::locale(get("ui_locales"), headers);
    let hint = match get("id_token_hint") {
        Some(token) => {
            let issuer = state.config.issuer();
            match verify_hint(token, &state.keys().jwks(), &issuer) {
                Ok(hint) => Some(hint),
                Err(e) => {
                    tracing::info!(reason = %e, "refused an id_token_hint");
                    return Err(refused(
                        headers,
                        ErrorMessage::SignOutUnverifiedHint,
                        None,
                        get("ui_locales"),
                    ));
                }
            }
        }
        None => None,
    };
    let client_id = client_of(hint.as_ref(), get("client_id")).map_err(|()| {
        refused(
            headers,
            ErrorMessage::SignOutClientMismatch,
            None,
            get("ui_locales"),
        )
    })?;
    let application = match &client_id {
        Some(id) => match state.commands.current::<Application>(id).await {
            Ok(app) if app.is_active() => Some(app),
            Ok(_) => None,
            Err(e) => return Err(server_error(headers, e)),
        },
        None => None,
    };
    // §3: redirect only to a URI registered for this very client, compared exactly; without
    // a known client there is nothing to compare with.
    let redirect = match (get("post_logout_redirect_uri"), &application) {
        (Some(uri), Some(app)) if app.accepts_post_logout_redirect_uri(uri) => {
            with_state(uri, get("state"))
        }
        (Some(uri), _) => {
            tracing::info!(
                uri,
                client_id = client_id.as_deref(),
                "not redirecting to an unregistered post_logout_redirect_uri"
            );
            None
        }
        (None, _) => None,
    };
    Ok(Checked {
        locale,
        hint,
        app_name: application.map(|app| app.name().to_string()),
        redirect,
    })
}

/// The client the request is about: the hint's audience, and `client_id` which, when both
/// are given, must be one of it (§2). `Err` when they disagree.
fn client_of(hint: Option<&Hint>, client_id: Option<&str>) -> Result<Option<String>, ()> {
    match (hint, client_id) {
        (Some(hint), Some(id)) if hint.audiences.iter().any(|a| a == id) => Ok(Some(id.into())),
        (Some(_), Some(_)) => Err(()),
        (Some(hint), None) => Ok(hint.client()),
        (None, id) => Ok(id.map(str::to_string)),
    }
}

/// `uri` with `state` added to its query (§3: the OP passes it back unchanged).
fn with_state(uri: &str, state: Option<&str>) -> Option<String> {
    let Some(state) = state else {
        // Exactly as registered: not even the URL parser's normalisation.
        return Some(uri.to_string());
    };
    let mut url = url::Url::parse(uri).ok()?;
    url.query_pairs_mut().append_pair("state", state);
    Some(url.into())
}

/// The live session the browser's cookie names, if any.
async fn current_session(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<ActiveSession>, Response> {
    let Some(token) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let now = chrono::Utc::now().timestamp();
    sessions::find(state.store.pool(), &digest(&token), now)
        .await
        .map_err(|e| server_error(headers, e))
}

/// Ends the session (if there is one), clears the cookies, then sends the browser back or
/// shows that it is done. With no session this still succeeds: logging out is idempotent.
async fn finish(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    session: Option<ActiveSession>,
    checked: Checked,
) -> Response {
    let ended = match &session {
        Some(session) => end(state, peer, headers, session).await,
        None => Ok(()),
    };
    if let Err(page) = ended {
        return page;
    }
    let mut response = match &checked.redirect {
        Some(uri) => see_other(uri),
        None => html(
            StatusCode::OK,
            render(&SignedOutPage {
                locale: checked.locale,
                app_name: checked.app_name.as_deref(),
            }),
        ),
    };
    let secure = state.secure_cookies();
    let mut expire = vec![SESSION_COOKIE];
    if cookie(headers, CSRF_COOKIE).is_some() {
        expire.push(CSRF_COOKIE);
    }
    for name in expire {
        if let Ok(v) = HeaderValue::from_str(&set_cookie(name, "", secure, Some(0))) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

/// Records `SessionEnded` and marks the session's lookup row ended in the same transaction,
/// so the cookie stops working at once.
async fn end(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    session: &ActiveSession,
) -> Result<(), Response> {
    let context = request_context(headers, Some(peer), format!("user:{}", session.user_id));
    let now = context.now.timestamp();
    let run = || {
        let index_id = session.session_id.clone();
        state.commands.execute_indexed::<Session>(
            &session.session_id,
            SessionCommand::End,
            &context,
            Box::new(move |conn, events| {
                Box::pin(sessions::index(conn, index_id.clone(), now, events))
            }),
        )
    };
    let mut result = run().await;
    if matches!(result, Err(CommandError::Conflict)) {
        // Two tabs signing out at once: the retry sees the session ended and records nothing.
        result = run().await;
    }
    result.map(drop).map_err(|e| server_error(headers, e))
}

/// The question of §2, with the request's parameters carried through the form.
fn confirmation_page(
    state: &AppState,
    params: &HashMap<String, String>,
    checked: &Checked,
) -> Response {
    let csrf = new_token();
    let fields = PARAMETERS
        .iter()
        .filter_map(|name| params.get(*name).map(|value| (*name, value.as_str())))
        .collect();
    let page = render(&SignOutConfirmPage {
        locale: checked.locale,
        action: END_SESSION_ACTION,
        csrf: &csrf,
        app_name: checked.app_name.as_deref(),
        fields,
    });
    let mut response = html(StatusCode::OK, page);
    if let Some(uri) = &checked.redirect {
        crate::http::pages::allow_form_redirect(&mut response, uri);
    }
    if let Ok(v) = HeaderValue::from_str(&set_cookie(
        CSRF_COOKIE,
        &csrf,
        state.secure_cookies(),
        None,
    )) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// The same request as a GET to this endpoint.
fn resend_as_get(state: &AppState, params: &HashMap<String, String>) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for name in PARAMETERS {
        if let Some(value) = params.get(name) {
            query.append_pair(name, value);
        }
    }
    format!("{}/session/end?{}", state.config.issuer(), query.finish())
}

/// 303 See Other (§3 leaves the status to the OP; 303 makes the next request a GET).
fn see_other(uri: &str) -> Response {
    let mut response = Redirect::to(uri).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn refused(
    headers: &HeaderMap,
    message: ErrorMessage,
    detail: Option<&str>,
    ui_locales: Option<&str>,
) -> Response {
    error_page_with(
        StatusCode::BAD_REQUEST,
        message,
        detail,
        ui_locales,
        headers,
    )
}

fn server_error(headers: &HeaderMap, cause: impl std::fmt::Display) -> Response {
    tracing::error!(%cause, "sign-out failed");
    error_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        ErrorMessage::SignOutFailed,
        headers,
    )
}

/// What a verified `id_token_hint` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint {
    pub subject: String,
    pub audiences: Vec<String>,
    pub authorized_party: Option<String>,
}

impl Hint {
    /// The client the token was issued to: its one audience, or with several, `azp` (OIDC
    /// Core §2) when it is one of them.
    fn client(&self) -> Option<String> {
        match self.audiences.as_slice() {
            [one] => Some(one.clone()),
            many => self
                .authorized_party
                .clone()
                .filter(|azp| many.contains(azp)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HintError {
    #[error("not a JWS with the claims of an ID token: {0}")]
    Malformed(String),
    #[error("not signed by any of Sigil's published keys")]
    Signature,
    #[error("issued by {0}, not by this server")]
    Issuer(String),
}

#[derive(Deserialize)]
struct HintClaims {
    iss: String,
    sub: String,
    aud: Audience,
    #[serde(default)]
    azp: Option<String>,
}

/// `aud` is a string or an array of strings (RFC 7519 §4.1.3).
#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

/// Checks that `token` was signed by one of the keys in `jwks` (Sigil's published set, so
/// recently retired keys count) and issued by `issuer`. Expiry is deliberately not checked
/// (§2); nor is the audience, which the caller matches against `client_id`.
pub fn verify_hint(token: &str, jwks: &Value, issuer: &str) -> Result<Hint, HintError> {
    let mut validation = Validation::new(Algorithm::ES384);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    // The claims are required by `HintClaims` itself; `exp` is not needed at all.
    validation.required_spec_claims.clear();
    let (_, claims) = verify_own::<HintClaims>(token, jwks, validation).map_err(|e| match e {
        VerifyError::Signature => HintError::Signature,
        other => HintError::Malformed(other.to_string()),
    })?;
    if claims.iss != issuer {
        return Err(HintError::Issuer(claims.iss));
    }
    let audiences = match claims.aud {
        Audience::One(aud) => vec![aud],
        Audience::Many(auds) => auds,
    };
    Ok(Hint {
        subject: claims.sub,
        audiences,
        authorized_party: claims.azp,
    })
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;
    use sigil_domain::SigningAlgorithm;

    use super::*;
    use crate::keys::generate::rsa_key_for_tests;
    use crate::keys::{GeneratedKey, Signer, encode, generate};

    const ISSUER: &str = "https://sigil.example/oidc";

    fn jwks(keys: &[&GeneratedKey]) -> Value {
        json!({ "keys": keys.iter().map(|k| k.public_jwk.clone()).collect::<Vec<_>>() })
    }

    fn claims(iss: &str, exp: i64) -> Value {
        json!({ "iss": iss, "sub": "user-1", "aud": "spa", "exp": exp, "iat": exp - 3600 })
    }

    /// An ID token as Sigil signs it.
    fn sigil_token(key: &GeneratedKey, alg: SigningAlgorithm, claims: &Value) -> String {
        let signer = Signer::from_pkcs8(alg, &key.private_der).unwrap();
        encode(&signer, &key.kid, Some("JWT"), claims)
    }

    #[test]
    fn genuine_hints_verify_for_every_algorithm_even_when_expired() {
        let es = generate(SigningAlgorithm::ES384).unwrap();
        let ed = generate(SigningAlgorithm::EdDSA).unwrap();
        let rs = rsa_key_for_tests();
        let set = jwks(&[&es, &ed, rs]);
        let long_ago = 1_000_000_000;
        for (key, alg) in [
            (&es, SigningAlgorithm::ES384),
            (&ed, SigningAlgorithm::EdDSA),
            (rs, SigningAlgorithm::RS256),
        ] {
            let token = sigil_token(key, alg, &claims(ISSUER, long_ago));
            let hint = verify_hint(&token, &set, ISSUER).unwrap();
            assert_eq!(hint.subject, "user-1");
            assert_eq!(hint.client().as_deref(), Some("spa"));
        }
    }

    #[test]
    fn a_hint_signed_by_another_key_is_refused_even_with_our_kid() {
        let ours = generate(SigningAlgorithm::EdDSA).unwrap();
        let fresh = generate(SigningAlgorithm::EdDSA).unwrap();
        // Forged with an independent implementation, naming our key.
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(ours.kid.clone());
        let forged = jsonwebtoken::encode(
            &header,
            &claims(ISSUER, 4_102_444_800),
            &EncodingKey::from_ed_der(&fresh.private_der),
        )
        .unwrap();
        assert_eq!(
            verify_hint(&forged, &jwks(&[&ours]), ISSUER),
            Err(HintError::Signature)
        );
    }

    #[test]
    fn another_issuer_hmac_and_garbage_are_refused() {
        let key = generate(SigningAlgorithm::ES384).unwrap();
        let set = jwks(&[&key]);
        let foreign = sigil_token(
            &key,
            SigningAlgorithm::ES384,
            &claims("https://evil.example", 4_102_444_800),
        );
        assert!(matches!(
            verify_hint(&foreign, &set, ISSUER),
            Err(HintError::Issuer(_))
        ));
        let hmac = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims(ISSUER, 4_102_444_800),
            &EncodingKey::from_secret(key.public_jwk.to_string().as_bytes()),
        )
        .unwrap();
        assert_eq!(verify_hint(&hmac, &set, ISSUER), Err(HintError::Signature));
        assert!(matches!(
            verify_hint("not.a.token", &set, ISSUER),
            Err(HintError::Malformed(_))
        ));
    }

    #[test]
    fn client_id_must_agree_with_the_hint() {
        let hint = Hint {
            subject: "u".into(),
            audiences: vec!["spa".into()],
            authorized_party: None,
        };
        assert_eq!(client_of(Some(&hint), None), Ok(Some("spa".into())));
        assert_eq!(client_of(Some(&hint), Some("spa")), Ok(Some("spa".into())));
        assert_eq!(client_of(Some(&hint), Some("other")), Err(()));
        assert_eq!(client_of(None, Some("other")), Ok(Some("other".into())));
        assert_eq!(client_of(None, None), Ok(None));
        let many = Hint {
            audiences: vec!["a".into(), "b".into()],
            authorized_party: Some("b".into()),
            ..hint
        };
        assert_eq!(many.client().as_deref(), Some("b"));
    }

    #[test]
    fn state_is_added_to_the_redirect_keeping_its_query() {
        assert_eq!(
            with_state("https://app.example.com/bye?x=1", Some("a b")).as_deref(),
            Some("https://app.example.com/bye?x=1&state=a+b")
        );
        assert_eq!(
            with_state("https://app.example.com/bye", None).as_deref(),
            Some("https://app.example.com/bye")
        );
    }
}
