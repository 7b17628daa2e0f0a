-- Opaque access tokens by digest. Not a projection: each row is written in the same
-- transaction as the event that issues or revokes the token, so introspection and
-- revocation decide on strongly consistent state. Every column is derivable from the log.
CREATE TABLE access_tokens (
    token_digest TEXT    PRIMARY KEY,
    token_id     TEXT    NOT NULL UNIQUE,
    grant_type   TEXT    NOT NULL,
    client_id    TEXT    NOT NULL,
    subject      TEXT,
    scope        TEXT    NOT NULL,
    issued_at    BIGINT  NOT NULL,
    expires_at   BIGINT  NOT NULL,
    revoked_at   BIGINT
);
CREATE INDEX access_tokens_client ON access_tokens (client_id);
