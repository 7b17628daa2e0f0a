//! OpenID Provider metadata (OpenID Connect Discovery 1.0 §4). The document's `issuer` must
//! be exactly the issuer it was fetched for (§4.3): otherwise one provider could pass itself
//! off as another, and every ID token check against `iss` would be checking the wrong name.

use serde::Deserialize;

use super::{FetchError, Upstreams};

/// The fields a connector takes from the document.
#[derive(Debug, Clone, Deserialize)]
pub struct ProviderMetadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: Option<String>,
    pub jwks_uri: String,
    #[serde(default)]
    pub id_token_signing_alg_values_supported: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("the discovery document could not be fetched: {0}")]
    Fetch(#[from] FetchError),
    #[error("the discovery document is not OpenID Provider metadata: {0}")]
    Invalid(String),
    #[error(
        "the discovery document names issuer {found:?}, not {expected:?} (OpenID Connect Discovery §4.3)"
    )]
    IssuerMismatch { expected: String, found: String },
}

/// Fetches `{issuer}/.well-known/openid-configuration` (§4.1: a trailing `/` of the issuer
/// is removed before the path is appended) and checks it.
pub async fn discover(
    upstreams: &Upstreams,
    issuer: &str,
) -> Result<ProviderMetadata, DiscoveryError> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let document = upstreams.get_json(&url, None).await?;
    let metadata: ProviderMetadata =
        serde_json::from_value(document).map_err(|e| DiscoveryError::Invalid(e.to_string()))?;
    if metadata.issuer != issuer {
        return Err(DiscoveryError::IssuerMismatch {
            expected: issuer.to_string(),
            found: metadata.issuer,
        });
    }
    Ok(metadata)
}
