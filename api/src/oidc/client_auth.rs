//! Client authentication at the token, introspection and revocation endpoints (RFC 6749
//! §2.3): `client_secret_basic`, `client_secret_post`, and `none` for public clients. The
//! application is loaded from its stream, not a read model: this is a security decision.

use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sigil_domain::Application;
use subtle::ConstantTimeEq;

use std::net::SocketAddr;

use sigil_domain::throttle::ThrottledAction;

use super::context::request_context;
use super::error::OAuthError;
use super::form::OAuthForm;
use super::tokens::digest;
use crate::state::AppState;
use crate::throttle;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    SecretBasic,
    SecretPost,
    None,
}

pub struct AuthenticatedClient {
    pub id: String,
    pub application: std::sync::Arc<Application>,
    pub method: AuthMethod,
}

/// The credentials a request presents, before they are checked.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Presented {
    id: String,
    secret: Option<String>,
    method: AuthMethod,
}

pub(crate) fn presented(headers: &HeaderMap, form: &OAuthForm) -> Result<Presented, OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        });
    match (basic, form.get("client_secret")) {
        // RFC 6749 §2.3: a client MUST NOT use more than one authentication method.
        (Some(_), Some(_)) => Err(OAuthError::InvalidRequest(
            "use one client authentication method, not both Basic and client_secret".into(),
        )),
        (Some(credentials), None) => {
            let decoded = STANDARD
                .decode(credentials.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| OAuthError::invalid_client(true))?;
            let (id, secret) = decoded
                .split_once(':')
                .ok_or_else(|| OAuthError::invalid_client(true))?;
            // RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
            let unescape = |s: &str| {
                url::form_urlencoded::parse(format!("v={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            let (id, secret) = (unescape(id), unescape(secret));
            if let Some(form_id) = form.get("client_id").filter(|f| *f != id) {
                return Err(OAuthError::InvalidRequest(format!(
                    "client_id {form_id:?} does not match the authenticated client"
                )));
            }
            Ok(Presented {
                id,
                secret: Some(secret),
                method: AuthMethod::SecretBasic,
            })
        }
        (None, secret) => {
            let id = form
                .get("client_id")
                .ok_or_else(|| OAuthError::invalid_client(false))?
                .to_string();
            Ok(Presented {
                id,
                secret: secret.map(str::to_string),
                method: if secret.is_some() {
                    AuthMethod::SecretPost
                } else {
                    AuthMethod::None
                },
            })
        }
    }
}

/// Authenticates the client that sent this request from `peer`. Failures count against
/// the client id and the address; once either is throttled, nothing is checked until the
/// wait is over.
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    form: &OAuthForm,
    peer: SocketAddr,
) -> Result<AuthenticatedClient, OAuthError> {
    let presented = presented(headers, form)?;
    let keys = vec![
        format!("client:{}", presented.id),
        format!("ip:{}", peer.ip()),
    ];
    if let Some(wait) = state.client_auth_throttle.blocked(&keys) {
        return Err(OAuthError::TooManyRequests {
            retry_after: throttle::seconds(wait),
        });
    }
    match check(state, presented).await {
        Err(OAuthError::InvalidClient { description, basic }) => {
            let newly = state.client_auth_throttle.failed(&keys);
            if let Some(wait) = newly.iter().map(|(_, w)| *w).max() {
                let context = request_context(headers, Some(peer), keys[0].clone());
                throttle::record(
                    state,
                    ThrottledAction::ClientAuthentication,
                    &newly,
                    &context,
                )
                .await?;
                return Err(OAuthError::TooManyRequests {
                    retry_after: throttle::seconds(wait),
                });
            }
            Err(OAuthError::InvalidClient { description, basic })
        }
        other => other,
    }
}

/// Whether `secret` is the one whose digest is `expected`, compared in constant time.
pub(crate) fn secret_matches(secret: &str, expected: &str) -> bool {
    bool::from(digest(secret).as_bytes().ct_eq(expected.as_bytes()))
}

async fn check(state: &AppState, presented: Presented) -> Result<AuthenticatedClient, OAuthError> {
    let basic = presented.method == AuthMethod::SecretBasic;
    let application = state.commands.current::<Application>(&presented.id).await?;
    if !application.is_active() {
        return Err(OAuthError::invalid_client(basic));
    }
    let authentic = match (application.client_secret_digest(), &presented.secret) {
        // A confidential client proves it holds its secret; compare digests in constant time.
        (Some(expected), Some(secret)) => secret_matches(secret, expected),
        // A public client has no secret, so it may present none (RFC 6749 §2.1).
        (None, None) => true,
        _ => false,
    };
    if !authentic {
        return Err(OAuthError::invalid_client(basic));
    }
    Ok(AuthenticatedClient {
        id: presented.id,
        application,
        method: presented.method,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(body: &str) -> OAuthForm {
        OAuthForm(super::super::form::parse(body.as_bytes()).unwrap())
    }

    fn basic(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            format!("Basic {}", STANDARD.encode(value)).parse().unwrap(),
        );
        h
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let p = presented(&basic("my%20app:s%3Acret"), &form("grant_type=x")).unwrap();
        assert_eq!(p.id, "my app");
        assert_eq!(p.secret.as_deref(), Some("s:cret"));
        assert_eq!(p.method, AuthMethod::SecretBasic);
    }

    #[test]
    fn two_methods_at_once_are_refused() {
        let err = presented(&basic("a:b"), &form("client_secret=b")).unwrap_err();
        assert_eq!(err.code(), "invalid_request");
    }

    #[test]
    fn post_and_none_are_told_apart() {
        let p = presented(&HeaderMap::new(), &form("client_id=a&client_secret=b")).unwrap();
        assert_eq!(p.method, AuthMethod::SecretPost);
        let p = presented(&HeaderMap::new(), &form("client_id=a")).unwrap();
        assert_eq!((p.method, p.secret), (AuthMethod::None, None));
        let err = presented(&HeaderMap::new(), &form("grant_type=x")).unwrap_err();
        assert_eq!(err.code(), "invalid_client");
    }

    #[test]
    fn malformed_basic_is_invalid_client_with_a_challenge() {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, "Basic %%%".parse().unwrap());
        let err = presented(&h, &form("grant_type=x")).unwrap_err();
        assert_eq!(err, OAuthError::invalid_client(true));
        let err = presented(&basic("no-colon"), &form("grant_type=x")).unwrap_err();
        assert_eq!(err, OAuthError::invalid_client(true));
    }
}
