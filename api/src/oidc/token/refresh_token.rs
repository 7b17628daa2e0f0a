//! The refresh token grant (RFC 6749 §6) with rotation and reuse detection (RFC 9700
//! §4.14.2), by the application's settings (seed 003).

use std::net::SocketAddr;

use axum::http::HeaderMap;
use sigil_domain::ApplicationType;
use sigil_domain::access_token::GrantType;
use sigil_domain::consent::{Consent, consent_id};
use sigil_domain::refresh_token::{
    RefreshTokenCommand, RefreshTokenEvent, RefreshTokenFamily, RotationPolicy, StartFamily,
};

use super::TokenResponse;
use super::issue::{Grant, Subject, decide_access_token, sign_id_token, subject};
use crate::commands::{CommandError, Current, Decision, Retry};
use crate::oidc::client_auth::AuthenticatedClient;
use crate::oidc::context::request_context;
use crate::oidc::error::OAuthError;
use crate::oidc::form::OAuthForm;
use crate::oidc::tokens::{digest, new_stream_id};
use crate::oidc::{access_tokens, refresh_tokens};
use crate::state::AppState;

const DAY: i64 = 24 * 3600;

/// The application's refresh-token settings as a rotation policy (seed 003).
pub fn policy(client: &AuthenticatedClient) -> RotationPolicy {
    let app = &client.application;
    let app_type = app.app_type().unwrap_or(ApplicationType::Spa);
    RotationPolicy {
        // Only traditional and machine-to-machine apps have the switch; public clients, which
        // cannot bind a token to themselves, always rotate.
        always_rotate: !app_type.is_confidential(),
        rotate_enabled: app.rotate_refresh_token(),
        ttl_secs: i64::from(app.refresh_token_ttl_days()) * DAY,
        // SPAs do not get their refresh tokens' lifetime extended by use.
        extend_on_use: app_type != ApplicationType::Spa,
        grace_secs: i64::from(app.refresh_token_reuse_grace_seconds()),
    }
}

/// The scope and the subject of the token this refresh would issue, checked before the
/// refresh token is used: a wider scope (RFC 6749 §6), a resource or organization the grant
/// does not reach, a user who can no longer sign in.
async fn prepare(
    state: &AppState,
    client: &AuthenticatedClient,
    start: &StartFamily,
    form: &OAuthForm,
) -> Result<(Vec<String>, Subject), OAuthError> {
    let scope = narrowed_scope(&start.scope, form)?;
    // A third-party application holds nothing the user has taken back (seed 001): once
    // consent is revoked its refresh tokens stop working.
    if client.application.is_third_party() {
        let (consent, _) = state
            .commands
            .load::<Consent>(&consent_id(&start.user_id, &client.id))
            .await?;
        if consent.scopes().is_empty() {
            return Err(OAuthError::InvalidGrant(
                "the user revoked this application's consent".into(),
            ));
        }
    }
    let subject = subject(
        state,
        client,
        &start.user_id,
        &scope,
        &start.resources,
        form,
    )
    .await?;
    Ok((scope, subject))
}

/// RFC 6749 §6: a narrower scope may be asked for, never a wider one.
fn narrowed_scope(granted: &[String], form: &OAuthForm) -> Result<Vec<String>, OAuthError> {
    match form.get("scope") {
        None => Ok(granted.to_vec()),
        Some(requested) => {
            let requested: Vec<String> = requested.split(' ').map(str::to_string).collect();
            if let Some(extra) = requested.iter().find(|s| !granted.contains(s)) {
                return Err(OAuthError::InvalidScope(format!(
                    "{extra:?} was not granted"
                )));
            }
            Ok(requested)
        }
    }
}

pub async fn grant(
    state: &AppState,
    client: &AuthenticatedClient,
    form: &OAuthForm,
    headers: &HeaderMap,
    peer: SocketAddr,
) -> Result<TokenResponse, OAuthError> {
    let presented = form.require("refresh_token")?;
    let presented_digest = digest(presented);
    let family_id = refresh_tokens::family_of(state, &presented_digest)
        .await?
        .ok_or_else(invalid)?;
    let request = Request {
        state,
        client,
        form,
        headers,
        peer,
        presented,
        presented_digest: &presented_digest,
        family_id: &family_id,
    };
    // The family as this process last kept it, when it has: a use decided on it is proven
    // current by its commit, so the log is not read first. A stale family (another node, or
    // a concurrent request, moved it) is decided again on the log's.
    let first = state
        .commands
        .kept_or_log::<RefreshTokenFamily>(&family_id)
        .await?;
    let request = &request;
    state
        .commands
        .decide_until_current(&family_id, first, 3, move |family| request.attempt(family))
        .await
}

fn invalid() -> OAuthError {
    OAuthError::InvalidGrant("the refresh token is not valid".into())
}

struct Request<'a> {
    state: &'a AppState,
    client: &'a AuthenticatedClient,
    form: &'a OAuthForm,
    headers: &'a HeaderMap,
    peer: SocketAddr,
    presented: &'a str,
    presented_digest: &'a str,
    family_id: &'a str,
}

