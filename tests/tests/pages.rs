//! The pages over HTTP, without a browser: every page carries the safety headers and
//! cookie flags, every form refuses a post without its CSRF token, and the language follows
//! `ui_locales`, then `Accept-Language`, then English. (What a person sees and does in a
//! real browser is `browser.rs`.)

use reqwest::header::{HeaderMap, SET_COOKIE};
use sigil_domain::{ApplicationCommand, ApplicationType, NewApplication};
use sigil_tests::flow::{CALLBACK, browser, hidden, pkce, sign_in};
use sigil_tests::{TestDatabase, TestServer, ctx, register_user};

const PASSWORD: &str = "correct horse battery";

async fn setup(db: &TestDatabase) -> TestServer {
    let server = TestServer::start(db).await;
    let command = ApplicationCommand::Create(NewApplication {
        name: "Partner <App>".into(),
        description: None,
        app_type: ApplicationType::Spa,
        is_third_party: true,
        redirect_uris: vec![CALLBACK.into()],
        post_logout_redirect_uris: vec![],
        cors_allowed_origins: vec![],
        client_secret_digest: None,
    });
    server
        .commands
        .application("partner", command, &ctx())
        .await
        .unwrap();
    // A third-party app asks for nothing beyond `openid` until an admin allows it.
    let allowed = sigil_domain::application::ConsentScopes {
        user_scopes: ["profile", "email"].map(String::from).to_vec(),
        ..Default::default()
    };
    server
        .commands
        .application(
            "partner",
            ApplicationCommand::SetConsentScopes(allowed),
            &ctx(),
        )
        .await
        .unwrap();
    register_user(&server.commands, "user-alice", "alice", PASSWORD).await;
    server
}

fn auth_url(server: &TestServer, extra: &[(&str, &str)]) -> String {
    let (_, challenge) = pkce();
    let mut url = url::Url::parse(&server.url("/oidc/auth")).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", "partner")
        .append_pair("redirect_uri", CALLBACK)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid email")
        .append_pair("state", "st")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    for (k, v) in extra {
        url.query_pairs_mut().append_pair(k, v);
    }
    url.into()
}

