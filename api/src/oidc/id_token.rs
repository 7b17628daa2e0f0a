//! ID tokens (OIDC Core §2) and the claims a scope releases (OIDC Core §5.4), shared with
//! userinfo.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256, Sha384, Sha512};
use sigil_domain::{SigningAlgorithm, User};

use crate::keys::jwt::encode;
use crate::keys::keyring::KeyRing;

/// ID tokens live an hour.
pub const ID_TOKEN_TTL_SECS: i64 = 3600;

/// The user's claims released by `scope` (OIDC Core §5.4); with `organizations`, the ids of
/// the organizations the user belongs to (as the caller looked them up).
pub fn scoped_claims(
    user_id: &str,
    user: &User,
    scope: &[String],
    organizations: Option<&[String]>,
) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("sub".into(), json!(user_id));
    if scope.iter().any(|s| s == "profile") {
        claims.insert("name".into(), json!(user.name()));
        claims.insert("username".into(), json!(user.username()));
        claims.insert("preferred_username".into(), json!(user.username()));
    }
    if scope.iter().any(|s| s == "email") {
        claims.insert("email".into(), json!(user.primary_email()));
        // Sigil does not verify email addresses yet; say so rather than guess.
        claims.insert("email_verified".into(), json!(false));
    }
    if let Some(organizations) = organizations
        && scope.iter().any(|s| s == "organizations")
    {
        claims.insert("organizations".into(), json!(organizations));
    }
    claims
}

/// `at_hash` (OIDC Core §3.1.3.6): the left half of the access token's hash, with the hash
/// of the ID token's algorithm (SHA-512 for Ed25519, as implementations agree).
pub fn at_hash(alg: SigningAlgorithm, access_token: &str) -> String {
    let digest: Vec<u8> = match alg {
        SigningAlgorithm::RS256 => Sha256::digest(access_token).to_vec(),
        SigningAlgorithm::ES384 => Sha384::digest(access_token).to_vec(),
        SigningAlgorithm::EdDSA => Sha512::digest(access_token).to_vec(),
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

pub struct IdTokenInput<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub user_id: &'a str,
    pub user: &'a User,
    pub scope: &'a [String],
    pub nonce: Option<&'a str>,
    pub auth_time: i64,
    pub now: i64,
    pub access_token: &'a str,
    pub alg: SigningAlgorithm,
    pub organizations: Option<&'a [String]>,
}

/// Signs an ID token with the active key of the application's algorithm.
pub fn id_token(keys: &KeyRing, input: IdTokenInput<'_>) -> Option<String> {
    let (kid, signer) = keys.signer(input.alg)?;
    let mut claims = scoped_claims(input.user_id, input.user, input.scope, input.organizations);
    claims.insert("iss".into(), json!(input.issuer));
    claims.insert("aud".into(), json!(input.client_id));
    claims.insert("iat".into(), json!(input.now));
    claims.insert("exp".into(), json!(input.now + ID_TOKEN_TTL_SECS));
    claims.insert("auth_time".into(), json!(input.auth_time));
    claims.insert(
        "at_hash".into(),
        json!(at_hash(input.alg, input.access_token)),
    );
    if let Some(nonce) = input.nonce {
        claims.insert("nonce".into(), json!(nonce));
    }
    Some(encode(signer, kid, Some("JWT"), &Value::Object(claims)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_matches_the_oidc_example() {
        // OIDC Core A.3: access token jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y, RS256.
        assert_eq!(
            at_hash(
                SigningAlgorithm::RS256,
                "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
            ),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
        assert_ne!(
            at_hash(SigningAlgorithm::ES384, "x"),
            at_hash(SigningAlgorithm::RS256, "x")
        );
    }
}
