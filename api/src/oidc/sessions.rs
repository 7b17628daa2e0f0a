//! Browser sessions (single sign-on): the cookie holds a random token; the lookup, written
//! with the session's events, maps its digest to the user.

use sigil_domain::session::SessionEvent;
use sigil_eventstore::sqlx::{self, AnyConnection, AnyPool, Row};

pub const SESSION_COOKIE: &str = "sigil_session";
/// Sessions last two weeks without activity checks; ending one is explicit (logout).
pub const SESSION_TTL_SECS: i64 = 14 * 24 * 3600;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveSession {
    pub session_id: String,
    pub user_id: String,
    pub auth_time: i64,
}

pub async fn index(
    conn: &mut AnyConnection,
    session_id: String,
    now: i64,
    events: &[SessionEvent],
) -> Result<(), sqlx::Error> {
    for event in events {
        match event {
            SessionEvent::UserSignedIn {
                user_id,
                token_digest,
                auth_time,
                ..
            } => {
                sqlx::query(
                    "INSERT INTO sessions (token_digest, session_id, user_id, auth_time) VALUES ($1, $2, $3, $4)",
                )
                .bind(token_digest)
                .bind(&session_id)
                .bind(user_id)
                .bind(auth_time)
                .execute(&mut *conn)
                .await?;
            }
            SessionEvent::SessionEnded => {
                sqlx::query("UPDATE sessions SET ended_at = $1 WHERE session_id = $2")
                    .bind(now)
                    .bind(&session_id)
                    .execute(&mut *conn)
                    .await?;
            }
        }
    }
    Ok(())
}

/// The session a cookie's digest names, if it has not ended or expired.
pub async fn find(
    pool: &AnyPool,
    token_digest: &str,
    now: i64,
) -> Result<Option<ActiveSession>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT session_id, user_id, auth_time FROM sessions \
         WHERE token_digest = $1 AND ended_at IS NULL AND auth_time > $2",
    )
    .bind(token_digest)
    .bind(now - SESSION_TTL_SECS)
    .fetch_optional(pool)
    .await?;
    row.map(|r| {
        Ok(ActiveSession {
            session_id: r.try_get("session_id")?,
            user_id: r.try_get("user_id")?,
            auth_time: r.try_get("auth_time")?,
        })
    })
    .transpose()
}
