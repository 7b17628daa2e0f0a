//! OpenID Connect end to end: a real relying-party library (`openidconnect`) discovers Sigil,
//! sends the person through sign-in (and consent for third-party apps) in a cookie-keeping
//! "browser", exchanges the code and verifies the ID token, for each application type and
//! signing algorithm; and every refusal the flow must make. SQLite and PostgreSQL.

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
    CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use reqwest::redirect::Policy;
use serde_json::Value;
use sigil_domain::application::ConsentScopes;
use sigil_domain::{
    ApplicationChanges, ApplicationCommand, ApplicationType, NewApplication, SigningAlgorithm,
};
use sigil_eventstore::sqlx;
use sigil_tests::flow::{browser, hidden};
use sigil_tests::{TestDatabase, TestServer, create_confidential, ctx, register_user};

const CALLBACK: &str = "https://app.example.com/callback";
const PASSWORD: &str = "correct horse battery";

fn http() -> reqwest::Client {
    // A relying party must not follow redirects from the token endpoint.
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

fn location(response: &reqwest::Response) -> url::Url {
    let value = response.headers()["location"].to_str().unwrap();
    url::Url::parse(value).unwrap()
}

fn param(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

async fn create_app(
    server: &TestServer,
    id: &str,
    app_type: ApplicationType,
    third_party: bool,
    redirect: &str,
) {
    let command = ApplicationCommand::Create(NewApplication {
        name: format!("{id} app"),
        description: None,
        app_type,
        is_third_party: third_party,
        redirect_uris: vec![redirect.into()],
        post_logout_redirect_uris: vec![],
        cors_allowed_origins: vec![],
        client_secret_digest: None,
    });
    server
        .commands
        .application(id, command, &ctx())
        .await
        .unwrap();
}

async fn set_alg(server: &TestServer, id: &str, alg: SigningAlgorithm) {
    let change = ApplicationCommand::Update(ApplicationChanges {
        id_token_signed_response_alg: Some(alg),
        ..Default::default()
    });
    server
        .commands
        .application(id, change, &ctx())
        .await
        .unwrap();
}

struct Rp {
    client: CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    >,
    http: reqwest::Client,
}

async fn rp(server: &TestServer, client_id: &str, secret: Option<&str>, redirect: &str) -> Rp {
    let http = http();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(server.issuer()).unwrap(), &http)
            .await
            .expect("discovery");
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client_id.into()),
        secret.map(|s| ClientSecret::new(s.into())),
    )
    .set_redirect_uri(RedirectUrl::new(redirect.into()).unwrap());
    Rp { client, http }
}

struct Started {
    url: url::Url,
    csrf: CsrfToken,
    nonce: Nonce,
    verifier: Option<PkceCodeVerifier>,
}

fn start(rp: &Rp, scopes: &[&str], pkce: bool, extra: &[(&str, &str)]) -> Started {
    let mut request = rp.client.authorize_url(
        CoreAuthenticationFlow::AuthorizationCode,
        CsrfToken::new_random,
        Nonce::new_random,
    );
    for s in scopes {
        request = request.add_scope(Scope::new(s.to_string()));
    }
    for (k, v) in extra {
        request = request.add_extra_param(*k, *v);
    }
    let mut verifier = None;
    if pkce {
        let (challenge, v) = PkceCodeChallenge::new_random_sha256();
        request = request.set_pkce_challenge(challenge);
        verifier = Some(v);
    }
    let (url, csrf, nonce) = request.url();
    Started {
        url,
        csrf,
        nonce,
        verifier,
    }
}

/// Follows the browser through the sign-in page; returns the response after signing in.
async fn sign_in(
    browser: &reqwest::Client,
    server: &TestServer,
    auth_url: &url::Url,
    password: &str,
) -> reqwest::Response {
    let page = browser.get(auth_url.as_str()).send().await.unwrap();
    assert_eq!(page.status(), 200, "the sign-in page");
    // Browsers apply form-action to the redirect after the POST: the client's origin is allowed.
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    let redirect = auth_url
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .unwrap()
        .1
        .into_owned();
    let origin = url::Url::parse(&redirect)
        .unwrap()
        .origin()
        .ascii_serialization();
    assert!(
        csp.contains(&format!("form-action 'self' {origin}")),
        "{csp}"
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("Username or email") && html.contains("Sign in"));
    browser
        .post(server.url("/oidc/interaction/sign-in"))
        .form(&[
            ("interaction", hidden(&html, "interaction")),
            ("csrf", hidden(&html, "csrf")),
            ("identifier", "alice".into()),
            ("password", password.into()),
        ])
        .send()
        .await
        .unwrap()
}

