//! What the code and refresh grants both hand out: an opaque access token (with its lookup
//! row) and, for `openid`, an ID token signed with the application's algorithm.

use sigil_domain::User;
use sigil_domain::access_token::{GrantType, IssueAccessToken};

use super::client_credentials::ACCESS_TOKEN_TTL_SECS;
use crate::commands::CommandContext;
use crate::oidc::access_tokens;
use crate::oidc::client_auth::AuthenticatedClient;
use crate::oidc::error::OAuthError;
use crate::oidc::id_token::{IdTokenInput, id_token};
use crate::oidc::tokens::{digest, new_token};
use crate::state::AppState;

pub struct Grant<'a> {
    pub grant_type: GrantType,
    pub user_id: &'a str,
    pub scope: &'a [String],
    pub nonce: Option<&'a str>,
    pub auth_time: i64,
    pub access_token_id: &'a str,
}

pub struct Issued {
    pub access_token: String,
    pub id_token: Option<String>,
}

pub async fn access_and_id_token(
    state: &AppState,
    client: &AuthenticatedClient,
    grant: Grant<'_>,
    context: &CommandContext,
) -> Result<Issued, OAuthError> {
    let now = context.now.timestamp();
    // The user may have been suspended or deleted since signing in.
    let (user, _) = state.commands.load::<User>(grant.user_id).await?;
    if !user.is_active() {
        return Err(OAuthError::InvalidGrant(
            "the user can no longer sign in".into(),
        ));
    }
    let access_token = new_token();
    let issue = IssueAccessToken {
        grant_type: grant.grant_type,
        client_id: client.id.clone(),
        subject: Some(grant.user_id.to_string()),
        scope: grant.scope.to_vec(),
        token_digest: digest(&access_token),
        issued_at: now,
        expires_at: now + ACCESS_TOKEN_TTL_SECS,
    };
    access_tokens::issue(state, grant.access_token_id, issue, context).await?;
    let id_token = if grant.scope.iter().any(|s| s == "openid") {
        let keys = state.keys();
        let token = id_token(
            &keys,
            IdTokenInput {
                issuer: &state.config.issuer(),
                client_id: &client.id,
                user_id: grant.user_id,
                user: &user,
                scope: grant.scope,
                nonce: grant.nonce,
                auth_time: grant.auth_time,
                now,
                access_token: &access_token,
                alg: client.application.id_token_signed_response_alg(),
            },
        )
        .ok_or_else(|| {
            OAuthError::ServerError("no active signing key for the application's algorithm".into())
        })?;
        Some(token)
    } else {
        None
    };
    Ok(Issued {
        access_token,
        id_token,
    })
}
