-- Read model: which origins may call the token, userinfo, introspection and revocation
-- endpoints from a browser (CORS), one row per (origin, application). An origin is allowed
-- while any live application lists it. The primary key's leading column serves the lookup by
-- origin on each cross-origin request.
CREATE TABLE rm_cors_origins (
    origin         TEXT NOT NULL,
    application_id TEXT NOT NULL,
    PRIMARY KEY (origin, application_id)
);
CREATE INDEX rm_cors_origins_application ON rm_cors_origins (application_id);
