//! Authorization codes by digest: the lookup row is written with `AuthorizationCodeIssued`;
//! the code's own stream decides everything else (single use, bindings).

use sigil_domain::authorization_code::AuthorizationCodeEvent;
use sigil_eventstore::sqlx::{self, AnyConnection, AnyPool};

use crate::state::AppState;

pub async fn index(
    conn: &mut AnyConnection,
    code_id: String,
    events: &[AuthorizationCodeEvent],
) -> Result<(), sqlx::Error> {
    for event in events {
        if let AuthorizationCodeEvent::AuthorizationCodeIssued(issue) = event {
            sqlx::query("INSERT INTO authorization_codes (code_digest, code_id, expires_at) VALUES ($1, $2, $3)")
                .bind(&issue.code_digest)
                .bind(&code_id)
                .bind(issue.expires_at)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

async fn find(pool: &AnyPool, code_digest: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT code_id FROM authorization_codes WHERE code_digest = $1")
        .bind(code_digest)
        .fetch_optional(pool)
        .await
}

/// The code stream of a code's digest: from this process's memory, else the lookup.
pub async fn code_of(state: &AppState, code_digest: &str) -> Result<Option<String>, sqlx::Error> {
    state
        .codes
        .find(code_digest, find(state.store.pool(), code_digest))
        .await
}
