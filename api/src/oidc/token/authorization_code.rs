//! The authorization code grant (RFC 6749 §4.1.3): redeems a code bound to this client, its
//! redirect URI and its PKCE verifier (RFC 7636 §4.6), then issues an access token, for
//! `openid` an ID token, and a refresh token when the request earned one. A code redeemed
//! twice fails and revokes what the first redemption issued (RFC 6749 §4.1.2).

use std::net::SocketAddr;

use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use sigil_domain::ApplicationType;
use sigil_domain::access_token::GrantType;
use sigil_domain::authorization_code::{
    AuthorizationCode, AuthorizationCodeCommand, AuthorizationCodeError, AuthorizationCodeEvent,
    IssueCode,
};
use sigil_domain::refresh_token::{RefreshTokenCommand, RefreshTokenFamily, StartFamily};

use super::TokenResponse;
use super::issue::{Grant, decide_access_token, sign_id_token, subject};
use super::refresh_token::policy;
use crate::commands::{CommandContext, CommandError, Current, Decision, Retry};
use crate::oidc::client_auth::AuthenticatedClient;
use crate::oidc::context::request_context;
use crate::oidc::error::OAuthError;
use crate::oidc::form::OAuthForm;
use crate::oidc::tokens::{digest, new_stream_id, new_token};
use crate::oidc::{access_tokens, codes, refresh_tokens};
use crate::state::AppState;

/// RFC 7636 §4.1: 43 to 128 unreserved characters.
pub(crate) fn verifier_challenge(verifier: &str) -> Result<String, OAuthError> {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    if !well_formed {
        return Err(OAuthError::InvalidGrant(
            "code_verifier is malformed".into(),
        ));
    }
    Ok(URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())))
}

/// Seed 002/003: a refresh token for `offline_access` asked with `prompt=consent` (OIDC Core
/// §11), or always when a traditional or single-page app is set to always issue one.
fn earns_refresh_token(client: &AuthenticatedClient, grant: &IssueCode) -> bool {
    let always = client.application.always_issue_refresh_token()
        && matches!(
            client.application.app_type(),
            Some(ApplicationType::Traditional | ApplicationType::Spa)
        );
    always || (grant.prompt_consent && grant.scope.iter().any(|s| s == "offline_access"))
}

pub async fn grant(
    state: &AppState,
    client: &AuthenticatedClient,
    form: &OAuthForm,
    headers: &HeaderMap,
    peer: SocketAddr,
) -> Result<TokenResponse, OAuthError> {
    let code = form.require("code")?;
    let verifier = form
        .get("code_verifier")
        .map(verifier_challenge)
        .transpose()?;
    let invalid = || OAuthError::InvalidGrant("the authorization code is not valid".into());
    let code_digest = digest(code);
    let code_id = codes::code_of(state, &code_digest)
        .await?
        .ok_or_else(invalid)?;
    // The code as the node that issued it kept it, when this is that node: a redemption
    // decided on it is proven current by its commit (one elsewhere conflicts), and a
    // refusal on it is decided again on the log's.
    let first = state
        .commands
        .kept_or_log::<AuthorizationCode>(&code_id)
        .await?;
    let grant = first.state().grant().cloned().ok_or_else(invalid)?;
    let context = request_context(headers, Some(peer), format!("client:{}", client.id));
    let now = context.now.timestamp();
    let access_token_id = new_stream_id();
    let refresh_family_id = earns_refresh_token(client, &grant).then(new_stream_id);
    let redeem = AuthorizationCodeCommand::Redeem {
        client_id: client.id.clone(),
        redirect_uri: form.get("redirect_uri").map(str::to_string),
        verifier_challenge: verifier,
        now,
        access_token_id: access_token_id.clone(),
        refresh_family_id: refresh_family_id.clone(),
    };
    let attempt = Attempt {
        code_id: &code_id,
        grant: &grant,
        access_token_id: &access_token_id,
        refresh_family_id: refresh_family_id.as_deref(),
        context: &context,
        form,
    };
    // A lost race on the code's stream means another redemption committed first: deciding
    // again turns this one into the recorded reuse it is.
    let (redeem, attempt) = (&redeem, &attempt);
    let answer = state
        .commands
        .decide_until_current(&code_id, first, 3, move |code| {
            redeem_once(state, client, redeem.clone(), code, attempt)
        })
        .await;
    // Whatever the answer, the copy kept may now be behind the log (a reuse just recorded)
    // or of no more use (a redeemed code): a later request reads the log's.
    state.commands.forget::<AuthorizationCode>(&code_id);
    let response = answer?;
    state.codes.forget(&code_digest);
    Ok(response)
}

