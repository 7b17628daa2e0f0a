//! Connectors (issue #9): Sigil signs people in through an upstream OpenID provider.
//!
//! - Two Sigil instances: U is the upstream provider, S has a connector to U. A scripted
//!   browser signs in at S through U (filling U's forms), gets an ID token from S for the
//!   user linked to U's subject, and a second sign-in reuses the link.
//! - A fake upstream (an axum server this test controls) serves discovery, a JWKS and a
//!   token endpoint that answers with ID tokens the test crafts, to prove each refusal:
//!   tampered token, wrong issuer, wrong audience, replayed state, nonce mismatch, expired
//!   token, token too old, unknown `kid` after a JWKS refresh, state mismatch, an error
//!   from the upstream, and an upstream that is down. Each is an `UpstreamSignInFailed`
//!   event in the log with its reason, and provisions nobody.
//!
//! SQLite always, PostgreSQL when configured.

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sigil_api::keys::generate::generate;
use sigil_api::keys::jwt::{Signer, encode};
use sigil_domain::{ApplicationCommand, ApplicationType, NewApplication, SigningAlgorithm};
use sigil_eventstore::EventStore;
use sigil_eventstore::sqlx;
use sigil_tests::admin::{admin_token, gql_raw};
use sigil_tests::flow::{CALLBACK, browser, hidden, param, pkce, token};
use sigil_tests::{TestDatabase, TestServer, create_spa, ctx, register_user};

const PASSWORD: &str = "correct horse battery";
/// A GraphQL request; returns the whole body, errors included.
async fn gql(server: &TestServer, bearer: &str, query: &str, variables: Value) -> Value {
    let (status, body) = gql_raw(server, Some(bearer), query, variables).await;
    assert_eq!(status, 200, "{body}");
    body
}

const CREATE: &str = "mutation($i: CreateOidcConnectorInput!) { createOidcConnector(input: $i) { id redirectUri connector { displayName clientId tokenEndpoint idTokenVerificationConfig { jwksUri issuer algorithms } } } }";

/// Creates a connector; returns its id and redirect URI.
async fn create_connector(server: &TestServer, admin: &str, input: Value) -> (String, String) {
    let body = gql(server, admin, CREATE, json!({ "i": input })).await;
    assert!(body.get("errors").is_none(), "{body}");
    let created = &body["data"]["createOidcConnector"];
    (
        created["id"].as_str().unwrap().to_string(),
        created["redirectUri"].as_str().unwrap().to_string(),
    )
}

/// Payloads of the log's events of one type, oldest first.
async fn events(store: &EventStore, event_type: &str) -> Vec<(Value, Value)> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT payload, metadata FROM events WHERE event_type = $1 ORDER BY position",
    )
    .bind(event_type)
    .fetch_all(store.pool())
    .await
    .unwrap();
    rows.into_iter()
        .map(|(p, m)| {
            let p: Value = serde_json::from_str(&p).unwrap();
            (p[event_type].clone(), serde_json::from_str(&m).unwrap())
        })
        .collect()
}

/// Runs a browser from the client's authorization request at S to the button of
/// `connector`; returns the redirect to the upstream and the flow cookie S set.
async fn start_at(
    s: &TestServer,
    browser: &reqwest::Client,
    connector: &str,
    label: &str,
    challenge: &str,
) -> (String, String) {
    let mut url = url::Url::parse(&s.url("/oidc/auth")).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", "spa")
        .append_pair("redirect_uri", CALLBACK)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid profile email")
        .append_pair("state", "st")
        .append_pair("nonce", "client-nonce")
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256");
    let page = browser.get(url.as_str()).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains(&format!("Continue with {label}")), "{html}");
    let response = browser
        .post(s.url(&format!("/oidc/connectors/{connector}/start")))
        .form(&[
            ("interaction", hidden(&html, "interaction")),
            ("csrf", hidden(&html, "csrf")),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("sigil_upstream="))
        .expect("a flow cookie")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let location = response.headers()["location"].to_str().unwrap().to_string();
    (location, cookie)
}

fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// Redeems the client's code at S; returns the ID token's claims.
async fn id_token_at(s: &TestServer, location: &str, verifier: &str) -> Value {
    assert!(location.starts_with(CALLBACK), "{location}");
    let code = param(location, "code").expect("a code");
    let (status, body) = token(
        &s.base,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("client_id", "spa"),
            ("code_verifier", verifier),
        ],
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    claims_of(body["id_token"].as_str().unwrap())
}

