//! Multi-row statements: a read model writes a batch with one statement per table, not one
//! per row. The rows travel as a single parameter, a JSON array of arrays, which the database
//! takes apart itself (SQLite `json_each`, PostgreSQL `json_array_elements`).
//!
//! Binding each value instead cost the most of a rebuild: on SQLite every statement is a
//! hand-off to the writer's thread, and sqlx's Any driver allocates every bound value twice
//! (its own, then SQLite's). With `VALUES` lists a batch of 500 audit entries took twenty
//! statements and 7,000 bindings; now it is one statement and one binding.

use serde::Serialize;
use sigil_eventstore::Backend;
use sigil_eventstore::sqlx::{self, AnyConnection};

use crate::ProjectionError;

/// A column's type, for PostgreSQL's casts out of JSON text.
#[derive(Clone, Copy)]
pub(crate) enum Column {
    Text,
    BigInt,
}

/// Writes `rows` as `{insert} SELECT … FROM <rows> {tail}`. `insert` names the table and its
/// columns (`INSERT INTO t (a, b)`), `columns` gives their types in the same order, and each
/// row serialises as a JSON array of that many values (a tuple does).
pub(crate) async fn insert_rows<T: Serialize>(
    tx: &mut AnyConnection,
    insert: &str,
    columns: &[Column],
    tail: &str,
    rows: &[T],
) -> Result<(), ProjectionError> {
    if rows.is_empty() {
        return Ok(());
    }
    let json = serde_json::to_string(rows).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let sql = statement(Backend::of(tx), insert, columns, tail);
    sqlx::query(&sql).bind(json).execute(&mut *tx).await?;
    Ok(())
}

fn statement(backend: Backend, insert: &str, columns: &[Column], tail: &str) -> String {
    let select: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(i, column)| match (backend, column) {
            (Backend::Sqlite, _) => format!("item->>{i}"),
            (Backend::Postgres, Column::Text) => format!("(item->>{i})"),
            (Backend::Postgres, Column::BigInt) => format!("(item->>{i})::bigint"),
        })
        .collect();
    // Each row is taken out of the batch once, then its columns out of the item. SQLite would
    // otherwise fold the subquery into the outer one and render `value` as text anew for every
    // column, which JSON functions then parse again: `LIMIT -1` keeps it a subquery whose row
    // is one value, found in the parse cache by its address. PostgreSQL's `json` is text that
    // `->>` re-parses up to the element; `jsonb` is parsed once and indexed.
    let from = match backend {
        Backend::Sqlite => "(SELECT value AS item FROM json_each($1) LIMIT -1)",
        Backend::Postgres => "jsonb_array_elements($1::jsonb) AS rows(item)",
    };
    // `WHERE true`: SQLite reads an `ON CONFLICT` after a bare `SELECT … FROM` as a join's.
    format!(
        "{insert} SELECT {} FROM {from} WHERE true {tail}",
        select.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_backend_takes_the_json_apart() {
        let columns = [Column::Text, Column::BigInt];
        assert_eq!(
            statement(Backend::Sqlite, "INSERT INTO t (a, b)", &columns, ""),
            "INSERT INTO t (a, b) SELECT item->>0, item->>1 \
             FROM (SELECT value AS item FROM json_each($1) LIMIT -1) WHERE true "
        );
        assert_eq!(
            statement(
                Backend::Postgres,
                "INSERT INTO t (a, b)",
                &columns,
                "ON CONFLICT DO NOTHING"
            ),
            "INSERT INTO t (a, b) SELECT (item->>0), (item->>1)::bigint \
             FROM jsonb_array_elements($1::jsonb) AS rows(item) WHERE true ON CONFLICT DO NOTHING"
        );
    }
}
