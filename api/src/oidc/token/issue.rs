//! What the code and refresh grants both hand out: an access token (with its lookup row) and,
//! for `openid`, an ID token signed with the application's algorithm. The access token is
//! opaque, or a JWT (RFC 9068) when the request names a resource or an organization
//! (oidc::resources decides which and with what scopes). It is *decided* here and committed
//! by the caller, so that a grant can commit it in one transaction with the rest of what it
//! changes.

use sigil_domain::User;
use sigil_domain::access_token::{AccessToken, AccessTokenCommand, AccessTokenError, GrantType};

use super::TokenResponse;
use crate::commands::{CommandContext, CommandError, Decision};
use crate::oidc::access_tokens;
use crate::oidc::client_auth::AuthenticatedClient;
use crate::oidc::error::OAuthError;
use crate::oidc::form::OAuthForm;
use crate::oidc::id_token::{IdTokenInput, id_token};
use crate::oidc::jwt_access_token::JwtAccessToken;
use crate::oidc::organizations::member_of;
use crate::oidc::resources::{self, ORGANIZATIONS_SCOPE, Target};
use crate::oidc::tokens::{digest, new_token};
use crate::state::AppState;

/// Whom a user grant's tokens are for, and what its access token is for and carries: found
/// once per token request, before anything is committed.
pub struct Subject {
    pub user: User,
    pub target: Target,
    /// The user's organization ids, when the grant has the `organizations` scope.
    organizations: Option<Vec<String>>,
}

/// Loads the user (who may have been suspended or deleted since signing in) and decides the
/// access token's target from the grant and the token request (oidc::resources).
pub async fn subject(
    state: &AppState,
    client: &AuthenticatedClient,
    user_id: &str,
    scope: &[String],
    resources: &[String],
    form: &OAuthForm,
) -> Result<Subject, OAuthError> {
    let (user, _) = state.commands.load_folded::<User>(user_id).await?;
    if !user.is_active() {
        return Err(OAuthError::InvalidGrant(
            "the user can no longer sign in".into(),
        ));
    }
    let target = resources::for_user(state, client, user_id, &user, scope, resources, form).await?;
    let organizations = if scope.iter().any(|s| s == ORGANIZATIONS_SCOPE) {
        Some(member_of(state.store.pool(), user_id).await?)
    } else {
        None
    };
    Ok(Subject {
        user,
        target,
        organizations,
    })
}

pub struct Grant<'a> {
    pub grant_type: GrantType,
    pub user_id: &'a str,
    pub scope: &'a [String],
    pub nonce: Option<&'a str>,
    pub auth_time: i64,
    /// A new stream id ([`crate::oidc::tokens::new_stream_id`]): the token is issued on
    /// an empty stream without reading it.
    pub access_token_id: &'a str,
    pub subject: &'a Subject,
}

/// A new access token, decided but not written.
pub struct DecidedToken {
    pub decision: Decision,
    pub access_token: String,
}

impl DecidedToken {
    /// The token response of a user grant, once its decisions are committed.
    pub fn response(
        self,
        subject: &Subject,
        id_token: Option<String>,
        refresh_token: Option<String>,
    ) -> TokenResponse {
        TokenResponse {
            access_token: self.access_token,
            token_type: "Bearer",
            expires_in: subject.target.ttl_secs,
            scope: Some(subject.target.scope.join(" ")),
            id_token,
            refresh_token,
        }
    }
}

fn revoked_grant() -> OAuthError {
    OAuthError::InvalidGrant("the grant was revoked: its code or refresh token was replayed".into())
}

/// The access token itself: opaque, or a JWT (RFC 9068) when the target has an audience.
/// `jti` is the token's id (its stream), so revocation finds it.
pub fn mint(
    state: &AppState,
    client: &AuthenticatedClient,
    target: &Target,
    subject: &str,
    jti: &str,
    issued_at: i64,
    auth_time: Option<i64>,
) -> Result<String, OAuthError> {
    let Some(audience) = &target.audience else {
        return Ok(new_token());
    };
    JwtAccessToken {
        issuer: &state.config.issuer(),
        audience,
        subject,
        client_id: &client.id,
        scope: &target.scope,
        jti,
        issued_at,
        expires_at: issued_at + target.ttl_secs,
        auth_time,
        organization_id: target.organization_id.as_deref(),
        alg: client.application.id_token_signed_response_alg(),
    }
    .sign(&state.keys())
    .ok_or_else(no_key)
}

pub async fn decide_access_token(
    state: &AppState,
    client: &AuthenticatedClient,
    grant: &Grant<'_>,
    context: &CommandContext,
) -> Result<DecidedToken, OAuthError> {
    let now = context.now.timestamp();
    let target = &grant.subject.target;
    let access_token = mint(
        state,
        client,
        target,
        grant.user_id,
        grant.access_token_id,
        now,
        Some(grant.auth_time),
    )?;
    let issue = target.issue(
        grant.grant_type,
        &client.id,
        Some(grant.user_id),
        digest(&access_token),
        now,
    );
    let index_id = grant.access_token_id.to_string();
    // The id was made up for this token (`new_stream_id`), so its stream is empty: nothing to
    // read first. Should a replay have revoked the id in the meantime, the commit conflicts.
    let decided = state
        .commands
        .decide_loaded::<AccessToken>(
            grant.access_token_id,
            (AccessToken::default(), 0),
            AccessTokenCommand::Issue(issue),
            context,
            Box::new(move |conn, events| {
                Box::pin(access_tokens::index(conn, index_id.clone(), now, events))
            }),
        )
        .await;
    match decided {
        Ok((decision, _)) => Ok(DecidedToken {
            decision,
            access_token,
        }),
        Err(CommandError::Rejected(AccessTokenError::Revoked)) => Err(revoked_grant()),
        Err(e) => Err(e.into()),
    }
}

/// The ID token for a committed access token, if the scope asks for one.
pub fn sign_id_token(
    state: &AppState,
    client: &AuthenticatedClient,
    grant: &Grant<'_>,
    token: &DecidedToken,
    now: i64,
) -> Result<Option<String>, OAuthError> {
    if !grant.scope.iter().any(|s| s == "openid") {
        return Ok(None);
    }
    let keys = state.keys();
    id_token(
        &keys,
        IdTokenInput {
            issuer: &state.config.issuer(),
            client_id: &client.id,
            user_id: grant.user_id,
            user: &grant.subject.user,
            scope: grant.scope,
            nonce: grant.nonce,
            auth_time: grant.auth_time,
            now,
            access_token: &token.access_token,
            alg: client.application.id_token_signed_response_alg(),
            organizations: grant.subject.organizations.as_deref(),
        },
    )
    .map(Some)
    .ok_or_else(no_key)
}

pub fn no_key() -> OAuthError {
    OAuthError::ServerError("no active signing key for the application's algorithm".into())
}
