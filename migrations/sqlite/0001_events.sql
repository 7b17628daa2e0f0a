-- The log. One row per event, never changed once written. See migrations/postgres for the
-- column notes; SQLite has one writer at a time, so positions are assigned in commit order.
CREATE TABLE events (
    position       INTEGER PRIMARY KEY AUTOINCREMENT,
    aggregate_type TEXT    NOT NULL,
    aggregate_id   TEXT    NOT NULL,
    sequence       INTEGER NOT NULL CHECK (sequence > 0),
    event_type     TEXT    NOT NULL,
    event_version  TEXT    NOT NULL,
    payload        TEXT    NOT NULL,
    metadata       TEXT    NOT NULL,
    occurred_at    INTEGER NOT NULL,
    hash           BLOB    NOT NULL CHECK (length(hash) = 32),
    CONSTRAINT events_stream_sequence UNIQUE (aggregate_type, aggregate_id, sequence)
);
CREATE INDEX events_occurred_at ON events (occurred_at);

CREATE TABLE event_checkpoints (
    number           INTEGER PRIMARY KEY CHECK (number > 0),
    after_position   INTEGER NOT NULL,
    through_position INTEGER NOT NULL CHECK (through_position > after_position),
    event_count      INTEGER NOT NULL,
    range_digest     BLOB    NOT NULL,
    previous_hash    BLOB    NOT NULL,
    hash             BLOB    NOT NULL,
    public_key       BLOB    NOT NULL,
    signature        BLOB    NOT NULL,
    created_at       INTEGER NOT NULL,
    CONSTRAINT event_checkpoints_contiguous UNIQUE (after_position)
);

CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'sigil: UPDATE on events rejected: the table is append-only'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'sigil: DELETE on events rejected: the table is append-only'); END;
CREATE TRIGGER event_checkpoints_no_update BEFORE UPDATE ON event_checkpoints
BEGIN SELECT RAISE(ABORT, 'sigil: UPDATE on event_checkpoints rejected: the table is append-only'); END;
CREATE TRIGGER event_checkpoints_no_delete BEFORE DELETE ON event_checkpoints
BEGIN SELECT RAISE(ABORT, 'sigil: DELETE on event_checkpoints rejected: the table is append-only'); END;
