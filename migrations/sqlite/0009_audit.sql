-- Read model: the audit trail, one entry per event of the log, with who, from where, and
-- about which application, user and organization. `details` is the event's payload with
-- every secret-bearing field (digests, sealed keys, password hashes) left out; `hash` is the
-- event's own hash, so an exported entry can be checked against the log.
CREATE TABLE rm_audit_log (
    position        BIGINT PRIMARY KEY,
    occurred_at     BIGINT NOT NULL,
    event_type      TEXT   NOT NULL,
    aggregate_type  TEXT   NOT NULL,
    aggregate_id    TEXT   NOT NULL,
    actor           TEXT,
    application_id  TEXT,
    user_id         TEXT,
    organization_id TEXT,
    ip              TEXT,
    user_agent      TEXT,
    request_id      TEXT,
    details         TEXT   NOT NULL,
    hash            TEXT   NOT NULL
);
CREATE INDEX rm_audit_log_user ON rm_audit_log (user_id, position);
CREATE INDEX rm_audit_log_application ON rm_audit_log (application_id, position);
CREATE INDEX rm_audit_log_organization ON rm_audit_log (organization_id, position);
CREATE INDEX rm_audit_log_time ON rm_audit_log (occurred_at);

-- The audit trail's memory of whom a stream is about: a refresh-token family's later events
-- (rotation, reuse, revocation) name neither its application nor its user.
CREATE TABLE rm_audit_streams (
    aggregate_type  TEXT NOT NULL,
    aggregate_id    TEXT NOT NULL,
    application_id  TEXT,
    user_id         TEXT,
    organization_id TEXT,
    PRIMARY KEY (aggregate_type, aggregate_id)
);

-- Read model: app-access analytics. Counters per application, hour and metric (sign_ins,
-- failed_sign_ins, consents_granted, consents_revoked, tokens_issued:<grant type>); days are
-- sums of hours.
CREATE TABLE rm_app_access (
    application_id TEXT   NOT NULL,
    bucket         BIGINT NOT NULL,
    metric         TEXT   NOT NULL,
    count          BIGINT NOT NULL,
    PRIMARY KEY (application_id, bucket, metric)
);

-- Who used an application in an hour (`h`) or a day (`d`): unique users cannot be summed.
CREATE TABLE rm_app_access_users (
    application_id TEXT   NOT NULL,
    granularity    TEXT   NOT NULL,
    bucket         BIGINT NOT NULL,
    user_id        TEXT   NOT NULL,
    PRIMARY KEY (application_id, granularity, bucket, user_id)
);

-- Which applications a user has used, first and last.
CREATE TABLE rm_user_app_access (
    user_id        TEXT   NOT NULL,
    application_id TEXT   NOT NULL,
    first_access   BIGINT NOT NULL,
    last_access    BIGINT NOT NULL,
    sign_ins       BIGINT NOT NULL,
    tokens_issued  BIGINT NOT NULL,
    PRIMARY KEY (user_id, application_id)
);

-- Consents are revoked by stream: the analytics' memory of whose consent to which app it is.
CREATE TABLE rm_analytics_consents (
    consent_id     TEXT PRIMARY KEY,
    application_id TEXT NOT NULL,
    user_id        TEXT NOT NULL
);
