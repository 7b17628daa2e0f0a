//! App-access analytics from the `analytics` read model: per application and hour or day,
//! how many signed in, who, with which grants, and how consent moved; per user, which
//! applications and when. What each number counts is in `sigil_projections::AnalyticsView`.

use std::collections::BTreeMap;

use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use sigil_eventstore::micros_to_utc;
use sigil_eventstore::sqlx::{self, Row};
use sigil_projections::{DAY_MICROS, HOUR_MICROS, bucket_start};

use super::app;
use super::applications::{self, Application};
use super::error::{ApiError, ApiResult};

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum Bucket {
    Day,
    Hour,
}

impl Bucket {
    fn width(self) -> i64 {
        match self {
            Bucket::Day => DAY_MICROS,
            Bucket::Hour => HOUR_MICROS,
        }
    }

    fn granularity(self) -> &'static str {
        match self {
            Bucket::Day => "d",
            Bucket::Hour => "h",
        }
    }

    /// A year of days, or a month of hours.
    fn max_buckets(self) -> i64 {
        match self {
            Bucket::Day => 366,
            Bucket::Hour => 31 * 24,
        }
    }
}

#[derive(SimpleObject, Clone)]
pub struct GrantTypeCount {
    grant_type: String,
    count: i64,
}

/// One hour or day (UTC) of an application's use.
#[derive(SimpleObject, Clone)]
pub struct AppAccessBucket {
    start: DateTime<Utc>,
    /// Sign-ins in which a person proved who they are to use this application.
    sign_ins: i64,
    /// Distinct users who signed in or got a token (a refresh included).
    unique_users: i64,
    failed_sign_ins: i64,
    consents_granted: i64,
    consents_revoked: i64,
    /// Access tokens issued, all grants.
    tokens_issued: i64,
    tokens_by_grant_type: Vec<GrantTypeCount>,
}

impl AppAccessBucket {
    fn empty(start: i64) -> Self {
        AppAccessBucket {
            start: micros_to_utc(start),
            sign_ins: 0,
            unique_users: 0,
            failed_sign_ins: 0,
            consents_granted: 0,
            consents_revoked: 0,
            tokens_issued: 0,
            tokens_by_grant_type: Vec::new(),
        }
    }

    fn add(&mut self, metric: &str, count: i64) {
        match metric {
            "sign_ins" => self.sign_ins += count,
            "failed_sign_ins" => self.failed_sign_ins += count,
            "consents_granted" => self.consents_granted += count,
            "consents_revoked" => self.consents_revoked += count,
            other => {
                if let Some(grant_type) = other.strip_prefix("tokens_issued:") {
                    self.tokens_issued += count;
                    match self
                        .tokens_by_grant_type
                        .iter_mut()
                        .find(|g| g.grant_type == grant_type)
                    {
                        Some(g) => g.count += count,
                        None => self.tokens_by_grant_type.push(GrantTypeCount {
                            grant_type: grant_type.to_owned(),
                            count,
                        }),
                    }
                }
            }
        }
    }
}

/// One application a user has used.
pub struct UserAppAccess {
    application_id: String,
    first_access: i64,
    last_access: i64,
    sign_ins: i64,
    tokens_issued: i64,
}

#[Object]
impl UserAppAccess {
    async fn application_id(&self) -> ID {
        ID(self.application_id.clone())
    }
    /// Null when the application has since been deleted.
    async fn application(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Application>> {
        Ok(applications::find(app(ctx), &self.application_id).await?)
    }
    async fn first_access(&self) -> DateTime<Utc> {
        micros_to_utc(self.first_access)
    }
    async fn last_access(&self) -> DateTime<Utc> {
        micros_to_utc(self.last_access)
    }
    async fn sign_ins(&self) -> i64 {
        self.sign_ins
    }
    async fn tokens_issued(&self) -> i64 {
        self.tokens_issued
    }
}

#[derive(Default)]
pub struct AnalyticsQuery;

#[Object]
impl AnalyticsQuery {
    /// Every hour or day (UTC) from the one holding `from` up to `to` (exclusive), idle ones
    /// included, so a chart needs no gap filling. At most a year of days or a month of hours.
    #[graphql(complexity = 100)]
    async fn app_access_stats(
        &self,
        ctx: &Context<'_>,
        application_id: ID,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        bucket: Bucket,
    ) -> async_graphql::Result<Vec<AppAccessBucket>> {
        Ok(app_access_stats(ctx, &application_id, from, to, bucket).await?)
    }

    /// The applications `userId` has used, most recent first.
    async fn user_app_access(
        &self,
        ctx: &Context<'_>,
        user_id: ID,
    ) -> async_graphql::Result<Vec<UserAppAccess>> {
        let rows = sqlx::query(
            "SELECT application_id, first_access, last_access, sign_ins, tokens_issued \
             FROM rm_user_app_access WHERE user_id = $1 ORDER BY last_access DESC, application_id",
        )
        .bind(user_id.as_str())
        .fetch_all(app(ctx).store.pool())
        .await
        .map_err(ApiError::from)?;
        Ok(rows
            .iter()
            .map(|row| {
                Ok(UserAppAccess {
                    application_id: row.try_get("application_id")?,
                    first_access: row.try_get("first_access")?,
                    last_access: row.try_get("last_access")?,
                    sign_ins: row.try_get("sign_ins")?,
                    tokens_issued: row.try_get("tokens_issued")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(ApiError::from)?)
    }
}

async fn app_access_stats(
    ctx: &Context<'_>,
    application_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    bucket: Bucket,
) -> ApiResult<Vec<AppAccessBucket>> {
    let width = bucket.width();
    let start = bucket_start(from.timestamp_micros(), width);
    let end = to.timestamp_micros();
    if end <= start {
        return Err(ApiError::validation("`to` must be after `from`"));
    }
    if (end - start).div_euclid(width) >= bucket.max_buckets() {
        return Err(ApiError::validation(format!(
            "at most {} buckets of this size per query",
            bucket.max_buckets()
        )));
    }
    let mut buckets: BTreeMap<i64, AppAccessBucket> = (0..)
        .map(|i| start + i * width)
        .take_while(|b| *b < end)
        .map(|b| (b, AppAccessBucket::empty(b)))
        .collect();
    let pool = app(ctx).store.pool();
    let counters = sqlx::query(
        "SELECT bucket, metric, count FROM rm_app_access \
         WHERE application_id = $1 AND bucket >= $2 AND bucket < $3",
    )
    .bind(application_id)
    .bind(start)
    .bind(end)
    .fetch_all(pool)
    .await?;
    for row in counters {
        let hour: i64 = row.try_get("bucket")?;
        let metric: String = row.try_get("metric")?;
        let count: i64 = row.try_get("count")?;
        if let Some(b) = buckets.get_mut(&bucket_start(hour, width)) {
            b.add(&metric, count);
        }
    }
    let users = sqlx::query(
        "SELECT bucket, COUNT(*) AS users FROM rm_app_access_users \
         WHERE application_id = $1 AND granularity = $2 AND bucket >= $3 AND bucket < $4 \
         GROUP BY bucket",
    )
    .bind(application_id)
    .bind(bucket.granularity())
    .bind(start)
    .bind(end)
    .fetch_all(pool)
    .await?;
    for row in users {
        let at: i64 = row.try_get("bucket")?;
        if let Some(b) = buckets.get_mut(&at) {
            b.unique_users = row.try_get("users")?;
        }
    }
    Ok(buckets.into_values().collect())
}
