//! Authorization codes by digest: the lookup row is written with `AuthorizationCodeIssued`;
//! the code's own stream decides everything else (single use, bindings).

use sigil_domain::authorization_code::AuthorizationCodeEvent;
use sigil_eventstore::sqlx::{self, AnyConnection, AnyPool};

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

pub async fn find(pool: &AnyPool, code_digest: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT code_id FROM authorization_codes WHERE code_digest = $1")
        .bind(code_digest)
        .fetch_optional(pool)
        .await
}
