//! The authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1), parsed and checked. Two
//! kinds of failure: before the client and its redirect URI are trusted, an error is shown
//! to the person (never redirected, RFC 6749 §4.1.2.1); after, it goes back to the client.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use sigil_domain::access_control::{is_resource_indicator, is_scope_token};
use sigil_domain::{Application, ApplicationType, redirect_uri_matches};

/// The user scopes this server knows (OIDC Core §5.4, and `organizations` for the ids of the
/// user's organizations), as the domain lists them. Other words may name API resource or
/// organization scopes; what the user does not hold through roles is dropped later (RFC 6749
/// §3.3 lets us grant fewer).
pub use sigil_domain::application::USER_SCOPES as SUPPORTED_SCOPES;

/// At most this many distinct scopes and resources are kept from one request.
pub const MAX_SCOPES: usize = 64;
pub const MAX_RESOURCES: usize = 10;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

/// A checked authorization request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: Vec<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    /// S256 only.
    pub code_challenge: Option<String>,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    pub ui_locales: Option<String>,
    /// Resource indicators (RFC 8707), each an absolute URI without fragment.
    #[serde(default)]
    pub resources: Vec<String>,
}

/// Refused before the redirect URI is trusted: shown as a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageError(pub String);

/// Refused after: sent back to the client's redirect URI (RFC 6749 §4.1.2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectError {
    pub redirect_uri: String,
    pub state: Option<String>,
    pub error: &'static str,
    pub description: String,
}

pub enum Refusal {
    Page(PageError),
    Redirect(RedirectError),
}

/// Checks that the client may use this redirect URI; `application` is the client as loaded
/// from its stream (`None`: unknown).
pub fn trusted_redirect(
    params: &HashMap<String, String>,
    application: Option<&Application>,
) -> Result<String, PageError> {
    let client_id = params
        .get("client_id")
        .ok_or_else(|| PageError("The request does not say which application it is for.".into()))?;
    let application = application.filter(|a| a.is_active()).ok_or_else(|| {
        PageError(format!(
            "There is no application with the id \"{client_id}\"."
        ))
    })?;
    let requested = params.get("redirect_uri").ok_or_else(|| {
        PageError(
            "The request has no redirect_uri, so there is nowhere safe to send you back to.".into(),
        )
    })?;
    let app_type = application.app_type().unwrap_or(ApplicationType::Spa);
    if !application
        .redirect_uris()
        .iter()
        .any(|registered| redirect_uri_matches(registered, requested, app_type))
    {
        return Err(PageError(
            "The redirect_uri in this request is not registered for the application.".into(),
        ));
    }
    Ok(requested.clone())
}

