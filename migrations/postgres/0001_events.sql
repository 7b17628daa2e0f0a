-- The log. One row per event, never changed once written.
-- `position` orders the whole log; (aggregate_type, aggregate_id, sequence) orders one stream
-- and is the optimistic-concurrency guard: two commands racing on one aggregate both try the
-- same next sequence and the unique constraint lets exactly one of them in.
CREATE SEQUENCE events_position_seq AS BIGINT MINVALUE 1 CACHE 1;

CREATE TABLE events (
    position       BIGINT PRIMARY KEY DEFAULT nextval('events_position_seq'),
    aggregate_type TEXT   NOT NULL,
    aggregate_id   TEXT   NOT NULL,
    sequence       BIGINT NOT NULL CHECK (sequence > 0),
    event_type     TEXT   NOT NULL,
    event_version  TEXT   NOT NULL,
    -- JSON kept as the exact bytes that were hashed (jsonb would normalise them).
    payload        TEXT   NOT NULL,
    metadata       TEXT   NOT NULL,
    -- Microseconds since the Unix epoch, UTC: the same exact value on both backends.
    occurred_at    BIGINT NOT NULL,
    -- SHA-256 over this event's canonical content and its stream predecessor's hash.
    hash           BYTEA  NOT NULL CHECK (octet_length(hash) = 32),
    CONSTRAINT events_stream_sequence UNIQUE (aggregate_type, aggregate_id, sequence)
);
ALTER SEQUENCE events_position_seq OWNED BY events.position;
CREATE INDEX events_occurred_at ON events (occurred_at);

-- Signed checkpoints over position ranges: checkpoint n covers (after_position, through_position].
CREATE TABLE event_checkpoints (
    number           BIGINT PRIMARY KEY CHECK (number > 0),
    after_position   BIGINT NOT NULL,
    through_position BIGINT NOT NULL CHECK (through_position > after_position),
    event_count      BIGINT NOT NULL,
    range_digest     BYTEA  NOT NULL,
    previous_hash    BYTEA  NOT NULL,
    hash             BYTEA  NOT NULL,
    public_key       BYTEA  NOT NULL,
    signature        BYTEA  NOT NULL,
    created_at       BIGINT NOT NULL,
    CONSTRAINT event_checkpoints_contiguous UNIQUE (after_position)
);

-- Append-only is the database's rule, not the application's good manners.
CREATE FUNCTION sigil_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'sigil: % on % rejected: the table is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION sigil_reject_change();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION sigil_reject_change();
CREATE TRIGGER event_checkpoints_append_only BEFORE UPDATE OR DELETE ON event_checkpoints
    FOR EACH ROW EXECUTE FUNCTION sigil_reject_change();
CREATE TRIGGER event_checkpoints_no_truncate BEFORE TRUNCATE ON event_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION sigil_reject_change();
