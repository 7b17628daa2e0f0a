//! Connections: one `sqlx` Any pool for reads and a writer pool, on PostgreSQL or SQLite,
//! chosen by the URL at run time; and the migrations of `migrations/{postgres,sqlite}`.

use std::borrow::Cow;
use std::path::Path;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::Migrator;
use sqlx::{AnyConnection, AnyPool, Executor};

use crate::StoreError;

static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/postgres");
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/sqlite");

/// Which database holds the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn from_url(url: &str) -> Result<Backend, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else {
            Err(StoreError::UnsupportedUrl(url.to_string()))
        }
    }

    /// The backend behind a connection of the Any driver.
    pub fn of(connection: &AnyConnection) -> Backend {
        match connection.backend_name() {
            "PostgreSQL" => Backend::Postgres,
            _ => Backend::Sqlite,
        }
    }

    /// `sql` as this backend binds its parameters fastest. Statements are written with
    /// PostgreSQL's `$1, $2, …`; SQLite gets anonymous `?`s when those run in order, once
    /// each, because sqlx's SQLite driver looks every named parameter up by name, a cost
    /// that grows with the square of the parameters of a multi-row insert.
    pub fn parameters(self, sql: &str) -> Cow<'_, str> {
        if self == Backend::Postgres {
            return Cow::Borrowed(sql);
        }
        let mut out = String::with_capacity(sql.len());
        let mut expected = 1usize;
        let mut rest = sql;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            let digits = rest[at + 1..]
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len() - at - 1);
            match rest[at + 1..at + 1 + digits].parse::<usize>() {
                Ok(n) if n == expected => out.push('?'),
                // Out of order, repeated, or not a parameter: the statement keeps its names.
                _ => return Cow::Borrowed(sql),
            }
            expected += 1;
            rest = &rest[at + 1 + digits..];
        }
        out.push_str(rest);
        Cow::Owned(out)
    }

    fn migrator(self) -> &'static Migrator {
        match self {
            Backend::Postgres => &POSTGRES_MIGRATIONS,
            Backend::Sqlite => &SQLITE_MIGRATIONS,
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Pools {
    pub backend: Backend,
    pub url: String,
    /// Reads, read models and (on PostgreSQL) writes.
    pub read: AnyPool,
    /// Appends. On SQLite one connection: SQLite admits one writer at a time anyway, and
    /// queueing in-process avoids `SQLITE_BUSY` on lock upgrades.
    pub write: AnyPool,
    /// The read-model runners' own connections on PostgreSQL, so that under load they do
    /// not queue behind every request for one of `read`'s. On SQLite, `read`: their
    /// transactions take the single writer.
    pub read_models: AnyPool,
}

impl Pools {
    pub async fn connect(url: &str) -> Result<Pools, StoreError> {
        install_default_drivers();
        let backend = Backend::from_url(url)?;
        match backend {
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(url)
                    .await?;
                // One for the group runner, one for a catch-up or rebuild beside it.
                let read_models = AnyPoolOptions::new()
                    .max_connections(2)
                    .min_connections(0)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_lazy(url)?;
                Ok(Pools {
                    backend,
                    url: url.to_string(),
                    read: pool.clone(),
                    write: pool,
                    read_models,
                })
            }
            Backend::Sqlite => {
                let url = sqlite_url(url)?;
                let read = sqlite_pool(&url, 8).await?;
                let write = sqlite_pool(&url, 1).await?;
                Ok(Pools {
                    backend,
                    url,
                    read_models: read.clone(),
                    read,
                    write,
                })
            }
        }
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.backend.migrator().run(&self.write).await?;
        self.check_invariants().await
    }

    /// Settings the log's correctness rests on, checked rather than assumed.
    pub async fn check_invariants(&self) -> Result<(), StoreError> {
        if self.backend == Backend::Postgres {
            // The subscription frontier needs every drawn position to be visible in the
            // sequence's last_value at once: no per-session caching of values.
            let cache: Option<i64> = sqlx::query_scalar(
                "SELECT cache_size FROM pg_sequences WHERE schemaname = current_schema() \
                 AND sequencename = 'events_position_seq'",
            )
            .fetch_optional(&self.read)
            .await?;
            if cache.is_some_and(|c| c != 1) {
                return Err(StoreError::Misconfigured(
                    "events_position_seq must have CACHE 1 (ALTER SEQUENCE events_position_seq CACHE 1)"
                        .into(),
                ));
            }
        }
        Ok(())
    }

    /// True when every migration this binary knows of has been applied successfully.
    pub async fn migrations_applied(&self) -> Result<bool, StoreError> {
        let applied: Vec<i64> =
            match sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success = $1")
                .bind(true)
                .fetch_all(&self.read)
                .await
            {
                Ok(v) => v,
                // No bookkeeping table yet: nothing was applied.
                Err(sqlx::Error::Database(_)) => return Ok(false),
                Err(e) => return Err(e.into()),
            };
        Ok(self
            .backend
            .migrator()
            .iter()
            .all(|m| applied.contains(&m.version)))
    }
}

