-- Usernames and primary emails, each held by at most one user. Not a projection: rows are
-- written in the same transaction as the user's events, so uniqueness is decided on strongly
-- consistent state (the primary key lets exactly one of two racing registrations in).
-- `value` is lower-cased, so identifiers differing only in case collide. Every row is
-- derivable from the log.
CREATE TABLE user_identifiers (
    kind    TEXT NOT NULL, -- 'username' or 'email'
    value   TEXT NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (kind, value)
);
-- Moving or freeing a user's identifiers finds them by user.
CREATE INDEX user_identifiers_user ON user_identifiers (user_id);
