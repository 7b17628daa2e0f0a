//! An OIDC connector's configuration, as seed 004 (Logto's OIDC social connector) lists it,
//! and the rules it must satisfy before it is recorded. The api resolves discovery and seals
//! the client secret first; what arrives here is complete, and holds no secret in clear.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ConnectorError;
use crate::SEALED_KEY_PREFIX;

pub const MAX_DISPLAY_NAME_CHARS: usize = 64;
/// Longest URL, client id, scope or option value, in bytes: each travels in an address bar.
pub const MAX_VALUE_LEN: usize = 2048;
pub const MAX_CUSTOM_PARAMS: usize = 16;

/// Parameters the flow sets itself: `customConfig` may not override them (seed 004 puts
/// nonce generation "in code implementation" for the same reason).
pub const RESERVED_PARAMS: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "request",
    "request_uri",
];

/// ID token algorithms a connector may accept: asymmetric only. `none` is never a
/// signature, and HMAC keyed with a public JWK is the confusion RFC 8725 §3.1 warns of.
pub const ID_TOKEN_ALGORITHMS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

/// RFC 7523 §2.2 / OIDC Core §9: `client_secret_jwt` signs with the secret by HMAC.
pub const CLIENT_SECRET_JWT_ALGORITHMS: &[&str] = &["HS256", "HS384", "HS512"];

/// How Sigil authenticates to the upstream token endpoint (OIDC Core §9, whose names all
/// start alike).
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenEndpointAuthMethod {
    #[default]
    ClientSecretBasic,
    ClientSecretPost,
    ClientSecretJwt,
}

/// Seed 004's `idTokenVerificationConfig`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IdTokenVerification {
    pub jwks_uri: String,
    /// Accepted `iss` values; at least one (OIDC Core §3.1.3.7 step 2 requires the check).
    pub issuer: Vec<String>,
    /// Accepted `aud` values; empty means the client id.
    pub audience: Vec<String>,
    /// Accepted `alg` values, from [`ID_TOKEN_ALGORITHMS`].
    pub algorithms: Vec<String>,
    /// Leeway for `exp`, `nbf` and `iat`, in seconds.
    pub clock_tolerance_secs: u64,
    /// How old (`iat`) an ID token may be, in seconds; none: only `exp` limits it.
    pub max_token_age_secs: Option<u64>,
}

/// Seed 004's `authRequestOptionalConfig`: sent as they are on every authentication request
/// (OIDC Core §3.1.2.1). `responseType` is fixed to `code`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthRequestOptions {
    pub prompt: Option<String>,
    pub max_age: Option<u64>,
    pub ui_locales: Option<String>,
    pub login_hint: Option<String>,
    pub acr_values: Option<String>,
    /// `query` only: the callback is a GET.
    pub response_mode: Option<String>,
    pub display: Option<String>,
    pub id_token_hint: Option<String>,
}

/// Everything a connector is, as recorded in `ConnectorConfigured` and `ConnectorUpdated`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OidcConnectorConfig {
    pub display_name: String,
    pub logo_url: Option<String>,
    /// The issuer whose discovery document filled the endpoints, when the admin gave one.
    pub discovery_issuer: Option<String>,
    pub client_id: String,
    /// Sealed with a key derived from the master key (`v1.…`); the connector id is the
    /// associated data.
    pub sealed_client_secret: String,
    pub scope: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: Option<String>,
    pub token_endpoint_auth_method: TokenEndpointAuthMethod,
    pub client_secret_jwt_signing_algorithm: Option<String>,
    pub id_token_verification: IdTokenVerification,
    pub auth_request: AuthRequestOptions,
    pub custom_params: BTreeMap<String, String>,
    /// Link a first upstream sign-in to the Sigil account holding the same email, when the
    /// upstream says `email_verified: true`. Off unless the admin trusts the upstream's word.
    pub link_verified_email: bool,
    /// Offered on the sign-in page.
    pub enabled: bool,
}

