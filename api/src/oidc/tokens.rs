//! Opaque tokens: 256 random bits, base64url. Only their SHA-256 digest is ever stored.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use sigil_eventstore::sqlx;

pub fn new_token() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// The id of a new token or code stream (a JWT's `jti`). Time-ordered (UUIDv7), so that the
/// log's stream index and the token lookups grow at their end instead of dirtying a random
/// page per token at every commit. An id names a stream; it is not a secret.
pub fn new_stream_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Lowercase hex SHA-256: the only form in which a token, code or client secret is kept.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// HMAC-SHA-256 of `data` under `key`, domain-separated by `label`: for values that must be
/// recomputable by the server alone and reveal nothing to anyone reading the store.
pub fn keyed_digest(key: &[u8; 32], label: &[u8], data: &[u8]) -> [u8; 32] {
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("any key length");
    mac.update(label);
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// More digests than this and a [`KnownDigests`] starts over.
const MAX_KNOWN: usize = 100_000;

/// The stream each token or code digest this process has looked up or committed belongs to.
/// A lookup row (`refresh_tokens`, `authorization_codes`) is never updated nor deleted, so
/// what is kept here cannot go stale: only a digest this process has not seen is looked up.
#[derive(Default)]
pub struct KnownDigests {
    known: Mutex<HashMap<String, String>>,
}

impl KnownDigests {
    /// The stream of `digest`, from memory or else from `lookup`.
    pub async fn find<F>(&self, digest: &str, lookup: F) -> Result<Option<String>, sqlx::Error>
    where
        F: Future<Output = Result<Option<String>, sqlx::Error>>,
    {
        if let Some(id) = self.memory().get(digest) {
            return Ok(Some(id.clone()));
        }
        let found = lookup.await?;
        if let Some(id) = &found {
            self.learn(digest, id);
        }
        Ok(found)
    }

    /// Records a digest whose lookup row has been committed.
    pub fn learn(&self, digest: &str, id: &str) {
        let mut known = self.memory();
        if known.len() >= MAX_KNOWN {
            known.clear();
        }
        known.insert(digest.to_string(), id.to_string());
    }

    /// Drops a digest that will not be presented again but by mistake or by an attacker (a
    /// redeemed code, a rotated-out refresh token): should it come back, the lookup answers.
    pub fn forget(&self, digest: &str) {
        self.memory().remove(digest);
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Names what a person typed, such as an unknown sign-in identifier (perhaps a password typed
/// in the wrong field), so that the log can correlate attempts without ever holding the text.
pub struct Pseudonyms([u8; 32]);

impl Pseudonyms {
    pub fn new(key: [u8; 32]) -> Self {
        Pseudonyms(key)
    }

    /// 128 bits of the keyed digest, hex.
    pub fn of(&self, typed: &str) -> String {
        hex::encode(&keyed_digest(&self.0, b"sigil.pseudonym.v1", typed.as_bytes())[..16])
    }
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
    fn stream_ids_grow_in_the_order_they_are_made() {
        let ids: Vec<String> = (0..1000).map(|_| super::new_stream_id()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
    }

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

    #[test]
    fn pseudonyms_are_stable_keyed_and_hide_the_text() {
        let a = super::Pseudonyms::new([1; 32]);
        let b = super::Pseudonyms::new([2; 32]);
        assert_eq!(a.of("hunter2"), a.of("hunter2"));
        assert_ne!(a.of("hunter2"), b.of("hunter2"), "keyed");
        assert_ne!(a.of("hunter2"), a.of("hunter3"));
        assert_eq!(a.of("hunter2").len(), 32);
        assert!(!a.of("hunter2").contains("hunter2"));
    }
}
