//! ID-token signing keys over the real event log, on SQLite and PostgreSQL: one active key
//! per algorithm, rotation with a grace period in the JWKS, nothing private in clear in the
//! log, and tokens that an independent JOSE library verifies against the published JWKS.

use std::collections::HashSet;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::Jwk};
use serde_json::{Value, json};
use sigil_api::commands::Commands;
use sigil_api::keys::{KeyError, KeyRing, Sealer, encode, ensure_active_keys, rotate};
use sigil_api::master_key::MasterKey;
use sigil_domain::SigningAlgorithm;
use sigil_eventstore::EventStore;
use sigil_eventstore::sqlx::{self, Row};
use sigil_eventstore::testing::TestDatabase;

const NOW: i64 = 1_800_000_000;
const ALGS: [SigningAlgorithm; 3] = [
    SigningAlgorithm::ES384,
    SigningAlgorithm::EdDSA,
    SigningAlgorithm::RS256,
];

/// The sealer as the server builds it, from a master key in a temporary folder.
fn sealer(dir: &tempfile::TempDir) -> Sealer {
    let master = MasterKey::load_or_create(&dir.path().join("master.key")).unwrap();
    Sealer::new(&master.derive("sealing"))
}

async fn signing_key_events(store: &EventStore) -> Vec<(String, String, String)> {
    sqlx::query(
        "SELECT aggregate_id, event_type, payload FROM events WHERE aggregate_type = $1 ORDER BY position",
    )
    .bind("signing_key")
    .fetch_all(store.pool())
    .await
    .unwrap()
    .iter()
    .map(|row| {
        (
            row.get("aggregate_id"),
            row.get("event_type"),
            row.get("payload"),
        )
    })
    .collect()
}

fn kids(ring: &KeyRing) -> Vec<String> {
    ALGS.iter()
        .map(|alg| ring.signer(*alg).expect("an active key").0.to_owned())
        .collect()
}

fn published_kids(jwks: &Value) -> HashSet<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn ensure_active_keys_creates_one_active_key_per_algorithm_once() {
    for db in TestDatabase::all().await {
        let dir = tempfile::tempdir().unwrap();
        let (commands, sealer) = (Commands::new(&db.store), sealer(&dir));

        let ring = ensure_active_keys(&db.store, &commands, &sealer, NOW)
            .await
            .unwrap();
        let first = kids(&ring);
        for alg in ALGS {
            assert_eq!(ring.signer(alg).unwrap().1.alg(), alg);
        }
        let events = signing_key_events(&db.store).await;
        let types: Vec<&str> = events.iter().map(|(_, t, _)| t.as_str()).collect();
        assert_eq!(
            types,
            [
                "SigningKeyGenerated",
                "SigningKeyActivated",
                "SigningKeyGenerated",
                "SigningKeyActivated",
                "SigningKeyGenerated",
                "SigningKeyActivated"
            ],
            "{:?}",
            db.backend()
        );

        let again = ensure_active_keys(&db.store, &commands, &sealer, NOW + 60)
            .await
            .unwrap();
        assert_eq!(kids(&again), first);
        assert_eq!(signing_key_events(&db.store).await.len(), 6);
    }
}

#[tokio::test]
async fn the_jwks_lists_every_key_with_public_parameters_only() {
    for db in TestDatabase::all().await {
        let dir = tempfile::tempdir().unwrap();
        let (commands, sealer) = (Commands::new(&db.store), sealer(&dir));
        let ring = ensure_active_keys(&db.store, &commands, &sealer, NOW)
            .await
            .unwrap();

        let jwks = ring.jwks();
        let keys = jwks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 3);
        assert_eq!(published_kids(&jwks), kids(&ring).into_iter().collect());
        for key in keys {
            // RFC 7518 §6.2.2, §6.3.2; RFC 8037 §2: the private members.
            for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
                assert!(key.get(private).is_none(), "{private} in {key}");
            }
            assert_eq!(key["use"], "sig");
        }
        let types: HashSet<(&str, &str)> = keys
            .iter()
            .map(|k| (k["kty"].as_str().unwrap(), k["alg"].as_str().unwrap()))
            .collect();
        assert_eq!(
            types,
            HashSet::from([("EC", "ES384"), ("OKP", "EdDSA"), ("RSA", "RS256")])
        );

        // A freshly loaded ring (another node, a restart) publishes the same.
        let loaded = KeyRing::load(&db.store, &sealer, NOW).await.unwrap();
        assert_eq!(loaded.jwks(), jwks);
    }
}

#[tokio::test]
async fn rotation_signs_with_the_new_key_and_keeps_the_old_one_published_for_a_while() {
    for db in TestDatabase::all().await {
        let dir = tempfile::tempdir().unwrap();
        let (commands, sealer) = (Commands::new(&db.store), sealer(&dir));
        let ring = ensure_active_keys(&db.store, &commands, &sealer, NOW)
            .await
            .unwrap();
        let old = ring.signer(SigningAlgorithm::ES384).unwrap().0.to_owned();
        let others = [SigningAlgorithm::EdDSA, SigningAlgorithm::RS256]
            .map(|alg| ring.signer(alg).unwrap().0.to_owned());

        let rotated = rotate(
            &db.store,
            &commands,
            &sealer,
            SigningAlgorithm::ES384,
            NOW + 100,
            3600,
        )
        .await
        .unwrap();
        let new = rotated
            .signer(SigningAlgorithm::ES384)
            .unwrap()
            .0
            .to_owned();
        assert_ne!(new, old);
        assert_eq!(
            [SigningAlgorithm::EdDSA, SigningAlgorithm::RS256].map(|alg| rotated
                .signer(alg)
                .unwrap()
                .0
                .to_owned()),
            others
        );
        let published = published_kids(&rotated.jwks());
        assert_eq!(published.len(), 4, "{:?}", db.backend());
        assert!(published.contains(&old) && published.contains(&new));

        // Still published one second before keep_public_until, gone from then on.
        let before = KeyRing::load(&db.store, &sealer, NOW + 100 + 3599)
            .await
            .unwrap();
        assert!(published_kids(&before.jwks()).contains(&old));
        let after = KeyRing::load(&db.store, &sealer, NOW + 100 + 3600)
            .await
            .unwrap();
        let published = published_kids(&after.jwks());
        assert_eq!(published.len(), 3);
        assert!(!published.contains(&old) && published.contains(&new));
        assert_eq!(after.signer(SigningAlgorithm::ES384).unwrap().0, new);

        let types: Vec<String> = signing_key_events(&db.store)
            .await
            .into_iter()
            .filter(|(kid, ..)| *kid == old)
            .map(|(_, t, _)| t)
            .collect();
        assert_eq!(
            types,
            [
                "SigningKeyGenerated",
                "SigningKeyActivated",
                "SigningKeyRetired"
            ]
        );
    }
}

