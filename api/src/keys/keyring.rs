//! The keys in force, read straight from the event log (strongly consistent: a read model
//! could lag behind a rotation and sign with a retired key). For each algorithm one key
//! signs: the most recently activated one that is not retired. Published in the JWKS: every
//! key that signs or is about to, and retired keys until their `keep_public_until`, so tokens
//! they signed keep verifying until they expire.
//!
//! Two nodes running [`ensure_active_keys`] at once may each add a key for an algorithm.
//! That is harmless: both are published, the later activation signs, and the next
//! [`rotate`] retires both.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use serde_json::{Map, Value, json};
use sigil_domain::{SigningAlgorithm, SigningKey, SigningKeyCommand, SigningKeyEvent};
use sigil_eventstore::sqlx::{self, Row};
use sigil_eventstore::{EventStore, StoreError};
use zeroize::Zeroizing;

use super::{ALGORITHMS, KeyError, Sealer, Signer, generate};
use crate::commands::{CommandContext, Commands};

/// The JWK members a relying party needs (RFC 7517 §4, RFC 7518 §6.2.1 and §6.3.1, RFC 8037
/// §2). Anything else, private parameters above all, never leaves through the JWKS.
const PUBLIC_JWK_MEMBERS: [&str; 9] = ["kty", "crv", "x", "y", "n", "e", "kid", "alg", "use"];

/// Who the log names as the author of key changes Sigil makes by itself.
const ACTOR: &str = "sigil:signing-keys";

/// Signing keys ready to use, and the public keys to publish.
pub struct KeyRing {
    active: Vec<(SigningAlgorithm, String, Signer)>,
    published: Vec<Value>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let active: Vec<_> = self.active.iter().map(|(_, kid, s)| (kid, s)).collect();
        f.debug_struct("KeyRing")
            .field("active", &active)
            .field("published", &self.published.len())
            .finish()
    }
}

impl KeyRing {
    /// The ring as of `now_unix`: opens each active key's sealed private key once.
    pub async fn load(
        store: &EventStore,
        sealer: &Sealer,
        now_unix: i64,
    ) -> Result<KeyRing, KeyError> {
        let records = read_records(store).await?;
        let mut active = Vec::new();
        for alg in ALGORITHMS {
            if let Some(record) = newest_active(&records, alg) {
                let der = Zeroizing::new(sealer.open(&record.sealed, record.kid.as_bytes())?);
                active.push((alg, record.kid.clone(), Signer::from_pkcs8(alg, &der)?));
            }
        }
        let published = records
            .iter()
            .filter(|r| r.is_published(now_unix))
            .map(|r| public_members(&r.public_jwk))
            .collect();
        Ok(KeyRing { active, published })
    }

    /// The key that signs new tokens for `alg`, and its kid for the JWS header.
    pub fn signer(&self, alg: SigningAlgorithm) -> Option<(&str, &Signer)> {
        self.active
            .iter()
            .find(|(a, ..)| *a == alg)
            .map(|(_, kid, signer)| (kid.as_str(), signer))
    }

    /// The JWK Set document (RFC 7517 §5) for `jwks_uri`: public keys only.
    pub fn jwks(&self) -> Value {
        json!({ "keys": self.published })
    }
}

/// Makes sure each algorithm has an active key, generating, sealing and activating one
/// where none is; then loads the ring. A second call creates nothing.
pub async fn ensure_active_keys(
    store: &EventStore,
    commands: &Commands,
    sealer: &Sealer,
    now_unix: i64,
) -> Result<KeyRing, KeyError> {
    let records = read_records(store).await?;
    let context = context(now_unix);
    for alg in ALGORITHMS {
        if newest_active(&records, alg).is_none() {
            let kid = add_active_key(commands, sealer, alg, &context).await?;
            tracing::info!(alg = super::alg_name(alg), kid, "generated a signing key");
        }
    }
    KeyRing::load(store, sealer, now_unix).await
}

/// Replaces the key that signs for `alg`: a new key is generated and activated first (so
/// there is never a moment without one), then every key that was active for `alg` is
/// retired, staying published for `keep_public_for_secs` (at least the longest lifetime of
/// a token it may have signed). Works even when the old key cannot be opened any more.
pub async fn rotate(
    store: &EventStore,
    commands: &Commands,
    sealer: &Sealer,
    alg: SigningAlgorithm,
    now_unix: i64,
    keep_public_for_secs: i64,
) -> Result<KeyRing, KeyError> {
    let records = read_records(store).await?;
    let context = context(now_unix);
    let kid = add_active_key(commands, sealer, alg, &context).await?;
    let keep_public_until = now_unix.saturating_add(keep_public_for_secs);
    for old in records.iter().filter(|r| r.alg == alg && r.is_active()) {
        commands
            .signing_key(
                &old.kid,
                SigningKeyCommand::Retire { keep_public_until },
                &context,
            )
            .await?;
        tracing::info!(
            alg = super::alg_name(alg),
            kid = old.kid,
            keep_public_until,
            "retired a signing key"
        );
    }
    tracing::info!(
        alg = super::alg_name(alg),
        kid,
        "rotated to a new signing key"
    );
    KeyRing::load(store, sealer, now_unix).await
}

