-- Uploads and their chunks. Plain SQLite, so that the same file runs on
-- Cloudflare D1: no pragmas here (the version lives in SQLite's user_version,
-- set by the Go code that applies this file).

CREATE TABLE uploads (
    id              TEXT    NOT NULL PRIMARY KEY,
    file_name       TEXT    NOT NULL,
    total_size      INTEGER NOT NULL,
    user_id         TEXT    NOT NULL,
    user_role       TEXT    NOT NULL,
    content_type    TEXT    NOT NULL,
    chunk_size      INTEGER NOT NULL,
    total_chunks    INTEGER NOT NULL,
    status          TEXT    NOT NULL,
    r2_key          TEXT    NOT NULL,
    store_handle    TEXT    NOT NULL DEFAULT '',
    chunks_uploaded INTEGER NOT NULL DEFAULT 0,
    bytes_uploaded  INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL, -- unix milliseconds
    updated_at      INTEGER NOT NULL  -- unix milliseconds
);

-- The key reservation: at most one upload that is not cancelled holds a key;
-- cancelling an upload frees its key.
CREATE UNIQUE INDEX uploads_r2_key_reserved ON uploads (r2_key) WHERE status <> 'cancelled';

CREATE TABLE chunks (
    upload_id TEXT    NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
    idx       INTEGER NOT NULL,
    size      INTEGER NOT NULL,
    etag      TEXT    NOT NULL,
    PRIMARY KEY (upload_id, idx)
) WITHOUT ROWID;
