//! Opaque tokens: 256 random bits, base64url. Only their SHA-256 digest is ever stored.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

pub fn new_token() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// Lowercase hex SHA-256: the only form in which a token, code or client secret is kept.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// 21 random characters from [a-z0-9] (about 108 bits), the shape of Logto's ids, so ids
/// copied between the two look alike.
pub fn new_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..21)
        .map(|_| char::from(ALPHABET[rand::random_range(0..ALPHABET.len())]))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_unique_and_digests_are_hex_sha256() {
        let (a, b) = (super::new_token(), super::new_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(
            super::digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
