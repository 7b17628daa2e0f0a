//! The state carried between the authorization request and the pages that complete it (sign-in,
//! consent): the checked request, signed with a key derived from the master key so the browser
//! cannot alter it, and stamped so it expires. It holds nothing secret: everything in it came
//! through the browser's address bar. Forms are protected by a double-submit CSRF cookie.

use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use sigil_web_consent::Locale;
use subtle::ConstantTimeEq;

use super::authorize::request::AuthRequest;

/// How long a person has to finish signing in and consenting.
const INTERACTION_TTL_SECS: i64 = 600;
pub const CSRF_COOKIE: &str = "sigil_csrf";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interaction {
    pub request: AuthRequest,
    pub issued_at: i64,
    /// Set once the person has signed in during this interaction (prompt=login is met).
    pub session_id: Option<String>,
    /// Set once the person has authorized on the consent page (prompt=consent is met).
    #[serde(default)]
    pub consented: bool,
    /// The pages' language, chosen when the interaction starts from `ui_locales` and the
    /// browser's `Accept-Language` (so every page of one sign-in speaks the same one).
    #[serde(default)]
    pub locale_tag: Option<String>,
}

impl Interaction {
    /// The language of this interaction's pages.
    pub fn locale(&self) -> Locale {
        self.locale_tag
            .as_deref()
            .and_then(Locale::from_tag)
            .unwrap_or_else(|| Locale::negotiate(self.request.ui_locales.as_deref(), None))
    }
}

pub struct InteractionKey([u8; 32]);

impl InteractionKey {
    pub fn new(key: [u8; 32]) -> Self {
        InteractionKey(key)
    }

    fn mac(&self) -> Hmac<Sha256> {
        <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).expect("HMAC takes any key length")
    }

    pub fn seal(&self, interaction: &Interaction) -> String {
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(interaction).expect("serializable"));
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        format!(
            "{body}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    }

    /// The interaction, if it is ours, unaltered and not expired.
    pub fn open(&self, sealed: &str, now: i64) -> Option<Interaction> {
        let (body, tag) = sealed.split_once('.')?;
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        mac.verify_slice(&URL_SAFE_NO_PAD.decode(tag).ok()?).ok()?;
        let interaction: Interaction =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).ok()?).ok()?;
        (now - interaction.issued_at <= INTERACTION_TTL_SECS && interaction.issued_at <= now + 60)
            .then_some(interaction)
    }
}

/// The value of a cookie in a request.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// `Set-Cookie` for a cookie only the server reads: HttpOnly, SameSite=Lax (top-level
/// redirects back from clients still carry it), Secure when served over https.
pub fn set_cookie(name: &str, value: &str, secure: bool, max_age: Option<i64>) -> String {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if secure {
        c.push_str("; Secure");
    }
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    c
}

/// The form's CSRF token must equal the cookie's (double submit: a cross-site form can set
/// neither).
pub fn csrf_ok(headers: &HeaderMap, submitted: Option<&str>) -> bool {
    match (cookie(headers, CSRF_COOKIE), submitted) {
        (Some(expected), Some(got)) if !expected.is_empty() => {
            bool::from(expected.as_bytes().ct_eq(got.as_bytes()))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oidc::authorize::request::Prompt;

    fn interaction(now: i64) -> Interaction {
        Interaction {
            request: AuthRequest {
                client_id: "spa".into(),
                redirect_uri: "https://app.example.com/cb".into(),
                scope: vec!["openid".into()],
                state: Some("s".into()),
                nonce: None,
                code_challenge: None,
                prompt: Prompt::default(),
                max_age: None,
                login_hint: None,
                ui_locales: None,
                resources: vec![],
            },
            issued_at: now,
            session_id: None,
            consented: false,
            locale_tag: Some("ja".into()),
        }
    }

    #[test]
    fn sealed_interactions_open_only_unaltered_and_in_time() {
        let key = InteractionKey::new([1; 32]);
        let sealed = key.seal(&interaction(1000));
        assert_eq!(key.open(&sealed, 1100), Some(interaction(1000)));
        assert_eq!(key.open(&sealed, 1000 + INTERACTION_TTL_SECS + 1), None);
        assert_eq!(InteractionKey::new([2; 32]).open(&sealed, 1100), None);
        let mut forged = interaction(1000);
        forged.request.redirect_uri = "https://evil.example.com/".into();
        let (_, tag) = sealed.split_once('.').unwrap();
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        assert_eq!(key.open(&format!("{body}.{tag}"), 1100), None);
        assert_eq!(key.open("garbage", 1100), None);
    }

    #[test]
    fn the_language_travels_with_the_interaction() {
        let mut i = interaction(1000);
        assert_eq!(i.locale(), Locale::Ja);
        // Sealed before pages were localised: the request's ui_locales, else English.
        i.locale_tag = None;
        assert_eq!(i.locale(), Locale::En);
        i.request.ui_locales = Some("ja-JP".into());
        assert_eq!(i.locale(), Locale::Ja);
        let key = InteractionKey::new([1; 32]);
        let body = URL_SAFE_NO_PAD.encode(
            br#"{"request":{"client_id":"spa","redirect_uri":"https://a/cb","scope":[],"state":null,"nonce":null,"code_challenge":null,"prompt":{"none":false,"login":false,"consent":false},"max_age":null,"login_hint":null,"ui_locales":null},"issued_at":1000,"session_id":null}"#,
        );
        let mut mac = key.mac();
        mac.update(body.as_bytes());
        let old = format!(
            "{body}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        );
        assert_eq!(key.open(&old, 1000).map(|i| i.locale()), Some(Locale::En));
    }

    #[test]
    fn csrf_needs_a_matching_cookie() {
        let mut headers = HeaderMap::new();
        assert!(!csrf_ok(&headers, Some("t")));
        headers.insert(
            axum::http::header::COOKIE,
            "a=1; sigil_csrf=t".parse().unwrap(),
        );
        assert!(csrf_ok(&headers, Some("t")));
        assert!(!csrf_ok(&headers, Some("u")));
        assert!(!csrf_ok(&headers, None));
    }
}