impl Request<'_> {
    async fn attempt(
        &self,
        family: Current<RefreshTokenFamily>,
    ) -> Result<TokenResponse, Retry<OAuthError>> {
        let (state, client) = (self.state, self.client);
        let ((family, version), kept) = family.into_parts();
        let refused = |e: OAuthError| Retry::refusal(kept, e);
        let start = family.grant().ok_or_else(|| refused(invalid()))?.clone();
        let prepared = prepare(state, client, &start, self.form).await;
        // Only the current token is refused before it is used, so a refusal costs the client
        // nothing. Any other token goes on to `Use`, which records its reuse (RFC 9700
        // §4.14.2) whatever else is wrong with the request.
        if let Err(e) = &prepared
            && family.is_head(self.presented_digest)
        {
            return Err(refused(e.clone()));
        }
        let context = request_context(
            self.headers,
            Some(self.peer),
            format!("client:{}", client.id),
        );
        let successor = state.refresh_successors.successor(self.presented);
        let access_token_id = new_stream_id();
        let index_id = self.family_id.to_string();
        let after = family.clone();
        let used = state
            .commands
            .decide_loaded::<RefreshTokenFamily>(
                self.family_id,
                (family, version),
                RefreshTokenCommand::Use {
                    presented_digest: self.presented_digest.to_string(),
                    client_id: client.id.clone(),
                    now: context.now.timestamp(),
                    policy: policy(client),
                    successor_digest: digest(&successor),
                    access_token_id: access_token_id.clone(),
                    access_token_expires_at: prepared
                        .as_ref()
                        .ok()
                        .map(|(_, subject)| context.now.timestamp() + subject.target.ttl_secs),
                },
                &context,
                Box::new(move |conn, events| {
                    Box::pin(refresh_tokens::index(conn, index_id.clone(), events))
                }),
            )
            .await;
        let (used, events) = match used {
            Ok(decided) => decided,
            Err(CommandError::Rejected(e)) => {
                return Err(refused(OAuthError::InvalidGrant(e.to_string())));
            }
            Err(e) => return Err(Retry::Final(e.into())),
        };
        let refresh_token = match events.first() {
            Some(RefreshTokenEvent::RefreshTokenReuseDetected {
                revoke_access_token_ids,
                ..
            }) => {
                commit(state, vec![used]).await?;
                access_tokens::revoke_all(state, revoke_access_token_ids, &client.id, &context)
                    .await?;
                return Err(Retry::Final(OAuthError::InvalidGrant(
                    "the refresh token was already used; its whole family is revoked".into(),
                )));
            }
            Some(
                RefreshTokenEvent::RefreshTokenRotated { .. }
                | RefreshTokenEvent::RefreshTokenRotationReplayed { .. },
            ) => Some(successor),
            _ => None,
        };
        let (scope, subject) = match prepared {
            Ok(prepared) => prepared,
            Err(e) => {
                // Not the head: its use is recorded, and the refusal stands.
                commit(state, vec![used]).await?;
                return Err(Retry::Final(e));
            }
        };
        let grant = Grant {
            grant_type: GrantType::RefreshToken,
            user_id: &start.user_id,
            scope: &scope,
            nonce: None,
            auth_time: start.auth_time,
            access_token_id: &access_token_id,
            subject: &subject,
        };
        // The rotation and the new access token are one commit: one wait for the disk, and
        // never a rotated token without the access token it paid for.
        let mut token = decide_access_token(state, client, &grant, &context).await?;
        let issued = std::mem::replace(&mut token.decision, Decision::nothing());
        commit(state, vec![used, issued]).await?;
        for event in &events {
            if let RefreshTokenEvent::RefreshTokenRotated {
                from_digest,
                to_digest,
                ..
            } = event
            {
                state.refresh_families.forget(from_digest);
                state.refresh_families.learn(to_digest, self.family_id);
            }
        }
        state
            .commands
            .keep_committed(self.family_id, (after, version), &events);
        let id_token = sign_id_token(state, client, &grant, &token, context.now.timestamp())?;
        Ok(token.response(&subject, id_token, refresh_token))
    }
}

/// Commits the refresh token's use (and what it pays for). A lost race on the family's
/// stream means another request moved it first: the use is decided again.
async fn commit(state: &AppState, decisions: Vec<Decision>) -> Result<(), Retry<OAuthError>> {
    match state.commands.commit(decisions).await {
        Ok(()) => Ok(()),
        // Two refreshes with one token at the same instant (only one may rotate it), a family
        // kept stale, or an access token id revoked by a replay between deciding and
        // committing.
        Err(CommandError::Conflict) => Err(Retry::Stale(OAuthError::InvalidGrant(
            "the refresh token was used concurrently; retry".into(),
        ))),
        Err(e) => Err(Retry::Final(
            CommandError::<std::convert::Infallible>::from_commit(e).into(),
        )),
    }
}