fn already_used() -> OAuthError {
    OAuthError::InvalidGrant("the authorization code was already used".into())
}

/// What one redemption attempt works on.
struct Attempt<'a> {
    code_id: &'a str,
    grant: &'a IssueCode,
    access_token_id: &'a str,
    refresh_family_id: Option<&'a str>,
    context: &'a CommandContext,
    form: &'a OAuthForm,
}

/// Redeems the code and issues its tokens in one transaction; stale if another redemption
/// of the code committed first, or if a code kept in memory (perhaps stale) was refused.
async fn redeem_once(
    state: &AppState,
    client: &AuthenticatedClient,
    redeem: AuthorizationCodeCommand,
    code: Current<AuthorizationCode>,
    a: &Attempt<'_>,
) -> Result<TokenResponse, Retry<OAuthError>> {
    let (code, kept) = code.into_parts();
    let now = a.context.now.timestamp();
    let no_index =
        || -> crate::commands::Index<'static, _> { Box::new(|_, _| Box::pin(async { Ok(()) })) };
    let (redemption, events) = match state
        .commands
        .decide_loaded::<AuthorizationCode>(a.code_id, code, redeem, a.context, no_index())
        .await
    {
        Ok(decided) => decided,
        Err(CommandError::Rejected(e)) => {
            return Err(Retry::refusal(
                kept,
                OAuthError::InvalidGrant(e.to_string()),
            ));
        }
        Err(e) => return Err(OAuthError::from(e).into()),
    };
    if let Some(AuthorizationCodeEvent::AuthorizationCodeReuseDetected {
        revoke_access_token_ids,
        revoke_refresh_family_ids,
    }) = events.first()
    {
        // Recorded, then acted on: the first redemption's tokens were committed with it, so
        // they exist to be revoked.
        match state.commands.commit(vec![redemption]).await {
            Ok(()) | Err(CommandError::Conflict) => {}
            Err(e) => {
                return Err(Retry::Final(
                    CommandError::<AuthorizationCodeError>::from_commit(e).into(),
                ));
            }
        }
        revoke_everything(
            state,
            &a.grant.client_id,
            revoke_access_token_ids,
            revoke_refresh_family_ids,
            a.context,
        )
        .await?;
        return Err(already_used().into());
    }

    // The redemption, its access token and its refresh token family are one transaction: a
    // replay arriving at any instant sees either an unredeemed code (and loses the race on
    // the code's stream) or a redemption whose tokens already exist (and revokes them).
    let subject = subject(
        state,
        client,
        &a.grant.user_id,
        &a.grant.scope,
        &a.grant.resources,
        a.form,
    )
    .await?;
    let token_grant = Grant {
        grant_type: GrantType::AuthorizationCode,
        user_id: &a.grant.user_id,
        scope: &a.grant.scope,
        nonce: a.grant.nonce.as_deref(),
        auth_time: a.grant.auth_time,
        access_token_id: a.access_token_id,
        subject: &subject,
    };
    let mut token = decide_access_token(state, client, &token_grant, a.context).await?;
    let mut decisions = vec![
        redemption,
        std::mem::replace(&mut token.decision, Decision::nothing()),
    ];
    let refresh_token = match a.refresh_family_id {
        None => None,
        Some(family_id) => {
            let refresh = new_token();
            let start = StartFamily {
                client_id: client.id.clone(),
                user_id: a.grant.user_id.clone(),
                scope: a.grant.scope.clone(),
                token_digest: digest(&refresh),
                issued_at: now,
                expires_at: now + policy(client).ttl_secs,
                auth_time: a.grant.auth_time,
                access_token_id: a.access_token_id.to_string(),
                access_token_expires_at: Some(now + subject.target.ttl_secs),
                resources: a.grant.resources.clone(),
            };
            let index_id = family_id.to_string();
            let (decision, _) = state
                .commands
                .decide::<RefreshTokenFamily>(
                    family_id,
                    RefreshTokenCommand::Start(start),
                    a.context,
                    Box::new(move |conn, events| {
                        Box::pin(refresh_tokens::index(conn, index_id.clone(), events))
                    }),
                )
                .await
                .map_err(|e| match e {
                    CommandError::Rejected(_) => already_used(),
                    e => OAuthError::from(e),
                })?;
            decisions.push(decision);
            Some((refresh, family_id))
        }
    };
    match state.commands.commit(decisions).await {
        Ok(()) => {}
        // Another redemption committed first: decided again, it is the reuse it is.
        Err(CommandError::Conflict) => return Err(Retry::Stale(already_used())),
        Err(e) => {
            return Err(Retry::Final(
                CommandError::<AuthorizationCodeError>::from_commit(e).into(),
            ));
        }
    }
    let refresh_token = refresh_token.map(|(refresh, family_id)| {
        state.refresh_families.learn(&digest(&refresh), family_id);
        refresh
    });
    let id_token = sign_id_token(state, client, &token_grant, &token, now)?;
    Ok(token.response(&subject, id_token, refresh_token))
}

