-- The audit log: one row per security-relevant event (storage.AuditEvent).
-- State changes write theirs in the transaction of the change; downloads,
-- shares and refusals are written in batches. at is in unix milliseconds.
-- No column ever holds a secret.
CREATE TABLE audit (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         BIGINT NOT NULL,
    request_id TEXT   NOT NULL DEFAULT '',
    actor      TEXT   NOT NULL,
    actor_id   TEXT   NOT NULL DEFAULT '',
    client_ip  TEXT   NOT NULL DEFAULT '',
    action     TEXT   NOT NULL,
    upload_id  TEXT   NOT NULL DEFAULT '',
    r2_key     TEXT   NOT NULL DEFAULT '',
    bytes      BIGINT NOT NULL DEFAULT 0,
    outcome    TEXT   NOT NULL
);

-- Listing newest first (and the cursor), --since, and the janitor's
-- retention delete.
CREATE INDEX audit_at ON audit (at, id);
-- Listing one user's events, or one action's.
CREATE INDEX audit_actor ON audit (actor_id, at, id);
CREATE INDEX audit_action ON audit (action, at, id);
