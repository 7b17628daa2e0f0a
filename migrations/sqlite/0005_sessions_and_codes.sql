-- Lookups written in the same transaction as their events (not projections): a browser
-- session by the digest of its cookie, and an authorization code by its digest.
CREATE TABLE sessions (
    token_digest TEXT   PRIMARY KEY,
    session_id   TEXT   NOT NULL UNIQUE,
    user_id      TEXT   NOT NULL,
    auth_time    INTEGER NOT NULL,
    ended_at     INTEGER
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE authorization_codes (
    code_digest TEXT   PRIMARY KEY,
    code_id     TEXT   NOT NULL UNIQUE,
    expires_at  INTEGER NOT NULL
);
