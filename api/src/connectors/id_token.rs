//! Verifies the upstream's ID token (OIDC Core §3.1.3.7) with `jsonwebtoken`, not by hand:
//! signature against the upstream's JWKS, an algorithm the connector accepts, `iss`, `aud`
//! (and `azp`), `exp`, `iat` within `maxTokenAge`, and the `nonce` Sigil sent. Each refusal
//! has its own reason, for the audit trail.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Validation, decode, decode_header};
use serde::Deserialize;
use sigil_domain::connector::OidcConnectorConfig;
use sigil_domain::upstream_sign_in::UpstreamFailure;
use subtle::ConstantTimeEq;

use super::Upstreams;
use super::jwks::{self, JwksError};

/// What Sigil takes from a verified ID token (and, when configured, from userinfo).
#[derive(Debug, Clone, Deserialize)]
pub struct UpstreamClaims {
    pub sub: String,
    pub iat: i64,
    pub nonce: Option<String>,
    pub azp: Option<String>,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub name: Option<String>,
}

pub async fn verify(
    upstreams: &Upstreams,
    config: &OidcConnectorConfig,
    token: &str,
    expected_nonce: &str,
    now: i64,
) -> Result<UpstreamClaims, UpstreamFailure> {
    let v = &config.id_token_verification;
    let header = decode_header(token).map_err(|_| UpstreamFailure::MalformedIdToken)?;
    let alg_name = serde_json::to_value(header.alg)
        .ok()
        .and_then(|a| a.as_str().map(str::to_string))
        .unwrap_or_default();
    // The connector's list, which never holds `none` or an HMAC algorithm (domain rule).
    if !v.algorithms.contains(&alg_name) {
        return Err(UpstreamFailure::AlgorithmNotAllowed);
    }
    let key = jwks::key_for(upstreams, &v.jwks_uri, header.kid.as_deref(), header.alg)
        .await
        .map_err(|e| match e {
            JwksError::UnknownKey => UpstreamFailure::UnknownKey,
            JwksError::Fetch(_) | JwksError::Invalid => UpstreamFailure::UpstreamUnreachable,
        })?;
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&v.issuer);
    let audience = if v.audience.is_empty() {
        std::slice::from_ref(&config.client_id)
    } else {
        &v.audience[..]
    };
    validation.set_audience(audience);
    validation.leeway = v.clock_tolerance_secs;
    validation.validate_nbf = true;
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    let claims = decode::<UpstreamClaims>(token, &key, &validation)
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature | ErrorKind::Crypto(_) => UpstreamFailure::BadSignature,
            ErrorKind::InvalidIssuer => UpstreamFailure::WrongIssuer,
            ErrorKind::InvalidAudience => UpstreamFailure::WrongAudience,
            ErrorKind::ExpiredSignature => UpstreamFailure::Expired,
            ErrorKind::ImmatureSignature => UpstreamFailure::TokenTooOld,
            ErrorKind::InvalidAlgorithm => UpstreamFailure::AlgorithmNotAllowed,
            _ => UpstreamFailure::MalformedIdToken,
        })?
        .claims;
    // §3.1.3.7 step 5: an `azp` must name us.
    if claims
        .azp
        .as_ref()
        .is_some_and(|azp| *azp != config.client_id)
    {
        return Err(UpstreamFailure::WrongAudience);
    }
    // §3.1.3.7 step 10: `iat` bounds how old a token may be; none from the future.
    let tolerance = v.clock_tolerance_secs as i64;
    if claims.iat > now + tolerance
        || v.max_token_age_secs
            .is_some_and(|max| now - claims.iat > max as i64 + tolerance)
    {
        return Err(UpstreamFailure::TokenTooOld);
    }
    // §3.1.3.7 step 11: the nonce binds the token to this browser's request.
    let nonce_ok = claims
        .nonce
        .as_deref()
        .is_some_and(|n| bool::from(n.as_bytes().ct_eq(expected_nonce.as_bytes())));
    if !nonce_ok {
        return Err(UpstreamFailure::NonceMismatch);
    }
    if claims.sub.is_empty() {
        return Err(UpstreamFailure::MalformedIdToken);
    }
    Ok(claims)
}
