//! Who the person who came back is at Sigil: the account linked to their upstream identity;
//! else, when the connector allows it and the upstream vouches for the email
//! (`email_verified: true`), the account holding that email, now linked; else a new account,
//! provisioned just in time. The account's events, the session's and the state's use are
//! committed together: all or nothing, so a failure provisions nobody halfway.

use std::net::SocketAddr;

use axum::http::HeaderMap;
use sigil_domain::connector::OidcConnectorConfig;
use sigil_domain::session::{Session, SessionCommand};
use sigil_domain::upstream_sign_in::{UpstreamFailure, UpstreamSignIn, UpstreamSignInCommand};
use sigil_domain::user::{MAX_EMAIL_CHARS, MAX_NAME_CHARS};
use sigil_domain::{FederatedIdentity, NewUser, User, UserCommand};

use super::id_token::UpstreamClaims;
use crate::commands::{CommandError, Decision};
use crate::oidc::context::request_context;
use crate::oidc::interaction::Interaction;
use crate::oidc::sessions;
use crate::oidc::tokens::{digest, new_token};
use crate::state::AppState;
use crate::users;

pub struct Upstream<'a> {
    pub connector_id: &'a str,
    pub config: &'a OidcConnectorConfig,
    pub claims: &'a UpstreamClaims,
    pub attempt_stream: &'a str,
    /// The state's stream as loaded, unused: committing against this version is what makes
    /// the state single-use when two callbacks race.
    pub attempt: (UpstreamSignIn, i64),
}

pub enum Refusal {
    Failure(UpstreamFailure),
    Server(String),
}

fn server(e: impl std::fmt::Display) -> Refusal {
    Refusal::Server(e.to_string())
}

/// Signs the person in; returns the new session's id and its cookie value.
pub async fn sign_in(
    state: &AppState,
    headers: &HeaderMap,
    peer: SocketAddr,
    upstream: Upstream<'_>,
    interaction: &Interaction,
) -> Result<(String, String), Refusal> {
    let Upstream {
        connector_id,
        config,
        claims,
        attempt_stream,
        attempt,
    } = upstream;
    let identity = FederatedIdentity {
        connector_id: connector_id.to_string(),
        subject: claims.sub.clone(),
    };
    // Only an email the upstream vouches for is taken as the account's.
    let verified_email = claims
        .email
        .as_deref()
        .filter(|_| claims.email_verified == Some(true))
        .map(|e| e.trim().to_lowercase())
        .filter(|e| e.contains('@') && e.chars().count() <= MAX_EMAIL_CHARS);
    let pool = state.store.pool();
    let mut decisions: Vec<Decision> = Vec::new();
    let now = chrono::Utc::now();

    let linked = users::find_by_identity(pool, connector_id, &claims.sub)
        .await
        .map_err(server)?;
    let (user_id, account) = match linked {
        Some(user_id) => (user_id, None),
        None => {
            let holder = match &verified_email {
                Some(email) => users::find_by_identifier(pool, email)
                    .await
                    .map_err(server)?,
                None => None,
            };
            match holder {
                Some(user_id) if config.link_verified_email => {
                    (user_id, Some(UserCommand::LinkIdentity(identity)))
                }
                // The email is someone's, and this connector may not vouch for it.
                Some(_) => return Err(Refusal::Failure(UpstreamFailure::AccountConflict)),
                None => {
                    let name = claims
                        .name
                        .as_deref()
                        .map(str::trim)
                        .filter(|n| !n.is_empty() && n.chars().count() <= MAX_NAME_CHARS)
                        .map(str::to_string);
                    let new = NewUser {
                        username: None,
                        primary_email: verified_email,
                        name,
                        password_hash: None,
                    };
                    let command = UserCommand::Provision { new, identity };
                    (uuid::Uuid::new_v4().to_string(), Some(command))
                }
            }
        }
    };
    let context = request_context(headers, Some(peer), format!("user:{user_id}"));
    let (user, version) = state
        .commands
        .load::<User>(&user_id)
        .await
        .map_err(server)?;
    // An existing account (linked, or about to be) must be allowed to sign in.
    let existing = account.is_none() || matches!(account, Some(UserCommand::LinkIdentity(_)));
    if existing && !user.is_active() {
        return Err(Refusal::Failure(UpstreamFailure::UserSuspended));
    }
    if let Some(command) = account {
        let (decision, _) = state
            .commands
            .decide_loaded::<User>(
                &user_id,
                (user, version),
                command,
                &context,
                users::indexer(&user_id),
            )
            .await
            .map_err(|e| match e {
                // The claims do not make an account (an email the domain refuses).
                CommandError::Rejected(_) => Refusal::Failure(UpstreamFailure::MalformedIdToken),
                e => server(e),
            })?;
        decisions.push(decision);
    }

    let token = new_token();
    let session_id = uuid::Uuid::new_v4().to_string();
    let auth_time = now.timestamp();
    let index_id = session_id.clone();
    let (decision, _) = state
        .commands
        .decide::<Session>(
            &session_id,
            SessionCommand::SignIn {
                user_id: user_id.clone(),
                token_digest: digest(&token),
                auth_time,
                client_id: Some(interaction.request.client_id.clone()),
                connector_id: Some(connector_id.to_string()),
            },
            &context,
            Box::new(move |conn, events| {
                Box::pin(sessions::index(conn, index_id.clone(), auth_time, events))
            }),
        )
        .await
        .map_err(server)?;
    decisions.push(decision);
    let (decision, _) = state
        .commands
        .decide_loaded::<UpstreamSignIn>(
            attempt_stream,
            attempt,
            UpstreamSignInCommand::Complete {
                connector_id: connector_id.to_string(),
                user_id,
                subject: claims.sub.clone(),
            },
            &context,
            Box::new(|_, _| Box::pin(async { Ok(()) })),
        )
        .await
        .map_err(|_| Refusal::Failure(UpstreamFailure::StateReplayed))?;
    decisions.push(decision);

    match state.commands.commit(decisions).await {
        Ok(()) => Ok((session_id, token)),
        // Another callback with this state, or a first sign-in of this identity, won.
        Err(CommandError::Conflict) => Err(Refusal::Failure(UpstreamFailure::StateReplayed)),
        // The email was taken, or the identity linked, between our reads and the commit.
        Err(CommandError::Duplicate(_)) => Err(Refusal::Failure(UpstreamFailure::AccountConflict)),
        Err(e) => Err(server(e)),
    }
}
