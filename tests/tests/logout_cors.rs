//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) at `/oidc/session/end`, and
//! CORS for single-page applications on the token, userinfo, introspection, revocation and
//! JWKS endpoints, over HTTP on SQLite and PostgreSQL.

use std::time::{Duration, Instant};

use openidconnect::PkceCodeChallenge;
use reqwest::redirect::Policy;
use serde_json::{Value, json};
use sigil_api::commands::Commands;
use sigil_domain::{
    ApplicationChanges, ApplicationCommand, ApplicationType, NewApplication, SigningAlgorithm,
};
use sigil_eventstore::sqlx;
use sigil_tests::flow::{browser, hidden, param};
use sigil_tests::{TestDatabase, TestServer, create_confidential, create_spa, ctx, register_user};

const CALLBACK: &str = "https://app.example.com/callback";
const SIGNED_OUT: &str = "https://app.example.com/signed-out";
const ORIGIN: &str = "https://app.example.com";
const PASSWORD: &str = "correct horse battery";

fn location(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
}

/// The value a `Set-Cookie` header of `response` gives `name`, if any.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_string)
}

/// An SPA with a post-logout redirect URI and a CORS origin registered.
async fn create_logout_app(commands: &Commands, id: &str) {
    let command = ApplicationCommand::Create(NewApplication {
        name: format!("{id} app"),
        description: None,
        app_type: ApplicationType::Spa,
        is_third_party: false,
        redirect_uris: vec![CALLBACK.into()],
        post_logout_redirect_uris: vec![SIGNED_OUT.into()],
        cors_allowed_origins: vec![ORIGIN.into()],
        client_secret_digest: None,
    });
    commands.application(id, command, &ctx()).await.unwrap();
}

async fn count(db: &TestDatabase, event_type: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE event_type = $1")
        .bind(event_type)
        .fetch_one(db.store.pool())
        .await
        .unwrap()
}

