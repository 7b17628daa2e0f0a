//! The one OAuth error type and the one place it meets the wire (RFC 6749 §5.2 JSON).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::commands::CommandError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OAuthError {
    InvalidRequest(String),
    /// `basic`: the client tried HTTP Basic, so the answer is 401 with a challenge.
    InvalidClient {
        description: String,
        basic: bool,
    },
    InvalidGrant(String),
    UnauthorizedClient(String),
    UnsupportedGrantType(String),
    InvalidScope(String),
    /// RFC 8707 §2: the `resource` is unknown, malformed, or not part of the grant.
    InvalidTarget(String),
    /// Too many failed client authentications: wait `retry_after` seconds.
    TooManyRequests {
        retry_after: u64,
    },
    /// Something on our side; the description sent is generic, the cause is logged.
    ServerError(String),
}

impl OAuthError {
    pub fn code(&self) -> &'static str {
        match self {
            OAuthError::InvalidRequest(_) => "invalid_request",
            OAuthError::InvalidClient { .. } => "invalid_client",
            OAuthError::InvalidGrant(_) => "invalid_grant",
            OAuthError::UnauthorizedClient(_) => "unauthorized_client",
            OAuthError::UnsupportedGrantType(_) => "unsupported_grant_type",
            OAuthError::InvalidScope(_) => "invalid_scope",
            OAuthError::InvalidTarget(_) => "invalid_target",
            // RFC 6749 has no code for this; OAuth's own word for "come back later".
            OAuthError::TooManyRequests { .. } => "temporarily_unavailable",
            OAuthError::ServerError(_) => "server_error",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            OAuthError::InvalidClient { basic: true, .. } => StatusCode::UNAUTHORIZED,
            OAuthError::ServerError(_) => StatusCode::INTERNAL_SERVER_ERROR,
            OAuthError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn description(&self) -> &str {
        match self {
            OAuthError::InvalidClient { description, .. } => description,
            OAuthError::ServerError(_) => "the server could not complete the request; try again",
            OAuthError::TooManyRequests { .. } => {
                "too many failed client authentications; wait before trying again"
            }
            OAuthError::InvalidRequest(d)
            | OAuthError::InvalidGrant(d)
            | OAuthError::UnauthorizedClient(d)
            | OAuthError::UnsupportedGrantType(d)
            | OAuthError::InvalidScope(d)
            | OAuthError::InvalidTarget(d) => d,
        }
    }

    pub fn invalid_client(basic: bool) -> OAuthError {
        // One message for every failure: which part was wrong is not the caller's to learn.
        OAuthError::InvalidClient {
            description: "client authentication failed".into(),
            basic,
        }
    }
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code(), self.description())
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        if let OAuthError::ServerError(cause) = &self {
            tracing::error!(%cause, "server_error");
        }
        let body = json!({ "error": self.code(), "error_description": self.description() });
        let mut response = (self.status(), Json(body)).into_response();
        let headers = response.headers_mut();
        // RFC 6749 §5.1/§5.2: token responses and their errors are not cached.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if let OAuthError::TooManyRequests { retry_after } = &self
            && let Ok(v) = HeaderValue::from_str(&retry_after.to_string())
        {
            headers.insert(header::RETRY_AFTER, v);
        }
        if matches!(self, OAuthError::InvalidClient { basic: true, .. }) {
            // RFC 6749 §5.2: a failed Basic authentication gets a challenge.
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"sigil\""),
            );
        }
        response
    }
}

impl<E: std::error::Error> From<CommandError<E>> for OAuthError {
    fn from(e: CommandError<E>) -> Self {
        OAuthError::ServerError(e.to_string())
    }
}

impl From<sigil_eventstore::StoreError> for OAuthError {
    fn from(e: sigil_eventstore::StoreError) -> Self {
        OAuthError::ServerError(e.to_string())
    }
}

impl From<sigil_eventstore::sqlx::Error> for OAuthError {
    fn from(e: sigil_eventstore::sqlx::Error) -> Self {
        OAuthError::ServerError(e.to_string())
    }
}