/// The code from a redirect back to the client, after checking `state` and `iss`.
fn code_from(server: &TestServer, response: &reqwest::Response, started: &Started) -> String {
    assert!(response.status().is_redirection(), "{}", response.status());
    let back = location(response);
    assert!(
        back.as_str().starts_with(CALLBACK) || back.scheme() == "http",
        "{back}"
    );
    assert_eq!(
        param(&back, "state").as_deref(),
        Some(started.csrf.secret().as_str())
    );
    assert_eq!(param(&back, "iss"), Some(server.issuer()));
    param(&back, "code").unwrap_or_else(|| panic!("no code in {back}"))
}

/// Exchanges the code through the library and verifies the ID token, at_hash included.
async fn exchange(
    rp: &Rp,
    code: String,
    started: Started,
    alg: CoreJwsSigningAlgorithm,
) -> (String, String) {
    let mut request = rp
        .client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap();
    if let Some(v) = started.verifier {
        request = request.set_pkce_verifier(v);
    }
    let tokens = request
        .request_async(&rp.http)
        .await
        .expect("token response");
    let id_token = tokens.id_token().expect("an ID token");
    let verifier = rp
        .client
        .id_token_verifier()
        .set_allowed_algs(vec![alg.clone()]);
    let claims = id_token
        .claims(&verifier, &started.nonce)
        .expect("a valid ID token");
    assert_eq!(id_token.signing_alg().unwrap(), &alg);
    let expected = claims.access_token_hash().expect("at_hash");
    let actual = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(&actual, expected);
    (
        claims.subject().to_string(),
        tokens.access_token().secret().clone(),
    )
}

async fn setup(db: &TestDatabase) -> TestServer {
    let server = TestServer::start(db).await;
    register_user(&server.commands, "user-alice", "alice", PASSWORD).await;
    server
}

#[tokio::test]
async fn spa_signs_in_with_pkce_and_es384_then_sso_skips_the_password() {
    for db in TestDatabase::all().await {
        let server = setup(&db).await;
        create_app(&server, "spa", ApplicationType::Spa, false, CALLBACK).await;
        let rp = rp(&server, "spa", None, CALLBACK).await;
        let browser = browser();

        let started = start(&rp, &["profile", "email"], true, &[]);
        let response = sign_in(&browser, &server, &started.url, PASSWORD).await;
        let code = code_from(&server, &response, &started);
        let (sub, access_token) =
            exchange(&rp, code, started, CoreJwsSigningAlgorithm::EcdsaP384Sha384).await;
        assert_eq!(sub, "user-alice");

        let info: CoreUserInfoClaims = rp
            .client
            .user_info(openidconnect::AccessToken::new(access_token), None)
            .unwrap()
            .request_async(&rp.http)
            .await
            .expect("userinfo");
        assert_eq!(info.subject().as_str(), "user-alice");
        assert_eq!(info.email().unwrap().as_str(), "alice@example.com");

        // Single sign-on: the session cookie answers the next request without a password.
        let again = start(&rp, &[], true, &[]);
        let response = browser.get(again.url.as_str()).send().await.unwrap();
        let code = code_from(&server, &response, &again);
        exchange(&rp, code, again, CoreJwsSigningAlgorithm::EcdsaP384Sha384).await;

        // prompt=login and max_age=0 ask again.
        for extra in [("prompt", "login"), ("max_age", "0")] {
            let forced = start(&rp, &[], true, &[extra]);
            let response = browser.get(forced.url.as_str()).send().await.unwrap();
            assert_eq!(response.status(), 200, "{extra:?}");
            assert!(response.text().await.unwrap().contains("Password"));
        }
        // A generous max_age is met by the session.
        let recent = start(&rp, &[], true, &[("max_age", "3600")]);
        let response = browser.get(recent.url.as_str()).send().await.unwrap();
        code_from(&server, &response, &recent);

        let signed_in: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE event_type = 'UserSignedIn'")
                .fetch_one(db.store.pool())
                .await
                .unwrap();
        assert_eq!(signed_in, 1, "{:?}", db.backend());
        server.stop().await;
    }
}

