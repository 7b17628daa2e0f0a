//! The token endpoint (RFC 6749 §3.2): authenticates the client, then hands the request to
//! the handler of its `grant_type`, one module per grant.

pub(crate) mod authorization_code;
pub mod client_credentials;
mod issue;
mod refresh_token;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::client_auth::authenticate;
use super::error::OAuthError;
use super::form::OAuthForm;
use crate::state::AppState;

/// RFC 6749 §5.1.
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

impl IntoResponse for TokenResponse {
    fn into_response(self) -> Response {
        let mut response = Json(self).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        response
    }
}

pub async fn token(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    form: OAuthForm,
) -> Result<TokenResponse, OAuthError> {
    let client = authenticate(&state, &headers, &form, peer).await?;
    match form.require("grant_type")? {
        "authorization_code" => {
            authorization_code::grant(&state, &client, &form, &headers, peer).await
        }
        "refresh_token" => refresh_token::grant(&state, &client, &form, &headers, peer).await,
        "client_credentials" => {
            client_credentials::grant(&state, &client, &form, &headers, peer).await
        }
        other => Err(OAuthError::UnsupportedGrantType(format!(
            "grant_type {other:?} is not supported"
        ))),
    }
}
