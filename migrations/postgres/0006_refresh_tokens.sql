-- Every refresh token of a family by digest, the rotated-out ones too: presenting an old one
-- must find its family to detect reuse. Written with the family's events.
CREATE TABLE refresh_tokens (
    token_digest TEXT PRIMARY KEY,
    family_id    TEXT NOT NULL
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
