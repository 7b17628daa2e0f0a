//! Entry points for the fuzz targets in `fuzz/` (run by `fuzz/run.sh`): one function per
//! target, each taking the fuzzer's bytes through a request parser end to end, as the
//! endpoint would. A panic is a bug; nothing else is checked. The server never calls these.

use std::sync::LazyLock;

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::IntoResponse;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cqrs_es::Aggregate;
use serde_json::{Value, json};
use sigil_domain::{Application, ApplicationEvent, ApplicationType, SigningAlgorithm};

use crate::keys::Signer;
use crate::oidc::authorize::request::{parse, trusted_redirect};
use crate::oidc::client_auth::presented;
use crate::oidc::end_session::verify_hint;
use crate::oidc::error::OAuthError;
use crate::oidc::form::{self, OAuthForm};

/// The issuer the `id_token_hint` target verifies against.
pub const ISSUER: &str = "https://sigil.example/oidc";

/// An authorization request's query (GET) or form (POST), checked against a single-page, a
/// native and a traditional application.
pub fn authorization_request(data: &[u8]) {
    let Ok(params) = form::parse(data) else {
        return;
    };
    for application in APPLICATIONS.iter() {
        if let Ok(redirect) = trusted_redirect(&params, Some(application)) {
            let _ = parse(&params, application, redirect);
        }
    }
}

/// A token request's form body, extracted as the endpoint does, then the parts read before
/// any lookup: the client's credentials and the grant type. Errors go to the wire.
pub fn token_request(data: &[u8]) {
    let result = form_of(data).and_then(|form| {
        presented(&HeaderMap::new(), &form)?;
        form.require("grant_type").map(drop)
    });
    if let Err(e) = result {
        drop(e.into_response());
    }
}

/// Client authentication: the bytes up to the first newline are the Authorization header
/// (skipped if HTTP would not carry them), the rest the form body.
pub fn client_authentication(data: &[u8]) {
    let (authorization, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (Some(&data[..i]), &data[i + 1..]),
        None => (None, data),
    };
    let mut headers = HeaderMap::new();
    if let Some(value) = authorization.and_then(|v| HeaderValue::from_bytes(v).ok()) {
        headers.insert(header::AUTHORIZATION, value);
    }
    let result = form_of(body).and_then(|form| presented(&headers, &form).map(drop));
    if let Err(e) = result {
        drop(e.into_response());
    }
}

/// An `id_token_hint`, verified against a fixed key set with an ES384, an EdDSA and an RS256
/// key. The bytes are tried twice: as the token itself, and as the claims of a token the
/// EdDSA key signs, so that the claims are parsed too (they are read only after a good
/// signature, which a fuzzer cannot forge).
pub fn id_token_hint(data: &[u8]) {
    let _ = verify_hint(&String::from_utf8_lossy(data), &KEYS.jwks, ISSUER);
    let _ = verify_hint(&KEYS.sign(data), &KEYS.jwks, ISSUER);
}

