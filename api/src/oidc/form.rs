//! The form body of an OAuth request (`application/x-www-form-urlencoded`), parsed strictly:
//! RFC 6749 §3.1/§3.2 says parameters MUST NOT appear more than once, and a parameter sent
//! without a value is treated as omitted.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;

use super::error::OAuthError;

/// Parameters by name.
pub struct OAuthForm(pub HashMap<String, String>);

impl OAuthForm {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// The `resource` parameters (RFC 8707), in the order sent.
    pub fn resources(&self) -> Vec<&str> {
        resources(&self.0)
    }

    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::InvalidRequest(format!("the {name} parameter is required")))
    }
}

/// The `resource` parameters of parsed parameters, in the order sent.
pub fn resources(params: &HashMap<String, String>) -> Vec<&str> {
    params
        .get("resource")
        .map(|r| r.split(' ').collect())
        .unwrap_or_default()
}

/// No OAuth request needs more parameters than this.
const MAX_PARAMETERS: usize = 64;
/// Longest parameter value accepted (a JWT id_token_hint is the largest legitimate one).
pub const MAX_VALUE_BYTES: usize = 8192;

pub fn parse(body: &[u8]) -> Result<HashMap<String, String>, OAuthError> {
    let mut params: HashMap<String, String> = HashMap::new();
    for (i, (name, value)) in url::form_urlencoded::parse(body).enumerate() {
        if i >= MAX_PARAMETERS {
            return Err(OAuthError::InvalidRequest(format!(
                "more than {MAX_PARAMETERS} parameters"
            )));
        }
        if value.len() > MAX_VALUE_BYTES || name.len() > 128 {
            return Err(OAuthError::InvalidRequest(format!(
                "the {} parameter is longer than {MAX_VALUE_BYTES} bytes",
                name.chars().take(64).collect::<String>()
            )));
        }
        if value.is_empty() {
            continue;
        }
        // RFC 8707 §2: `resource` may appear more than once. A URI holds no space (it would be
        // percent-encoded), so the values are kept joined by one; see `resources`.
        if name == "resource"
            && let Some(joined) = params.get_mut("resource")
        {
            joined.push(' ');
            joined.push_str(&value);
            continue;
        }
        if params.insert(name.to_string(), value.to_string()).is_some() {
            return Err(OAuthError::InvalidRequest(format!(
                "the {name} parameter appears more than once"
            )));
        }
    }
    Ok(params)
}

impl<S: Send + Sync> FromRequest<S> for OAuthForm {
    type Rejection = OAuthError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let form_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !form_type {
            return Err(OAuthError::InvalidRequest(
                "the body must be application/x-www-form-urlencoded".into(),
            ));
        }
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|e| OAuthError::InvalidRequest(format!("unreadable body: {e}")))?;
        Ok(OAuthForm(parse(&body)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_refused_and_empty_ones_ignored() {
        let params = parse(b"grant_type=client_credentials&scope=&a=%20b").unwrap();
        assert_eq!(params.get("grant_type").unwrap(), "client_credentials");
        assert!(!params.contains_key("scope"));
        assert_eq!(params.get("a").unwrap(), " b");
        let err = parse(b"grant_type=a&grant_type=b").unwrap_err();
        assert_eq!(err.code(), "invalid_request");
    }

    #[test]
    fn oversized_values_and_too_many_parameters_are_refused() {
        let long = format!("state={}", "a".repeat(MAX_VALUE_BYTES + 1));
        assert_eq!(
            parse(long.as_bytes()).unwrap_err().code(),
            "invalid_request"
        );
        let ok = format!("state={}", "a".repeat(MAX_VALUE_BYTES));
        assert!(parse(ok.as_bytes()).is_ok());
        let many: Vec<String> = (0..65).map(|i| format!("p{i}=v")).collect();
        assert_eq!(
            parse(many.join("&").as_bytes()).unwrap_err().code(),
            "invalid_request"
        );
    }
}