#[tokio::test]
async fn traditional_app_with_client_secret_basic_and_rs256() {
    for db in TestDatabase::all().await {
        let server = setup(&db).await;
        let secret =
            create_confidential(&server.commands, "web", ApplicationType::Traditional).await;
        set_alg(&server, "web", SigningAlgorithm::RS256).await;
        let rp = rp(&server, "web", Some(&secret), CALLBACK).await;
        let started = start(&rp, &["profile"], false, &[]);
        let response = sign_in(&browser(), &server, &started.url, PASSWORD).await;
        let code = code_from(&server, &response, &started);
        let (sub, _) = exchange(
            &rp,
            code,
            started,
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        )
        .await;
        assert_eq!(sub, "user-alice");
        server.stop().await;
    }
}

#[tokio::test]
async fn traditional_app_with_client_secret_post() {
    for db in TestDatabase::all().await {
        let server = setup(&db).await;
        let secret =
            create_confidential(&server.commands, "web", ApplicationType::Traditional).await;
        let mut rp = rp(&server, "web", Some(&secret), CALLBACK).await;
        rp.client = rp
            .client
            .set_auth_type(openidconnect::AuthType::RequestBody);
        let started = start(&rp, &["email"], false, &[]);
        let response = sign_in(&browser(), &server, &started.url, PASSWORD).await;
        let code = code_from(&server, &response, &started);
        exchange(&rp, code, started, CoreJwsSigningAlgorithm::EcdsaP384Sha384).await;
        server.stop().await;
    }
}

#[tokio::test]
async fn native_app_on_any_loopback_port_with_eddsa() {
    for db in TestDatabase::all().await {
        let server = setup(&db).await;
        create_app(
            &server,
            "native",
            ApplicationType::Native,
            false,
            "http://127.0.0.1/callback",
        )
        .await;
        set_alg(&server, "native", SigningAlgorithm::EdDSA).await;
        // RFC 8252 §7.3: the app listens on whatever port it got.
        let rp = rp(&server, "native", None, "http://127.0.0.1:53127/callback").await;
        let started = start(&rp, &[], true, &[]);
        let response = sign_in(&browser(), &server, &started.url, PASSWORD).await;
        let back = location(&response);
        assert_eq!(back.port(), Some(53127));
        let code = param(&back, "code").unwrap();
        exchange(&rp, code, started, CoreJwsSigningAlgorithm::EdDsa).await;
        server.stop().await;
    }
}

#[tokio::test]
async fn third_party_apps_ask_consent_once_and_cancel_is_access_denied() {
    for db in TestDatabase::all().await {
        let server = setup(&db).await;
        create_app(&server, "partner", ApplicationType::Spa, true, CALLBACK).await;
        // A third-party app asks for nothing beyond `openid` until allowed to.
        server
            .commands
            .application(
                "partner",
                ApplicationCommand::SetConsentScopes(ConsentScopes {
                    user_scopes: vec!["email".into(), "profile".into()],
                    ..ConsentScopes::default()
                }),
                &ctx(),
            )
            .await
            .unwrap();
        let rp = rp(&server, "partner", None, CALLBACK).await;
        let browser = browser();

        let started = start(&rp, &["email"], true, &[]);
        let response = sign_in(&browser, &server, &started.url, PASSWORD).await;
        assert_eq!(response.status(), 200, "the consent page");
        let html = response.text().await.unwrap();
        assert!(html.contains("<h1>partner app</h1>") && html.contains("See your email address"));
        let decide = |decision: &'static str, html: String| {
            let browser = browser.clone();
            let url = server.url("/oidc/interaction/consent");
            async move {
                browser
                    .post(url)
                    .form(&[
                        ("interaction", hidden(&html, "interaction")),
                        ("csrf", hidden(&html, "csrf")),
                        ("decision", decision.to_string()),
                    ])
                    .send()
                    .await
                    .unwrap()
            }
        };
        let response = decide("authorize", html).await;
        let code = code_from(&server, &response, &started);
        exchange(&rp, code, started, CoreJwsSigningAlgorithm::EcdsaP384Sha384).await;

        // Remembered: the same scopes are not asked again.
        let again = start(&rp, &["email"], true, &[]);
        let response = browser.get(again.url.as_str()).send().await.unwrap();
        code_from(&server, &response, &again);

        // A new scope asks again; Cancel sends access_denied back.
        let more = start(&rp, &["email", "profile"], true, &[]);
        let page = browser.get(more.url.as_str()).send().await.unwrap();
        let html = page.text().await.unwrap();
        assert!(html.contains("See your name and username"));
        let response = decide("cancel", html).await;
        let back = location(&response);
        assert_eq!(param(&back, "error").as_deref(), Some("access_denied"));
        assert_eq!(
            param(&back, "state").as_deref(),
            Some(more.csrf.secret().as_str())
        );

        // prompt=none needs consent it does not have.
        let silent = start(&rp, &["email", "profile"], true, &[("prompt", "none")]);
        let response = browser.get(silent.url.as_str()).send().await.unwrap();
        assert_eq!(
            param(&location(&response), "error").as_deref(),
            Some("consent_required")
        );
        server.stop().await;
    }
}

