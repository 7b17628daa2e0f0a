-- Booleans are INTEGER 0/1 here (sqlx's Any driver cannot decode SQLite's BOOLEAN); read
-- them with sigil_eventstore::row_bool.
-- Where each read model has got to in the log. Written in the same transaction as the read
-- model's rows, so a replay after a crash starts exactly where the last commit ended.
CREATE TABLE projection_checkpoints (
    name     TEXT   PRIMARY KEY,
    position INTEGER NOT NULL
);

-- Read model: applications, for lists and admin views (never for security decisions).
CREATE TABLE rm_applications (
    id             TEXT    PRIMARY KEY,
    name           TEXT    NOT NULL,
    description    TEXT,
    app_type       TEXT    NOT NULL,
    is_third_party INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    last_position  INTEGER NOT NULL
);

-- Read model: users, for lists and search.
CREATE TABLE rm_users (
    id            TEXT    PRIMARY KEY,
    username      TEXT,
    primary_email TEXT,
    name          TEXT,
    suspended     INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    last_position INTEGER NOT NULL
);
