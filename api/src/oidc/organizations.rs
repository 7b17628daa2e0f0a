//! Which organizations a user belongs to, for the `organizations` scope (the ids in the ID
//! token and userinfo) and for the management API. Read from the organization members read
//! model, which the management API waits on before it answers a change.

use sigil_eventstore::sqlx::{self, AnyPool};

/// The user's organization ids, in a stable order.
pub async fn member_of(pool: &AnyPool, user_id: &str) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT organization_id FROM rm_organization_members WHERE user_id = $1 \
         ORDER BY organization_id",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await
}
