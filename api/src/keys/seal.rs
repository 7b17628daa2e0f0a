//! Sealing of private keys before they reach the event log. XChaCha20-Poly1305 with a random
//! 24-byte nonce (large enough that random nonces never collide in practice), under a key
//! the api derives from the master key for this one purpose. The kid is the associated data:
//! a sealed key copied into another key's `SigningKeyGenerated` event fails to open.
//!
//! Format: `"v1." + base64url(nonce || ciphertext || tag)`, no padding. The version prefix
//! leaves room for another algorithm later; the domain checks the same prefix.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use sigil_domain::SEALED_KEY_PREFIX;

use super::KeyError;

const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// Seals and opens secrets with one 32-byte key.
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    /// `key` is `master_key.derive("sealing")`.
    pub fn new(key: &[u8; 32]) -> Sealer {
        Sealer {
            cipher: XChaCha20Poly1305::new(&(*key).into()),
        }
    }

    pub fn seal(&self, plaintext: &[u8], associated_data: &[u8]) -> String {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let ciphertext = self
            .cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: associated_data,
                },
            )
            .expect("XChaCha20-Poly1305 encrypts any message that fits in memory");
        let mut sealed = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        let mut out = String::from(SEALED_KEY_PREFIX);
        URL_SAFE_NO_PAD.encode_string(&sealed, &mut out);
        out
    }

    /// The plaintext, if `sealed` was made by [`Sealer::seal`] with this key and the same
    /// associated data and has not been changed since.
    pub fn open(&self, sealed: &str, associated_data: &[u8]) -> Result<Vec<u8>, KeyError> {
        let bytes = sealed
            .strip_prefix(SEALED_KEY_PREFIX)
            .and_then(|body| URL_SAFE_NO_PAD.decode(body).ok())
            .filter(|bytes| bytes.len() >= NONCE_LEN + TAG_LEN)
            .ok_or(KeyError::SealedFormat)?;
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = XNonce::try_from(nonce).map_err(|_| KeyError::SealedFormat)?;
        self.cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: ciphertext,
                    aad: associated_data,
                },
            )
            .map_err(|_| KeyError::Unseal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KID: &[u8] = b"kid-1";

    fn sealer() -> Sealer {
        Sealer::new(&[7; 32])
    }

    #[test]
    fn round_trip() {
        let sealed = sealer().seal(b"private key bytes", KID);
        assert!(sealed.starts_with("v1."));
        assert_eq!(sealer().open(&sealed, KID).unwrap(), b"private key bytes");
        // A fresh nonce every time: the same secret never seals to the same text.
        assert_ne!(sealed, sealer().seal(b"private key bytes", KID));
    }

    #[test]
    fn the_sealed_form_is_accepted_by_the_domain_and_hides_the_plaintext() {
        let plaintext = b"-----BEGIN PRIVATE KEY-----";
        let sealed = sealer().seal(plaintext, KID);
        assert!(!sealed.contains("PRIVATE KEY"));
        assert!(
            sealed[3..]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
    }

    #[test]
    fn another_key_cannot_open_it() {
        let sealed = sealer().seal(b"secret", KID);
        assert!(matches!(
            Sealer::new(&[8; 32]).open(&sealed, KID),
            Err(KeyError::Unseal)
        ));
    }

    #[test]
    fn a_sealed_key_cannot_move_to_another_kid() {
        let sealed = sealer().seal(b"secret", KID);
        assert!(matches!(
            sealer().open(&sealed, b"kid-2"),
            Err(KeyError::Unseal)
        ));
    }

    #[test]
    fn tampering_is_detected() {
        let sealed = sealer().seal(b"secret", KID);
        let mut bytes = URL_SAFE_NO_PAD.decode(&sealed[3..]).unwrap();
        for i in [0, NONCE_LEN, bytes.len() - 1] {
            bytes[i] ^= 1;
            let tampered = format!("v1.{}", URL_SAFE_NO_PAD.encode(&bytes));
            assert!(
                matches!(sealer().open(&tampered, KID), Err(KeyError::Unseal)),
                "{i}"
            );
            bytes[i] ^= 1;
        }
        let truncated = format!("v1.{}", URL_SAFE_NO_PAD.encode(&bytes[..bytes.len() - 1]));
        assert!(sealer().open(&truncated, KID).is_err());
    }

    #[test]
    fn garbage_is_refused_without_panicking() {
        let short = format!(
            "v1.{}",
            URL_SAFE_NO_PAD.encode([0; NONCE_LEN + TAG_LEN - 1])
        );
        for garbage in [
            "",
            "v1.",
            "v1",
            "v2.AAAA",
            "v1.***",
            "v1.AAAA=",
            short.as_str(),
            "-----BEGIN PRIVATE KEY-----",
        ] {
            assert!(
                matches!(sealer().open(garbage, KID), Err(KeyError::SealedFormat)),
                "{garbage:?}"
            );
        }
        // Long enough to parse, but no valid tag.
        let forged = format!("v1.{}", URL_SAFE_NO_PAD.encode([0; NONCE_LEN + TAG_LEN]));
        assert!(matches!(sealer().open(&forged, KID), Err(KeyError::Unseal)));
    }
}
