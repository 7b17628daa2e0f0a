//! The CPU side of the token and authorization endpoints: signing ID tokens and JWT access
//! tokens with each algorithm over keys parsed once, checking PKCE and client secrets, and
//! validating an authorization request. `cargo bench -p sigil-api --bench tokens`.

use std::hint::black_box;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cqrs_es::Aggregate;
use criterion::{Criterion, criterion_group, criterion_main};
use sha2::{Digest, Sha256};
use sigil_api::benchmarks;
use sigil_api::commands::Commands;
use sigil_api::keys::keyring::{KeyRing, ensure_active_keys};
use sigil_api::keys::seal::Sealer;
use sigil_api::oidc::id_token::{IdTokenInput, id_token};
use sigil_api::oidc::jwt_access_token::JwtAccessToken;
use sigil_api::oidc::tokens::{digest, new_token};
use sigil_domain::{SigningAlgorithm, User, UserEvent};
use sigil_eventstore::testing::TestDatabase;

const ALGORITHMS: [(&str, SigningAlgorithm); 3] = [
    ("ES384", SigningAlgorithm::ES384),
    ("EdDSA", SigningAlgorithm::EdDSA),
    ("RS256", SigningAlgorithm::RS256),
];

/// The keys a server starts with: generated, sealed into the log, opened and parsed once.
fn key_ring() -> KeyRing {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let db = TestDatabase::sqlite().await;
        let commands = Commands::new(&db.store);
        ensure_active_keys(
            &db.store,
            &commands,
            &Sealer::new(&[7; 32]),
            chrono::Utc::now().timestamp(),
        )
        .await
        .unwrap()
    })
}

fn user() -> User {
    let mut user = User::default();
    user.apply(UserEvent::UserRegistered {
        username: Some("ada".into()),
        primary_email: Some("ada@example.com".into()),
        name: Some("Ada Lovelace".into()),
        password_hash: None,
    });
    user
}

fn signing(c: &mut Criterion) {
    let keys = key_ring();
    let user = user();
    let scope: Vec<String> = ["openid", "profile", "email"].map(String::from).to_vec();
    let access_token = new_token();
    let now = chrono::Utc::now().timestamp();
    let mut group = c.benchmark_group("id_token");
    for (name, alg) in ALGORITHMS {
        group.bench_function(name, |b| {
            b.iter(|| {
                id_token(
                    &keys,
                    IdTokenInput {
                        issuer: "https://sigil.example/oidc",
                        client_id: "bench-web",
                        user_id: "u-1",
                        user: &user,
                        scope: &scope,
                        nonce: Some("n-0S6_WzA2Mj"),
                        auth_time: now,
                        now,
                        access_token: black_box(&access_token),
                        alg,
                        organizations: None,
                    },
                )
                .unwrap()
            })
        });
    }
    group.finish();

    let read = vec!["read".to_string()];
    let mut group = c.benchmark_group("jwt_access_token");
    for (name, alg) in ALGORITHMS {
        group.bench_function(name, |b| {
            b.iter(|| {
                JwtAccessToken {
                    issuer: "https://sigil.example/oidc",
                    audience: "urn:bench:api",
                    subject: "bench-m2m",
                    client_id: "bench-m2m",
                    scope: &read,
                    jti: black_box("6f1c2b4e-8d7a-4b8e-9a51-0c2f3e4d5a6b"),
                    issued_at: now,
                    expires_at: now + 3600,
                    auth_time: None,
                    organization_id: None,
                    alg,
                }
                .sign(&keys)
                .unwrap()
            })
        });
    }
    group.finish();
}

fn checks(c: &mut Criterion) {
    let verifier = new_token();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    c.bench_function("pkce_s256", |b| {
        b.iter(|| assert!(benchmarks::pkce_s256(black_box(&verifier), &challenge)))
    });
    let secret = new_token();
    let stored = digest(&secret);
    c.bench_function("client_secret", |b| {
        b.iter(|| assert!(benchmarks::client_secret(black_box(&secret), &stored)))
    });
    let application = benchmarks::spa("https://app.example.com/callback");
    let query = format!(
        "client_id=bench-spa&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcallback\
         &response_type=code&scope=openid%20profile%20offline_access&state=af0ifjsldkj\
         &nonce=n-0S6_WzA2Mj&code_challenge={challenge}&code_challenge_method=S256&prompt=consent"
    );
    c.bench_function("authorization_request", |b| {
        b.iter(|| {
            assert!(benchmarks::authorization_request(
                black_box(query.as_bytes()),
                &application
            ))
        })
    });
}

criterion_group!(benches, signing, checks);
criterion_main!(benches);
