//! The relying-party flow's two endpoints. `start` sends the browser to the upstream's
//! authorization endpoint with a fresh `state`, a `nonce` and a PKCE S256 challenge;
//! `callback` checks what comes back, redeems the code, verifies the ID token, and signs
//! the person in to Sigil, continuing the interaction that sent them.
//!
//! Between the two, the browser holds a cookie, HMAC-signed and valid ten minutes, naming
//! the connector, the state and Sigil's own sealed interaction. The nonce and the PKCE
//! verifier are HMACs of the state under a server key, so they are never stored anywhere
//! (decision 0004). A state completes one sign-in: its digest names an `UpstreamSignIn`
//! stream, and a second callback with it finds that stream used.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sigil_domain::connector::{Connector, OidcConnectorConfig};
use sigil_domain::sign_in_experience::{SIGN_IN_EXPERIENCE_ID, SignInExperience};
use sigil_domain::upstream_sign_in::{UpstreamFailure, UpstreamSignIn, UpstreamSignInCommand};
use sigil_web_consent::ErrorMessage;
use subtle::ConstantTimeEq;

use super::id_token::{self, UpstreamClaims};
use super::{Upstreams, accounts, redirect_uri, token};
use crate::http::pages::{error_page, error_page_with};
use crate::oidc::context::request_context;
use crate::oidc::form::{OAuthForm, parse};
use crate::oidc::interaction::{Interaction, cookie, csrf_ok, set_cookie};
use crate::oidc::tokens::{digest, keyed_digest, new_token};
use crate::state::AppState;

const FLOW_COOKIE: &str = "sigil_upstream";
/// As long as Sigil's own interaction lives: the person signs in upstream within it.
const FLOW_TTL_SECS: i64 = 600;
/// Browsers keep cookies up to 4 KiB; a bigger one would be dropped silently.
const MAX_COOKIE_BYTES: usize = 3800;

/// What the flow cookie carries. Nothing in it is secret: the state also travels in the
/// address bar, and the interaction is Sigil's own signed, public one.
#[derive(Serialize, Deserialize)]
struct Pending {
    connector_id: String,
    state: String,
    interaction: String,
    issued_at: i64,
}

impl Upstreams {
    fn sign_pending(&self, pending: &Pending) -> String {
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(pending).expect("serializable"));
        let tag = keyed_digest(&self.flow_key, b"sigil.connector-flow.v1", body.as_bytes());
        format!("{body}.{}", URL_SAFE_NO_PAD.encode(tag))
    }

    fn open_pending(&self, signed: &str, now: i64) -> Option<Pending> {
        let (body, tag) = signed.split_once('.')?;
        let expected = keyed_digest(&self.flow_key, b"sigil.connector-flow.v1", body.as_bytes());
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        if !bool::from(expected.as_slice().ct_eq(&tag)) {
            return None;
        }
        let pending: Pending = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).ok()?).ok()?;
        (now - pending.issued_at <= FLOW_TTL_SECS && pending.issued_at <= now + 60)
            .then_some(pending)
    }

    /// The nonce or PKCE verifier of a state: recomputable by Sigil alone.
    fn derived(&self, label: &[u8], state: &str) -> String {
        URL_SAFE_NO_PAD.encode(keyed_digest(&self.flow_key, label, state.as_bytes()))
    }
}

