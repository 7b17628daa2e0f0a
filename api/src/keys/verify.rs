//! Verifies JWTs that Sigil itself signed, against its own published keys (so recently
//! retired keys still count), through `jsonwebtoken` rather than by hand: verification must
//! refuse every malformed input, which a well-kept JOSE library has been tested for.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde::de::DeserializeOwned;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("not a JWS Sigil could read: {0}")]
    Malformed(String),
    #[error("not signed by any of Sigil's published keys")]
    Signature,
    #[error("expired")]
    Expired,
}

/// Checks `token`'s signature against the keys of `jwks` and decodes its claims. `validation`
/// says which registered claims to check (its algorithm list is replaced by the header's,
/// once that is known to be one Sigil signs with).
pub fn verify_own<T: DeserializeOwned>(
    token: &str,
    jwks: &Value,
    mut validation: Validation,
) -> Result<(Header, T), VerifyError> {
    let header =
        jsonwebtoken::decode_header(token).map_err(|e| VerifyError::Malformed(e.to_string()))?;
    // Only what Sigil signs with: a token claiming `none` or an HMAC algorithm (keyed with
    // our public key, the confusion RFC 8725 §3.1 warns of) never reaches a key.
    if !matches!(
        header.alg,
        Algorithm::ES384 | Algorithm::EdDSA | Algorithm::RS256
    ) {
        return Err(VerifyError::Signature);
    }
    validation.algorithms = vec![header.alg];
    let alg_name = serde_json::to_value(header.alg).ok();
    let candidates = jwks["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|jwk| match &header.kid {
            Some(kid) => jwk["kid"].as_str() == Some(kid.as_str()),
            None => true,
        })
        .filter(|jwk| {
            jwk.get("alg")
                .is_none_or(|alg| Some(alg) == alg_name.as_ref())
        })
        .filter_map(|jwk| serde_json::from_value::<Jwk>(jwk.clone()).ok())
        .filter_map(|jwk| DecodingKey::from_jwk(&jwk).ok());
    for key in candidates {
        match jsonwebtoken::decode::<T>(token, &key, &validation) {
            Ok(data) => return Ok((header, data.claims)),
            Err(e) => match e.kind() {
                // Another key might be the one (a kid-less token, or kids reused).
                ErrorKind::InvalidSignature
                | ErrorKind::InvalidAlgorithm
                | ErrorKind::InvalidKeyFormat
                | ErrorKind::InvalidEcdsaKey
                | ErrorKind::InvalidRsaKey(_)
                | ErrorKind::Crypto(_) => continue,
                ErrorKind::ExpiredSignature => return Err(VerifyError::Expired),
                _ => return Err(VerifyError::Malformed(e.to_string())),
            },
        }
    }
    Err(VerifyError::Signature)
}
