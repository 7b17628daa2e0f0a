//! App-access analytics: who uses which application, and how.
//!
//! - `rm_app_access`: per application, hour (UTC) and metric, a counter. Metrics:
//!   `sign_ins` (a person proved who they are while signing in to the app), `failed_sign_ins`,
//!   `consents_granted`, `consents_revoked`, and `tokens_issued:<grant type>`.
//! - `rm_app_access_users`: the users who used an application in an hour and in a day. A user
//!   uses an app by signing in to it or by getting a token for it (a refresh included).
//! - `rm_user_app_access`: per user, each application used, first and last.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use sigil_domain::access_token::{AccessTokenEvent, GrantType};
use sigil_domain::consent::ConsentEvent;
use sigil_domain::session::{SessionEvent, SignInAttemptEvent};
use sigil_eventstore::StoredEvent;
use sigil_eventstore::sqlx::{self, AnyConnection, Row};

use crate::read_models::decode;
use crate::rows::{Column, insert_rows};
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

/// What one batch adds to the analytics tables, summed in memory so that each table takes a
/// few multi-row statements per batch instead of several round trips per event. Ordered
/// maps: the rows go out in a stable order.
#[derive(Default)]
struct Tally {
    /// (application, hour, metric) → how many.
    counts: BTreeMap<(String, i64, String), i64>,
    /// (application, granularity, bucket, user).
    users: BTreeSet<(String, &'static str, i64, String)>,
    /// (user, application) → first and last use, sign-ins, tokens.
    user_apps: BTreeMap<(String, String), Access>,
    /// consent id → (application, user), granted in this batch.
    consents: BTreeMap<String, (String, String)>,
}

struct Access {
    first: i64,
    last: i64,
    sign_ins: i64,
    tokens: i64,
}

impl Tally {
    fn count(&mut self, application_id: &str, at: i64, metric: &str) {
        let key = (
            application_id.to_owned(),
            bucket_start(at, HOUR_MICROS),
            metric.to_owned(),
        );
        *self.counts.entry(key).or_default() += 1;
    }

    /// Records that `user_id` used `application_id` at `at`.
    fn used(&mut self, application_id: &str, user_id: &str, at: i64, sign_in: bool) {
        for (granularity, width) in [("h", HOUR_MICROS), ("d", DAY_MICROS)] {
            self.users.insert((
                application_id.to_owned(),
                granularity,
                bucket_start(at, width),
                user_id.to_owned(),
            ));
        }
        let access = self
            .user_apps
            .entry((user_id.to_owned(), application_id.to_owned()))
            .or_insert(Access {
                first: at,
                last: at,
                sign_ins: 0,
                tokens: 0,
            });
        access.first = access.first.min(at);
        access.last = access.last.max(at);
        if sign_in {
            access.sign_ins += 1;
        } else {
            access.tokens += 1;
        }
    }

    async fn add(
        &mut self,
        tx: &mut AnyConnection,
        event: &StoredEvent,
    ) -> Result<(), ProjectionError> {
        const NAME: &str = "analytics";
        let at = event.occurred_at;
        match event.aggregate_type.as_str() {
            "session" => {
                if let SessionEvent::UserSignedIn {
                    user_id,
                    client_id: Some(client_id),
                    ..
                } = decode(NAME, event)?
                {
                    self.count(&client_id, at, "sign_ins");
                    self.used(&client_id, &user_id, at, true);
                }
            }
            "sign_in_attempt" => {
                let SignInAttemptEvent::SignInFailed(failure) = decode(NAME, event)?;
                if let Some(client_id) = failure.client_id {
                    self.count(&client_id, at, "failed_sign_ins");
                }
            }
            "access_token" => {
                if let AccessTokenEvent::AccessTokenIssued(issued) = decode(NAME, event)? {
                    self.count(&issued.client_id, at, &tokens_metric(issued.grant_type));
                    if let Some(user_id) = issued.subject {
                        self.used(&issued.client_id, &user_id, at, false);
                    }
                }
            }
            "consent" => match decode(NAME, event)? {
                ConsentEvent::ConsentGranted {
                    user_id, client_id, ..
                } => {
                    self.count(&client_id, at, "consents_granted");
                    // The first grant's row stays, as `ON CONFLICT DO NOTHING` keeps it.
                    self.consents
                        .entry(event.aggregate_id.clone())
                        .or_insert((client_id, user_id));
                }
                ConsentEvent::ConsentRevoked => {
                    let client_id = match self.consents.get(&event.aggregate_id) {
                        Some((client_id, _)) => Some(client_id.clone()),
                        None => sqlx::query(
                            "SELECT application_id FROM rm_analytics_consents \
                             WHERE consent_id = $1",
                        )
                        .bind(&event.aggregate_id)
                        .fetch_optional(&mut *tx)
                        .await?
                        .map(|row| row.try_get("application_id"))
                        .transpose()?,
                    };
                    if let Some(client_id) = client_id {
                        self.count(&client_id, at, "consents_revoked");
                    }
                }
            },
            _ => {}
        }
        Ok(())
    }

