//! Refresh tokens by digest, and how a successor is made.
//!
//! A successor is derived from its predecessor with HMAC-SHA256 under a key derived from the
//! master key. A browser tab that refreshes with a token another tab has just rotated (within
//! the application's grace window) therefore gets the very successor the first tab got,
//! without any token being stored in clear anywhere.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sigil_domain::refresh_token::RefreshTokenEvent;
use sigil_eventstore::sqlx::{self, AnyConnection, AnyPool};

use super::tokens::keyed_digest;

pub struct SuccessorKey([u8; 32]);

impl SuccessorKey {
    pub fn new(key: [u8; 32]) -> Self {
        SuccessorKey(key)
    }

    pub fn successor(&self, token: &str) -> String {
        URL_SAFE_NO_PAD.encode(keyed_digest(
            &self.0,
            b"sigil.refresh-successor.v1",
            token.as_bytes(),
        ))
    }
}

pub async fn index(
    conn: &mut AnyConnection,
    family_id: String,
    events: &[RefreshTokenEvent],
) -> Result<(), sqlx::Error> {
    for event in events {
        let digest = match event {
            RefreshTokenEvent::RefreshTokenIssued(start) => &start.token_digest,
            RefreshTokenEvent::RefreshTokenRotated { to_digest, .. } => to_digest,
            _ => continue,
        };
        sqlx::query("INSERT INTO refresh_tokens (token_digest, family_id) VALUES ($1, $2)")
            .bind(digest)
            .bind(&family_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

pub async fn find(pool: &AnyPool, token_digest: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT family_id FROM refresh_tokens WHERE token_digest = $1")
        .bind(token_digest)
        .fetch_optional(pool)
        .await
}

/// More digests than this and the memory starts over.
const MAX_KNOWN: usize = 100_000;

/// The family of each refresh-token digest this process has looked up or committed. A digest
/// belongs to one family for good (the lookup's key, never updated nor deleted), so what is
/// kept here cannot go stale: a refresh skips the lookup for the token the last one issued.
#[derive(Default)]
pub struct Families {
    known: Mutex<HashMap<String, String>>,
}

impl Families {
    pub async fn find(
        &self,
        pool: &AnyPool,
        token_digest: &str,
    ) -> Result<Option<String>, sqlx::Error> {
        if let Some(family_id) = self.memory().get(token_digest) {
            return Ok(Some(family_id.clone()));
        }
        let found = find(pool, token_digest).await?;
        if let Some(family_id) = &found {
            self.learn(token_digest, family_id);
        }
        Ok(found)
    }

    /// Records a digest whose lookup row has been committed.
    pub fn learn(&self, token_digest: &str, family_id: &str) {
        let mut known = self.memory();
        if known.len() >= MAX_KNOWN {
            known.clear();
        }
        known.insert(token_digest.to_string(), family_id.to_string());
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn successors_are_deterministic_per_key_and_token() {
        let k = super::SuccessorKey::new([1; 32]);
        assert_eq!(k.successor("a"), k.successor("a"));
        assert_ne!(k.successor("a"), k.successor("b"));
        assert_ne!(
            k.successor("a"),
            super::SuccessorKey::new([2; 32]).successor("a")
        );
        assert_eq!(k.successor("a").len(), 43);
    }
}
