//! App-access analytics: who uses which application, and how.
//!
//! - `rm_app_access`: per application, hour (UTC) and metric, a counter. Metrics:
//!   `sign_ins` (a person proved who they are while signing in to the app), `failed_sign_ins`,
//!   `consents_granted`, `consents_revoked`, and `tokens_issued:<grant type>`.
//! - `rm_app_access_users`: the users who used an application in an hour and in a day. A user
//!   uses an app by signing in to it or by getting a token for it (a refresh included).
//! - `rm_user_app_access`: per user, each application used, first and last.

use async_trait::async_trait;
use sigil_domain::access_token::{AccessTokenEvent, GrantType};
use sigil_domain::consent::ConsentEvent;
use sigil_domain::session::{SessionEvent, SignInAttemptEvent};
use sigil_eventstore::StoredEvent;
use sigil_eventstore::sqlx::{self, AnyConnection, Row};

use crate::read_models::decode;
use crate::{Projection, ProjectionError};

pub const HOUR_MICROS: i64 = 3_600_000_000;
pub const DAY_MICROS: i64 = 24 * HOUR_MICROS;

/// The start of the hour or day (UTC) an instant falls in.
pub fn bucket_start(micros: i64, width: i64) -> i64 {
    micros.div_euclid(width) * width
}

pub fn tokens_metric(grant: GrantType) -> String {
    format!("tokens_issued:{}", grant.as_str())
}

pub struct AnalyticsView;

impl AnalyticsView {
    async fn count(
        tx: &mut AnyConnection,
        application_id: &str,
        at: i64,
        metric: &str,
    ) -> Result<(), ProjectionError> {
        sqlx::query(
            "INSERT INTO rm_app_access (application_id, bucket, metric, count) \
             VALUES ($1, $2, $3, 1) ON CONFLICT (application_id, bucket, metric) \
             DO UPDATE SET count = rm_app_access.count + 1",
        )
        .bind(application_id)
        .bind(bucket_start(at, HOUR_MICROS))
        .bind(metric)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    /// Records that `user_id` used `application_id` at `at`.
    async fn used(
        tx: &mut AnyConnection,
        application_id: &str,
        user_id: &str,
        at: i64,
        sign_in: bool,
    ) -> Result<(), ProjectionError> {
        for (granularity, width) in [("h", HOUR_MICROS), ("d", DAY_MICROS)] {
            sqlx::query(
                "INSERT INTO rm_app_access_users (application_id, granularity, bucket, user_id) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(application_id)
            .bind(granularity)
            .bind(bucket_start(at, width))
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        }
        let (sign_ins, tokens) = if sign_in { (1i64, 0i64) } else { (0, 1) };
        sqlx::query(
            "INSERT INTO rm_user_app_access (user_id, application_id, first_access, last_access, \
             sign_ins, tokens_issued) VALUES ($1, $2, $3, $3, $4, $5) \
             ON CONFLICT (user_id, application_id) DO UPDATE SET \
             first_access = CASE WHEN excluded.first_access < rm_user_app_access.first_access \
                 THEN excluded.first_access ELSE rm_user_app_access.first_access END, \
             last_access = CASE WHEN excluded.last_access > rm_user_app_access.last_access \
                 THEN excluded.last_access ELSE rm_user_app_access.last_access END, \
             sign_ins = rm_user_app_access.sign_ins + excluded.sign_ins, \
             tokens_issued = rm_user_app_access.tokens_issued + excluded.tokens_issued",
        )
        .bind(user_id)
        .bind(application_id)
        .bind(at)
        .bind(sign_ins)
        .bind(tokens)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }
}

#[async_trait]
impl Projection for AnalyticsView {
    fn name(&self) -> &'static str {
        "analytics"
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "rm_app_access",
            "rm_app_access_users",
            "rm_user_app_access",
            "rm_analytics_consents",
        ]
    }

    async fn apply(
        &self,
        tx: &mut AnyConnection,
        event: &StoredEvent,
    ) -> Result<(), ProjectionError> {
        let at = event.occurred_at;
        match event.aggregate_type.as_str() {
            "session" => {
                if let SessionEvent::UserSignedIn {
                    user_id,
                    client_id: Some(client_id),
                    ..
                } = decode(self.name(), event)?
                {
                    Self::count(tx, &client_id, at, "sign_ins").await?;
                    Self::used(tx, &client_id, &user_id, at, true).await?;
                }
            }
            "sign_in_attempt" => {
                let SignInAttemptEvent::SignInFailed(failure) = decode(self.name(), event)?;
                if let Some(client_id) = failure.client_id {
                    Self::count(tx, &client_id, at, "failed_sign_ins").await?;
                }
            }
            "access_token" => {
                if let AccessTokenEvent::AccessTokenIssued(issued) = decode(self.name(), event)? {
                    let metric = tokens_metric(issued.grant_type);
                    Self::count(tx, &issued.client_id, at, &metric).await?;
                    if let Some(user_id) = issued.subject {
                        Self::used(tx, &issued.client_id, &user_id, at, false).await?;
                    }
                }
            }
            "consent" => match decode(self.name(), event)? {
                ConsentEvent::ConsentGranted {
                    user_id, client_id, ..
                } => {
                    sqlx::query(
                        "INSERT INTO rm_analytics_consents (consent_id, application_id, user_id) \
                         VALUES ($1, $2, $3) ON CONFLICT (consent_id) DO NOTHING",
                    )
                    .bind(&event.aggregate_id)
                    .bind(&client_id)
                    .bind(&user_id)
                    .execute(&mut *tx)
                    .await?;
                    Self::count(tx, &client_id, at, "consents_granted").await?;
                }
                ConsentEvent::ConsentRevoked => {
                    let client_id: Option<String> = sqlx::query(
                        "SELECT application_id FROM rm_analytics_consents WHERE consent_id = $1",
                    )
                    .bind(&event.aggregate_id)
                    .fetch_optional(&mut *tx)
                    .await?
                    .map(|row| row.try_get("application_id"))
                    .transpose()?;
                    if let Some(client_id) = client_id {
                        Self::count(tx, &client_id, at, "consents_revoked").await?;
                    }
                }
            },
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_start_on_the_hour_and_the_day_utc() {
        let t = 1_700_000_123_456_789; // 2023-11-14T22:15:23.456789Z
        assert_eq!(bucket_start(t, HOUR_MICROS), 1_699_999_200_000_000);
        assert_eq!(bucket_start(t, DAY_MICROS), 1_699_920_000_000_000);
        assert_eq!(bucket_start(-1, HOUR_MICROS), -HOUR_MICROS);
    }
}