/// Parses the rest of the request once the redirect URI is trusted.
pub fn parse(
    params: &HashMap<String, String>,
    application: &Application,
    redirect_uri: String,
) -> Result<AuthRequest, RedirectError> {
    let state = params.get("state").cloned();
    let refuse = |error: &'static str, description: &str| RedirectError {
        redirect_uri: redirect_uri.clone(),
        state: state.clone(),
        error,
        description: description.to_string(),
    };
    // OIDC Core §6: request objects are optional and not supported here.
    if params.contains_key("request") {
        return Err(refuse(
            "request_not_supported",
            "request objects are not supported",
        ));
    }
    if params.contains_key("request_uri") {
        return Err(refuse(
            "request_uri_not_supported",
            "request_uri is not supported",
        ));
    }
    match params.get("response_type").map(String::as_str) {
        Some("code") => {}
        // RFC 9700 §2.1.2: the implicit grant and hybrid flows are not offered.
        Some(_) => {
            return Err(refuse(
                "unsupported_response_type",
                "only response_type=code is supported",
            ));
        }
        None => return Err(refuse("invalid_request", "response_type is required")),
    }
    if let Some(mode) = params.get("response_mode").filter(|m| *m != "query") {
        return Err(refuse(
            "invalid_request",
            &format!("response_mode {mode:?} is not supported; use query"),
        ));
    }
    let app_type = application.app_type().unwrap_or(ApplicationType::Spa);
    if app_type == ApplicationType::MachineToMachine {
        return Err(refuse(
            "unauthorized_client",
            "machine-to-machine applications cannot sign users in",
        ));
    }
    let code_challenge = match (
        params.get("code_challenge"),
        params.get("code_challenge_method").map(String::as_str),
    ) {
        (Some(challenge), Some("S256")) => {
            // RFC 7636 §4.2: BASE64URL(SHA256(verifier)) is 43 characters.
            let well_formed = challenge.len() == 43
                && challenge
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !well_formed {
                return Err(refuse(
                    "invalid_request",
                    "code_challenge is not an S256 challenge",
                ));
            }
            Some(challenge.clone())
        }
        // RFC 9700 §2.1.1: `plain` offers no protection; a missing method means plain.
        (Some(_), _) => {
            return Err(refuse(
                "invalid_request",
                "code_challenge_method must be S256",
            ));
        }
        (None, Some(_)) => {
            return Err(refuse(
                "invalid_request",
                "code_challenge_method without code_challenge",
            ));
        }
        (None, None) => None,
    };
    // RFC 8252 §8.1 and RFC 9700 §2.1.1: public clients must use PKCE.
    if code_challenge.is_none() && !app_type.is_confidential() {
        return Err(refuse(
            "invalid_request",
            "code_challenge (S256) is required for this application",
        ));
    }
    // Echoed back to the client and carried through the pages: bounded.
    for (name, max) in [
        ("state", 1024),
        ("nonce", 1024),
        ("login_hint", 256),
        ("ui_locales", 128),
    ] {
        if params.get(name).is_some_and(|v| v.len() > max) {
            return Err(refuse(
                "invalid_request",
                &format!("{name} is longer than {max} bytes"),
            ));
        }
    }
    let mut prompt = Prompt::default();
    for value in params
        .get("prompt")
        .map(|p| p.split(' '))
        .into_iter()
        .flatten()
    {
        match value {
            "none" => prompt.none = true,
            "login" => prompt.login = true,
            "consent" => prompt.consent = true,
            _ => {}
        }
    }
    // OIDC Core §3.1.2.1: none with any other value is an error.
    if prompt.none && (prompt.login || prompt.consent) {
        return Err(refuse(
            "invalid_request",
            "prompt=none cannot be combined with other values",
        ));
    }
    let max_age =
        match params.get("max_age") {
            None => None,
            Some(v) => Some(v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                refuse("invalid_request", "max_age must be a non-negative integer")
            })?),
        };
    let scope: Vec<String> = params
        .get("scope")
        .map(|s| {
            s.split(' ')
                .filter(|s| is_scope_token(s))
                .collect::<BTreeSet<_>>()
        })
        .unwrap_or_default()
        .into_iter()
        .take(MAX_SCOPES)
        .map(str::to_string)
        .collect();
    let resources = crate::oidc::form::resources(params);
    if resources.len() > MAX_RESOURCES {
        return Err(refuse(
            "invalid_target",
            &format!("at most {MAX_RESOURCES} resource parameters"),
        ));
    }
    if let Some(bad) = resources.iter().find(|r| !is_resource_indicator(r)) {
        return Err(refuse(
            "invalid_target",
            &format!("resource {bad:?} is not an absolute URI without a fragment"),
        ));
    }
    let resources: Vec<String> = resources
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(str::to_string)
        .collect();
    Ok(AuthRequest {
        client_id: params.get("client_id").cloned().unwrap_or_default(),
        redirect_uri: redirect_uri.clone(),
        scope,
        state: state.clone(),
        nonce: params.get("nonce").cloned(),
        code_challenge,
        prompt,
        max_age,
        login_hint: params.get("login_hint").cloned(),
        ui_locales: params.get("ui_locales").cloned(),
        resources,
    })
}

#[cfg(test)]
mod tests {
    use cqrs_es::Aggregate;
    use sigil_domain::{ApplicationEvent, SigningAlgorithm};

    use super::*;

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn app(app_type: ApplicationType, redirect: &str) -> Application {
        let mut a = Application::default();
        a.apply(ApplicationEvent::ApplicationRegistered {
            name: "App".into(),
            description: None,
            app_type,
            is_third_party: false,
            redirect_uris: vec![redirect.into()],
            post_logout_redirect_uris: vec![],
            cors_allowed_origins: vec![],
            client_secret_digest: None,
            always_issue_refresh_token: false,
            rotate_refresh_token: true,
            refresh_token_ttl_days: 14,
            refresh_token_reuse_grace_seconds: 0,
            id_token_signed_response_alg: SigningAlgorithm::ES384,
        });
        a
    }

    fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        let mut p: HashMap<String, String> = [
            ("client_id", "spa"),
            ("redirect_uri", "https://app.example.com/cb"),
            ("response_type", "code"),
            ("scope", "openid profile unknown"),
            ("state", "s1"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in pairs {
            if v.is_empty() {
                p.remove(*k);
            } else {
                p.insert(k.to_string(), v.to_string());
            }
        }
        p
    }

    #[test]
    fn resources_must_be_absolute_uris_without_fragments() {
        let r = check(
            &[(
                "resource",
                "https://api.example.com https://b.example.com/x",
            )],
            ApplicationType::Spa,
        )
        .unwrap();
        assert_eq!(
            r.resources,
            vec!["https://api.example.com", "https://b.example.com/x"]
        );
        for bad in ["relative/path", "https://api.example.com/#frag"] {
            let e = check(&[("resource", bad)], ApplicationType::Spa).unwrap_err();
            assert!(e.starts_with("invalid_target"), "{bad}: {e}");
        }
    }

    fn check(pairs: &[(&str, &str)], app_type: ApplicationType) -> Result<AuthRequest, String> {
        let a = app(app_type, "https://app.example.com/cb");
        let p = params(pairs);
        let redirect = trusted_redirect(&p, Some(&a)).map_err(|e| format!("page: {}", e.0))?;
        parse(&p, &a, redirect).map_err(|e| e.error.to_string())
    }

    #[test]
    fn a_good_request_keeps_known_scopes_and_pkce() {
        let r = check(&[], ApplicationType::Spa).unwrap();
        // Words that are not user scopes may be resource scopes: kept here, dropped at
        // grant time unless the user holds them.
        assert_eq!(r.scope, vec!["openid", "profile", "unknown"]);
        assert_eq!(r.code_challenge.as_deref(), Some(CHALLENGE));
        assert_eq!(r.state.as_deref(), Some("s1"));
    }

    #[test]
    fn unknown_client_and_unregistered_redirect_are_pages_not_redirects() {
        let p = params(&[]);
        assert!(trusted_redirect(&p, None).is_err());
        let a = app(ApplicationType::Spa, "https://app.example.com/cb");
        let p = params(&[("redirect_uri", "https://evil.example.com/cb")]);
        assert!(trusted_redirect(&p, Some(&a)).is_err());
        let p = params(&[("redirect_uri", "")]);
        assert!(trusted_redirect(&p, Some(&a)).is_err());
    }

    #[test]
    fn rfc8252_loopback_any_port_for_native_apps() {
        let a = app(ApplicationType::Native, "http://127.0.0.1/callback");
        let p = params(&[("redirect_uri", "http://127.0.0.1:51234/callback")]);
        assert_eq!(
            trusted_redirect(&p, Some(&a)).unwrap(),
            "http://127.0.0.1:51234/callback"
        );
        let spa = app(ApplicationType::Spa, "http://127.0.0.1/callback");
        assert!(trusted_redirect(&p, Some(&spa)).is_err());
    }

    #[test]
    fn implicit_and_hybrid_are_unsupported() {
        for rt in ["token", "id_token", "code id_token", "code token"] {
            assert_eq!(
                check(&[("response_type", rt)], ApplicationType::Spa).unwrap_err(),
                "unsupported_response_type"
            );
        }
        assert_eq!(
            check(&[("response_type", "")], ApplicationType::Spa).unwrap_err(),
            "invalid_request"
        );
    }

    #[test]
    fn pkce_is_s256_and_required_for_public_clients() {
        assert_eq!(
            check(&[("code_challenge_method", "plain")], ApplicationType::Spa).unwrap_err(),
            "invalid_request"
        );
        assert_eq!(
            check(&[("code_challenge_method", "")], ApplicationType::Spa).unwrap_err(),
            "invalid_request"
        );
        assert_eq!(
            check(&[("code_challenge", "short")], ApplicationType::Spa).unwrap_err(),
            "invalid_request"
        );
        for public in [ApplicationType::Spa, ApplicationType::Native] {
            let err = check(
                &[("code_challenge", ""), ("code_challenge_method", "")],
                public,
            )
            .unwrap_err();
            assert_eq!(err, "invalid_request");
        }
        let r = check(
            &[("code_challenge", ""), ("code_challenge_method", "")],
            ApplicationType::Traditional,
        )
        .unwrap();
        assert_eq!(r.code_challenge, None);
    }

    #[test]
    fn prompt_and_max_age_are_checked() {
        let r = check(
            &[("prompt", "login consent"), ("max_age", "0")],
            ApplicationType::Spa,
        )
        .unwrap();
        assert!(r.prompt.login && r.prompt.consent && !r.prompt.none);
        assert_eq!(r.max_age, Some(0));
        assert_eq!(
            check(&[("prompt", "none login")], ApplicationType::Spa).unwrap_err(),
            "invalid_request"
        );
        assert_eq!(
            check(&[("max_age", "-1")], ApplicationType::Spa).unwrap_err(),
            "invalid_request"
        );
        assert_eq!(
            check(&[("max_age", "soon")], ApplicationType::Spa).unwrap_err(),
            "invalid_request"
        );
    }

    #[test]
    fn echoed_values_are_bounded() {
        let long = "s".repeat(1025);
        assert_eq!(
            check(&[("state", &long)], ApplicationType::Spa).unwrap_err(),
            "invalid_request"
        );
        assert_eq!(
            check(&[("nonce", &long)], ApplicationType::Spa).unwrap_err(),
            "invalid_request"
        );
        assert!(check(&[("state", &"s".repeat(1024))], ApplicationType::Spa).is_ok());
    }

    #[test]
    fn machine_to_machine_apps_and_request_objects_are_refused() {
        assert_eq!(
            check(&[("request", "x")], ApplicationType::Spa).unwrap_err(),
            "request_not_supported"
        );
        assert_eq!(
            check(&[("response_mode", "fragment")], ApplicationType::Spa).unwrap_err(),
            "invalid_request"
        );
    }
}

#[cfg(test)]
mod properties {
    //! Scope parsing (RFC 6749 §3.3) as a property of `parse`: whatever the `scope` string,
    //! what is kept is a scope-token, was asked for as a word, and appears once; and no
    //! supported scope that was asked for is lost.