#[tokio::test]
async fn the_authorization_endpoint_refuses_what_it_must() {
    for db in TestDatabase::all().await {
        let server = setup(&db).await;
        create_app(&server, "spa", ApplicationType::Spa, false, CALLBACK).await;
        let rp = rp(&server, "spa", None, CALLBACK).await;
        let b = browser();

        // Unknown client and unregistered redirect URI: a page, never a redirect.
        for (k, v) in [
            ("client_id", "nobody"),
            ("redirect_uri", "https://evil.example.com/cb"),
        ] {
            let mut url = start(&rp, &[], true, &[]).url;
            let pairs: Vec<(String, String)> = url
                .query_pairs()
                .map(|(a, b)| (a.into_owned(), b.into_owned()))
                .collect();
            url.query_pairs_mut().clear();
            for (a, b) in pairs {
                url.query_pairs_mut()
                    .append_pair(&a, if a == k { v } else { &b });
            }
            let response = b.get(url.as_str()).send().await.unwrap();
            assert_eq!(response.status(), 400, "{k}");
            assert!(response.headers().get("location").is_none());
        }
        // prompt=none without a session.
        let silent = start(&rp, &[], true, &[("prompt", "none")]);
        let response = b.get(silent.url.as_str()).send().await.unwrap();
        assert_eq!(
            param(&location(&response), "error").as_deref(),
            Some("login_required")
        );
        // A public client without PKCE.
        let bare = start(&rp, &[], false, &[]);
        let response = b.get(bare.url.as_str()).send().await.unwrap();
        assert_eq!(
            param(&location(&response), "error").as_deref(),
            Some("invalid_request")
        );
        // A wrong password: the page again, and the failure in the log.
        let started = start(&rp, &[], true, &[]);
        let response = sign_in(&b, &server, &started.url, "wrong password").await;
        assert_eq!(response.status(), 401);
        assert!(response.text().await.unwrap().contains("incorrect"));
        let failed: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE event_type = 'SignInFailed'")
                .fetch_one(db.store.pool())
                .await
                .unwrap();
        assert_eq!(failed, 1);
        // A form without its CSRF cookie is refused.
        let response = browser()
            .post(server.url("/oidc/interaction/sign-in"))
            .form(&[
                ("interaction", "x"),
                ("csrf", "y"),
                ("identifier", "alice"),
                ("password", PASSWORD),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        server.stop().await;
    }
}

/// Posts to the token endpoint as a public client.
async fn redeem(
    server: &TestServer,
    client_id: &str,
    code: &str,
    redirect: &str,
    verifier: Option<&str>,
) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", "authorization_code".to_string()),
        ("client_id", client_id.to_string()),
        ("code", code.to_string()),
        ("redirect_uri", redirect.to_string()),
    ];
    if let Some(v) = verifier {
        form.push(("code_verifier", v.to_string()));
    }
    let response = http()
        .post(server.url("/oidc/token"))
        .form(&form)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn codes_are_bound_single_use_and_reuse_revokes_issued_tokens() {
    for db in TestDatabase::all().await {
        let server = setup(&db).await;
        create_app(&server, "spa", ApplicationType::Spa, false, CALLBACK).await;
        create_app(&server, "other", ApplicationType::Spa, false, CALLBACK).await;
        let rp = rp(&server, "spa", None, CALLBACK).await;
        let b = browser();
        let started = start(&rp, &[], true, &[]);
        let response = sign_in(&b, &server, &started.url, PASSWORD).await;
        let code = code_from(&server, &response, &started);
        let verifier = started.verifier.as_ref().unwrap().secret().clone();

        let wrong_verifier = "x".repeat(43);
        for (client, redirect, v) in [
            ("spa", CALLBACK, Some(wrong_verifier.as_str())),
            ("spa", CALLBACK, None),
            ("other", CALLBACK, Some(verifier.as_str())),
            (
                "spa",
                "https://app.example.com/other",
                Some(verifier.as_str()),
            ),
        ] {
            let (status, body) = redeem(&server, client, &code, redirect, v).await;
            assert_eq!(
                (status, body["error"].as_str()),
                (400, Some("invalid_grant")),
                "{client} {redirect} {v:?}"
            );
        }
        let (status, body) = redeem(&server, "spa", &code, CALLBACK, Some(&verifier)).await;
        assert_eq!(status, 200, "{body}");
        let access_token = body["access_token"].as_str().unwrap().to_string();
        let userinfo = http()
            .get(server.url("/oidc/me"))
            .bearer_auth(&access_token)
            .send()
            .await
            .unwrap();
        assert_eq!(userinfo.status(), 200);

        // Second redemption: refused, and the first redemption's token is revoked.
        let (status, body) = redeem(&server, "spa", &code, CALLBACK, Some(&verifier)).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        let userinfo = http()
            .get(server.url("/oidc/me"))
            .bearer_auth(&access_token)
            .send()
            .await
            .unwrap();
        assert_eq!(userinfo.status(), 401);
        assert!(
            userinfo.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("invalid_token")
        );
        let detected: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM events WHERE event_type = 'AuthorizationCodeReuseDetected'",
        )
        .fetch_one(db.store.pool())
        .await
        .unwrap();
        assert_eq!(detected, 1);
        // Nothing in clear: not the code, not the token, not the password.
        let payloads: Vec<String> = sqlx::query_scalar("SELECT payload FROM events")
            .fetch_all(db.store.pool())
            .await
            .unwrap();
        let all = payloads.join("\n");
        assert!(!all.contains(&code) && !all.contains(&access_token) && !all.contains(PASSWORD));
        server.stop().await;
    }
}

