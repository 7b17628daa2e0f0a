//! The pages in a real browser: Debian's Chromium, headless, driven over WebDriver
//! (`fantoccini` talking to a `chromedriver` each test starts on a free port), against a
//! Sigil server on a random port. A person's path through sign-in and consent, clicked and
//! typed: a third-party SPA's authorization code flow to the end (code exchanged with PKCE),
//! Cancel, the keyboard alone, the Japanese pages, "not you?", and the error page. Each page
//! is saved as a PNG under `target/screenshots/`.
//!
//! Without `/usr/bin/chromium` and `/usr/bin/chromedriver` the tests say so loudly and pass,
//! unless `SIGIL_REQUIRE_BROWSER=1` (CI), where that is a failure. One browser runs at a time:
//! the machines have two cores.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use futures::FutureExt;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use sigil_domain::{ApplicationCommand, ApplicationType, NewApplication};
use sigil_tests::flow::{param, pkce, token};
use sigil_tests::{TestDatabase, TestServer, ctx, register_user};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Generous: two cores shared with builds. Every wait polls for a condition, never sleeps
/// for a fixed time.
const WAIT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(100);

const APP: &str = "gallery";
const APP_NAME: &str = "Photo Gallery";
const PASSWORD: &str = "correct horse battery";

/// One Chromium at a time, across the tests of this file.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn browser_installed() -> bool {
    if Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists() {
        return true;
    }
    if std::env::var("SIGIL_REQUIRE_BROWSER").as_deref() == Ok("1") {
        panic!(
            "SIGIL_REQUIRE_BROWSER=1 but {CHROMIUM} or {CHROMEDRIVER} is missing: \
             apt-get install -y chromium chromium-driver"
        );
    }
    let line = "!".repeat(72);
    eprintln!(
        "\n{line}\n!! BROWSER TESTS SKIPPED: install chromium chromium-driver\n\
         !! ({CHROMIUM} or {CHROMEDRIVER} is missing; SIGIL_REQUIRE_BROWSER=1 makes this fail)\n{line}\n"
    );
    false
}

/// A server with a third-party SPA and two people, and a browser pointed at nothing yet.
struct Session {
    server: TestServer,
    browser: Client,
    driver: tokio::process::Child,
    _profile: tempfile::TempDir,
    _db: TestDatabase,
}