fn context(now_unix: i64) -> CommandContext {
    CommandContext {
        now: DateTime::<Utc>::from_timestamp(now_unix, 0).unwrap_or_else(Utc::now),
        ..CommandContext::system(ACTOR)
    }
}

/// Generates a key off the async threads (RSA takes a while), seals it to its kid, and
/// records it as generated, then active.
async fn add_active_key(
    commands: &Commands,
    sealer: &Sealer,
    alg: SigningAlgorithm,
    context: &CommandContext,
) -> Result<String, KeyError> {
    let key = tokio::task::spawn_blocking(move || generate(alg))
        .await
        .map_err(|e| KeyError::Generate {
            alg,
            reason: e.to_string(),
        })??;
    let generate = SigningKeyCommand::Generate {
        alg,
        public_jwk: key.public_jwk.to_string(),
        sealed_private_key: sealer.seal(&key.private_der, key.kid.as_bytes()),
    };
    commands.signing_key(&key.kid, generate, context).await?;
    commands
        .signing_key(&key.kid, SigningKeyCommand::Activate, context)
        .await?;
    Ok(key.kid.clone())
}

/// One key as the log tells it, folded from its events.
struct Record {
    kid: String,
    alg: SigningAlgorithm,
    public_jwk: Value,
    sealed: String,
    state: SigningKey,
    /// Order of the activation in the log: the latest activation signs.
    activated_at: Option<usize>,
}

impl Record {
    fn is_active(&self) -> bool {
        self.state.is_active()
    }

    fn is_published(&self, now_unix: i64) -> bool {
        self.state.is_current()
            || self
                .state
                .keep_public_until()
                .is_some_and(|until| until > now_unix)
    }
}

fn newest_active(records: &[Record], alg: SigningAlgorithm) -> Option<&Record> {
    records
        .iter()
        .filter(|r| r.alg == alg && r.is_active())
        .max_by_key(|r| r.activated_at)
}

fn public_members(jwk: &Value) -> Value {
    let public: Map<String, Value> = PUBLIC_JWK_MEMBERS
        .iter()
        .filter_map(|m| jwk.get(*m).map(|v| ((*m).to_owned(), v.clone())))
        .collect();
    Value::Object(public)
}

/// Every signing key in the log, in the order they were generated.
async fn read_records(store: &EventStore) -> Result<Vec<Record>, KeyError> {
    let rows = sqlx::query(
        "SELECT aggregate_id, payload FROM events WHERE aggregate_type = $1 ORDER BY position",
    )
    .bind(SigningKey::TYPE)
    .fetch_all(store.pool())
    .await
    .map_err(StoreError::from)?;
    let mut records: Vec<Record> = Vec::new();
    let mut by_kid: HashMap<String, usize> = HashMap::new();
    for (order, row) in rows.iter().enumerate() {
        let kid: String = row.try_get("aggregate_id").map_err(StoreError::from)?;
        let payload: String = row.try_get("payload").map_err(StoreError::from)?;
        let corrupt = |reason: &str| KeyError::Corrupt {
            kid: kid.clone(),
            reason: reason.to_owned(),
        };
        let event: SigningKeyEvent =
            serde_json::from_str(&payload).map_err(|e| corrupt(&e.to_string()))?;
        match (by_kid.get(&kid), &event) {
            (
                None,
                SigningKeyEvent::SigningKeyGenerated {
                    alg,
                    public_jwk,
                    sealed_private_key,
                },
            ) => {
                let (alg, sealed) = (*alg, sealed_private_key.clone());
                let public_jwk: Value = serde_json::from_str(public_jwk)
                    .map_err(|e| corrupt(&format!("public JWK: {e}")))?;
                let mut state = SigningKey::default();
                state.apply(event);
                by_kid.insert(kid.clone(), records.len());
                records.push(Record {
                    kid,
                    alg,
                    public_jwk,
                    sealed,
                    state,
                    activated_at: None,
                });
            }
            (None, _) => return Err(corrupt("changed before it was generated")),
            (Some(_), SigningKeyEvent::SigningKeyGenerated { .. }) => {
                return Err(corrupt("generated twice"));
            }
            (Some(&i), _) => {
                if event == SigningKeyEvent::SigningKeyActivated {
                    records[i].activated_at = Some(order);
                }
                records[i].state.apply(event);
            }
        }
    }
    Ok(records)
}