impl OidcConnectorConfig {
    /// Checks every rule; the first broken one is the error.
    pub fn validate(&self) -> Result<(), ConnectorError> {
        use ConnectorError as E;
        let name = self.display_name.trim();
        if name.is_empty() {
            return Err(E::DisplayNameEmpty);
        }
        if name.chars().count() > MAX_DISPLAY_NAME_CHARS || name != self.display_name {
            return Err(E::Invalid("displayName".into()));
        }
        if let Some(logo) = &self.logo_url {
            // Shown as an image on the sign-in page: https only (the page's CSP says so).
            url_rule(logo, "logoUrl", false)?;
        }
        if let Some(issuer) = &self.discovery_issuer {
            url_rule(issuer, "issuer", true)?;
        }
        bounded(&self.client_id, "clientId")?;
        if !self.sealed_client_secret.starts_with(SEALED_KEY_PREFIX) {
            return Err(E::SecretNotSealed);
        }
        bounded(&self.scope, "scope")?;
        if !self.scope.split(' ').any(|s| s == "openid") {
            return Err(E::ScopeWithoutOpenid);
        }
        url_rule(&self.authorization_endpoint, "authorizationEndpoint", true)?;
        url_rule(&self.token_endpoint, "tokenEndpoint", true)?;
        if let Some(u) = &self.userinfo_endpoint {
            url_rule(u, "userinfoEndpoint", true)?;
        }
        match (
            self.token_endpoint_auth_method,
            &self.client_secret_jwt_signing_algorithm,
        ) {
            (TokenEndpointAuthMethod::ClientSecretJwt, Some(alg))
                if CLIENT_SECRET_JWT_ALGORITHMS.contains(&alg.as_str()) => {}
            (TokenEndpointAuthMethod::ClientSecretJwt, _) => {
                return Err(E::Invalid("clientSecretJwtSigningAlgorithm".into()));
            }
            (_, None) => {}
            (_, Some(_)) => return Err(E::Invalid("clientSecretJwtSigningAlgorithm".into())),
        }
        let v = &self.id_token_verification;
        url_rule(&v.jwks_uri, "jwksUri", true)?;
        if v.issuer.is_empty() {
            return Err(E::Invalid("idTokenVerificationConfig.issuer".into()));
        }
        for value in v.issuer.iter().chain(&v.audience) {
            bounded(value, "idTokenVerificationConfig")?;
        }
        if v.algorithms.is_empty()
            || v.algorithms
                .iter()
                .any(|a| !ID_TOKEN_ALGORITHMS.contains(&a.as_str()))
        {
            return Err(E::Invalid("idTokenVerificationConfig.algorithms".into()));
        }
        let a = &self.auth_request;
        for value in [
            &a.prompt,
            &a.ui_locales,
            &a.login_hint,
            &a.acr_values,
            &a.display,
            &a.id_token_hint,
        ]
        .into_iter()
        .flatten()
        {
            bounded(value, "authRequestOptionalConfig")?;
        }
        if a.response_mode.as_deref().is_some_and(|m| m != "query") {
            return Err(E::Invalid("authRequestOptionalConfig.responseMode".into()));
        }
        if self.custom_params.len() > MAX_CUSTOM_PARAMS {
            return Err(E::Invalid("customConfig".into()));
        }
        for (key, value) in &self.custom_params {
            if RESERVED_PARAMS.contains(&key.as_str()) {
                return Err(E::ReservedParameter(key.clone()));
            }
            bounded(key, "customConfig")?;
            bounded(value, "customConfig")?;
        }
        Ok(())
    }
}

fn bounded(value: &str, field: &str) -> Result<(), ConnectorError> {
    if value.trim().is_empty() || value.len() > MAX_VALUE_LEN {
        return Err(ConnectorError::Invalid(field.into()));
    }
    Ok(())
}

/// An absolute URL without fragment or credentials. `https`, or plain `http` to a loopback
/// host when `loopback_http` (a provider on the same machine, as in development and tests).
fn url_rule(value: &str, field: &str, loopback_http: bool) -> Result<(), ConnectorError> {
    bounded(value, field)?;
    let invalid = || ConnectorError::InvalidUrl(field.into());
    let url = url::Url::parse(value).map_err(|_| invalid())?;
    let loopback = matches!(
        url.host(),
        Some(url::Host::Ipv4(ip)) if ip.is_loopback()
    ) || matches!(url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
        || url.host_str() == Some("localhost");
    let scheme_ok =
        url.scheme() == "https" || (loopback_http && loopback && url.scheme() == "http");
    if !scheme_ok
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(invalid());
    }
    Ok(())
}