/// The node that issues a code keeps it and redeems it without reading the log. Redeemed
/// on another node first, it comes back to the issuing node with a wrong verifier: to the
/// kept code a refusal that writes nothing, to the log's a reuse that revokes the tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_redeemed_on_another_node_is_a_reuse_on_the_node_that_kept_it() {
    use sigil_tests::flow::{self, pkce, userinfo_ok};
    for db in TestDatabase::all().await {
        let here = setup(&db).await;
        sigil_tests::create_spa(&here.commands, "spa", "Single page").await;
        let there = TestServer::start_beside(&db, &here).await;
        let (verifier, challenge) = pkce();
        let code = flow::authorize(
            &here.base,
            &browser(),
            "spa",
            "openid",
            Some(&challenge),
            &[],
            ("alice", PASSWORD),
        )
        .await;
        let redeem = |server: &TestServer, verifier: String| {
            let (base, code) = (server.base.clone(), code.clone());
            async move {
                flow::token(
                    &base,
                    &[
                        ("grant_type", "authorization_code"),
                        ("client_id", "spa"),
                        ("code", &code),
                        ("redirect_uri", flow::CALLBACK),
                        ("code_verifier", &verifier),
                    ],
                    None,
                )
                .await
            }
        };
        let (status, body) = redeem(&there, verifier).await;
        assert_eq!(status, 200, "{:?}: {body}", db.backend());
        let access_token = body["access_token"].as_str().unwrap().to_string();
        assert!(userinfo_ok(&there.base, &access_token).await);

        let (status, body) = redeem(&here, pkce().0).await;
        assert_eq!(
            (status, body["error_description"].as_str()),
            (400, Some("the authorization code was already used")),
            "{:?}: {body}",
            db.backend()
        );
        assert!(
            !userinfo_ok(&there.base, &access_token).await,
            "{:?}: the reuse must revoke what the code issued",
            db.backend()
        );
        // The stale copy is replaced: a later replay here decides on the log's code at once.
        let (code_id, last): (String, i64) = sqlx::query_as(
            "SELECT aggregate_id, MAX(sequence) FROM events \
             WHERE aggregate_id = (SELECT aggregate_id FROM events \
                                   WHERE event_type = 'AuthorizationCodeIssued') \
             GROUP BY aggregate_id",
        )
        .fetch_one(db.store.pool())
        .await
        .unwrap();
        let kept = here
            .commands
            .kept::<sigil_domain::authorization_code::AuthorizationCode>(&code_id)
            .map(|(_, version)| version);
        assert!(
            kept.is_none_or(|version| version == last),
            "{:?}: the node still keeps the code as of {kept:?}, the log has it at {last}",
            db.backend()
        );
        there.stop().await;
        here.stop().await;
    }
}
