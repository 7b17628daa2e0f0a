//! Who may use the management API (CONTRACT.md): the bearer of a JWT access token (RFC 9068)
//! that Sigil issued through `client_credentials` for `urn:sigil:management` with scope
//! `all`. No token, or one that is malformed, expired, revoked or not Sigil's: 401. A Sigil
//! token for another resource or without `all`: 403 (RFC 6750 §3.1 `insufficient_scope`).

use axum::http::{HeaderMap, header};
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use sigil_domain::Application;
use sigil_domain::access_control::MANAGEMENT_RESOURCE;

use crate::keys::verify::{VerifyError, verify_own};
use crate::oidc::access_tokens;
use crate::oidc::tokens::digest;
use crate::state::AppState;

/// The scope that grants the whole management API.
pub const MANAGEMENT_SCOPE: &str = "all";

/// An authenticated administrator: the machine-to-machine application the token was issued to.
#[derive(Debug, Clone)]
pub struct Admin {
    pub client_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("a bearer access token is required")]
    Missing,
    #[error("the access token is invalid: {0}")]
    Invalid(String),
    #[error("the access token does not grant the management API: {0}")]
    Forbidden(String),
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    aud: Audience,
    client_id: String,
    #[serde(default)]
    scope: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn contains(&self, resource: &str) -> bool {
        match self {
            Audience::One(a) => a == resource,
            Audience::Many(all) => all.iter().any(|a| a == resource),
        }
    }
}

/// The bearer token of an `Authorization` header (RFC 6750 §2.1; the scheme is
/// case-insensitive).
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Checks a bearer token for the management API.
pub async fn authenticate(state: &AppState, token: Option<&str>) -> Result<Admin, AuthError> {
    let token = token.ok_or(AuthError::Missing)?;
    let mut validation = Validation::new(Algorithm::ES384);
    validation.validate_aud = false;
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    let (header, claims) =
        verify_own::<Claims>(token, &state.keys().jwks(), validation).map_err(|e| match e {
            VerifyError::Expired => AuthError::Invalid("expired".into()),
            other => AuthError::Invalid(other.to_string()),
        })?;
    // RFC 9068 §4: the resource server MUST check the type, so that an ID token (signed by
    // the same keys) is never taken for an access token.
    let typ = header
        .typ
        .as_deref()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if typ != "at+jwt" && typ != "application/at+jwt" {
        return Err(AuthError::Invalid("not an access token (typ)".into()));
    }
    if claims.iss != state.config.issuer() {
        return Err(AuthError::Invalid("issued by another server".into()));
    }
    // Revoked tokens and tokens of deleted or changed applications stop at once: the lookup
    // is written with the token's own events.
    let now = chrono::Utc::now().timestamp();
    let row = access_tokens::find(state.store.pool(), &digest(token))
        .await
        .map_err(|e| AuthError::Invalid(format!("cannot be checked now: {e}")))?;
    if !row.is_some_and(|r| r.is_active(now)) {
        return Err(AuthError::Invalid("revoked or unknown".into()));
    }
    let application = state
        .commands
        .current::<Application>(&claims.client_id)
        .await
        .map_err(|e| AuthError::Invalid(format!("cannot be checked now: {e}")))?;
    if !application.is_active() {
        return Err(AuthError::Invalid(
            "the application no longer exists".into(),
        ));
    }
    if !claims.aud.contains(MANAGEMENT_RESOURCE) {
        return Err(AuthError::Forbidden(format!(
            "issued for another resource, not {MANAGEMENT_RESOURCE}"
        )));
    }
    if !claims.scope.split(' ').any(|s| s == MANAGEMENT_SCOPE) {
        return Err(AuthError::Forbidden(format!(
            "scope {MANAGEMENT_SCOPE:?} is required"
        )));
    }
    Ok(Admin {
        client_id: claims.client_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn bearer_scheme_is_case_insensitive_and_needs_a_token() {
        let mut headers = HeaderMap::new();
        for (value, expected) in [
            ("Bearer abc", Some("abc")),
            ("bearer abc", Some("abc")),
            ("BEARER  abc ", Some("abc")),
            ("Basic abc", None),
            ("Bearer ", None),
            ("Bearer", None),
        ] {
            headers.insert(header::AUTHORIZATION, HeaderValue::from_static(value));
            assert_eq!(bearer(&headers), expected, "{value:?}");
        }
    }
}
