//! The upstream's signing keys (RFC 7517), cached per `jwks_uri`. A token naming a `kid`
//! the cache lacks triggers one refresh (the upstream may have rotated); a key still
//! missing after it is refused. Tokens reach us only from the upstream's token endpoint,
//! over the back channel, so no browser can force refreshes with made-up `kid`s.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{Jwk, JwkSet};

use super::{FetchError, Upstreams};

/// How long a fetched key set is used without asking again.
const MAX_AGE: Duration = Duration::from_secs(3600);

#[derive(Default)]
pub struct JwksCache {
    sets: Mutex<HashMap<String, (JwkSet, Instant)>>,
}

#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("the JWKS could not be fetched: {0}")]
    Fetch(#[from] FetchError),
    #[error("the JWKS is not a JWK set")]
    Invalid,
    #[error("no key in the JWKS fits the token, even after a refresh")]
    UnknownKey,
}

impl JwksCache {
    fn cached(&self, uri: &str) -> Option<JwkSet> {
        let sets = self.sets.lock().unwrap_or_else(|p| p.into_inner());
        sets.get(uri)
            .filter(|(_, at)| at.elapsed() < MAX_AGE)
            .map(|(set, _)| set.clone())
    }

    fn store(&self, uri: &str, set: JwkSet) {
        let mut sets = self.sets.lock().unwrap_or_else(|p| p.into_inner());
        sets.insert(uri.to_string(), (set, Instant::now()));
    }
}

/// The key that verifies a token with header `kid` and algorithm `alg`.
pub async fn key_for(
    upstreams: &Upstreams,
    uri: &str,
    kid: Option<&str>,
    alg: jsonwebtoken::Algorithm,
) -> Result<DecodingKey, JwksError> {
    if let Some(set) = upstreams.jwks.cached(uri)
        && let Some(key) = pick(&set, kid, alg)
    {
        return Ok(key);
    }
    // Not cached, stale, or no such key: fetch once.
    let set: JwkSet = serde_json::from_value(upstreams.get_json(uri, None).await?)
        .map_err(|_| JwksError::Invalid)?;
    let key = pick(&set, kid, alg);
    upstreams.jwks.store(uri, set);
    key.ok_or(JwksError::UnknownKey)
}

/// The key named `kid`; without a `kid`, the one key of the set that can take `alg`.
fn pick(set: &JwkSet, kid: Option<&str>, alg: jsonwebtoken::Algorithm) -> Option<DecodingKey> {
    let usable = |jwk: &&Jwk| {
        jwk.common
            .key_algorithm
            .is_none_or(|a| format!("{a:?}") == format!("{alg:?}"))
    };
    let mut candidates = set.keys.iter().filter(usable).filter(|jwk| match kid {
        Some(kid) => jwk.common.key_id.as_deref() == Some(kid),
        None => true,
    });
    let jwk = candidates.next()?;
    if kid.is_none() && candidates.next().is_some() {
        // Several keys and no kid: guessing would be trying keys until one fits.
        return None;
    }
    DecodingKey::from_jwk(jwk).ok()
}