fn auth_url(base: &str, client_id: &str, challenge: &PkceCodeChallenge) -> String {
    let mut url = url::Url::parse(&format!("{base}/oidc/auth")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", CALLBACK)
        .append_pair("scope", "openid profile")
        .append_pair("state", "af0ifjsldkj")
        .append_pair("nonce", "n-0S6_WzA2Mj")
        .append_pair("code_challenge", challenge.as_str())
        .append_pair("code_challenge_method", "S256");
    url.into()
}

/// Signs alice in through the pages and redeems the code; returns the ID token and the
/// session cookie's value.
async fn sign_in(browser: &reqwest::Client, base: &str, client_id: &str) -> (String, String) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let page = browser
        .get(auth_url(base, client_id, &challenge))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200, "the sign-in page");
    let html = page.text().await.unwrap();
    let response = browser
        .post(format!("{base}/oidc/interaction/sign-in"))
        .form(&[
            ("interaction", hidden(&html, "interaction")),
            ("csrf", hidden(&html, "csrf")),
            ("identifier", "alice".into()),
            ("password", PASSWORD.into()),
        ])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_redirection(), "{}", response.status());
    let session = set_cookie(&response, "sigil_session").expect("a session cookie");
    let session = session["sigil_session=".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let back = location(&response).unwrap();
    let code = param(&back, "code").unwrap_or_else(|| panic!("no code in {back}"));
    let tokens: Value = reqwest::Client::new()
        .post(format!("{base}/oidc/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", client_id),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", verifier.secret()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id_token = tokens["id_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no ID token in {tokens}"))
        .to_string();
    (id_token, session)
}

/// Whether an authorization request with this session cookie (and nothing else) still
/// finds the session: a redirect with a code, rather than the sign-in page.
async fn session_alive(base: &str, client_id: &str, session: &str) -> bool {
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let response = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
        .get(auth_url(base, client_id, &challenge))
        .header("cookie", format!("sigil_session={session}"))
        .send()
        .await
        .unwrap();
    match response.status().as_u16() {
        303 | 302 => {
            let back = location(&response).unwrap();
            assert!(param(&back, "code").is_some(), "{back}");
            true
        }
        200 => {
            assert!(response.text().await.unwrap().contains("Password"));
            false
        }
        other => panic!("unexpected {other}"),
    }
}

fn end_session_url(base: &str, params: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(&format!("{base}/oidc/session/end")).unwrap();
    url.query_pairs_mut().extend_pairs(params);
    url.into()
}

#[tokio::test]
async fn logout_with_a_hint_ends_the_session_and_returns_to_the_registered_uri() {
    for db in TestDatabase::all().await {
        let server = TestServer::start(&db).await;
        register_user(&server.commands, "user-alice", "alice", PASSWORD).await;
        create_logout_app(&server.commands, "spa").await;

        let metadata: Value = reqwest::get(server.url("/oidc/.well-known/openid-configuration"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            metadata["end_session_endpoint"],
            json!(format!("{}/session/end", server.issuer()))
        );

        let b = browser();
        let (id_token, session) = sign_in(&b, &server.base, "spa").await;
        assert!(session_alive(&server.base, "spa", &session).await);

        let logout = end_session_url(
            &server.base,
            &[
                ("id_token_hint", &id_token),
                ("post_logout_redirect_uri", SIGNED_OUT),
                ("state", "bye 1"),
            ],
        );
        let response = b.get(&logout).send().await.unwrap();
        assert_eq!(response.status(), 303, "{:?}", db.backend());
        assert_eq!(
            location(&response).as_deref(),
            Some("https://app.example.com/signed-out?state=bye+1")
        );
        let cleared = set_cookie(&response, "sigil_session").expect("the cookie is cleared");
        assert!(cleared.contains("Max-Age=0"), "{cleared}");
        assert_eq!(count(&db, "SessionEnded").await, 1);

        // Gone on the server, not only from this browser's jar.
        assert!(!session_alive(&server.base, "spa", &session).await);
        let (challenge, _) = PkceCodeChallenge::new_random_sha256();
        let page = b
            .get(auth_url(&server.base, "spa", &challenge))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        assert!(page.text().await.unwrap().contains("Password"));

        // Logging out again is fine and records nothing more.
        let again = b.get(&logout).send().await.unwrap();
        assert_eq!(again.status(), 303);
        assert_eq!(count(&db, "SessionEnded").await, 1);

        // client_id must agree with the hint's audience.
        let response = b
            .get(end_session_url(
                &server.base,
                &[("id_token_hint", &id_token), ("client_id", "other")],
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        assert!(location(&response).is_none());

        // An application's POST comes back as a GET, which carries the Lax session cookie.
        let response = reqwest::Client::builder()
            .redirect(Policy::none())
            .build()
            .unwrap()
            .post(server.url("/oidc/session/end"))
            .form(&[("id_token_hint", id_token.as_str()), ("state", "s")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303);
        let resend = location(&response).unwrap();
        assert!(
            resend.starts_with(&format!("{}/session/end?", server.issuer())),
            "{resend}"
        );
        assert_eq!(param(&resend, "id_token_hint"), Some(id_token.clone()));
        server.stop().await;
    }
}

/// A server like [`TestServer`], whose signing keys the test can reach (to sign a genuine
/// ID token that has expired).
struct KeyedServer {
    base: String,
    commands: Commands,
    running: sigil_api::server::RunningServer,
    _dir: tempfile::TempDir,
}

impl KeyedServer {
    async fn start(db: &TestDatabase) -> KeyedServer {
        let dir = tempfile::tempdir().unwrap();
        let key = sigil_api::master_key::MasterKey::load_or_create(&dir.path().join("master.key"))
            .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let args = sigil_api::config::ServeArgs {
            bind: format!("127.0.0.1:{port}").parse().unwrap(),
            public_url: format!("http://127.0.0.1:{port}"),
            checkpoint_interval_secs: 1,
            request_timeout_secs: 30,
            shutdown_grace_secs: 5,
            throttling: Default::default(),
        };
        let running = sigil_api::server::start(db.store.clone(), args, &key)
            .await
            .unwrap();
        KeyedServer {
            base: format!("http://{}", running.addr),
            commands: Commands::new(&db.store),
            running,
            _dir: dir,
        }
    }

    fn issuer(&self) -> String {
        format!("{}/oidc", self.base)
    }

    /// An ID token signed with Sigil's own ES384 key.
    fn sign(&self, claims: &Value) -> String {
        let keys = self.running.state.keys();
        let (kid, signer) = keys.signer(SigningAlgorithm::ES384).unwrap();
        sigil_api::keys::encode(signer, kid, Some("JWT"), claims)
    }
}

#[tokio::test]
async fn forged_hints_are_refused_expired_ones_accepted_and_unregistered_uris_not_followed() {
    for db in TestDatabase::all().await {
        let server = KeyedServer::start(&db).await;
        register_user(&server.commands, "user-alice", "alice", PASSWORD).await;
        create_logout_app(&server.commands, "spa").await;
        let b = browser();
        let (id_token, session) = sign_in(&b, &server.base, "spa").await;

        let claims = |iss: String, exp: i64| json!({ "iss": iss, "sub": "user-alice", "aud": "spa", "iat": exp - 3600, "exp": exp });
        let future = chrono_now() + 3600;
        // Signed by a fresh key that claims to be Sigil's current one.
        let fresh = sigil_api::keys::generate(SigningAlgorithm::ES384).unwrap();
        let fresh_signer =
            sigil_api::keys::Signer::from_pkcs8(SigningAlgorithm::ES384, &fresh.private_der)
                .unwrap();
        let jwks: Value = reqwest::get(format!("{}/jwks", server.issuer()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let our_kid = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["alg"] == "ES384")
            .unwrap()["kid"]
            .as_str()
            .unwrap()
            .to_string();
        let forged = sigil_api::keys::encode(
            &fresh_signer,
            &our_kid,
            Some("JWT"),
            &claims(server.issuer(), future),
        );
        // Genuinely Sigil's signature, but another issuer.
        let foreign = server.sign(&claims("https://evil.example/oidc".into(), future));
        // A bit flipped in the signature of the real token.
        let mut tampered = id_token.clone().into_bytes();
        let last = tampered.len() - 3;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        for hint in [&forged, &foreign, &tampered] {
            let response = b
                .get(end_session_url(
                    &server.base,
                    &[
                        ("id_token_hint", hint),
                        ("post_logout_redirect_uri", SIGNED_OUT),
                    ],
                ))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 400, "{:?}", db.backend());
            assert!(location(&response).is_none());
            assert!(set_cookie(&response, "sigil_session").is_none());
        }
        assert_eq!(count(&db, "SessionEnded").await, 0);
        assert!(session_alive(&server.base, "spa", &session).await);

        // Expired, but Sigil's: accepted (RP-Initiated Logout §2).
        let expired = server.sign(&claims(server.issuer(), chrono_now() - 7200));
        let response = b
            .get(end_session_url(
                &server.base,
                &[
                    ("id_token_hint", &expired),
                    ("post_logout_redirect_uri", SIGNED_OUT),
                    ("state", "x"),
                ],
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303);
        assert_eq!(
            location(&response).as_deref(),
            Some("https://app.example.com/signed-out?state=x")
        );
        assert_eq!(count(&db, "SessionEnded").await, 1);
        assert!(!session_alive(&server.base, "spa", &session).await);

        // A URI the application did not register: signed out, but no redirect.
        let (id_token, session) = sign_in(&b, &server.base, "spa").await;
        for uri in [
            "https://evil.example.com/",
            "https://app.example.com/signed-out/",
            "https://app.example.com/signed-out?x=1",
        ] {
            let response = b
                .get(end_session_url(
                    &server.base,
                    &[
                        ("id_token_hint", &id_token),
                        ("post_logout_redirect_uri", uri),
                    ],
                ))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{uri}");
            assert!(location(&response).is_none());
            assert!(
                response
                    .text()
                    .await
                    .unwrap()
                    .contains("You are signed out")
            );
        }
        assert_eq!(count(&db, "SessionEnded").await, 2);
        assert!(!session_alive(&server.base, "spa", &session).await);
        server.running.shutdown().await.unwrap();
    }
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test]
async fn logout_without_a_hint_asks_first_and_the_form_needs_its_csrf_cookie() {
    for db in TestDatabase::all().await {
        let server = TestServer::start(&db).await;
        register_user(&server.commands, "user-alice", "alice", PASSWORD).await;
        create_logout_app(&server.commands, "spa").await;
        let b = browser();
        let (_, session) = sign_in(&b, &server.base, "spa").await;

        let response = b
            .get(end_session_url(
                &server.base,
                &[
                    ("client_id", "spa"),
                    ("post_logout_redirect_uri", SIGNED_OUT),
                    ("state", "s-1"),
                ],
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(location(&response).is_none());
        // The form's redirect to the application must not be blocked by form-action.
        let csp = response.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            csp.contains("form-action 'self' https://app.example.com"),
            "{csp}"
        );
        let html = response.text().await.unwrap();
        assert!(html.contains(">Sign out</button>"), "{html}");
        assert_eq!(count(&db, "SessionEnded").await, 0);
        assert!(session_alive(&server.base, "spa", &session).await);

        let form = [
            ("csrf", hidden(&html, "csrf")),
            ("client_id", hidden(&html, "client_id")),
            (
                "post_logout_redirect_uri",
                hidden(&html, "post_logout_redirect_uri"),
            ),
            ("state", hidden(&html, "state")),
        ];
        // Without the CSRF cookie (another site posting the form): refused, nothing ends.
        let response = reqwest::Client::builder()
            .redirect(Policy::none())
            .build()
            .unwrap()
            .post(server.url("/oidc/session/end"))
            .header("cookie", format!("sigil_session={session}"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        assert!(location(&response).is_none());
        assert_eq!(count(&db, "SessionEnded").await, 0);
        assert!(session_alive(&server.base, "spa", &session).await);

        // Confirmed in the browser.
        let response = b
            .post(server.url("/oidc/session/end"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303);
        assert_eq!(
            location(&response).as_deref(),
            Some("https://app.example.com/signed-out?state=s-1")
        );
        assert_eq!(count(&db, "SessionEnded").await, 1);
        assert!(!session_alive(&server.base, "spa", &session).await);

        // Without any client, nowhere to go back to: a signed-out page after confirming.
        let page = b
            .get(end_session_url(
                &server.base,
                &[("post_logout_redirect_uri", SIGNED_OUT)],
            ))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let response = b
            .post(server.url("/oidc/session/end"))
            .form(&[
                ("csrf", hidden(&page, "csrf")),
                (
                    "post_logout_redirect_uri",
                    hidden(&page, "post_logout_redirect_uri"),
                ),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(location(&response).is_none());
        server.stop().await;
    }
}

fn cors_headers(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .keys()
        .map(|k| k.as_str().to_string())
        .filter(|k| k.starts_with("access-control-"))
        .collect()
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).map(|v| v.to_str().unwrap())
}

async fn preflight(http: &reqwest::Client, url: &str, origin: &str) -> reqwest::Response {
    http.request(reqwest::Method::OPTIONS, url)
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .unwrap()
}

/// Polls until the read model has (or no longer has) `origin` for `url`: it is eventually
/// consistent.
async fn wait_for_cors(http: &reqwest::Client, url: &str, origin: &str, allowed: bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = preflight(http, url, origin).await;
        if header(&response, "access-control-allow-origin").is_some() == allowed {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{origin} still {} after 10 s",
            if allowed { "refused" } else { "allowed" }
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn cors_answers_registered_origins_only_and_public_documents_to_anyone() {
    for db in TestDatabase::all().await {
        let server = TestServer::start(&db).await;
        // Registers https://app.example.com.
        create_spa(&server.commands, "spa", "Single page").await;
        create_confidential(&server.commands, "web", ApplicationType::Traditional).await;
        let http = reqwest::Client::new();
        let token = server.url("/oidc/token");
        wait_for_cors(&http, &token, ORIGIN, true).await;

        for path in [
            "/oidc/token",
            "/oidc/me",
            "/oidc/token/introspection",
            "/oidc/token/revocation",
        ] {
            let response = preflight(&http, &server.url(path), ORIGIN).await;
            assert_eq!(response.status(), 204, "{path}");
            assert_eq!(
                header(&response, "access-control-allow-origin"),
                Some(ORIGIN)
            );
            assert_eq!(
                header(&response, "access-control-allow-methods"),
                Some("GET, POST, OPTIONS")
            );
            assert_eq!(
                header(&response, "access-control-allow-headers"),
                Some("authorization, content-type")
            );
            assert_eq!(header(&response, "access-control-max-age"), Some("600"));
            assert_eq!(header(&response, "vary"), Some("Origin"));
            assert!(header(&response, "access-control-allow-credentials").is_none());

            let response = preflight(&http, &server.url(path), "https://evil.example.com").await;
            assert!(cors_headers(&response).is_empty(), "{path}");
        }

        // An actual request: the OAuth error is readable by the registered origin only.
        let grant = [
            ("grant_type", "authorization_code"),
            ("client_id", "spa"),
            ("code", "nope"),
            ("redirect_uri", CALLBACK),
            ("code_verifier", "x"),
        ];
        let response = http
            .post(&token)
            .header("origin", ORIGIN)
            .form(&grant)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        assert_eq!(
            header(&response, "access-control-allow-origin"),
            Some(ORIGIN)
        );
        assert_eq!(header(&response, "vary"), Some("Origin"));
        assert!(header(&response, "access-control-allow-credentials").is_none());
        let response = http
            .post(&token)
            .header("origin", "https://evil.example.com")
            .form(&grant)
            .send()
            .await
            .unwrap();
        assert!(cors_headers(&response).is_empty());

        // Public documents: anyone.
        for path in ["/oidc/jwks", "/oidc/.well-known/openid-configuration"] {
            let response = http
                .get(server.url(path))
                .header("origin", "https://evil.example.com")
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            assert_eq!(header(&response, "access-control-allow-origin"), Some("*"));
        }

        // Pages and the authorization endpoint are not for scripts of other origins.
        let response = http
            .get(server.url("/oidc/session/end"))
            .header("origin", ORIGIN)
            .send()
            .await
            .unwrap();
        assert!(cors_headers(&response).is_empty());

        // Dropping the origin from the application stops it, once the read model catches up.
        let update = ApplicationCommand::Update(ApplicationChanges {
            cors_allowed_origins: Some(vec!["https://new.example.com".into()]),
            ..Default::default()
        });
        server
            .commands
            .application("spa", update, &ctx())
            .await
            .unwrap();
        wait_for_cors(&http, &token, "https://new.example.com", true).await;
        wait_for_cors(&http, &token, ORIGIN, false).await;
        server
            .commands
            .application("spa", ApplicationCommand::Delete, &ctx())
            .await
            .unwrap();
        wait_for_cors(&http, &token, "https://new.example.com", false).await;
        server.stop().await;
    }
}
