//! JWT access tokens (RFC 9068) for API resources named by a resource indicator (RFC 8707):
//! what a resource server can check on its own, from the JWKS. Signed with the application's
//! chosen algorithm, over the key parsed once (keys::jwt).

use serde_json::{Value, json};
use sigil_domain::SigningAlgorithm;

use crate::keys::{KeyRing, encode};

/// The audience of an organization token: the organization, as a URN of its own.
pub fn organization_audience(organization_id: &str) -> String {
    format!("urn:sigil:organization:{organization_id}")
}

/// The claims of one JWT access token (RFC 9068 §2.2).
pub struct JwtAccessToken<'a> {
    pub issuer: &'a str,
    pub audience: &'a str,
    /// The user, or for a client acting for itself, the client (RFC 9068 §2.2: `sub`).
    pub subject: &'a str,
    pub client_id: &'a str,
    pub scope: &'a [String],
    /// The token's id, also its event stream's id, so revocation can find it.
    pub jti: &'a str,
    pub issued_at: i64,
    pub expires_at: i64,
    pub auth_time: Option<i64>,
    pub organization_id: Option<&'a str>,
    pub alg: SigningAlgorithm,
}

impl JwtAccessToken<'_> {
    fn claims(&self) -> Value {
        let mut claims = json!({
            "iss": self.issuer,
            "sub": self.subject,
            "aud": self.audience,
            "client_id": self.client_id,
            "iat": self.issued_at,
            "exp": self.expires_at,
            "jti": self.jti,
            "scope": self.scope.join(" "),
        });
        if let Some(auth_time) = self.auth_time {
            claims["auth_time"] = json!(auth_time);
        }
        if let Some(organization_id) = self.organization_id {
            claims["organization_id"] = json!(organization_id);
        }
        claims
    }

    /// The signed token, `typ: at+jwt` (RFC 9068 §2.1), or `None` when no key of the
    /// algorithm is active.
    pub fn sign(&self, keys: &KeyRing) -> Option<String> {
        let (kid, signer) = keys.signer(self.alg)?;
        Some(encode(signer, kid, Some("at+jwt"), &self.claims()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_are_those_of_rfc_9068() {
        let scope = vec!["read".to_string(), "write".to_string()];
        let token = JwtAccessToken {
            issuer: "https://sigil.example/oidc",
            audience: "https://api.example",
            subject: "user-1",
            client_id: "app-1",
            scope: &scope,
            jti: "t-1",
            issued_at: 100,
            expires_at: 3700,
            auth_time: Some(90),
            organization_id: None,
            alg: SigningAlgorithm::ES384,
        };
        assert_eq!(
            token.claims(),
            json!({
                "iss": "https://sigil.example/oidc", "sub": "user-1",
                "aud": "https://api.example", "client_id": "app-1", "iat": 100, "exp": 3700,
                "jti": "t-1", "scope": "read write", "auth_time": 90
            })
        );
    }
}