fn form_of(body: &[u8]) -> Result<OAuthForm, OAuthError> {
    let request = Request::post("/oidc/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body.to_vec()))
        .map_err(|e| OAuthError::InvalidRequest(e.to_string()))?;
    futures::executor::block_on(OAuthForm::from_request(request, &()))
}

static APPLICATIONS: LazyLock<[Application; 3]> = LazyLock::new(|| {
    [
        application(ApplicationType::Spa, &["https://app.example.com/cb"]),
        application(
            ApplicationType::Native,
            &[
                "http://127.0.0.1/cb",
                "http://[::1]/cb",
                "com.example.app:/cb",
            ],
        ),
        application(
            ApplicationType::Traditional,
            &["https://app.example.com/cb?tenant=1"],
        ),
    ]
});

pub(crate) fn application(app_type: ApplicationType, redirect_uris: &[&str]) -> Application {
    let mut application = Application::default();
    application.apply(ApplicationEvent::ApplicationRegistered {
        name: "Fuzz".into(),
        description: None,
        app_type,
        is_third_party: false,
        redirect_uris: redirect_uris.iter().map(|u| u.to_string()).collect(),
        post_logout_redirect_uris: vec![],
        cors_allowed_origins: vec![],
        client_secret_digest: None,
        always_issue_refresh_token: false,
        rotate_refresh_token: true,
        refresh_token_ttl_days: 14,
        refresh_token_reuse_grace_seconds: 0,
        id_token_signed_response_alg: SigningAlgorithm::ES384,
    });
    application
}

/// Ed25519 private key of the fixed key set (`fuzz/seeds/id_token_hint` was signed with these
/// keys; the ES384 and RS256 private halves are not needed here).
const EDDSA_SEED: [u8; 32] = [0x5e; 32];
const ES384_X: &str = "x28ig92pXNSbDtnnM9KQRHTjchbxJOE9LJq0zwECHEmtnKuz0Ll0ma7y8KsxP6Ao";
const ES384_Y: &str = "Jrwfg0UbXIlip1yv9zWI1EAKYpZDYVT7NDw5PpEEimx7y63IPNil8m_q6IMVb5Kh";
const RS256_N: &str = "r7QM9sxeWEQGrW7I9ZexiB2HhUro1wzvqjrTmDH7cG2aHLo6PG05I2-4makwF-Z8VO6ZyVGQlWJEzqDelYzJiMsEBjp_G7zPRhrBn5CIKiHKZpBZGvpS3EpDz4nHzzAOhwq-wMEw4uOktE6wRQFd70VuwomJz_QaFjXXa3ICpH_ZXZLYKTli4AWnVx5anE_adyzoHiTM0DCs43NEwJQgYV9DpQcYQAmtW7VIW24oKkUtc9enjZGuOWZQQy1k7m-o1FeoHb4wB3Gf5x0cNIFON4z55TV5poVDtWzBwkTasPMdErMnfduUUZawYl0ojaH9idb-a7o3t8lWPVIOXCtkpw";

struct Keys {
    jwks: Value,
    eddsa: Signer,
}

impl Keys {
    /// A compact JWS of `claims`, taken as they are, signed with the EdDSA key.
    fn sign(&self, claims: &[u8]) -> String {
        let mut token =
            URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA","kid":"fuzz-eddsa","typ":"JWT"}"#);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(claims, &mut token);
        let signature = self.eddsa.sign(token.as_bytes());
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        token
    }
}

static KEYS: LazyLock<Keys> = LazyLock::new(|| {
    let eddsa = ed25519_dalek::SigningKey::from_bytes(&EDDSA_SEED);
    let eddsa_x = URL_SAFE_NO_PAD.encode(eddsa.verifying_key().to_bytes());
    let jwks = json!({ "keys": [
        { "kty": "EC", "crv": "P-384", "x": ES384_X, "y": ES384_Y,
          "kid": "fuzz-es384", "alg": "ES384", "use": "sig" },
        { "kty": "OKP", "crv": "Ed25519", "x": eddsa_x,
          "kid": "fuzz-eddsa", "alg": "EdDSA", "use": "sig" },
        { "kty": "RSA", "n": RS256_N, "e": "AQAB",
          "kid": "fuzz-rs256", "alg": "RS256", "use": "sig" },
    ]});
    Keys {
        jwks,
        eddsa: Signer::EdDsa(eddsa),
    }
});

#[cfg(test)]
mod tests {
    //! The committed seeds (`fuzz/seeds/<target>/`) through each target, so that a plain
    //! `cargo test` covers them and notices when they stop reaching the code they are for.

    use std::path::PathBuf;

    use super::*;

    fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/seeds")
            .join(target);
        let mut seeds: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| {
                let path = entry.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read(&path).unwrap())
            })
            .collect();
        seeds.sort();
        assert!(seeds.len() >= 3, "too few seeds in {}", dir.display());
        seeds
    }

    #[test]
    fn authorization_request_seeds() {
        let mut accepted = 0;
        for (_, data) in seeds("authorization_request") {
            authorization_request(&data);
            let Ok(params) = form::parse(&data) else {
                continue;
            };
            accepted += APPLICATIONS
                .iter()
                .filter(|a| {
                    trusted_redirect(&params, Some(a))
                        .is_ok_and(|redirect| parse(&params, a, redirect).is_ok())
                })
                .count();
        }
        assert!(accepted >= 2, "the seeds should include good requests");
    }

    #[test]
    fn token_request_seeds() {
        for (_, data) in seeds("token_request") {
            token_request(&data);
        }
    }

    #[test]
    fn client_authentication_seeds() {
        for (_, data) in seeds("client_authentication") {
            client_authentication(&data);
        }
    }

    #[test]
    fn id_token_hint_seeds() {
        for (name, data) in seeds("id_token_hint") {
            id_token_hint(&data);
            let token = String::from_utf8(data.clone()).unwrap();
            let verified = verify_hint(&token, &KEYS.jwks, ISSUER);
            // The seeds signed by the fixed keys for this issuer, and only those, verify.
            let good = ["es384.jwt", "es384-expired.jwt", "es384-many-audiences.jwt"]
                .into_iter()
                .chain(["eddsa.jwt", "eddsa-no-kid.jwt", "rs256.jwt"])
                .any(|n| n == name);
            assert_eq!(verified.is_ok(), good, "{name}: {verified:?}");
            if name.ends_with(".json") {
                assert!(
                    verify_hint(&KEYS.sign(&data), &KEYS.jwks, ISSUER).is_ok(),
                    "{name}"
                );
            }
        }
    }
}