#[tokio::test]
async fn the_log_holds_private_keys_only_sealed() {
    for db in TestDatabase::all().await {
        let dir = tempfile::tempdir().unwrap();
        let (commands, sealer) = (Commands::new(&db.store), sealer(&dir));
        ensure_active_keys(&db.store, &commands, &sealer, NOW)
            .await
            .unwrap();
        rotate(
            &db.store,
            &commands,
            &sealer,
            SigningAlgorithm::RS256,
            NOW,
            60,
        )
        .await
        .unwrap();

        let events = signing_key_events(&db.store).await;
        let everything: Vec<String> = sqlx::query("SELECT payload, metadata FROM events")
            .fetch_all(db.store.pool())
            .await
            .unwrap()
            .iter()
            .flat_map(|row| [row.get::<String, _>("payload"), row.get("metadata")])
            .collect();
        let mut sealed_keys = 0;
        for (kid, _, payload) in &events {
            let Some(generated) =
                serde_json::from_str::<Value>(payload).unwrap()["SigningKeyGenerated"]
                    .as_object()
                    .cloned()
            else {
                continue;
            };
            let sealed = generated["sealed_private_key"].as_str().unwrap();
            assert!(sealed.starts_with("v1."));
            // What the sealed form hides: the PKCS#8 DER, in any of its usual spellings.
            let der = sealer.open(sealed, kid.as_bytes()).unwrap();
            assert_eq!(der[0], 0x30, "a DER SEQUENCE");
            let spellings = [
                STANDARD.encode(&der),
                URL_SAFE_NO_PAD.encode(&der),
                hex::encode(&der),
            ];
            for text in &everything {
                assert!(!text.contains("PRIVATE KEY"));
                for spelling in &spellings {
                    // A long-enough slice of the encoding would be just as bad as all of it.
                    assert!(!text.contains(&spelling[8..72]), "{:?}", db.backend());
                }
            }
            sealed_keys += 1;
        }
        assert_eq!(sealed_keys, 4);
    }
}

#[tokio::test]
async fn tokens_from_the_ring_verify_against_the_jwks_it_publishes() {
    for db in TestDatabase::all().await {
        let dir = tempfile::tempdir().unwrap();
        let (commands, sealer) = (Commands::new(&db.store), sealer(&dir));
        let ring = ensure_active_keys(&db.store, &commands, &sealer, NOW)
            .await
            .unwrap();
        // The JWKS as a relying party gets it: JSON text over the wire.
        let jwks: jsonwebtoken::jwk::JwkSet =
            serde_json::from_str(&ring.jwks().to_string()).unwrap();
        let claims = json!({"iss": "https://sigil.example", "sub": "u1", "aud": "app", "exp": 4_102_444_800u64});

        for (alg, expected) in [
            (SigningAlgorithm::ES384, Algorithm::ES384),
            (SigningAlgorithm::EdDSA, Algorithm::EdDSA),
            (SigningAlgorithm::RS256, Algorithm::RS256),
        ] {
            let (kid, signer) = ring.signer(alg).unwrap();
            let token = encode(signer, kid, Some("JWT"), &claims);

            let header = jsonwebtoken::decode_header(&token).unwrap();
            let jwk: &Jwk = jwks.find(header.kid.as_deref().unwrap()).unwrap();
            let key = DecodingKey::from_jwk(jwk).unwrap();
            let mut validation = Validation::new(expected);
            validation.set_audience(&["app"]);
            let decoded = jsonwebtoken::decode::<Value>(&token, &key, &validation).unwrap();
            assert_eq!(decoded.claims, claims, "{alg:?} on {:?}", db.backend());

            // Signed by one key, checked against another algorithm's key: refused.
            let other = jwks
                .keys
                .iter()
                .find(|k| k.common.key_id.as_deref() != Some(kid));
            let other = DecodingKey::from_jwk(other.unwrap()).unwrap();
            assert!(jsonwebtoken::decode::<Value>(&token, &other, &validation).is_err());
        }
    }
}

#[tokio::test]
async fn another_master_key_cannot_open_the_keys_and_says_so() {
    let db = TestDatabase::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let commands = Commands::new(&db.store);
    ensure_active_keys(&db.store, &commands, &sealer(&dir), NOW)
        .await
        .unwrap();

    let elsewhere = tempfile::tempdir().unwrap();
    let error = KeyRing::load(&db.store, &sealer(&elsewhere), NOW)
        .await
        .unwrap_err();
    assert!(matches!(error, KeyError::Unseal), "{error}");
    assert!(
        error.to_string().contains("SIGIL_MASTER_KEY_FILE"),
        "{error}"
    );
}
