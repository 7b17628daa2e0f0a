//! The token request to the upstream (OIDC Core §3.1.3.1), authenticated as the connector
//! says (§9): HTTP Basic, form fields, or a JWT signed with the secret (RFC 7523 §2.2).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{EncodingKey, Header};
use sigil_domain::connector::{OidcConnectorConfig, TokenEndpointAuthMethod};
use sigil_domain::upstream_sign_in::UpstreamFailure;

use super::{FetchError, Upstreams, read_json};

/// How long a `client_secret_jwt` assertion is valid.
const ASSERTION_TTL_SECS: i64 = 60;

/// What the token endpoint answered that Sigil uses; the tokens live only in memory.
pub struct TokenResponse {
    pub id_token: String,
    pub access_token: Option<String>,
}

pub async fn exchange(
    upstreams: &Upstreams,
    config: &OidcConnectorConfig,
    client_secret: &str,
    code: &str,
    redirect_uri: &str,
    code_verifier: &str,
    now: i64,
) -> Result<TokenResponse, UpstreamFailure> {
    let mut form = vec![
        ("grant_type", "authorization_code".to_string()),
        ("code", code.to_string()),
        ("redirect_uri", redirect_uri.to_string()),
        ("code_verifier", code_verifier.to_string()),
    ];
    let mut request = upstreams.http().post(&config.token_endpoint);
    match config.token_endpoint_auth_method {
        TokenEndpointAuthMethod::ClientSecretBasic => {
            // RFC 6749 §2.3.1: both parts form-urlencoded before Basic encoding.
            let encode =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            request = request.basic_auth(encode(&config.client_id), Some(encode(client_secret)));
        }
        TokenEndpointAuthMethod::ClientSecretPost => {
            form.push(("client_id", config.client_id.clone()));
            form.push(("client_secret", client_secret.to_string()));
        }
        TokenEndpointAuthMethod::ClientSecretJwt => {
            let alg = match config.client_secret_jwt_signing_algorithm.as_deref() {
                Some("HS384") => jsonwebtoken::Algorithm::HS384,
                Some("HS512") => jsonwebtoken::Algorithm::HS512,
                _ => jsonwebtoken::Algorithm::HS256,
            };
            let claims = serde_json::json!({
                "iss": config.client_id,
                "sub": config.client_id,
                "aud": config.token_endpoint,
                "jti": URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>()),
                "iat": now,
                "exp": now + ASSERTION_TTL_SECS,
            });
            let assertion = jsonwebtoken::encode(
                &Header::new(alg),
                &claims,
                &EncodingKey::from_secret(client_secret.as_bytes()),
            )
            .map_err(|_| UpstreamFailure::TokenRequestFailed)?;
            form.push(("client_id", config.client_id.clone()));
            form.push((
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
            ));
            form.push(("client_assertion", assertion));
        }
    }
    let body = read_json(request.header("accept", "application/json").form(&form))
        .await
        .map_err(|e| match e {
            FetchError::Unreachable(_) => UpstreamFailure::UpstreamUnreachable,
            FetchError::Status { .. } | FetchError::TooLarge | FetchError::NotJson => {
                UpstreamFailure::TokenRequestFailed
            }
        })?;
    let id_token = body["id_token"]
        .as_str()
        .ok_or(UpstreamFailure::TokenRequestFailed)?
        .to_string();
    Ok(TokenResponse {
        id_token,
        access_token: body["access_token"].as_str().map(str::to_string),
    })
}
