//! New signing key pairs: a random kid, the private key as PKCS#8 DER (RFC 5958) for sealing,
//! and the public half as a JWK (RFC 7517 §4) ready to publish. Randomness comes from the
//! operating system. RSA generation takes seconds in debug builds: keep it off hot paths.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use sigil_domain::SigningAlgorithm;
use zeroize::Zeroize;

use super::{KeyError, alg_name};

/// RSA modulus size for RS256. RFC 7518 §3.3 requires at least 2048 bits.
pub const RSA_BITS: usize = 2048;

/// A key pair fresh from [`generate`]. The private DER is wiped when this is dropped.
pub struct GeneratedKey {
    /// 16 random bytes, base64url: unguessable, and unique without coordination.
    pub kid: String,
    pub alg: SigningAlgorithm,
    /// Public parameters only, with `kid`, `alg` and `use: "sig"`.
    pub public_jwk: Value,
    /// PKCS#8 DER: seal it before it goes anywhere.
    pub private_der: Vec<u8>,
}

impl std::fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("public_jwk", &self.public_jwk)
            .finish_non_exhaustive()
    }
}

impl Drop for GeneratedKey {
    fn drop(&mut self) {
        self.private_der.zeroize();
    }
}

pub fn generate(alg: SigningAlgorithm) -> Result<GeneratedKey, KeyError> {
    let failed = |reason: String| KeyError::Generate { alg, reason };
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).map_err(|e| failed(format!("no randomness from the OS: {e}")))?;
    let (mut public_jwk, private_der) = match alg {
        SigningAlgorithm::ES384 => es384(),
        SigningAlgorithm::EdDSA => ed25519(),
        SigningAlgorithm::RS256 => rs256(),
    }
    .map_err(failed)?;
    let kid = URL_SAFE_NO_PAD.encode(id);
    // RFC 7517 §4.2, §4.4, §4.5: what the key is for, with which algorithm, under which id.
    public_jwk.insert("kid".into(), json!(kid));
    public_jwk.insert("alg".into(), json!(alg_name(alg)));
    public_jwk.insert("use".into(), json!("sig"));
    Ok(GeneratedKey {
        kid,
        alg,
        public_jwk: Value::Object(public_jwk),
        private_der,
    })
}

type KeyPair = Result<(Map<String, Value>, Vec<u8>), String>;

fn b64(bytes: &[u8]) -> Value {
    Value::String(URL_SAFE_NO_PAD.encode(bytes))
}

/// ECDSA on P-384. JWK per RFC 7518 §6.2.1: `x` and `y` are the full 48-byte coordinates.
fn es384() -> KeyPair {
    use p384::elliptic_curve::Generate;
    use p384::elliptic_curve::sec1::ToSec1Point;
    use p384::pkcs8::EncodePrivateKey;

    let secret = p384::SecretKey::try_generate().map_err(|e| e.to_string())?;
    let der = secret.to_pkcs8_der().map_err(|e| e.to_string())?;
    let point = secret.public_key().to_sec1_point(false);
    let (Some(x), Some(y)) = (point.x(), point.y()) else {
        return Err("the public point is not in uncompressed form".into());
    };
    let jwk = json!({"kty": "EC", "crv": "P-384", "x": b64(x), "y": b64(y)});
    Ok((into_map(jwk), der.as_bytes().to_vec()))
}

/// Ed25519. JWK per RFC 8037 §2: key type OKP, `x` is the 32-byte public key.
fn ed25519() -> KeyPair {
    use ed25519_dalek::pkcs8::EncodePrivateKey;

    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| e.to_string())?;
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    seed.zeroize();
    let der = key.to_pkcs8_der().map_err(|e| e.to_string())?;
    let x = key.verifying_key().to_bytes();
    let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&x)});
    Ok((into_map(jwk), der.as_bytes().to_vec()))
}

/// RSA, e = 65537. JWK per RFC 7518 §6.3.1: `n` and `e` big-endian without leading zeros.
fn rs256() -> KeyPair {
    use rsa::pkcs8::EncodePrivateKey;
    use rsa::traits::PublicKeyParts;

    let key = rsa::PrivateKey::new(&mut getrandom::SysRng, RSA_BITS).map_err(|e| e.to_string())?;
    let der = key.to_pkcs8_der().map_err(|e| e.to_string())?;
    let jwk = json!({"kty": "RSA", "n": b64(&key.n_bytes()), "e": b64(&key.e_bytes())});
    Ok((into_map(jwk), der.as_bytes().to_vec()))
}

fn into_map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => unreachable!("built with json!({{..}})"),
    }
}

/// One RSA key for the whole test binary: generating one takes seconds in debug builds.
#[cfg(test)]
pub(crate) fn rsa_key_for_tests() -> &'static GeneratedKey {
    static KEY: std::sync::OnceLock<GeneratedKey> = std::sync::OnceLock::new();
    KEY.get_or_init(|| generate(SigningAlgorithm::RS256).unwrap())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member<'a>(key: &'a GeneratedKey, name: &str) -> &'a str {
        key.public_jwk[name].as_str().unwrap_or_default()
    }

    fn decoded_len(key: &GeneratedKey, name: &str) -> usize {
        URL_SAFE_NO_PAD.decode(member(key, name)).unwrap().len()
    }

    fn assert_common(key: &GeneratedKey, alg: &str) {
        assert_eq!(URL_SAFE_NO_PAD.decode(&key.kid).unwrap().len(), 16);
        assert_eq!(member(key, "kid"), key.kid);
        assert_eq!(member(key, "alg"), alg);
        assert_eq!(member(key, "use"), "sig");
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(key.public_jwk.get(private).is_none(), "{private}");
        }
        // PKCS#8 is a DER SEQUENCE.
        assert_eq!(key.private_der[0], 0x30);
    }

    #[test]
    fn es384_keys_are_p384_with_full_size_coordinates() {
        let key = generate(SigningAlgorithm::ES384).unwrap();
        assert_common(&key, "ES384");
        assert_eq!((member(&key, "kty"), member(&key, "crv")), ("EC", "P-384"));
        assert_eq!(decoded_len(&key, "x"), 48);
        assert_eq!(decoded_len(&key, "y"), 48);
    }

    #[test]
    fn eddsa_keys_are_ed25519_okp() {
        let key = generate(SigningAlgorithm::EdDSA).unwrap();
        assert_common(&key, "EdDSA");
        assert_eq!(
            (member(&key, "kty"), member(&key, "crv")),
            ("OKP", "Ed25519")
        );
        assert_eq!(decoded_len(&key, "x"), 32);
    }

    #[test]
    fn rs256_keys_are_2048_bit_rsa() {
        let key = rsa_key_for_tests();
        assert_common(key, "RS256");
        assert_eq!(member(key, "kty"), "RSA");
        assert_eq!(member(key, "e"), "AQAB");
        assert_eq!(decoded_len(key, "n"), 256);
    }

    #[test]
    fn every_key_gets_its_own_kid() {
        let a = generate(SigningAlgorithm::EdDSA).unwrap();
        let b = generate(SigningAlgorithm::EdDSA).unwrap();
        assert_ne!(a.kid, b.kid);
        assert_ne!(a.public_jwk["x"], b.public_jwk["x"]);
    }

    #[test]
    fn debug_output_leaves_the_private_key_out() {
        let key = generate(SigningAlgorithm::EdDSA).unwrap();
        let shown = format!("{key:?}");
        assert!(!shown.contains("private_der") && shown.contains(&key.kid));
    }
}
