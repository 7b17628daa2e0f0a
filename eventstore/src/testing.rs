//! Test support: every store test runs on a fresh SQLite file, and on a freshly created
//! PostgreSQL database when `SIGIL_TEST_DATABASE_URL` names a server (any database on it;
//! tests create their own and drop it afterwards, even when they panic).
//!
//! Without the variable the PostgreSQL half is skipped and says so on stderr, past the test
//! harness's capture. With `SIGIL_REQUIRE_POSTGRES=1` (CI) a missing server fails the test.

use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::{Backend, EventStore};

pub const DATABASE_URL_VAR: &str = "SIGIL_TEST_DATABASE_URL";
pub const REQUIRE_POSTGRES_VAR: &str = "SIGIL_REQUIRE_POSTGRES";

/// A database that exists for one test.
pub struct TestDatabase {
    pub url: String,
    pub store: EventStore,
    cleanup: Cleanup,
}

enum Cleanup {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl TestDatabase {
    pub fn backend(&self) -> Backend {
        self.store.backend()
    }

    /// A fresh, migrated SQLite database in a temporary folder.
    pub async fn sqlite() -> TestDatabase {
        let dir = tempfile::tempdir().expect("temporary folder");
        let url = format!("sqlite://{}/sigil.db", dir.path().display());
        let store = EventStore::open(&url)
            .await
            .expect("open SQLite test database");
        TestDatabase {
            url,
            store,
            cleanup: Cleanup::Sqlite(dir),
        }
    }

    /// A fresh, migrated PostgreSQL database, or `None` (said loudly) when no server is
    /// configured.
    pub async fn postgres() -> Option<TestDatabase> {
        let admin_url = postgres_admin_url()?;
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "sigil_test_{}_{}_{:08x}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            rand::random::<u32>()
        );
        sqlx::any::install_default_drivers();
        let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {admin_url}: {e}"));
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create test database");
        let url = with_database(&admin_url, &name);
        let store = EventStore::open(&url)
            .await
            .expect("open PostgreSQL test database");
        Some(TestDatabase {
            url,
            store,
            cleanup: Cleanup::Postgres { admin_url, name },
        })
    }

    /// SQLite always, PostgreSQL when configured.
    pub async fn all() -> Vec<TestDatabase> {
        let mut dbs = vec![TestDatabase::sqlite().await];
        dbs.extend(TestDatabase::postgres().await);
        dbs
    }

    /// A second, independent connection to the same database (as another node would have).
    pub async fn connect_again(&self) -> EventStore {
        EventStore::connect(&self.url).await.expect("reconnect")
    }

    /// Runs raw SQL on the database, for tests that play the attacker.
    pub async fn execute(&self, sql: &str) -> Result<u64, sqlx::Error> {
        Ok(sqlx::raw_sql(sql)
            .execute(self.store.pool())
            .await?
            .rows_affected())
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Cleanup::Postgres { admin_url, name } = &self.cleanup {
            let (admin_url, name) = (admin_url.clone(), name.clone());
            // Drop runs outside any async context we can borrow (and maybe during a panic):
            // use a thread with its own runtime.
            let dropped = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async move {
                    let mut admin =
                        <sqlx::AnyConnection as sqlx::Connection>::connect(&admin_url).await?;
                    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut admin)
                        .await
                        .map(|_| ())
                })
            })
            .join();
            if !matches!(dropped, Ok(Ok(()))) {
                loud(&format!("could not drop test database {}", self.url));
            }
        }
    }
}

fn postgres_admin_url() -> Option<String> {
    match std::env::var(DATABASE_URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var(REQUIRE_POSTGRES_VAR).is_ok_and(|v| v == "1") {
                panic!("{REQUIRE_POSTGRES_VAR}=1 but {DATABASE_URL_VAR} is not set");
            }
            loud(&format!(
                "SKIPPED on PostgreSQL: {DATABASE_URL_VAR} is not set, so this test ran on SQLite only"
            ));
            None
        }
    }
}

/// Writes to the process's stderr directly, past libtest's output capture.
fn loud(message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "sigil-test: {message}");
}

/// Replaces the database name in a PostgreSQL URL.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let base = match base[after_scheme..].find('/') {
        Some(slash) => &base[..after_scheme + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_name_is_replaced() {
        assert_eq!(
            super::with_database("postgres://u@h:5432/postgres", "t1"),
            "postgres://u@h:5432/t1"
        );
        assert_eq!(
            super::with_database("postgres://u@h?sslmode=disable", "t1"),
            "postgres://u@h/t1?sslmode=disable"
        );
    }
}
