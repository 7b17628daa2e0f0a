//! What the code and refresh grants both hand out: an access token (with its lookup row) and,
//! for `openid`, an ID token signed with the application's algorithm. The access token is
//! opaque, or a JWT (RFC 9068) when the request names a resource or an organization
//! (oidc::resources decides which and with what scopes). It is *decided* here and committed
//! by the caller, so that a grant can commit it in one transaction with the rest of what it
//! changes.

use sigil_domain::User;
use sigil_domain::access_token::{
    AccessToken, AccessTokenCommand, AccessTokenError, GrantType, IssueAccessToken,
};

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

pub struct Grant<'a> {
    pub grant_type: GrantType,
    pub user_id: &'a str,
    pub scope: &'a [String],
    pub nonce: Option<&'a str>,
    pub auth_time: i64,
    pub access_token_id: &'a str,
    /// The resource indicators of the authorization (RFC 8707).
    pub resources: &'a [String],
    /// The token request, for its `resource` or `organization_id`.
    pub form: &'a OAuthForm,
}

pub struct Issued {
    pub access_token: String,
    pub id_token: Option<String>,
    pub scope: Vec<String>,
    pub expires_in: i64,
}

/// A new access token, decided but not written, and the user it is for.
pub struct DecidedToken {
    pub decision: Decision,
    pub access_token: String,
    /// What the access token is for and carries.
    pub target: Target,
    user: User,
    organizations: Option<Vec<String>>,
}

fn revoked_grant() -> OAuthError {
    OAuthError::InvalidGrant("the grant was revoked: its code or refresh token was replayed".into())
}

pub async fn decide_access_token(
    state: &AppState,
    client: &AuthenticatedClient,
    grant: &Grant<'_>,
    context: &CommandContext,
) -> Result<DecidedToken, OAuthError> {
    let now = context.now.timestamp();
    // The user may have been suspended or deleted since signing in.
    let (user, _) = state.commands.load::<User>(grant.user_id).await?;
    if !user.is_active() {
        return Err(OAuthError::InvalidGrant(
            "the user can no longer sign in".into(),
        ));
    }
    let target = resources::for_user(
        state,
        client,
        grant.user_id,
        &user,
        grant.scope,
        grant.resources,
        grant.form,
    )
    .await?;
    let expires_at = now + target.ttl_secs;
    let access_token = match &target.audience {
        None => new_token(),
        Some(audience) => JwtAccessToken {
            issuer: &state.config.issuer(),
            audience,
            subject: grant.user_id,
            client_id: &client.id,
            scope: &target.scope,
            jti: grant.access_token_id,
            issued_at: now,
            expires_at,
            auth_time: Some(grant.auth_time),
            organization_id: target.organization_id.as_deref(),
            alg: client.application.id_token_signed_response_alg(),
        }
        .sign(&state.keys())
        .ok_or_else(no_key)?,
    };
    let organizations = if grant.scope.iter().any(|s| s == ORGANIZATIONS_SCOPE) {
        Some(member_of(state.store.pool(), grant.user_id).await?)
    } else {
        None
    };
    let issue = IssueAccessToken {
        grant_type: grant.grant_type,
        client_id: client.id.clone(),
        subject: Some(grant.user_id.to_string()),
        scope: target.scope.clone(),
        audience: target.audience.clone(),
        organization_id: target.organization_id.clone(),
        token_digest: digest(&access_token),
        issued_at: now,
        expires_at,
    };
    let index_id = grant.access_token_id.to_string();
    let decided = state
        .commands
        .decide::<AccessToken>(
            grant.access_token_id,
            AccessTokenCommand::Issue(issue),
            context,
            Box::new(move |conn, events| {
                Box::pin(access_tokens::index(conn, index_id, now, events))
            }),
        )
        .await;
    match decided {
        Ok((decision, _)) => Ok(DecidedToken {
            decision,
            access_token,
            target,
            user,
            organizations,
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
            user: &token.user,
            scope: grant.scope,
            nonce: grant.nonce,
            auth_time: grant.auth_time,
            now,
            access_token: &token.access_token,
            alg: client.application.id_token_signed_response_alg(),
            organizations: token.organizations.as_deref(),
        },
    )
    .map(Some)
    .ok_or_else(no_key)
}

pub fn no_key() -> OAuthError {
    OAuthError::ServerError("no active signing key for the application's algorithm".into())
}

/// Decides, commits and signs: for a grant whose other changes are already committed.
pub async fn access_and_id_token(
    state: &AppState,
    client: &AuthenticatedClient,
    grant: Grant<'_>,
    context: &CommandContext,
) -> Result<Issued, OAuthError> {
    let mut token = decide_access_token(state, client, &grant, context).await?;
    let decision = std::mem::replace(&mut token.decision, Decision::nothing());
    match state.commands.commit(vec![decision]).await {
        Ok(()) => {}
        // Revoked by a replay between deciding and committing.
        Err(CommandError::Conflict) => return Err(revoked_grant()),
        Err(e) => return Err(CommandError::<AccessTokenError>::from_commit(e).into()),
    }
    let id_token = sign_id_token(state, client, &grant, &token, context.now.timestamp())?;
    Ok(Issued {
        access_token: token.access_token,
        id_token,
        scope: token.target.scope,
        expires_in: token.target.ttl_secs,
    })
}
