//! Refresh tokens by digest, and how a successor is made.
//!
//! A successor is derived from its predecessor with HMAC-SHA256 under a key derived from the
//! master key. A browser tab that refreshes with a token another tab has just rotated (within
//! the application's grace window) therefore gets the very successor the first tab got,
//! without any token being stored in clear anywhere.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sigil_domain::refresh_token::RefreshTokenEvent;
use sigil_eventstore::sqlx::{self, AnyConnection, AnyPool};

use super::tokens::keyed_digest;
use crate::state::AppState;

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

async fn find(pool: &AnyPool, token_digest: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT family_id FROM refresh_tokens WHERE token_digest = $1")
        .bind(token_digest)
        .fetch_optional(pool)
        .await
}

/// The family of a refresh token's digest: from this process's memory, else the lookup.
pub async fn family_of(
    state: &AppState,
    token_digest: &str,
) -> Result<Option<String>, sqlx::Error> {
    state
        .refresh_families
        .find(token_digest, find(state.store.pool(), token_digest))
        .await
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
