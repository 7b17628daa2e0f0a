//! Relay cursor connections (the GraphQL Cursor Connections Specification) over read-model
//! tables ordered by `(created_at, id)`: a cursor is that pair, opaque to clients, so pages
//! stay stable while rows are added.

use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::{OutputType, connection::CursorType};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::error::{ApiError, ApiResult, Code};
use sigil_eventstore::sqlx::{self, AnyPool, Row};

pub const DEFAULT_PAGE: i32 = 20;
pub const MAX_PAGE: i32 = 100;

/// Where a row sits in a list: its creation time (micros) and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: i64,
    pub id: String,
}

/// A cursor this API did not give out.
#[derive(Debug, thiserror::Error)]
#[error("the cursor is not one this API gave out")]
pub struct BadCursor;

impl CursorType for Cursor {
    type Error = BadCursor;

    fn decode_cursor(s: &str) -> Result<Self, BadCursor> {
        let invalid = || BadCursor;
        let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let (created_at, id) = text.split_once(':').ok_or_else(invalid)?;
        Ok(Cursor {
            created_at: created_at.parse().map_err(|_| invalid())?,
            id: id.to_string(),
        })
    }

    fn encode_cursor(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}:{}", self.created_at, self.id))
    }
}

/// A checked page request: how many rows, after which cursor.
pub struct Page {
    pub first: i64,
    pub after: Option<Cursor>,
}

impl Page {
    pub fn new(first: Option<i32>, after: Option<String>) -> ApiResult<Page> {
        let first = first.unwrap_or(DEFAULT_PAGE);
        if !(0..=MAX_PAGE).contains(&first) {
            return Err(ApiError::validation(format!(
                "first must be between 0 and {MAX_PAGE}"
            )));
        }
        let after = after
            .map(|a| Cursor::decode_cursor(&a))
            .transpose()
            .map_err(|e| ApiError::validation(e.to_string()))?;
        Ok(Page {
            first: first.into(),
            after,
        })
    }

    /// The bound for `WHERE (created_at, id) > cursor`, written portably.
    pub fn after_bound(&self) -> (i64, String) {
        match &self.after {
            Some(c) => (c.created_at, c.id.clone()),
            None => (i64::MIN, String::new()),
        }
    }

    /// How many rows to fetch: one more than asked, to know whether there is a next page.
    pub fn limit(&self) -> i64 {
        self.first + 1
    }
}

/// The `LIKE` pattern for "contains `text`, in any case" (compared with `LOWER(column)`).
pub fn like(text: &str) -> String {
    format!("%{}%", text.to_lowercase())
}

/// A value bound to a filter's placeholder.
pub enum Arg {
    Text(String),
    Bool(bool),
}

/// One page of a read-model table in `(created_at, id)` order, narrowed by filters, whose
/// ids are then loaded from their streams.
pub struct Listing {
    sql: String,
    args: Vec<Arg>,
}

impl Listing {
    /// Rows of `table` after the page's cursor.
    pub fn new(table: &str) -> Listing {
        Listing {
            sql: format!(
                "SELECT id, created_at FROM {table} \
                 WHERE (created_at > $1 OR (created_at = $1 AND id > $2))"
            ),
            args: Vec::new(),
        }
    }

    /// Adds `AND clause`, each `?` in it standing for `arg`.
    pub fn and(mut self, clause: &str, arg: Arg) -> Listing {
        let n = self.args.len() + 3;
        self.sql
            .push_str(&format!(" AND {}", clause.replace('?', &format!("${n}"))));
        self.args.push(arg);
        self
    }

    /// Runs the query and loads each row's object with `load`. An object deleted since the
    /// read model was read is left out rather than failing the page.
    pub async fn fetch<T, F, Fut>(
        self,
        pool: &AnyPool,
        page: &Page,
        load: F,
    ) -> ApiResult<Connection<Cursor, T, EmptyFields, EmptyFields>>
    where
        T: OutputType,
        F: Fn(String) -> Fut,
        Fut: Future<Output = ApiResult<T>>,
    {
        let sql = format!(
            "{} ORDER BY created_at, id LIMIT ${}",
            self.sql,
            self.args.len() + 3
        );
        let (created_at, id) = page.after_bound();
        let mut query = sqlx::query(&sql).bind(created_at).bind(id);
        for arg in self.args {
            query = match arg {
                Arg::Text(t) => query.bind(t),
                Arg::Bool(b) => query.bind(b),
            };
        }
        let rows = query.bind(page.limit()).fetch_all(pool).await?;
        let mut nodes = Vec::with_capacity(rows.len());
        for row in rows {
            let id: String = row.try_get("id")?;
            let created_at: i64 = row.try_get("created_at")?;
            match load(id.clone()).await {
                Ok(node) => nodes.push((Cursor { created_at, id }, node)),
                Err(e) if e.code == Code::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(connection(page, nodes))
    }
}

/// Builds the connection from rows fetched with [`Page::limit`].
fn connection<T: OutputType>(
    page: &Page,
    mut rows: Vec<(Cursor, T)>,
) -> Connection<Cursor, T, EmptyFields, EmptyFields> {
    let has_next = rows.len() as i64 > page.first;
    rows.truncate(page.first as usize);
    let mut connection = Connection::new(page.after.is_some(), has_next);
    connection.edges.extend(
        rows.into_iter()
            .map(|(cursor, node)| Edge::new(cursor, node)),
    );
    connection
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_a_validation_error() {
        let c = Cursor {
            created_at: 1_700_000_000_123_456,
            id: "abc".into(),
        };
        assert_eq!(Cursor::decode_cursor(&c.encode_cursor()).unwrap(), c);
        for bad in ["", "!!", "bm9jb2xvbg", "eDph"] {
            assert!(Cursor::decode_cursor(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn page_size_is_bounded() {
        assert!(Page::new(Some(101), None).is_err());
        assert!(Page::new(Some(-1), None).is_err());
        assert_eq!(Page::new(None, None).unwrap().first, 20);
    }
}
