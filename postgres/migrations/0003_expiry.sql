-- Expiry of abandoned uploads, the janitor's lease and the health check's
-- write.

-- An expired upload frees its key, as a cancelled one does. The Go code
-- recognises a violation of this index by its name.
DROP INDEX uploads_r2_key_reserved;
CREATE UNIQUE INDEX uploads_r2_key_reserved ON uploads (r2_key) WHERE status NOT IN ('cancelled', 'expired');

-- The janitor's search for uploads to expire or to repair: by state, least
-- recently updated first.
CREATE INDEX uploads_status_updated ON uploads (status, updated_at);

-- Leases: one janitor sweeps at a time across every instance on this
-- database. expires_at is in unix milliseconds.
CREATE TABLE leases (
    name       TEXT   NOT NULL PRIMARY KEY,
    holder     TEXT   NOT NULL,
    expires_at BIGINT NOT NULL
);

-- /health commits a write to this one row, so that a database that answers
-- reads but cannot commit is noticed.
CREATE TABLE health (
    id         INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    checked_at BIGINT  NOT NULL -- unix milliseconds
);