    use std::collections::HashSet;

    use cqrs_es::Aggregate;
    use proptest::prelude::*;
    use sigil_domain::{ApplicationEvent, SigningAlgorithm};

    use super::*;

    /// A confidential client, so that PKCE is not required and only the scope varies.
    fn application() -> Application {
        let mut a = Application::default();
        a.apply(ApplicationEvent::ApplicationRegistered {
            name: "App".into(),
            description: None,
            app_type: ApplicationType::Traditional,
            is_third_party: false,
            redirect_uris: vec!["https://app.example.com/cb".into()],
            post_logout_redirect_uris: vec![],
            cors_allowed_origins: vec![],
            client_secret_digest: None,
            always_issue_refresh_token: false,
            rotate_refresh_token: true,
            refresh_token_ttl_days: 14,
            refresh_token_reuse_grace_seconds: 0,
            id_token_signed_response_alg: SigningAlgorithm::ES384,
        });
        a
    }

    const NEAR_MISSES: [&str; 7] = [
        "OpenID",
        "openid\t",
        " profile",
        "e-mail",
        "offline-access",
        "openid,email",
        "",
    ];

    /// Supported scopes, near misses and anything at all, joined by spaces and look-alikes.
    fn scope() -> impl Strategy<Value = String> {
        let word = prop_oneof![
            3 => proptest::sample::select(&SUPPORTED_SCOPES[..]).prop_map(String::from),
            1 => proptest::sample::select(&NEAR_MISSES[..]).prop_map(String::from),
            1 => any::<String>(),
        ];
        let separator = proptest::sample::select(&[" ", " ", "  ", "+", "\t", ",", "\u{a0}"][..]);
        prop_oneof![
            4 => proptest::collection::vec((word, separator), 0..8).prop_map(|words| {
                words.into_iter().flat_map(|(w, s)| [w, s.to_string()]).collect()
            }),
            1 => any::<String>(),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn kept_scopes_are_tokens_requested_and_unique(scope in scope()) {
            let params: HashMap<String, String> = [
                ("client_id", "web"),
                ("redirect_uri", "https://app.example.com/cb"),
                ("response_type", "code"),
                ("scope", scope.as_str()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
            let request = parse(&params, &application(), "https://app.example.com/cb".into())
                .map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
            let requested: HashSet<&str> = scope.split(' ').collect();
            let kept: HashSet<&str> = request.scope.iter().map(String::as_str).collect();
            prop_assert_eq!(kept.len(), request.scope.len(), "duplicates in {:?}", request.scope);
            for s in &kept {
                prop_assert!(is_scope_token(s), "{:?} is not a scope-token", s);
                prop_assert!(requested.contains(s), "{} was not requested in {:?}", s, scope);
            }
            // And nothing supported that was asked for is lost.
            for s in SUPPORTED_SCOPES.iter().filter(|s| requested.contains(*s)) {
                prop_assert!(kept.contains(s), "{} was requested in {:?} but dropped", s, scope);
            }
        }
    }
}
