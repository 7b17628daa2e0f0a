-- A rebuild empties a read model's tables and drops their secondary indexes, then builds them
-- once over the rows instead of updating them row by row. Their definitions wait here
-- meanwhile, written in the same transaction as the drop, so a rebuild that stops half way
-- leaves the indexes to be built again (at the next start, or the next rebuild) rather than
-- forgotten.
CREATE TABLE projection_deferred_indexes (
    index_name TEXT PRIMARY KEY,
    table_name TEXT NOT NULL,
    definition TEXT NOT NULL
);
