-- JWT access tokens (RFC 9068) share the lookup of opaque ones, so that introspection and
-- revocation treat both alike: the resource indicator they are for, and the organization of
-- an organization token.
ALTER TABLE access_tokens ADD COLUMN audience TEXT;
ALTER TABLE access_tokens ADD COLUMN organization_id TEXT;

-- Read model: organizations, for lists.
CREATE TABLE rm_organizations (
    id            TEXT   PRIMARY KEY,
    name          TEXT   NOT NULL,
    description   TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    last_position BIGINT NOT NULL
);

-- Read model: who belongs to which organization (the `organizations` claim, member lists).
CREATE TABLE rm_organization_members (
    organization_id TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    PRIMARY KEY (organization_id, user_id)
);
CREATE INDEX rm_organization_members_user ON rm_organization_members (user_id);
