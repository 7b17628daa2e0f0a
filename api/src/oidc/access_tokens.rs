//! The lookup of opaque access tokens by digest: written in the same transaction as the
//! token's events (so it is as consistent as the log), read by introspection, revocation
//! and userinfo.

use sigil_domain::access_token::AccessTokenEvent;
use sigil_eventstore::sqlx::{self, AnyConnection, AnyPool, Row};

/// One access token as the lookup holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessTokenRow {
    pub token_id: String,
    pub grant_type: String,
    pub client_id: String,
    pub subject: Option<String>,
    pub scope: String,
    pub issued_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub audience: Option<String>,
    pub organization_id: Option<String>,
}

impl AccessTokenRow {
    /// RFC 7662 §2.2 "active": not revoked, not expired.
    pub fn is_active(&self, now: i64) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

/// Writes what `events` (of the token `token_id`) change in the lookup.
/// `now` is the command's time (unix seconds), so the row matches the event's `occurred_at`.
pub async fn index(
    conn: &mut AnyConnection,
    token_id: String,
    now: i64,
    events: &[AccessTokenEvent],
) -> Result<(), sqlx::Error> {
    for event in events {
        match event {
            AccessTokenEvent::AccessTokenIssued(issue) => {
                sqlx::query(
                    "INSERT INTO access_tokens (token_digest, token_id, grant_type, client_id, subject, \
                     scope, issued_at, expires_at, audience, organization_id) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(&issue.token_digest)
                .bind(&token_id)
                .bind(issue.grant_type.as_str())
                .bind(&issue.client_id)
                .bind(&issue.subject)
                .bind(issue.scope.join(" "))
                .bind(issue.issued_at)
                .bind(issue.expires_at)
                .bind(&issue.audience)
                .bind(&issue.organization_id)
                .execute(&mut *conn)
                .await?;
            }
            AccessTokenEvent::TokenRevoked { .. } => {
                sqlx::query("UPDATE access_tokens SET revoked_at = $1 WHERE token_id = $2")
                    .bind(now)
                    .bind(&token_id)
                    .execute(&mut *conn)
                    .await?;
            }
        }
    }
    Ok(())
}

pub async fn find(
    pool: &AnyPool,
    token_digest: &str,
) -> Result<Option<AccessTokenRow>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT token_id, grant_type, client_id, subject, scope, issued_at, expires_at, revoked_at, \
         audience, organization_id FROM access_tokens WHERE token_digest = $1",
    )
    .bind(token_digest)
    .fetch_optional(pool)
    .await?;
    row.map(|r| {
        Ok(AccessTokenRow {
            token_id: r.try_get("token_id")?,
            grant_type: r.try_get("grant_type")?,
            client_id: r.try_get("client_id")?,
            subject: r.try_get("subject")?,
            scope: r.try_get("scope")?,
            issued_at: r.try_get("issued_at")?,
            expires_at: r.try_get("expires_at")?,
            revoked_at: r.try_get("revoked_at")?,
            audience: r.try_get("audience")?,
            organization_id: r.try_get("organization_id")?,
        })
    })
    .transpose()
}

/// Revokes access tokens issued to `client_id` (a replayed code or refresh token took them
/// down with it). Tokens already revoked record nothing more.
pub async fn revoke_all(
    state: &crate::state::AppState,
    token_ids: &[String],
    client_id: &str,
    context: &crate::commands::CommandContext,
) -> Result<(), crate::oidc::error::OAuthError> {
    use sigil_domain::access_token::{AccessToken, AccessTokenCommand};
    let now = context.now.timestamp();
    for token_id in token_ids {
        // The token may be being issued right now (a replay racing its first use): retry the
        // revocation after the issuance lands, or land before it so the issuance is refused.
        for attempt in 0.. {
            let index_id = token_id.clone();
            let revoked = state
                .commands
                .execute_indexed::<AccessToken>(
                    token_id,
                    AccessTokenCommand::Revoke {
                        client_id: client_id.to_string(),
                    },
                    context,
                    Box::new(move |conn, events| {
                        Box::pin(index(conn, index_id.clone(), now, events))
                    }),
                )
                .await;
            match revoked {
                Err(crate::commands::CommandError::Conflict) if attempt < 5 => continue,
                other => {
                    other?;
                    break;
                }
            }
        }
    }
    Ok(())
}

/// Issues an access token under a new id (`client_credentials`): its stream's first event
/// and its lookup row, in one transaction. Should the id exist already, nothing is issued.
pub async fn issue(
    state: &crate::state::AppState,
    token_id: &str,
    issue: sigil_domain::access_token::IssueAccessToken,
    context: &crate::commands::CommandContext,
) -> Result<(), crate::oidc::error::OAuthError> {
    use crate::commands::CommandError;
    use crate::oidc::error::OAuthError;
    use sigil_domain::access_token::{AccessToken, AccessTokenCommand, AccessTokenError};
    let now = context.now.timestamp();
    let index_id = token_id.to_string();
    // The id was made up for this token, so its stream is new: nothing to read first. Were
    // it taken after all, the commit would conflict rather than overwrite.
    let issued = state
        .commands
        .execute_loaded::<AccessToken>(
            token_id,
            (AccessToken::default(), 0),
            AccessTokenCommand::Issue(issue),
            context,
            Box::new(move |conn, events| Box::pin(index(conn, index_id.clone(), now, events))),
        )
        .await;
    match issued {
        Ok(_) => Ok(()),
        Err(CommandError::Rejected(AccessTokenError::Revoked) | CommandError::Conflict) => {
            Err(OAuthError::InvalidGrant(
                "the grant was revoked: its code or refresh token was replayed".into(),
            ))
        }
        Err(e) => Err(e.into()),
    }
}
