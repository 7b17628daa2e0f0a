//! Entry points for the criterion benchmarks in `api/benches/`: each runs one hot path the
//! way its endpoint does, without HTTP around it. The server never calls these.

use sigil_domain::{Application, ApplicationType};

use crate::oidc::authorize::request::{parse, trusted_redirect};
use crate::oidc::client_auth::secret_matches;
use crate::oidc::form;
use crate::oidc::token::authorization_code::verifier_challenge;

/// A single-page application registered with `redirect_uri`, as the authorize benchmark's
/// client.
pub fn spa(redirect_uri: &str) -> Application {
    crate::fuzzing::application(ApplicationType::Spa, &[redirect_uri])
}

/// Validates an authorization request's query against `application`: the redirect URI
/// first (it decides whether errors may go back to the client), then every parameter.
/// True when the request is acceptable.
pub fn authorization_request(query: &[u8], application: &Application) -> bool {
    let Ok(params) = form::parse(query) else {
        return false;
    };
    match trusted_redirect(&params, Some(application)) {
        Ok(redirect) => parse(&params, application, redirect).is_ok(),
        Err(_) => false,
    }
}

/// PKCE (RFC 7636 §4.6): whether `verifier` answers the S256 `challenge`.
pub fn pkce_s256(verifier: &str, challenge: &str) -> bool {
    verifier_challenge(verifier).is_ok_and(|c| c == challenge)
}

/// Client authentication with a secret: whether `secret` is the one behind `digest`.
pub fn client_secret(secret: &str, digest: &str) -> bool {
    secret_matches(secret, digest)
}
