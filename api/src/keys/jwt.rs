//! Compact JWS (RFC 7515 §7.1) built by hand over a key parsed once: `base64url(header) "."
//! base64url(claims) "." base64url(signature)`. Parsing PKCS#8 and building a general JOSE
//! object on every token costs far more than the signature itself (the docs measure the
//! jsonwebtoken crate's RustCrypto path at about 11 times slower), and an ID token needs
//! nothing but this one shape.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::RsaKeyPair;
use sigil_domain::SigningAlgorithm;

use super::{KeyError, alg_name};

/// A private key ready to sign, parsed once from its PKCS#8 DER.
pub enum Signer {
    Es384(p384::ecdsa::SigningKey),
    EdDsa(ed25519_dalek::SigningKey),
    Rs256(RsaKeyPair),
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer({})", alg_name(self.alg()))
    }
}

impl Signer {
    pub fn from_pkcs8(alg: SigningAlgorithm, der: &[u8]) -> Result<Signer, KeyError> {
        let invalid = |reason: String| KeyError::InvalidPrivateKey { alg, reason };
        Ok(match alg {
            SigningAlgorithm::ES384 => {
                use p384::pkcs8::DecodePrivateKey;
                Signer::Es384(
                    p384::ecdsa::SigningKey::from_pkcs8_der(der)
                        .map_err(|e| invalid(e.to_string()))?,
                )
            }
            SigningAlgorithm::EdDSA => {
                use ed25519_dalek::pkcs8::DecodePrivateKey;
                Signer::EdDsa(
                    ed25519_dalek::SigningKey::from_pkcs8_der(der)
                        .map_err(|e| invalid(e.to_string()))?,
                )
            }
            SigningAlgorithm::RS256 => {
                let pair = RsaKeyPair::from_pkcs8(der).map_err(|e| invalid(e.to_string()))?;
                // RFC 7518 §3.3: a key of 2048 bits or larger MUST be used with RS256.
                if pair.public().modulus_len() < 256 {
                    return Err(invalid(
                        "RS256 needs a modulus of at least 2048 bits".into(),
                    ));
                }
                Signer::Rs256(pair)
            }
        })
    }

    pub fn alg(&self) -> SigningAlgorithm {
        match self {
            Signer::Es384(_) => SigningAlgorithm::ES384,
            Signer::EdDsa(_) => SigningAlgorithm::EdDSA,
            Signer::Rs256(_) => SigningAlgorithm::RS256,
        }
    }

    /// The JWS signature over `message` (the signing input, RFC 7515 §5.1).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            // RFC 7518 §3.4: ECDSA with SHA-384, the signature is R || S, each a fixed
            // 48 bytes, not the DER structure other protocols use. RFC 6979 nonces.
            Signer::Es384(key) => {
                use p384::ecdsa::signature::Signer as _;
                let signature: p384::ecdsa::Signature = key.sign(message);
                signature.to_bytes().to_vec()
            }
            // RFC 8037 §3.1: Ed25519 over the signing input itself, 64 bytes.
            Signer::EdDsa(key) => {
                use ed25519_dalek::Signer as _;
                key.sign(message).to_bytes().to_vec()
            }
            // RFC 7518 §3.3: RSASSA-PKCS1-v1_5 with SHA-256. ring uses the RNG only to blind
            // the private-key operation against timing attacks.
            Signer::Rs256(pair) => {
                let mut signature = vec![0; pair.public().modulus_len()];
                pair.sign(
                    &ring::signature::RSA_PKCS1_SHA256,
                    &ring::rand::SystemRandom::new(),
                    message,
                    &mut signature,
                )
                .expect("RSA signing fails only if the OS has no randomness");
                signature
            }
        }
    }
}

