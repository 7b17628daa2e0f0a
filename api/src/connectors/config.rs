//! Turns an administrator's settings into a connector's configuration: fills what an
//! `issuer` can tell through discovery (never overriding what the admin set explicitly),
//! applies defaults, and seals the client secret. The domain then checks the rules.

use std::collections::BTreeMap;

use sigil_domain::connector::{
    AuthRequestOptions, ID_TOKEN_ALGORITHMS, OidcConnectorConfig, TokenEndpointAuthMethod,
};

use super::Upstreams;
use super::discovery::{DiscoveryError, discover};

/// Clock skew tolerated when none is configured, in seconds.
pub const DEFAULT_CLOCK_TOLERANCE_SECS: u64 = 30;
/// The OIDC default (Core §3.1.3.7 step 7), when neither admin nor discovery says.
const DEFAULT_ALGORITHM: &str = "RS256";

/// Seed 004's `idTokenVerificationConfig`, each field optional when changing.
#[derive(Debug, Clone, Default)]
pub struct IdTokenVerificationSettings {
    pub jwks_uri: Option<String>,
    pub issuer: Option<Vec<String>>,
    pub audience: Option<Vec<String>>,
    pub algorithms: Option<Vec<String>>,
    pub clock_tolerance_secs: Option<u64>,
    /// `Some(None)` removes the limit.
    pub max_token_age_secs: Option<Option<u64>>,
}

/// What an administrator sets; `None` leaves a field as it is (or to its default).
#[derive(Debug, Clone, Default)]
pub struct ConnectorSettings {
    pub display_name: Option<String>,
    /// `Some("")` removes it.
    pub logo_url: Option<String>,
    /// Discovery fills the endpoints, the JWKS and the accepted issuer from it.
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub scope: Option<String>,
    pub authorization_endpoint: Option<String>,
    pub token_endpoint: Option<String>,
    /// `Some("")` removes it.
    pub userinfo_endpoint: Option<String>,
    pub token_endpoint_auth_method: Option<TokenEndpointAuthMethod>,
    pub client_secret_jwt_signing_algorithm: Option<String>,
    pub id_token_verification: IdTokenVerificationSettings,
    pub auth_request: Option<AuthRequestOptions>,
    pub custom_params: Option<BTreeMap<String, String>>,
    pub link_verified_email: Option<bool>,
    pub enabled: Option<bool>,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{0} is required")]
    Missing(&'static str),
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
}

/// The configuration `settings` make of `current` (none for a new connector `id`).
pub async fn resolve(
    upstreams: &Upstreams,
    id: &str,
    current: Option<&OidcConnectorConfig>,
    settings: ConnectorSettings,
) -> Result<OidcConnectorConfig, SettingsError> {
    let is_new = current.is_none();
    let mut c = current.cloned().unwrap_or_else(|| OidcConnectorConfig {
        enabled: true,
        id_token_verification: sigil_domain::connector::IdTokenVerification {
            clock_tolerance_secs: DEFAULT_CLOCK_TOLERANCE_SECS,
            ..Default::default()
        },
        ..Default::default()
    });
    let s = settings;
    let v = s.id_token_verification;
    let set = |field: &mut String, value: Option<String>| {
        if let Some(value) = value {
            *field = value;
        }
    };
    let optional = |value: Option<String>| value.filter(|v| !v.is_empty());
    set(&mut c.display_name, s.display_name);
    if let Some(logo) = s.logo_url {
        c.logo_url = optional(Some(logo));
    }
    set(&mut c.client_id, s.client_id);
    set(&mut c.scope, s.scope);
    if let Some(method) = s.token_endpoint_auth_method {
        c.token_endpoint_auth_method = method;
    }
    if s.client_secret_jwt_signing_algorithm.is_some() {
        c.client_secret_jwt_signing_algorithm = optional(s.client_secret_jwt_signing_algorithm);
    }
    if let Some(options) = s.auth_request {
        c.auth_request = options;
    }
    if let Some(params) = s.custom_params {
        c.custom_params = params;
    }
    if let Some(link) = s.link_verified_email {
        c.link_verified_email = link;
    }
    if let Some(enabled) = s.enabled {
        c.enabled = enabled;
    }
    // Discovery first, so that what the admin set explicitly wins over the document.
    if let Some(issuer) = s.issuer {
        let metadata = discover(upstreams, &issuer).await?;
        c.authorization_endpoint = metadata.authorization_endpoint;
        c.token_endpoint = metadata.token_endpoint;
        c.userinfo_endpoint = metadata.userinfo_endpoint;
        c.id_token_verification.jwks_uri = metadata.jwks_uri;
        c.id_token_verification.issuer = vec![metadata.issuer];
        let supported: Vec<String> = metadata
            .id_token_signing_alg_values_supported
            .into_iter()
            .filter(|a| ID_TOKEN_ALGORITHMS.contains(&a.as_str()))
            .collect();
        if !supported.is_empty() {
            c.id_token_verification.algorithms = supported;
        }
        c.discovery_issuer = Some(issuer);
    }
    set(&mut c.authorization_endpoint, s.authorization_endpoint);
    set(&mut c.token_endpoint, s.token_endpoint);
    if s.userinfo_endpoint.is_some() {
        c.userinfo_endpoint = optional(s.userinfo_endpoint);
    }
    let t = &mut c.id_token_verification;
    set(&mut t.jwks_uri, v.jwks_uri);
    if let Some(issuer) = v.issuer {
        t.issuer = issuer;
    }
    if let Some(audience) = v.audience {
        t.audience = audience;
    }
    if let Some(algorithms) = v.algorithms {
        t.algorithms = algorithms;
    }
    if t.algorithms.is_empty() {
        t.algorithms = vec![DEFAULT_ALGORITHM.into()];
    }
    if let Some(tolerance) = v.clock_tolerance_secs {
        t.clock_tolerance_secs = tolerance;
    }
    if let Some(max) = v.max_token_age_secs {
        t.max_token_age_secs = max;
    }
    match s.client_secret {
        Some(secret) if !secret.is_empty() => {
            c.sealed_client_secret = upstreams.seal_secret(id, &secret);
        }
        _ if is_new => return Err(SettingsError::Missing("clientSecret")),
        _ => {}
    }
    for (field, value) in [
        (
            "authorizationEndpoint (or issuer)",
            &c.authorization_endpoint,
        ),
        ("tokenEndpoint (or issuer)", &c.token_endpoint),
        ("idTokenVerificationConfig.jwksUri (or issuer)", &t.jwks_uri),
    ] {
        if value.is_empty() {
            return Err(SettingsError::Missing(field));
        }
    }
    Ok(c)
}
