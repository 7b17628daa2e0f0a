-- Upstream identities linked to Sigil users: the provider's `sub` is unique within one
-- connector. Not a projection: rows are written in the same transaction as the
-- UserIdentityLinked event, so two first sign-ins racing for one identity cannot both
-- provision an account (the primary key lets one in). Every row is derivable from the log.
CREATE TABLE user_identities (
    connector_id TEXT NOT NULL,
    subject      TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    PRIMARY KEY (connector_id, subject)
);
CREATE INDEX user_identities_user ON user_identities (user_id);

-- The connectors that exist, in the order they were made: the sign-in page and the
-- `connectors` query load each one's aggregate from here. Written with the connector's
-- events; holds no configuration, and no secret.
CREATE TABLE connectors (
    id         TEXT   PRIMARY KEY,
    created_at BIGINT NOT NULL
);