/// POST from a "Continue with …" button on the sign-in page.
pub async fn start(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    form: Result<OAuthForm, crate::oidc::error::OAuthError>,
) -> Response {
    let now = chrono::Utc::now().timestamp();
    let expired = || {
        error_page(
            StatusCode::BAD_REQUEST,
            ErrorMessage::SignInExpired,
            &headers,
        )
    };
    let Ok(form) = form else { return expired() };
    if !csrf_ok(&headers, form.get("csrf")) {
        return expired();
    }
    let Some(sealed) = form.get("interaction") else {
        return expired();
    };
    let Some(interaction) = state.interactions.open(sealed, now) else {
        return expired();
    };
    let config = match enabled_connector(&state, &id).await {
        Ok(Some(config)) => config,
        Ok(None) => {
            return page(
                &headers,
                Some(&interaction),
                UpstreamFailure::ConnectorUnavailable,
            );
        }
        Err(e) => return crate::oidc::authorize::flow::server_error(&headers, e),
    };
    let upstream_state = new_token();
    let nonce = state
        .upstreams
        .derived(b"sigil.connector-nonce.v1", &upstream_state);
    let verifier = state
        .upstreams
        .derived(b"sigil.connector-pkce.v1", &upstream_state);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let Ok(mut url) = url::Url::parse(&config.authorization_endpoint) else {
        return page(
            &headers,
            Some(&interaction),
            UpstreamFailure::ConnectorUnavailable,
        );
    };
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", &config.client_id)
            .append_pair("redirect_uri", &redirect_uri(&state.config.issuer(), &id))
            .append_pair("scope", &config.scope)
            .append_pair("state", &upstream_state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        let a = &config.auth_request;
        let max_age = a.max_age.map(|m| m.to_string());
        for (name, value) in [
            ("prompt", &a.prompt),
            ("max_age", &max_age),
            ("ui_locales", &a.ui_locales),
            ("login_hint", &a.login_hint),
            ("acr_values", &a.acr_values),
            ("response_mode", &a.response_mode),
            ("display", &a.display),
            ("id_token_hint", &a.id_token_hint),
        ] {
            if let Some(value) = value {
                q.append_pair(name, value);
            }
        }
        for (name, value) in &config.custom_params {
            q.append_pair(name, value);
        }
    }
    let pending = state.upstreams.sign_pending(&Pending {
        connector_id: id.clone(),
        state: upstream_state,
        interaction: sealed.to_string(),
        issued_at: now,
    });
    if pending.len() > MAX_COOKIE_BYTES {
        return page(&headers, Some(&interaction), UpstreamFailure::StateMismatch);
    }
    let mut response = Redirect::to(url.as_str()).into_response();
    let cookie = flow_cookie(&state, &id, &pending, Some(FLOW_TTL_SECS));
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// The flow cookie, only sent back to this connector's callback.
fn flow_cookie(state: &AppState, id: &str, value: &str, max_age: Option<i64>) -> String {
    let path = format!("/oidc/connectors/{id}/");
    set_cookie(FLOW_COOKIE, value, state.secure_cookies(), max_age)
        .replace("Path=/;", &format!("Path={path};"))
}

/// The connector's configuration, if people may sign in with it now.
async fn enabled_connector(
    state: &AppState,
    id: &str,
) -> Result<Option<OidcConnectorConfig>, sigil_eventstore::StoreError> {
    let (experience, _) = state
        .commands
        .load::<SignInExperience>(SIGN_IN_EXPERIENCE_ID)
        .await?;
    if !experience.methods().connectors {
        return Ok(None);
    }
    let (connector, _) = state.commands.load::<Connector>(id).await?;
    Ok(connector.is_enabled().then(|| connector.config().clone()))
}

/// GET from the upstream, with `code` and `state`, or `error` (OIDC Core §3.1.2.5, §3.1.2.6).
pub async fn callback(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let now = chrono::Utc::now().timestamp();
    let params = parse(query.unwrap_or_default().as_bytes()).unwrap_or_default();
    let refuse = Refuse {
        state: &state,
        headers: &headers,
        peer,
        connector_id: &id,
    };
    // RFC 9700 §4.7: the state must be the one this browser was given.
    let pending = cookie(&headers, FLOW_COOKIE)
        .and_then(|c| state.upstreams.open_pending(&c, now))
        .filter(|p| p.connector_id == id)
        .filter(|p| {
            params
                .get("state")
                .is_some_and(|s| bool::from(s.as_bytes().ct_eq(p.state.as_bytes())))
        });
    let Some(pending) = pending else {
        let stream = uuid::Uuid::new_v4().to_string();
        return refuse
            .with(&stream, None, UpstreamFailure::StateMismatch, None)
            .await;
    };
    let stream = digest(&pending.state);
    let Some(interaction) = state.interactions.open(&pending.interaction, now) else {
        return refuse
            .with(&stream, None, UpstreamFailure::StateMismatch, None)
            .await;
    };
    let i = Some(&interaction);
    let attempt = match state.commands.load::<UpstreamSignIn>(&stream).await {
        Ok(loaded) => loaded,
        Err(e) => return crate::oidc::authorize::flow::server_error(&headers, e),
    };
    if attempt.0.is_used() {
        return refuse
            .with(&stream, i, UpstreamFailure::StateReplayed, None)
            .await;
    }
    if let Some(error) = params.get("error") {
        let code = Some(error.as_str())
            .filter(|e| e.len() <= 64 && e.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
            .map(str::to_string);
        return refuse
            .with(&stream, i, UpstreamFailure::UpstreamError, code)
            .await;
    }
    let config = match enabled_connector(&state, &id).await {
        Ok(Some(config)) => config,
        Ok(None) => {
            return refuse
                .with(&stream, i, UpstreamFailure::ConnectorUnavailable, None)
                .await;
        }
        Err(e) => return crate::oidc::authorize::flow::server_error(&headers, e),
    };
    // RFC 9207: a response naming an issuer must name this connector's (mix-up).
    if let Some(iss) = params.get("iss")
        && !config.id_token_verification.issuer.contains(iss)
    {
        return refuse
            .with(&stream, i, UpstreamFailure::WrongIssuer, None)
            .await;
    }
    let Some(code) = params.get("code") else {
        return refuse
            .with(&stream, i, UpstreamFailure::UpstreamError, None)
            .await;
    };
    let claims = match verified_claims(&state, &id, &config, code, &pending.state, now).await {
        Ok(claims) => claims,
        Err(reason) => return refuse.with(&stream, i, reason, None).await,
    };
    let outcome = accounts::sign_in(
        &state,
        &headers,
        peer,
        accounts::Upstream {
            connector_id: &id,
            config: &config,
            claims: &claims,
            attempt_stream: &stream,
            attempt,
        },
        &interaction,
    )
    .await;
    let (session_id, token) = match outcome {
        Ok(signed_in) => signed_in,
        Err(accounts::Refusal::Failure(reason)) => {
            return refuse.with(&stream, i, reason, None).await;
        }
        Err(accounts::Refusal::Server(cause)) => {
            return crate::oidc::authorize::flow::server_error(&headers, cause);
        }
    };
    let mut response = crate::oidc::authorize::continue_signed_in(
        &state,
        &headers,
        interaction,
        session_id,
        &token,
    )
    .await;
    let spent = flow_cookie(&state, &id, "", Some(0));
    if let Ok(v) = HeaderValue::from_str(&spent) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// Redeems the code and verifies what the upstream says about the person. The tokens
/// stay in memory: only the claims Sigil keeps leave this function.
async fn verified_claims(
    state: &AppState,
    id: &str,
    config: &OidcConnectorConfig,
    code: &str,
    upstream_state: &str,
    now: i64,
) -> Result<UpstreamClaims, UpstreamFailure> {
    let upstreams = &state.upstreams;
    let Some(secret) = upstreams.open_secret(id, &config.sealed_client_secret) else {
        tracing::error!(
            connector = id,
            "the connector's client secret does not open"
        );
        return Err(UpstreamFailure::ConnectorUnavailable);
    };
    let verifier = upstreams.derived(b"sigil.connector-pkce.v1", upstream_state);
    let tokens = token::exchange(
        upstreams,
        config,
        &secret,
        code,
        &redirect_uri(&state.config.issuer(), id),
        &verifier,
        now,
    )
    .await?;
    let nonce = upstreams.derived(b"sigil.connector-nonce.v1", upstream_state);
    let mut claims = id_token::verify(upstreams, config, &tokens.id_token, &nonce, now).await?;
    if let (Some(endpoint), Some(access_token)) = (&config.userinfo_endpoint, &tokens.access_token)
    {
        let info = upstreams
            .get_json(endpoint, Some(access_token))
            .await
            .map_err(|_| UpstreamFailure::UserinfoFailed)?;
        // OIDC Core §5.3.4: userinfo about anyone else must not be used.
        if info["sub"].as_str() != Some(claims.sub.as_str()) {
            return Err(UpstreamFailure::UserinfoFailed);
        }
        let text = |name: &str| info[name].as_str().map(str::to_string);
        claims.name = claims.name.or_else(|| text("name"));
        if claims.email.is_none() {
            claims.email = text("email");
            claims.email_verified = info["email_verified"].as_bool();
        }
    }
    Ok(claims)
}

/// Records a refusal and shows the person why.
struct Refuse<'a> {
    state: &'a AppState,
    headers: &'a HeaderMap,
    peer: SocketAddr,
    connector_id: &'a str,
}

impl Refuse<'_> {
    async fn with(
        &self,
        stream: &str,
        interaction: Option<&Interaction>,
        reason: UpstreamFailure,
        upstream_error: Option<String>,
    ) -> Response {
        let context = request_context(
            self.headers,
            Some(self.peer),
            format!("connector:{}", self.connector_id),
        );
        let command = UpstreamSignInCommand::Fail {
            connector_id: self.connector_id.to_string(),
            reason,
            upstream_error,
        };
        if let Err(e) = self
            .state
            .commands
            .execute::<UpstreamSignIn>(stream, command, &context)
            .await
        {
            return crate::oidc::authorize::flow::server_error(self.headers, e);
        }
        tracing::info!(
            connector = self.connector_id,
            reason = reason.as_str(),
            "upstream sign-in refused"
        );
        page(self.headers, interaction, reason)
    }
}

/// The page a refusal shows, in the interaction's language when there is one.
fn page(
    headers: &HeaderMap,
    interaction: Option<&Interaction>,
    reason: UpstreamFailure,
) -> Response {
    use UpstreamFailure as F;
    let (status, message) = match reason {
        F::StateMismatch | F::StateReplayed => {
            (StatusCode::BAD_REQUEST, ErrorMessage::UpstreamSignInExpired)
        }
        F::UpstreamUnreachable | F::TokenRequestFailed => {
            (StatusCode::BAD_GATEWAY, ErrorMessage::UpstreamUnavailable)
        }
        F::UserSuspended | F::AccountConflict => {
            (StatusCode::FORBIDDEN, ErrorMessage::UpstreamSignInFailed)
        }
        _ => (StatusCode::BAD_REQUEST, ErrorMessage::UpstreamSignInFailed),
    };
    let locale = interaction.map(|i| i.locale().tag());
    error_page_with(status, message, Some(reason.as_str()), locale, headers)
}
