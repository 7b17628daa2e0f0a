//! Multi-row statements: a read model writes a batch with a few statements, not one per row
//! (on SQLite each statement is a hand-off to the writer's thread, on PostgreSQL a round
//! trip).

use sigil_eventstore::sqlx::any::AnyArguments;
use sigil_eventstore::sqlx::query::Query;
use sigil_eventstore::sqlx::{self, Any, AnyConnection};
use sigil_eventstore::{Backend, value_groups};

use crate::ProjectionError;

/// A statement being bound.
pub(crate) type RowQuery<'q> = Query<'q, Any, AnyArguments<'q>>;

/// Rows per multi-row statement. With named parameters sqlx's SQLite driver cost the square
/// of a statement's parameters (`Backend::parameters` avoids it); with `?`s, 100 rows
/// measured no faster than 25.
pub(crate) const ROWS_PER_STATEMENT: usize = 25;

/// Writes `rows` as `{insert} VALUES (…), (…) {tail}`, a few dozen rows per statement, `bind`
/// binding each row's `width` values in order.
pub(crate) async fn insert_rows<T, F>(
    tx: &mut AnyConnection,
    insert: &str,
    tail: &str,
    width: usize,
    rows: &[T],
    bind: F,
) -> Result<(), ProjectionError>
where
    T: Sync,
    F: for<'q> Fn(RowQuery<'q>, &'q T) -> RowQuery<'q> + Sync,
{
    let backend = Backend::of(tx);
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "{insert} VALUES {} {tail}",
            value_groups(chunk.len(), width)
        );
        let sql = backend.parameters(&sql);
        let mut query = sqlx::query(&sql);
        for row in chunk {
            query = bind(query, row);
        }
        query.execute(&mut *tx).await?;
    }
    Ok(())
}
