//! A scripted browser and client for the authorization code flow, for tests that need to
//! drive each step themselves (the relying-party library covers the standard path). It
//! depends on nothing but a server's base URL, so tests outside this crate can include it
//! with `#[path]`.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::redirect::Policy;
use serde_json::Value;
use sha2::{Digest, Sha256};

pub const CALLBACK: &str = "https://app.example.com/callback";

/// Keeps cookies, never follows redirects (tests read each one).
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_string()
}

pub fn param(location: &str, name: &str) -> Option<String> {
    url::Url::parse(location)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A PKCE verifier and its S256 challenge.
pub fn pkce() -> (String, String) {
    let verifier = sigil_api::oidc::tokens::new_token();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// Runs the browser through /oidc/auth (signing in as `username` if asked) and returns the
/// code the client receives.
pub async fn authorize(
    base: &str,
    browser: &reqwest::Client,
    client_id: &str,
    scope: &str,
    challenge: Option<&str>,
    extra: &[(&str, &str)],
    credentials: (&str, &str),
) -> String {
    let response = sign_in(
        base,
        browser,
        client_id,
        scope,
        challenge,
        extra,
        credentials,
    )
    .await;
    let location = response.headers()["location"].to_str().unwrap().to_string();
    param(&location, "code").unwrap_or_else(|| panic!("no code in {location}"))
}

/// Runs the browser through /oidc/auth and, if the sign-in page is shown, submits it; returns
/// the last response (a redirect to the client, or a page), for tests that read its status,
/// headers or cookies.
pub async fn sign_in(
    base: &str,
    browser: &reqwest::Client,
    client_id: &str,
    scope: &str,
    challenge: Option<&str>,
    extra: &[(&str, &str)],
    (username, password): (&str, &str),
) -> reqwest::Response {
    let mut url = url::Url::parse(&format!("{base}/oidc/auth")).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", CALLBACK)
        .append_pair("response_type", "code")
        .append_pair("scope", scope)
        .append_pair("state", "st");
    if let Some(c) = challenge {
        url.query_pairs_mut()
            .append_pair("code_challenge", c)
            .append_pair("code_challenge_method", "S256");
    }
    for (k, v) in extra {
        url.query_pairs_mut().append_pair(k, v);
    }
    let mut response = browser.get(url.as_str()).send().await.unwrap();
    if response.status() == 200 {
        let html = response.text().await.unwrap();
        response = browser
            .post(format!("{base}/oidc/interaction/sign-in"))
            .form(&[
                ("interaction", hidden(&html, "interaction")),
                ("csrf", hidden(&html, "csrf")),
                ("identifier", username.to_string()),
                ("password", password.to_string()),
            ])
            .send()
            .await
            .unwrap();
    }
    response
}

/// Clicks Authorize on the consent page `html`; returns the code the client receives.
pub async fn authorize_consent(base: &str, browser: &reqwest::Client, html: &str) -> String {
    let response = browser
        .post(format!("{base}/oidc/interaction/consent"))
        .form(&[
            ("interaction", hidden(html, "interaction")),
            ("csrf", hidden(html, "csrf")),
            ("decision", "authorize".to_string()),
        ])
        .send()
        .await
        .unwrap();
    let location = response.headers()["location"].to_str().unwrap().to_string();
    param(&location, "code").unwrap_or_else(|| panic!("no code in {location}"))
}

/// POSTs a token request; `basic` authenticates a confidential client.
pub async fn token(base: &str, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{base}/oidc/token"))
        .form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// Whether an access token still opens userinfo.
pub async fn userinfo_ok(base: &str, access_token: &str) -> bool {
    reqwest::Client::new()
        .get(format!("{base}/oidc/me"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
        .status()
        == 200
}