/// What every HTML page must carry, and must not contain.
fn assert_safe_page(what: &str, headers: &HeaderMap, html: &str) {
    let get = |name: &str| {
        headers
            .get(name)
            .unwrap_or_else(|| panic!("{what}: no {name}"))
            .to_str()
            .unwrap()
    };
    assert!(get("content-type").starts_with("text/html"), "{what}");
    assert_eq!(get("x-frame-options"), "DENY", "{what}");
    assert_eq!(get("referrer-policy"), "no-referrer", "{what}");
    assert_eq!(get("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(get("cache-control"), "no-store", "{what}");
    let csp = get("content-security-policy");
    for directive in [
        "default-src 'none'",
        "style-src 'self'",
        "img-src 'self' https:",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(directive), "{what}: {directive} not in {csp}");
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{what}: {csp}"
    );
    assert!(
        !csp.contains("script-src"),
        "{what}: no script is allowed at all: {csp}"
    );
    for cookie in headers.get_all(SET_COOKIE) {
        let cookie = cookie.to_str().unwrap();
        assert!(cookie.contains("; HttpOnly"), "{what}: {cookie}");
        assert!(cookie.contains("; SameSite=Lax"), "{what}: {cookie}");
        // Served over http: Secure would make the browser drop it.
        assert!(!cookie.contains("Secure"), "{what}: {cookie}");
    }
    assert!(!html.contains("<script"), "{what}: {html}");
    assert!(!html.contains("style="), "{what}: {html}");
    assert!(html.contains("<html lang=\""), "{what}");
    for form in html.split("<form ").skip(1) {
        assert!(
            form.contains("name=\"csrf\""),
            "{what}: a form without CSRF token"
        );
    }
}

async fn page(response: reqwest::Response) -> (u16, HeaderMap, String) {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

fn lang(html: &str) -> &str {
    let start = html.find("<html lang=\"").expect("a lang") + "<html lang=\"".len();
    &html[start..start + html[start..].find('"').unwrap()]
}

#[tokio::test]
async fn every_page_carries_the_safety_headers() {
    let db = TestDatabase::sqlite().await;
    let server = setup(&db).await;
    let browser = browser();

    let (status, headers, html) =
        page(browser.get(auth_url(&server, &[])).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_safe_page("sign-in", &headers, &html);
    assert!(
        html.contains("Username or email") && html.contains("to continue to Partner &#60;App&#62;")
    );

    let response = sign_in(
        &server.base,
        &browser,
        "partner",
        "openid email",
        Some(&pkce().1),
        &[],
        ("alice", PASSWORD),
    )
    .await;
    let (status, headers, html) = page(response).await;
    assert_eq!(status, 200, "the consent page");
    assert_safe_page("consent", &headers, &html);
    assert!(html.contains("<h1>Partner &#60;App&#62;</h1>"));
    let cookies: Vec<_> = headers.get_all(SET_COOKIE).iter().collect();
    assert!(
        cookies
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("sigil_session="))
    );

    let (status, headers, html) = page(
        browser
            .post(server.url("/oidc/interaction/sign-in"))
            .form(&[("csrf", "forged"), ("interaction", "x")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    assert_safe_page("expired sign-in", &headers, &html);

    let unknown = format!(
        "{}?client_id=nobody&redirect_uri={CALLBACK}&response_type=code",
        server.url("/oidc/auth")
    );
    let (status, headers, html) = page(browser.get(unknown).send().await.unwrap()).await;
    assert_eq!(status, 400);
    assert_safe_page("bad request", &headers, &html);
    assert!(html.contains(headers["x-request-id"].to_str().unwrap()));

    let (status, headers, html) =
        page(browser.get(server.url("/nowhere")).send().await.unwrap()).await;
    assert_eq!(status, 404);
    assert_safe_page("not found", &headers, &html);

    let (status, headers, html) = page(
        browser
            .get(server.url("/oidc/session/end"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_safe_page("sign-out confirmation", &headers, &html);
    let (status, headers, html) = page(
        browser
            .post(server.url("/oidc/session/end"))
            .form(&[("csrf", hidden(&html, "csrf"))])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_safe_page("signed out", &headers, &html);
    assert!(html.contains("You are signed out"));
    server.stop().await;
}

#[tokio::test]
async fn forms_without_their_csrf_token_are_refused() {
    let db = TestDatabase::sqlite().await;
    let server = setup(&db).await;
    let browser = browser();
    let consent = sign_in(
        &server.base,
        &browser,
        "partner",
        "openid email",
        Some(&pkce().1),
        &[],
        ("alice", PASSWORD),
    )
    .await
    .text()
    .await
    .unwrap();
    let interaction = hidden(&consent, "interaction");
    let csrf = hidden(&consent, "csrf");

    // A cross-site form can send neither the cookie nor its value: each decision, and the
    // sign-in form, is refused without a token matching the cookie.
    for (path, decision) in [
        ("/oidc/interaction/consent", "authorize"),
        ("/oidc/interaction/consent", "cancel"),
        ("/oidc/interaction/consent", "switch"),
        ("/oidc/interaction/sign-in", ""),
    ] {
        for token in [None, Some("forged")] {
            let mut form = vec![
                ("interaction", interaction.clone()),
                ("decision", decision.to_string()),
                ("identifier", "alice".into()),
                ("password", PASSWORD.into()),
            ];
            if let Some(t) = token {
                form.push(("csrf", t.to_string()));
            }
            let response = browser
                .post(server.url(path))
                .form(&form)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 400, "{path} {decision} {token:?}");
            assert!(response.headers().get("location").is_none());
            // Nothing happened: the session cookie is not touched.
            assert!(
                response.headers().get(SET_COOKIE).is_none(),
                "{path} {decision}"
            );
            assert!(response.text().await.unwrap().contains("expired"));
        }
    }

    // With its token, the same consent form goes through.
    let response = browser
        .post(server.url("/oidc/interaction/consent"))
        .form(&[
            ("interaction", interaction),
            ("csrf", csrf),
            ("decision", "authorize".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303, "{:?}", response.text().await);
    let confirm = browser
        .get(server.url("/oidc/session/end"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let response = browser
        .post(server.url("/oidc/session/end"))
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("This sign-out has expired")
    );
    assert!(confirm.contains("name=\"csrf\""));

    server.stop().await;
}

#[tokio::test]
async fn not_you_forgets_the_session_and_asks_who_signs_in() {
    let db = TestDatabase::sqlite().await;
    let server = setup(&db).await;
    let browser = browser();
    let consent = sign_in(
        &server.base,
        &browser,
        "partner",
        "openid email",
        Some(&pkce().1),
        &[],
        ("alice", PASSWORD),
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(consent.contains("<strong>alice tester (alice)</strong>"));
    let response = browser
        .post(server.url("/oidc/interaction/consent"))
        .form(&[
            ("interaction", hidden(&consent, "interaction")),
            ("csrf", hidden(&consent, "csrf")),
            ("decision", "switch".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let cookies: Vec<String> = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|c| c.to_str().unwrap().to_string())
        .collect();
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("sigil_session=;") && c.contains("Max-Age=0")),
        "{cookies:?}"
    );
    let html = response.text().await.unwrap();
    assert!(html.contains("<h1>Sign in</h1>") && html.contains("name=\"identifier\""));

    // The browser is no longer signed in: the request asks for the password again.
    let again = browser.get(auth_url(&server, &[])).send().await.unwrap();
    assert_eq!(again.status(), 200);
    assert!(again.text().await.unwrap().contains("name=\"password\""));
    server.stop().await;
}

#[tokio::test]
async fn pages_speak_the_language_asked_for() {
    let db = TestDatabase::sqlite().await;
    let server = setup(&db).await;
    let client = browser();
    let sign_in_page = async |extra: &[(&str, &str)], accept_language: Option<&str>| {
        let mut request = client.get(auth_url(&server, extra));
        if let Some(value) = accept_language {
            request = request.header("accept-language", value);
        }
        request.send().await.unwrap().text().await.unwrap()
    };

    let html = sign_in_page(&[], None).await;
    assert_eq!(lang(&html), "en");
    assert!(html.contains(">Username or email</label>"));

    let html = sign_in_page(&[], Some("ja-JP,ja;q=0.9,en;q=0.8")).await;
    assert_eq!(lang(&html), "ja");
    assert!(html.contains(">ユーザー名またはメールアドレス</label>"));

    // q-values, not the order written, decide.
    let html = sign_in_page(&[], Some("en;q=0.3, fr, ja;q=0.5")).await;
    assert_eq!(lang(&html), "ja");
    let html = sign_in_page(&[], Some("fr-FR, de;q=0.9")).await;
    assert_eq!(lang(&html), "en", "nothing supported: English");

    // The request's ui_locales beats the browser, both ways.
    let html = sign_in_page(&[("ui_locales", "en")], Some("ja")).await;
    assert_eq!(lang(&html), "en");
    let html = sign_in_page(&[("ui_locales", "fr ja")], Some("en")).await;
    assert_eq!(lang(&html), "ja");

    // The language chosen at the start holds through the interaction: the wrong-password
    // page and the consent page are Japanese too, whatever the later requests send.
    let html = sign_in_page(&[("ui_locales", "ja")], None).await;
    let wrong = client
        .post(server.url("/oidc/interaction/sign-in"))
        .header("accept-language", "en")
        .form(&[
            ("interaction", hidden(&html, "interaction")),
            ("csrf", hidden(&html, "csrf")),
            ("identifier", "alice".into()),
            ("password", "wrong".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let html = wrong.text().await.unwrap();
    assert_eq!(lang(&html), "ja");
    assert!(html.contains("パスワードが正しくありません"));
    let consent = client
        .post(server.url("/oidc/interaction/sign-in"))
        .form(&[
            ("interaction", hidden(&html, "interaction")),
            ("csrf", hidden(&html, "csrf")),
            ("identifier", "alice".into()),
            ("password", PASSWORD.into()),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(lang(&consent), "ja");
    assert!(consent.contains(">許可する</button>") && consent.contains(">キャンセル</button>"));
    assert!(consent.contains("<li>メールアドレスを見る</li>"));

    // Error pages: the browser's language, or the refused request's ui_locales.
    let not_found = client
        .get(server.url("/nowhere"))
        .header("accept-language", "ja")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(lang(&not_found), "ja");
    assert!(not_found.contains("<h1>ページが見つかりません</h1>"));
    let unknown = client
        .get(format!(
            "{}?client_id=nobody&redirect_uri={CALLBACK}&ui_locales=ja",
            server.url("/oidc/auth")
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(lang(&unknown), "ja");
    assert!(unknown.contains("nobody"), "the detail is still shown");

    // Sign-out takes ui_locales too (RP-Initiated Logout §2).
    let bye = client
        .get(server.url("/oidc/session/end?ui_locales=ja"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(lang(&bye), "ja");
    assert!(bye.contains(">サインアウト</button>"));
    server.stop().await;
}

#[tokio::test]
async fn cookies_are_secure_when_the_public_url_is_https() {
    let db = TestDatabase::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let key =
        sigil_api::master_key::MasterKey::load_or_create(&dir.path().join("master.key")).unwrap();
    let args = sigil_api::config::ServeArgs {
        bind: "127.0.0.1:0".parse().unwrap(),
        public_url: "https://sigil.example".into(),
        checkpoint_interval_secs: 1,
        request_timeout_secs: 30,
        shutdown_grace_secs: 5,
        throttling: Default::default(),
    };
    let running = sigil_api::server::start(db.store.clone(), args, &key)
        .await
        .unwrap();
    let commands = sigil_api::commands::Commands::new(&db.store);
    let command = ApplicationCommand::Create(NewApplication {
        name: "Partner".into(),
        description: None,
        app_type: ApplicationType::Spa,
        is_third_party: true,
        redirect_uris: vec![CALLBACK.into()],
        post_logout_redirect_uris: vec![],
        cors_allowed_origins: vec![],
        client_secret_digest: None,
    });
    commands
        .application("partner", command, &ctx())
        .await
        .unwrap();
    let base = format!("http://{}", running.addr);
    let (_, challenge) = pkce();
    let url = format!(
        "{base}/oidc/auth?client_id=partner&redirect_uri={CALLBACK}&response_type=code\
         &scope=openid&code_challenge={challenge}&code_challenge_method=S256"
    );
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), 200);
    let cookie = response.headers()[SET_COOKIE].to_str().unwrap();
    assert!(cookie.starts_with("sigil_csrf="), "{cookie}");
    for flag in ["; HttpOnly", "; SameSite=Lax", "; Secure"] {
        assert!(cookie.contains(flag), "{flag} in {cookie}");
    }
    running.shutdown().await.unwrap();
}
