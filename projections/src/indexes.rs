//! Secondary indexes set aside while a rebuild fills a read model's tables, and built again
//! once the rows are in. Building an index over 100,000 rows is a sort; keeping it current
//! while they are inserted is 100,000 random b-tree inserts, several times the cost.
//!
//! Only non-unique indexes are set aside: a unique one may be the target of an
//! `ON CONFLICT`, and the primary key is the table itself (SQLite) or its constraint.

use sigil_eventstore::Backend;
use sigil_eventstore::sqlx::{self, AnyConnection};

use crate::ProjectionError;

/// Drops the non-unique indexes of `tables`, keeping their definitions in
/// `projection_deferred_indexes` in the same transaction. A definition already kept (a
/// rebuild that stopped before building them) stays as it is.
pub(crate) async fn set_aside(
    tx: &mut AnyConnection,
    tables: &[&str],
) -> Result<(), ProjectionError> {
    for table in tables {
        for (name, definition) in secondary_indexes(tx, table).await? {
            let Some(definition) = if_not_exists(&definition) else {
                continue;
            };
            let keep = Backend::of(tx).parameters(
                "INSERT INTO projection_deferred_indexes (index_name, table_name, definition) \
                 VALUES ($1, $2, $3) ON CONFLICT (index_name) DO NOTHING",
            );
            sqlx::query(&keep)
                .bind(&name)
                .bind(*table)
                .bind(definition)
                .execute(&mut *tx)
                .await?;
            sqlx::query(&format!("DROP INDEX {}", quoted(&name)))
                .execute(&mut *tx)
                .await?;
        }
    }
    Ok(())
}

/// Builds the indexes of `tables` that a rebuild set aside, and forgets their definitions;
/// returns how many it built.
pub(crate) async fn build(
    tx: &mut AnyConnection,
    tables: &[&str],
) -> Result<usize, ProjectionError> {
    let mut built = 0;
    for table in tables {
        let pending = Backend::of(tx).parameters(
            "SELECT index_name, definition FROM projection_deferred_indexes \
             WHERE table_name = $1 ORDER BY index_name",
        );
        let definitions: Vec<(String, String)> = sqlx::query_as(&pending)
            .bind(*table)
            .fetch_all(&mut *tx)
            .await?;
        for (name, definition) in definitions {
            sqlx::query(&definition).execute(&mut *tx).await?;
            let forget = Backend::of(tx)
                .parameters("DELETE FROM projection_deferred_indexes WHERE index_name = $1");
            sqlx::query(&forget).bind(&name).execute(&mut *tx).await?;
            built += 1;
        }
    }
    Ok(built)
}

/// The non-unique indexes of `table` that the schema declared, with their definitions.
async fn secondary_indexes(
    tx: &mut AnyConnection,
    table: &str,
) -> Result<Vec<(String, String)>, ProjectionError> {
    let sql = match Backend::of(tx) {
        // `origin = 'c'`: made by CREATE INDEX, not for a PRIMARY KEY or UNIQUE constraint.
        Backend::Sqlite => {
            "SELECT m.name, m.sql FROM pragma_index_list(?) AS l \
             JOIN sqlite_master AS m ON m.type = 'index' AND m.name = l.name \
             WHERE l.\"unique\" = 0 AND l.origin = 'c' AND m.sql IS NOT NULL ORDER BY m.name"
        }
        Backend::Postgres => {
            "SELECT c.relname::text, pg_get_indexdef(i.indexrelid) FROM pg_index AS i \
             JOIN pg_class AS c ON c.oid = i.indexrelid \
             WHERE i.indrelid = to_regclass($1) AND NOT i.indisunique AND NOT i.indisprimary \
             ORDER BY c.relname"
        }
    };
    Ok(sqlx::query_as(sql).bind(table).fetch_all(&mut *tx).await?)
}

/// `CREATE INDEX name …` as `CREATE INDEX IF NOT EXISTS name …`, so that two processes that
/// both finish a rebuild (or a start that builds what a running rebuild set aside) do not
/// fail on each other's index. None for a definition of any other shape: it stays in place.
fn if_not_exists(definition: &str) -> Option<String> {
    let rest = definition.strip_prefix("CREATE INDEX ")?;
    let rest = rest.strip_prefix("IF NOT EXISTS ").unwrap_or(rest);
    Some(format!("CREATE INDEX IF NOT EXISTS {rest}"))
}

/// An identifier as both databases quote it.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_definition_is_rebuilt_only_if_missing() {
        assert_eq!(
            if_not_exists("CREATE INDEX rm_audit_log_time ON rm_audit_log (occurred_at)")
                .as_deref(),
            Some("CREATE INDEX IF NOT EXISTS rm_audit_log_time ON rm_audit_log (occurred_at)")
        );
        assert_eq!(
            if_not_exists("CREATE INDEX IF NOT EXISTS i ON t USING btree (a)").as_deref(),
            Some("CREATE INDEX IF NOT EXISTS i ON t USING btree (a)")
        );
        assert_eq!(if_not_exists("CREATE UNIQUE INDEX i ON t (a)"), None);
    }
}