/// Runs `scenario` with a fresh server and browser, then closes both even if it panicked.
async fn run(scenario: impl AsyncFnOnce(&Session)) {
    if !browser_installed() {
        return;
    }
    let _one_at_a_time = ONE_BROWSER.lock().await;
    let session = Session::start().await;
    let outcome = AssertUnwindSafe(scenario(&session)).catch_unwind().await;
    session.finish().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

impl Session {
    async fn start() -> Session {
        let db = TestDatabase::sqlite().await;
        let server = TestServer::start(&db).await;
        let command = ApplicationCommand::Create(NewApplication {
            name: APP_NAME.into(),
            description: Some("a third-party single-page app".into()),
            app_type: ApplicationType::Spa,
            is_third_party: true,
            redirect_uris: vec![server.url("/callback")],
            post_logout_redirect_uris: vec![],
            cors_allowed_origins: vec![],
            client_secret_digest: None,
        });
        server
            .commands
            .application(APP, command, &ctx())
            .await
            .expect("create the app");
        // A third-party app asks for nothing beyond `openid` until an admin allows it.
        let allowed = sigil_domain::application::ConsentScopes {
            user_scopes: ["profile", "email", "offline_access"]
                .map(String::from)
                .to_vec(),
            ..Default::default()
        };
        server
            .commands
            .application(APP, ApplicationCommand::SetConsentScopes(allowed), &ctx())
            .await
            .expect("allow the user scopes");
        register_user(&server.commands, "user-alice", "alice", PASSWORD).await;
        register_user(&server.commands, "user-bob", "bob", PASSWORD).await;

        let port = free_port();
        let driver = tokio::process::Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().expect("a profile folder");
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--no-first-run",
                    "--disable-dev-shm-usage",
                    "--window-size=800,900",
                    "--lang=en-US",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + WAIT;
        let browser = loop {
            // chromedriver takes a moment to listen.
            match ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(POLL).await;
                }
                Err(e) => panic!("no WebDriver session from chromedriver: {e}"),
            }
        };
        Session {
            server,
            browser,
            driver,
            _profile: profile,
            _db: db,
        }
    }

    async fn finish(mut self) {
        let _ = self.browser.close().await;
        let _ = self.driver.kill().await;
        self.server.stop().await;
    }

    fn callback(&self) -> String {
        self.server.url("/callback")
    }

    /// `/oidc/auth` for the SPA with PKCE, plus `extra` parameters.
    fn authorize_url(&self, challenge: &str, extra: &[(&str, &str)]) -> String {
        let mut url = url::Url::parse(&self.server.url("/oidc/auth")).unwrap();
        url.query_pairs_mut()
            .append_pair("client_id", APP)
            .append_pair("redirect_uri", &self.callback())
            .append_pair("response_type", "code")
            .append_pair("scope", "openid profile email")
            .append_pair("state", "st-123")
            .append_pair("nonce", "n-456")
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256");
        for (k, v) in extra {
            url.query_pairs_mut().append_pair(k, v);
        }
        url.into()
    }

    async fn open(&self, url: &str) {
        self.browser.goto(url).await.expect("navigate");
    }

    async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        match self
            .browser
            .wait()
            .at_most(WAIT)
            .every(POLL)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => panic!("no {css} on {}: {e}", self.url().await),
        }
    }

    async fn button(&self, label: &str) -> fantoccini::elements::Element {
        let xpath = format!("//button[normalize-space()='{label}']");
        self.browser
            .wait()
            .at_most(WAIT)
            .every(POLL)
            .for_element(Locator::XPath(&xpath))
            .await
            .unwrap_or_else(|e| panic!("no button {label}: {e}"))
    }

    async fn text(&self, css: &str) -> String {
        self.wait_for(css).await.text().await.unwrap()
    }

    async fn texts(&self, css: &str) -> Vec<String> {
        let mut out = vec![];
        for element in self.browser.find_all(Locator::Css(css)).await.unwrap() {
            out.push(element.text().await.unwrap());
        }
        out
    }

    async fn lang(&self) -> String {
        self.wait_for("html")
            .await
            .attr("lang")
            .await
            .unwrap()
            .unwrap_or_default()
    }

    async fn url(&self) -> url::Url {
        self.browser.current_url().await.unwrap()
    }

    /// Waits until the browser is at an address starting with `prefix`.
    async fn wait_for_url(&self, prefix: &str) -> url::Url {
        let deadline = Instant::now() + WAIT;
        loop {
            let url = self.url().await;
            if url.as_str().starts_with(prefix) {
                return url;
            }
            assert!(
                Instant::now() < deadline,
                "still at {url}, waiting for {prefix}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// The `id` of the focused element, once it is `expected` (focus moves asynchronously
    /// after a page loads or a key is pressed).
    async fn wait_for_focus(&self, expected: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let focused = self.focused().await;
            if focused == expected {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "focus is on {focused:?}, not {expected:?}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// What has focus: its id, or for a button its label.
    async fn focused(&self) -> String {
        let element = self.browser.active_element().await.unwrap();
        match element
            .attr("id")
            .await
            .unwrap()
            .filter(|id| !id.is_empty())
        {
            Some(id) => id,
            None => element.text().await.unwrap_or_default(),
        }
    }

    /// Presses keys on whatever has focus, as a keyboard does.
    async fn keys(&self, keys: &str) {
        let mut actions = KeyActions::new("keyboard".into());
        for c in keys.chars() {
            actions = actions
                .then(KeyAction::Down { value: c })
                .then(KeyAction::Up { value: c });
        }
        self.browser.perform_actions(actions).await.unwrap();
    }

    /// Shift+Tab: focus goes back one.
    async fn shift_tab(&self) {
        let (shift, tab) = (char::from(Key::Shift), char::from(Key::Tab));
        let actions = KeyActions::new("keyboard".into())
            .then(KeyAction::Down { value: shift })
            .then(KeyAction::Down { value: tab })
            .then(KeyAction::Up { value: tab })
            .then(KeyAction::Up { value: shift });
        self.browser.perform_actions(actions).await.unwrap();
    }

    async fn screenshot(&self, name: &str) {
        let png = self.browser.screenshot().await.expect("screenshot");
        let dir = target_dir().join("screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// Fills the sign-in form by its fields' names (any language) and submits it.
    async fn sign_in(&self, username: &str) {
        self.wait_for("input[name=identifier]")
            .await
            .send_keys(username)
            .await
            .unwrap();
        self.wait_for("input[name=password]")
            .await
            .send_keys(PASSWORD)
            .await
            .unwrap();
        self.wait_for("form button[type=submit]")
            .await
            .click()
            .await
            .unwrap();
    }

    /// The code the browser brought back to the callback, after checking `state` and `iss`.
    async fn code_at_callback(&self) -> String {
        let back = self.wait_for_url(&self.callback()).await;
        let back = back.as_str();
        assert_eq!(param(back, "state").as_deref(), Some("st-123"), "{back}");
        assert_eq!(param(back, "iss"), Some(self.server.issuer()), "{back}");
        param(back, "code").unwrap_or_else(|| panic!("no code in {back}"))
    }

    /// Redeems `code` at the token endpoint with the PKCE verifier, as the SPA would.
    async fn exchange(&self, code: &str, verifier: &str) -> Value {
        let callback = self.callback();
        let (status, tokens) = token(
            &self.server.base,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &callback),
                ("client_id", APP),
                ("code_verifier", verifier),
            ],
            None,
        )
        .await;
        assert_eq!(status, 200, "{tokens}");
        tokens
    }

    async fn subject_of(&self, tokens: &Value) -> String {
        let access_token = tokens["access_token"].as_str().expect("an access token");
        let info: Value = reqwest::Client::new()
            .get(self.server.url("/oidc/me"))
            .bearer_auth(access_token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        info["sub"].as_str().unwrap().to_string()
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `CARGO_TARGET_DIR`, else the workspace's `target/`.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

#[tokio::test]
async fn browser_third_party_spa_signs_in_consents_and_redeems_the_code() {
    run(async |s: &Session| {
        let (verifier, challenge) = pkce();
        s.open(&s.authorize_url(&challenge, &[])).await;

        // Sign-in, by the contract's labels.
        assert_eq!(s.text("label[for=identifier]").await, "Username or email");
        assert_eq!(s.text("label[for=password]").await, "Password");
        assert_eq!(s.lang().await, "en");
        assert_eq!(s.text("h1").await, "Sign in");
        s.screenshot("sign-in").await;
        s.wait_for("#identifier")
            .await
            .send_keys("alice")
            .await
            .unwrap();
        s.wait_for("#password")
            .await
            .send_keys(PASSWORD)
            .await
            .unwrap();
        s.button("Sign in").await.click().await.unwrap();

        // Consent: the app's name as the heading, each permission a list item.
        s.wait_for_url(&s.server.url("/oidc/interaction/sign-in"))
            .await;
        assert_eq!(s.text("h1").await, APP_NAME);
        assert_eq!(
            s.text("p.lead").await,
            format!("{APP_NAME} wants to access your account.")
        );
        assert_eq!(
            s.texts(".permissions li").await,
            [
                "Sign you in with your account",
                "See your name and username",
                "See your email address"
            ]
        );
        assert!(s.text(".account p").await.contains("alice"));
        s.screenshot("consent").await;

        // On a phone: nothing wider than the screen, the buttons full width.
        s.browser.set_window_size(390, 844).await.unwrap();
        let widths = s
            .browser
            .execute(
                "return [document.documentElement.scrollWidth, window.innerWidth, \
                 document.querySelector('.actions button').getBoundingClientRect().width];",
                vec![],
            )
            .await
            .unwrap();
        let [page, screen, button] = [0, 1, 2].map(|i| widths[i].as_f64().unwrap());
        assert!(page <= screen, "scrolls sideways: {widths}");
        assert!(button > screen * 0.8, "buttons span the screen: {widths}");
        s.screenshot("consent-phone").await;
        s.browser.set_window_size(800, 900).await.unwrap();

        s.button("Authorize").await.click().await.unwrap();

        // Back at the SPA with a code, which it redeems with its PKCE verifier.
        let code = s.code_at_callback().await;
        let tokens = s.exchange(&code, &verifier).await;
        assert!(tokens["id_token"].is_string(), "{tokens}");
        assert_eq!(s.subject_of(&tokens).await, "user-alice");
    })
    .await;
}

#[tokio::test]
async fn browser_cancel_on_consent_is_access_denied() {
    run(async |s: &Session| {
        let (_, challenge) = pkce();
        s.open(&s.authorize_url(&challenge, &[])).await;
        s.sign_in("alice").await;
        s.button("Cancel").await.click().await.unwrap();
        let back = s.wait_for_url(&s.callback()).await;
        let back = back.as_str();
        assert_eq!(param(back, "error").as_deref(), Some("access_denied"));
        assert_eq!(param(back, "state").as_deref(), Some("st-123"));
        assert_eq!(param(back, "code"), None);
    })
    .await;
}

#[tokio::test]
async fn browser_keyboard_alone_signs_in_and_authorizes() {
    run(async |s: &Session| {
        let (verifier, challenge) = pkce();
        s.open(&s.authorize_url(&challenge, &[])).await;

        // The first field has focus on arrival; Tab goes to the password, then to the button.
        s.wait_for_focus("identifier").await;
        s.keys("alice").await;
        s.keys(&Key::Tab).await;
        s.wait_for_focus("password").await;
        s.keys(PASSWORD).await;
        s.keys(&Key::Tab).await;
        s.wait_for_focus("Sign in").await;
        // Keyboard focus is drawn (:focus-visible).
        let focused = s.browser.active_element().await.unwrap();
        assert_eq!(focused.css_value("outline-style").await.unwrap(), "solid");
        // Back to the password and submit with Enter, as people do.
        s.shift_tab().await;
        s.wait_for_focus("password").await;
        s.keys(&Key::Enter).await;

        // Consent by keyboard: "Not you?", then Authorize, then Cancel, in reading order.
        s.wait_for("p.lead").await;
        assert_eq!(s.text("h1").await, APP_NAME);
        s.keys(&Key::Tab).await;
        s.wait_for_focus("Not you?").await;
        s.keys(&Key::Tab).await;
        s.wait_for_focus("Authorize").await;
        s.keys(&Key::Tab).await;
        s.wait_for_focus("Cancel").await;
        s.shift_tab().await;
        s.wait_for_focus("Authorize").await;
        let focused = s.browser.active_element().await.unwrap();
        assert_eq!(focused.css_value("outline-style").await.unwrap(), "solid");
        s.keys(&Key::Enter).await;

        let code = s.code_at_callback().await;
        let tokens = s.exchange(&code, &verifier).await;
        assert_eq!(s.subject_of(&tokens).await, "user-alice");
    })
    .await;
}

#[tokio::test]
async fn browser_japanese_pages_with_ui_locales_ja() {
    run(async |s: &Session| {
        let (verifier, challenge) = pkce();
        s.open(&s.authorize_url(&challenge, &[("ui_locales", "ja")]))
            .await;

        assert_eq!(s.lang().await, "ja");
        assert_eq!(s.text("h1").await, "サインイン");
        assert_eq!(
            s.text("label[for=identifier]").await,
            "ユーザー名またはメールアドレス"
        );
        assert_eq!(s.text("label[for=password]").await, "パスワード");
        s.screenshot("sign-in-ja").await;
        s.sign_in("alice").await;

        s.wait_for("p.lead").await;
        assert_eq!(s.lang().await, "ja");
        assert_eq!(s.text("h1").await, APP_NAME);
        assert_eq!(
            s.text("h2").await,
            format!("{APP_NAME} に次のことを許可します:")
        );
        assert_eq!(
            s.texts(".permissions li").await,
            [
                "あなたのアカウントでサインインする",
                "名前とユーザー名を見る",
                "メールアドレスを見る"
            ]
        );
        s.button("キャンセル").await;
        s.screenshot("consent-ja").await;
        s.button("許可する").await.click().await.unwrap();

        let code = s.code_at_callback().await;
        s.exchange(&code, &verifier).await;
    })
    .await;
}

#[tokio::test]
async fn browser_not_you_returns_to_sign_in_for_someone_else() {
    run(async |s: &Session| {
        let (verifier, challenge) = pkce();
        s.open(&s.authorize_url(&challenge, &[])).await;
        s.sign_in("alice").await;
        s.wait_for("p.lead").await;
        assert!(s.text(".account p").await.contains("alice"));

        s.button("Not you?").await.click().await.unwrap();
        // The sign-in page again, for the same request.
        s.wait_for_url(&s.server.url("/oidc/interaction/consent"))
            .await;
        assert_eq!(s.text("h1").await, "Sign in");
        assert_eq!(
            s.wait_for("#identifier")
                .await
                .prop("value")
                .await
                .unwrap()
                .as_deref(),
            Some("")
        );
        s.sign_in("bob").await;

        // Bob is asked, not Alice, and the code is Bob's.
        s.wait_for("p.lead").await;
        let account = s.text(".account p").await;
        assert!(
            account.contains("bob") && !account.contains("alice"),
            "{account}"
        );
        s.button("Authorize").await.click().await.unwrap();
        let code = s.code_at_callback().await;
        let tokens = s.exchange(&code, &verifier).await;
        assert_eq!(s.subject_of(&tokens).await, "user-bob");
    })
    .await;
}

#[tokio::test]
async fn browser_unknown_client_gets_an_error_page_with_its_request_id() {
    run(async |s: &Session| {
        let url = format!(
            "{}?client_id=nobody&redirect_uri={}&response_type=code&scope=openid",
            s.server.url("/oidc/auth"),
            s.callback()
        );
        s.open(&url).await;
        assert_eq!(s.text("h1").await, "This sign-in link does not work");
        assert!(s.text(".detail").await.contains("nobody"));
        let id = s.text(".muted code").await;
        assert_eq!(id.len(), 36, "a request id: {id}");
        // Never sent on to the unverified redirect URI.
        assert!(
            s.url()
                .await
                .as_str()
                .starts_with(&s.server.url("/oidc/auth"))
        );
        s.screenshot("error").await;
    })
    .await;
}