async fn revoke_everything(
    state: &AppState,
    client_id: &str,
    access_token_ids: &[String],
    refresh_family_ids: &[String],
    context: &CommandContext,
) -> Result<(), OAuthError> {
    access_tokens::revoke_all(state, access_token_ids, client_id, context).await?;
    for family_id in refresh_family_ids {
        // As with access tokens: revoke before the family starts, or after, never neither.
        let mut revoked = None;
        for attempt in 0.. {
            match state
                .commands
                .execute::<RefreshTokenFamily>(
                    family_id,
                    RefreshTokenCommand::RevokeForReuse,
                    context,
                )
                .await
            {
                Err(CommandError::Conflict) if attempt < 5 => continue,
                other => {
                    revoked = Some(other?);
                    break;
                }
            }
        }
        for event in revoked.unwrap_or_default() {
            if let sigil_domain::refresh_token::RefreshTokenEvent::RefreshTokenFamilyRevoked {
                revoke_access_token_ids,
            } = event
            {
                access_tokens::revoke_all(state, &revoke_access_token_ids, client_id, context)
                    .await?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc7636_appendix_b_verifier() {
        assert_eq!(
            super::verifier_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap(),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert!(super::verifier_challenge("short").is_err());
    }
}

#[cfg(test)]
mod properties {
    //! RFC 7636 §4.1 and §4.6 as properties of `verifier_challenge`.

    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use proptest::prelude::*;

    use super::verifier_challenge;

    fn unreserved(c: char) -> bool {
        c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Every verifier of 43 to 128 unreserved characters gives BASE64URL(SHA256(verifier)),
        /// here computed with ring's SHA-256 rather than the sha2 crate the code uses.
        #[test]
        fn a_valid_verifier_gives_its_s256_challenge(
            verifier in "[A-Za-z0-9._~-]{43,128}",
        ) {
            let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
            let expected = URL_SAFE_NO_PAD.encode(digest);
            let challenge = verifier_challenge(&verifier).unwrap();
            prop_assert_eq!(challenge.len(), 43);
            prop_assert_eq!(challenge, expected);
        }

        #[test]
        fn a_verifier_too_short_or_too_long_is_refused(
            verifier in prop_oneof![
                "[A-Za-z0-9._~-]{0,42}",
                "[A-Za-z0-9._~-]{129,300}",
            ],
        ) {
            let err = verifier_challenge(&verifier).unwrap_err();
            prop_assert_eq!(err.code(), "invalid_grant");
        }

        /// One character outside the unreserved set, at any place, in a verifier whose length
        /// is otherwise fine (counted in bytes, as the code does).
        #[test]
        fn a_verifier_with_any_other_character_is_refused(
            base in "[A-Za-z0-9._~-]{42,124}",
            bad in any::<char>().prop_filter("not unreserved", |c| !unreserved(*c)),
            at in any::<prop::sample::Index>(),
        ) {
            let mut verifier = base;
            verifier.insert(at.index(verifier.len() + 1), bad);
            prop_assert!((43..=128).contains(&verifier.len()));
            let err = verifier_challenge(&verifier).unwrap_err();
            prop_assert_eq!(err.code(), "invalid_grant");
        }
    }
}