/// `sqlite://sigil-data/sigil.db` names a file relative to the working directory; make sure
/// its folder exists and that SQLite may create it.
fn sqlite_url(url: &str) -> Result<String, StoreError> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| StoreError::UnsupportedUrl(url.to_string()))?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path == ":memory:" {
        // Each pooled connection would get its own empty database: useless for a log.
        return Err(StoreError::UnsupportedUrl(url.to_string()));
    }
    if let Some(parent) = Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)?;
    }
    let query = if query.contains("mode=") {
        query.to_string()
    } else if query.is_empty() {
        "mode=rwc".to_string()
    } else {
        format!("{query}&mode=rwc")
    };
    Ok(format!("sqlite://{path}?{query}"))
}

async fn sqlite_pool(url: &str, max: u32) -> Result<AnyPool, StoreError> {
    Ok(AnyPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(30))
        .after_connect(|conn, _| {
            Box::pin(async move {
                // WAL lets readers run beside the writer; FULL makes each commit durable
                // across power loss, which an audit log promises.
                conn.execute(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                     PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
                )
                .await?;
                Ok(())
            })
        })
        .connect(url)
        .await?)
}

/// `$first, $first+1, …`: `count` numbered parameters, for an `IN (…)` list or one row of a
/// multi-row `VALUES`; the same text on PostgreSQL and SQLite.
pub fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `($1, …, $width), ($width+1, …), …`: `rows` groups of `width` numbered parameters, the
/// `VALUES` of a multi-row insert.
pub fn value_groups(rows: usize, width: usize) -> String {
    (0..rows)
        .map(|r| format!("({})", placeholders(r * width + 1, width)))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_groups_number_parameters_row_after_row() {
        assert_eq!(placeholders(3, 2), "$3, $4");
        assert_eq!(value_groups(2, 3), "($1, $2, $3), ($4, $5, $6)");
    }

    #[test]
    fn sqlite_gets_anonymous_parameters_only_when_they_run_in_order() {
        let sql = "INSERT INTO t VALUES ($1, $2), ($3, $4)";
        assert_eq!(Backend::Postgres.parameters(sql), sql);
        assert_eq!(
            Backend::Sqlite.parameters(sql),
            "INSERT INTO t VALUES (?, ?), (?, ?)"
        );
        assert_eq!(Backend::Sqlite.parameters("a = $10"), "a = $10");
        for kept in ["a = $2 AND b = $1", "a = $1 OR b = $1", "a = '$'"] {
            assert_eq!(Backend::Sqlite.parameters(kept), kept);
        }
    }

    #[test]
    fn backend_is_chosen_by_scheme() {
        assert_eq!(
            Backend::from_url("postgres://u@h/db").unwrap(),
            Backend::Postgres
        );
        assert_eq!(Backend::from_url("sqlite://x.db").unwrap(), Backend::Sqlite);
        assert!(Backend::from_url("mysql://h/db").is_err());
    }

    #[test]
    fn sqlite_urls_get_create_mode_and_memory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/sigil.db");
        let url = sqlite_url(&format!("sqlite://{}", path.display())).unwrap();
        assert!(url.ends_with("?mode=rwc"));
        assert!(path.parent().unwrap().is_dir());
        assert!(sqlite_url("sqlite::memory:").is_err());
    }
}