/// One sign-in at S through U, each with its own cookie jar (both run on 127.0.0.1,
/// where cookies do not tell ports apart).
async fn sign_in_through(s: &TestServer, u: &TestServer, connector: &str) -> Value {
    let (at_s, at_u) = (browser(), browser());
    let (verifier, challenge) = pkce();
    let (upstream, _) = start_at(s, &at_s, connector, "Upstream Sigil", &challenge).await;
    assert!(upstream.starts_with(&u.url("/oidc/auth")), "{upstream}");
    assert_eq!(
        param(&upstream, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert!(param(&upstream, "nonce").is_some());
    let page = at_u.get(&upstream).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let back = at_u
        .post(u.url("/oidc/interaction/sign-in"))
        .form(&[
            ("interaction", hidden(&html, "interaction")),
            ("csrf", hidden(&html, "csrf")),
            ("identifier", "alice".to_string()),
            ("password", PASSWORD.to_string()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(back.status(), 303);
    let callback = back.headers()["location"].to_str().unwrap().to_string();
    assert!(callback.starts_with(&s.url(&format!("/oidc/connectors/{connector}/callback"))));
    let done = at_s.get(&callback).send().await.unwrap();
    assert_eq!(done.status(), 303, "{}", done.text().await.unwrap());
    let location = done.headers()["location"].to_str().unwrap().to_string();
    id_token_at(s, &location, &verifier).await
}

#[tokio::test]
async fn sign_in_at_s_through_u_links_the_upstream_subject_and_reuses_the_link() {
    for db_u in TestDatabase::all().await {
        let db_s = match db_u.backend() {
            sigil_eventstore::Backend::Sqlite => TestDatabase::sqlite().await,
            sigil_eventstore::Backend::Postgres => TestDatabase::postgres().await.unwrap(),
        };
        let (u, s) = (
            TestServer::start(&db_u).await,
            TestServer::start(&db_s).await,
        );
        register_user(&u.commands, "u-alice", "alice", PASSWORD).await;
        create_spa(&s.commands, "spa", "Photos").await;
        let admin = admin_token(&s).await;
        let secret = sigil_api::oidc::tokens::new_token();
        let (connector, redirect_uri) = create_connector(
            &s,
            &admin,
            json!({
                "displayName": "Upstream Sigil",
                "issuer": u.issuer(),
                "clientId": "sigil-s",
                "clientSecret": secret,
                "scope": "openid profile email",
            }),
        )
        .await;
        assert_eq!(
            redirect_uri,
            format!("{}/connectors/{connector}/callback", s.issuer())
        );
        // S registers at U as a confidential web application, as an admin would.
        let app = ApplicationCommand::Create(NewApplication {
            name: "Sigil S".into(),
            description: None,
            app_type: ApplicationType::Traditional,
            is_third_party: false,
            redirect_uris: vec![redirect_uri],
            post_logout_redirect_uris: vec![],
            cors_allowed_origins: vec![],
            client_secret_digest: Some(sigil_api::oidc::tokens::digest(&secret)),
        });
        u.commands
            .application("sigil-s", app, &ctx())
            .await
            .unwrap();

        let first = sign_in_through(&s, &u, &connector).await;
        let user_id = first["sub"].as_str().unwrap().to_string();
        assert_eq!(first["nonce"], "client-nonce");
        let linked = events(&db_s.store, "UserIdentityLinked").await;
        assert_eq!(linked.len(), 1);
        assert_eq!(linked[0].0["connector_id"], connector.as_str());
        assert_eq!(linked[0].0["subject"], "u-alice");
        let signed_in = events(&db_s.store, "UserSignedIn").await;
        assert_eq!(signed_in.last().unwrap().0["method"], "connector");
        assert_eq!(signed_in.last().unwrap().0["user_id"], user_id.as_str());
        let linked_user: String =
            sqlx::query_scalar("SELECT user_id FROM user_identities WHERE subject = 'u-alice'")
                .fetch_one(db_s.store.pool())
                .await
                .unwrap();
        assert_eq!(linked_user, user_id);

        // The second time, the link finds the same account; nothing new is provisioned.
        let second = sign_in_through(&s, &u, &connector).await;
        assert_eq!(second["sub"], user_id.as_str());
        assert_eq!(events(&db_s.store, "UserIdentityLinked").await.len(), 1);
        assert_eq!(events(&db_s.store, "UserRegistered").await.len(), 1);
        assert_eq!(
            events(&db_s.store, "UpstreamSignInCompleted").await.len(),
            2
        );
        // The connector's configuration is in the log with its actor, its secret sealed.
        let configured = events(&db_s.store, "ConnectorConfigured").await;
        assert!(
            configured[0].1["actor"]
                .as_str()
                .unwrap()
                .starts_with("client:")
        );
        let sealed = configured[0].0["config"]["sealed_client_secret"]
            .as_str()
            .unwrap();
        assert!(sealed.starts_with("v1.") && !sealed.contains(&secret));
        s.stop().await;
        u.stop().await;
    }
}

/// The fake upstream's state: what its token endpoint answers, and how often its JWKS was
/// fetched.
#[derive(Default)]
struct Fake {
    issuer: String,
    jwks: Value,
    id_token: Option<String>,
    jwks_fetches: usize,
    token_requests: usize,
}

type Shared = Arc<Mutex<Fake>>;

async fn start_fake() -> (Shared, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let shared: Shared = Arc::new(Mutex::new(Fake {
        issuer: issuer.clone(),
        ..Fake::default()
    }));
    let app = axum::Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(|State(f): State<Shared>| async move {
                let issuer = f.lock().unwrap().issuer.clone();
                Json(json!({
                    "issuer": issuer,
                    "authorization_endpoint": format!("{issuer}/auth"),
                    "token_endpoint": format!("{issuer}/token"),
                    "jwks_uri": format!("{issuer}/jwks"),
                    "id_token_signing_alg_values_supported": ["ES384"],
                }))
            }),
        )
        .route(
            "/jwks",
            get(|State(f): State<Shared>| async move {
                let mut f = f.lock().unwrap();
                f.jwks_fetches += 1;
                Json(f.jwks.clone())
            }),
        )
        .route(
            "/token",
            post(|State(f): State<Shared>| async move {
                let mut f = f.lock().unwrap();
                f.token_requests += 1;
                let id_token = f.id_token.clone();
                Json(json!({ "access_token": "at", "token_type": "Bearer", "id_token": id_token }))
            }),
        )
        .with_state(shared.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (shared, issuer)
}

/// Makes the ID token the fake's token endpoint answers, from the nonce S sent.
type MakeToken<'a> = Box<dyn Fn(&str) -> Option<String> + 'a>;

struct Key {
    signer: Signer,
    kid: String,
}

fn key() -> (Key, Value) {
    let generated = generate(SigningAlgorithm::ES384).unwrap();
    let signer = Signer::from_pkcs8(generated.alg, &generated.private_der).unwrap();
    (
        Key {
            signer,
            kid: generated.kid.clone(),
        },
        generated.public_jwk.clone(),
    )
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// One attempt at S through the fake: the button, then the callback with `query` (by
/// default the code and the state S sent) and the ID token `make` makes of S's nonce.
/// Returns the callback's response, the client's PKCE verifier, the callback URL and the
/// flow cookie (for replays).
async fn attempt(
    s: &TestServer,
    fake: &Shared,
    connector: &str,
    make: &dyn Fn(&str) -> Option<String>,
    query: Option<&dyn Fn(&str) -> String>,
) -> (reqwest::Response, String, String, String) {
    let browser = browser();
    let (verifier, challenge) = pkce();
    let (upstream, cookie) = start_at(s, &browser, connector, "Fake", &challenge).await;
    let state = param(&upstream, "state").unwrap();
    let nonce = param(&upstream, "nonce").unwrap();
    fake.lock().unwrap().id_token = make(&nonce);
    let query = match query {
        Some(q) => q(&state),
        None => format!("code=c&state={state}"),
    };
    let url = s.url(&format!("/oidc/connectors/{connector}/callback?{query}"));
    let response = browser.get(&url).send().await.unwrap();
    (response, verifier, url, cookie)
}

/// The response is a refusal page naming `reason`, and the log's last
/// `UpstreamSignInFailed` says the same, with no token in it.
async fn assert_refused(store: &EventStore, response: reqwest::Response, reason: &str) {
    let status = response.status().as_u16();
    let html = response.text().await.unwrap();
    assert!(
        matches!(status, 400 | 403 | 502),
        "{reason}: {status} {html}"
    );
    assert!(html.contains(reason), "{reason}: the page names it: {html}");
    let failed = events(store, "UpstreamSignInFailed").await;
    let (payload, metadata) = failed.last().expect("a failure event");
    assert_eq!(payload["reason"], reason, "{payload}");
    assert!(
        metadata["actor"]
            .as_str()
            .unwrap()
            .starts_with("connector:")
    );
    assert!(!payload.to_string().contains("eyJ"), "no token in the log");
}

#[tokio::test]
async fn every_refusal_is_recorded_and_provisions_nobody() {
    for db in TestDatabase::all().await {
        let store = db.store.clone();
        let s = TestServer::start(&db).await;
        create_spa(&s.commands, "spa", "Photos").await;
        let (fake, issuer) = start_fake().await;
        let (good, jwk) = key();
        let (stranger, _) = key();
        fake.lock().unwrap().jwks = json!({ "keys": [jwk] });
        let admin = admin_token(&s).await;
        let (connector, _) = create_connector(
            &s,
            &admin,
            json!({
                "displayName": "Fake",
                "issuer": issuer,
                "clientId": "sigil",
                "clientSecret": "fake-secret",
                "scope": "openid email",
                "idTokenVerificationConfig": { "maxTokenAge": 600, "clockTolerance": 5 },
            }),
        )
        .await;
        let claims = |nonce: &str| {
            json!({
                "iss": issuer, "aud": "sigil", "sub": "fake-248289761001",
                "iat": now(), "exp": now() + 300, "nonce": nonce,
                "email": "jane@example.com", "email_verified": true,
            })
        };
        let sign =
            |key: &Key, claims: Value| Some(encode(&key.signer, &key.kid, Some("JWT"), &claims));
        let with = |nonce: &str, field: &str, value: Value| {
            let mut c = claims(nonce);
            c[field] = value;
            c
        };

        // The good case first: it signs in, provisions, and warms the JWKS cache.
        let (response, verifier, callback, cookie) =
            attempt(&s, &fake, &connector, &|n| sign(&good, claims(n)), None).await;
        assert_eq!(response.status(), 303);
        let location = response.headers()["location"].to_str().unwrap().to_string();
        let user = id_token_at(&s, &location, &verifier).await["sub"].clone();
        assert_eq!(events(&store, "UserIdentityLinked").await.len(), 1);

        // Replayed state: the same callback, with the cookie an attacker kept. Refused
        // before the code is sent anywhere again.
        let token_requests = fake.lock().unwrap().token_requests;
        let replay = reqwest::Client::new()
            .get(&callback)
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_refused(&store, replay, "state_replayed").await;
        assert_eq!(fake.lock().unwrap().token_requests, token_requests);

        // A tampered token: claims changed after signing.
        let tampered = |n: &str| {
            let token = sign(&good, claims(n)).unwrap();
            let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
            parts[1] = URL_SAFE_NO_PAD.encode(with(n, "sub", json!("someone-else")).to_string());
            Some(parts.join("."))
        };
        let cases: Vec<(&str, MakeToken)> = vec![
            ("bad_signature", Box::new(tampered)),
            (
                "wrong_issuer",
                Box::new(|n| sign(&good, with(n, "iss", json!("http://evil.example")))),
            ),
            (
                "wrong_audience",
                Box::new(|n| sign(&good, with(n, "aud", json!("another-client")))),
            ),
            (
                "nonce_mismatch",
                Box::new(|n| sign(&good, with(n, "nonce", json!("not-the-one")))),
            ),
            (
                "expired",
                Box::new(|n| {
                    let mut c = with(n, "exp", json!(now() - 3600));
                    c["iat"] = json!(now() - 4000);
                    sign(&good, c)
                }),
            ),
            (
                "token_too_old",
                Box::new(|n| sign(&good, with(n, "iat", json!(now() - 1200)))),
            ),
        ];
        for (reason, make) in &cases {
            let (response, ..) = attempt(&s, &fake, &connector, make.as_ref(), None).await;
            assert_refused(&store, response, reason).await;
        }

        // An unknown kid: the JWKS is fetched again, still lacks it, and the token is refused.
        let fetches = fake.lock().unwrap().jwks_fetches;
        let (response, ..) =
            attempt(&s, &fake, &connector, &|n| sign(&stranger, claims(n)), None).await;
        assert_refused(&store, response, "unknown_key").await;
        assert_eq!(
            fake.lock().unwrap().jwks_fetches,
            fetches + 1,
            "refreshed once"
        );

        // A state that is not the one this browser was given.
        let wrong_state = |_: &str| "code=c&state=forged".to_string();
        let (response, ..) = attempt(
            &s,
            &fake,
            &connector,
            &|n| sign(&good, claims(n)),
            Some(&wrong_state),
        )
        .await;
        assert_refused(&store, response, "state_mismatch").await;

        // The upstream says no.
        let denied = |state: &str| format!("error=access_denied&state={state}");
        let (response, ..) = attempt(&s, &fake, &connector, &|_| None, Some(&denied)).await;
        assert_refused(&store, response, "upstream_error").await;
        let failed = events(&store, "UpstreamSignInFailed").await;
        assert_eq!(failed.last().unwrap().0["upstream_error"], "access_denied");

        // Bob has a Sigil account; the upstream vouches for his email. Without the
        // connector's consent to link by email, that is refused rather than a second
        // account; with it, his account is linked.
        register_user(&s.commands, "u-bob", "bob", PASSWORD).await;
        let bob = |n: &str| {
            let mut c = with(n, "sub", json!("fake-bob"));
            c["email"] = json!("bob@example.com");
            c
        };
        let (response, ..) = attempt(&s, &fake, &connector, &|n| sign(&good, bob(n)), None).await;
        assert_refused(&store, response, "account_conflict").await;
        let allow = "mutation($id: ID!) { updateOidcConnector(id: $id, input: { linkVerifiedEmail: true }) { id } }";
        assert!(
            gql(&s, &admin, allow, json!({ "id": connector }))
                .await
                .get("errors")
                .is_none()
        );
        let (response, verifier, ..) =
            attempt(&s, &fake, &connector, &|n| sign(&good, bob(n)), None).await;
        assert_eq!(response.status(), 303);
        let location = response.headers()["location"].to_str().unwrap().to_string();
        assert_eq!(id_token_at(&s, &location, &verifier).await["sub"], "u-bob");
        let linked = events(&store, "UserIdentityLinked").await;
        assert_eq!(linked.len(), 2);
        assert_eq!(linked[1].0["subject"], "fake-bob");

        // The upstream is down: a connector whose token endpoint nobody answers.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dead = format!("http://{}/token", closed.local_addr().unwrap());
        drop(closed);
        let body = gql(
            &s,
            &admin,
            "mutation($id: ID!, $i: UpdateOidcConnectorInput!) { updateOidcConnector(id: $id, input: $i) { id redirectUri connector { tokenEndpoint } } }",
            json!({ "id": connector, "i": { "tokenEndpoint": dead } }),
        )
        .await;
        assert_eq!(
            body["data"]["updateOidcConnector"]["connector"]["tokenEndpoint"],
            dead.as_str()
        );
        let (response, ..) =
            attempt(&s, &fake, &connector, &|n| sign(&good, claims(n)), None).await;
        assert_refused(&store, response, "upstream_unreachable").await;

        // Nothing was half-provisioned: Bob's own registration and the good case's account,
        // two links, two sessions; every other attempt left only its refusal.
        assert_eq!(events(&store, "UserIdentityLinked").await.len(), 2);
        assert_eq!(events(&store, "UserRegistered").await.len(), 2);
        assert_eq!(events(&store, "UpstreamSignInCompleted").await.len(), 2);
        let signed_in = events(&store, "UserSignedIn").await;
        assert_eq!(signed_in.len(), 2);
        assert_eq!(signed_in[0].0["user_id"], user);
        assert_eq!(events(&store, "UpstreamSignInFailed").await.len(), 12);
        // Each refusal is in the audit trail too, with its reason and the connector as actor.
        let last = store.last_position().await.unwrap();
        sigil_projections::ProjectionRunner::new(
            store.clone(),
            Arc::new(sigil_projections::AuditView),
        )
        .catch_up_to(last, sigil_tests::FRONTIER_WAIT)
        .await
        .unwrap();
        let audit = gql(
            &s,
            &admin,
            "{ auditLog(filter: { eventTypes: [\"UpstreamSignInFailed\"] }) { edges { node { actor details } } } }",
            json!({}),
        )
        .await;
        let entries = audit["data"]["auditLog"]["edges"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(entries.len(), 12, "{audit}");
        for entry in &entries {
            assert_eq!(entry["node"]["actor"], format!("connector:{connector}"));
            assert!(entry["node"]["details"]["reason"].is_string(), "{entry}");
        }
        s.stop().await;
    }
}

/// The first error's `extensions.code` and message.
fn error_of(body: &Value) -> (String, String) {
    let error = &body["errors"][0];
    (
        error["extensions"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        error["message"].as_str().unwrap_or_default().to_string(),
    )
}

#[tokio::test]
async fn bad_configuration_is_refused_and_the_sign_in_experience_decides_what_is_offered() {
    let db = TestDatabase::sqlite().await;
    let s = TestServer::start(&db).await;
    create_spa(&s.commands, "spa", "Photos").await;
    register_user(&s.commands, "u-bob", "bob", PASSWORD).await;
    let (fake, issuer) = start_fake().await;
    fake.lock().unwrap().jwks = json!({ "keys": [] });
    let admin = admin_token(&s).await;
    let input = |changes: Value| {
        let mut i = json!({
            "displayName": "Fake", "issuer": issuer, "clientId": "sigil",
            "clientSecret": "fake-secret", "scope": "openid email",
        });
        for (k, v) in changes.as_object().unwrap() {
            i[k] = v.clone();
        }
        i
    };
    for (changes, expected) in [
        (json!({ "scope": "email profile" }), "openid"),
        // OpenID Connect Discovery §4.3: the document must name the issuer asked for.
        (json!({ "issuer": format!("{issuer}/") }), "§4.3"),
        (
            json!({ "customConfig": [{ "name": "nonce", "value": "fixed" }] }),
            "nonce",
        ),
        (json!({ "issuer": null }), "authorizationEndpoint"),
        (
            json!({ "tokenEndpointAuthMethod": "CLIENT_SECRET_JWT" }),
            "clientSecretJwtSigningAlgorithm",
        ),
        (json!({ "logoUrl": "javascript:alert(1)" }), "logoUrl"),
    ] {
        let body = gql(&s, &admin, CREATE, json!({ "i": input(changes.clone()) })).await;
        let (code, message) = error_of(&body);
        assert_eq!(code, "VALIDATION", "{changes}: {body}");
        assert!(message.contains(expected), "{changes}: {message}");
    }
    let (connector, _) = create_connector(&s, &admin, input(json!({}))).await;
    let listed = gql(
        &s,
        &admin,
        "{ connectors { id displayName enabled } }",
        json!({}),
    )
    .await;
    assert_eq!(listed["data"]["connectors"][0]["id"], connector.as_str());

    // Connectors only: no password form, and a password POST is refused.
    let update = "mutation($i: SignInExperienceInput!) { updateSignInExperience(input: $i) { password connectors } }";
    let body = gql(
        &s,
        &admin,
        update,
        json!({ "i": { "password": false, "connectors": false } }),
    )
    .await;
    assert_eq!(error_of(&body).0, "VALIDATION", "{body}");
    let body = gql(
        &s,
        &admin,
        update,
        json!({ "i": { "password": false, "connectors": true } }),
    )
    .await;
    assert!(body.get("errors").is_none(), "{body}");
    let changed = events(&db.store, "SignInExperienceUpdated").await;
    assert!(
        changed[0].1["actor"]
            .as_str()
            .unwrap()
            .starts_with("client:")
    );
    let browser = browser();
    let (_, challenge) = pkce();
    let mut url = url::Url::parse(&s.url("/oidc/auth")).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", "spa")
        .append_pair("redirect_uri", CALLBACK)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let html = browser
        .get(url.as_str())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Continue with Fake"));
    assert!(!html.contains("Username or email"), "{html}");
    let refused = browser
        .post(s.url("/oidc/interaction/sign-in"))
        .form(&[
            ("interaction", hidden(&html, "interaction")),
            ("csrf", hidden(&html, "csrf")),
            ("identifier", "bob".to_string()),
            ("password", PASSWORD.to_string()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert!(events(&db.store, "UserSignedIn").await.is_empty());

    // A disabled connector offers no button; with none left, the password form returns.
    let disable =
        "mutation($id: ID!) { updateOidcConnector(id: $id, input: { enabled: false }) { id } }";
    let body = gql(&s, &admin, disable, json!({ "id": connector })).await;
    assert!(body.get("errors").is_none(), "{body}");
    let html = browser
        .get(url.as_str())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains("Continue with Fake"));
    assert!(html.contains("Username or email"));
    let body = gql(
        &s,
        &admin,
        "mutation($id: ID!) { deleteOidcConnector(id: $id) }",
        json!({ "id": connector }),
    )
    .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(events(&db.store, "ConnectorDeleted").await.len(), 1);
    assert_eq!(events(&db.store, "ConnectorUpdated").await.len(), 1);
    let listed = gql(&s, &admin, "{ connectors { id } }", json!({})).await;
    assert_eq!(listed["data"]["connectors"], json!([]));
    s.stop().await;
}