    async fn write(self, tx: &mut AnyConnection) -> Result<(), ProjectionError> {
        use Column::{BigInt, Text};
        let counts: Vec<_> = self
            .counts
            .into_iter()
            .map(|((application_id, bucket, metric), n)| (application_id, bucket, metric, n))
            .collect();
        insert_rows(
            tx,
            "INSERT INTO rm_app_access (application_id, bucket, metric, count)",
            &[Text, BigInt, Text, BigInt],
            "ON CONFLICT (application_id, bucket, metric) \
             DO UPDATE SET count = rm_app_access.count + excluded.count",
            &counts,
        )
        .await?;
        let users: Vec<_> = self.users.into_iter().collect();
        insert_rows(
            tx,
            "INSERT INTO rm_app_access_users (application_id, granularity, bucket, user_id)",
            &[Text, Text, BigInt, Text],
            "ON CONFLICT DO NOTHING",
            &users,
        )
        .await?;
        let user_apps: Vec<_> = self
            .user_apps
            .into_iter()
            .map(|((user_id, application_id), a)| {
                (
                    user_id,
                    application_id,
                    a.first,
                    a.last,
                    a.sign_ins,
                    a.tokens,
                )
            })
            .collect();
        insert_rows(
            tx,
            "INSERT INTO rm_user_app_access (user_id, application_id, first_access, \
             last_access, sign_ins, tokens_issued)",
            &[Text, Text, BigInt, BigInt, BigInt, BigInt],
            "ON CONFLICT (user_id, application_id) DO UPDATE SET \
             first_access = CASE WHEN excluded.first_access < rm_user_app_access.first_access \
                 THEN excluded.first_access ELSE rm_user_app_access.first_access END, \
             last_access = CASE WHEN excluded.last_access > rm_user_app_access.last_access \
                 THEN excluded.last_access ELSE rm_user_app_access.last_access END, \
             sign_ins = rm_user_app_access.sign_ins + excluded.sign_ins, \
             tokens_issued = rm_user_app_access.tokens_issued + excluded.tokens_issued",
            &user_apps,
        )
        .await?;
        let consents: Vec<_> = self
            .consents
            .into_iter()
            .map(|(consent_id, (application_id, user_id))| (consent_id, application_id, user_id))
            .collect();
        insert_rows(
            tx,
            "INSERT INTO rm_analytics_consents (consent_id, application_id, user_id)",
            &[Text, Text, Text],
            "ON CONFLICT (consent_id) DO NOTHING",
            &consents,
        )
        .await
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
        self.apply_batch(tx, &[event]).await
    }

    async fn apply_batch(
        &self,
        tx: &mut AnyConnection,
        events: &[&StoredEvent],
    ) -> Result<(), ProjectionError> {
        let mut tally = Tally::default();
        for event in events {
            tally.add(tx, event).await?;
        }
        tally.write(tx).await
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