/// A compact JWS of `claims`, signed by `signer` and naming `kid` so relying parties pick
/// the right key from the JWKS (RFC 7515 §4.1.4). `typ` is for explicit typing (RFC 8725
/// §3.11), e.g. `Some("JWT")` or `Some("at+jwt")`.
pub fn encode(signer: &Signer, kid: &str, typ: Option<&str>, claims: &serde_json::Value) -> String {
    let mut header = serde_json::Map::new();
    header.insert("alg".into(), alg_name(signer.alg()).into());
    header.insert("kid".into(), kid.into());
    if let Some(typ) = typ {
        header.insert("typ".into(), typ.into());
    }
    let header = serde_json::to_vec(&header).expect("a JSON map always serializes");
    let claims = serde_json::to_vec(claims).expect("a JSON value always serializes");
    let mut token = String::with_capacity((header.len() + claims.len()) * 4 / 3 + 360);
    URL_SAFE_NO_PAD.encode_string(&header, &mut token);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(&claims, &mut token);
    let signature = signer.sign(token.as_bytes());
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(&signature, &mut token);
    token
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::Jwk};
    use serde_json::{Value, json};

    use super::*;
    use crate::keys::generate::{generate, rsa_key_for_tests};

    fn claims() -> Value {
        json!({
            "iss": "https://sigil.example",
            "sub": "user-1",
            "aud": "app-1",
            "exp": 4_102_444_800u64,
            "iat": 1_700_000_000u64,
            "nonce": "n-0S6_WzA2Mj",
            "name": "Zoë ✓"
        })
    }

    /// Verifies `token` with jsonwebtoken, from the public JWK alone.
    fn verify(
        token: &str,
        public_jwk: &Value,
        alg: Algorithm,
    ) -> jsonwebtoken::errors::Result<Value> {
        let jwk: Jwk =
            serde_json::from_value(public_jwk.clone()).expect("a JWK jsonwebtoken reads");
        let key = DecodingKey::from_jwk(&jwk)?;
        let mut validation = Validation::new(alg);
        validation.set_audience(&["app-1"]);
        Ok(jsonwebtoken::decode::<Value>(token, &key, &validation)?.claims)
    }

    fn check(alg: SigningAlgorithm, expected: Algorithm, key: &crate::keys::GeneratedKey) {
        let signer = Signer::from_pkcs8(alg, &key.private_der).unwrap();
        assert_eq!(signer.alg(), alg);
        let token = encode(&signer, &key.kid, Some("JWT"), &claims());

        assert_eq!(verify(&token, &key.public_jwk, expected).unwrap(), claims());
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, expected);
        assert_eq!(header.kid.as_deref(), Some(key.kid.as_str()));
        assert_eq!(header.typ.as_deref(), Some("JWT"));

        // Flip one bit in each part: header, claims, signature.
        let dots: Vec<usize> = token.match_indices('.').map(|(i, _)| i).collect();
        for at in [1, dots[0] + 2, token.len() - 3] {
            let mut bytes = token.clone().into_bytes();
            bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
            let tampered = String::from_utf8(bytes).unwrap();
            assert!(
                verify(&tampered, &key.public_jwk, expected).is_err(),
                "{at}"
            );
        }
    }

    #[test]
    fn es384_tokens_verify_with_an_independent_implementation() {
        check(
            SigningAlgorithm::ES384,
            Algorithm::ES384,
            &generate(SigningAlgorithm::ES384).unwrap(),
        );
    }

    #[test]
    fn eddsa_tokens_verify_with_an_independent_implementation() {
        check(
            SigningAlgorithm::EdDSA,
            Algorithm::EdDSA,
            &generate(SigningAlgorithm::EdDSA).unwrap(),
        );
    }

    #[test]
    fn rs256_tokens_verify_with_an_independent_implementation() {
        check(
            SigningAlgorithm::RS256,
            Algorithm::RS256,
            rsa_key_for_tests(),
        );
    }

    #[test]
    fn es384_signatures_are_the_fixed_96_byte_jose_form() {
        let key = generate(SigningAlgorithm::ES384).unwrap();
        let signer = Signer::from_pkcs8(SigningAlgorithm::ES384, &key.private_der).unwrap();
        // DER would be 102 to 104 bytes and start with 0x30.
        assert_eq!(signer.sign(b"message").len(), 96);
    }

    #[test]
    fn typ_is_left_out_when_not_asked_for() {
        let key = generate(SigningAlgorithm::EdDSA).unwrap();
        let signer = Signer::from_pkcs8(SigningAlgorithm::EdDSA, &key.private_der).unwrap();
        let token = encode(&signer, &key.kid, None, &claims());
        let header = token.split('.').next().unwrap();
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
        assert_eq!(header, json!({"alg": "EdDSA", "kid": key.kid}));
    }

    #[test]
    fn a_key_of_another_algorithm_or_garbage_is_refused() {
        let ed = generate(SigningAlgorithm::EdDSA).unwrap();
        for alg in [SigningAlgorithm::ES384, SigningAlgorithm::RS256] {
            assert!(matches!(
                Signer::from_pkcs8(alg, &ed.private_der),
                Err(KeyError::InvalidPrivateKey { .. })
            ));
        }
        for alg in [
            SigningAlgorithm::ES384,
            SigningAlgorithm::EdDSA,
            SigningAlgorithm::RS256,
        ] {
            assert!(Signer::from_pkcs8(alg, b"not a key").is_err());
        }
    }
}
