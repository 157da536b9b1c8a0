-- Uploads and their chunks: the same columns as the SQLite schema, with
-- BIGINT sizes and counters and timestamps in unix milliseconds.

CREATE TABLE uploads (
    id              TEXT    NOT NULL PRIMARY KEY,
    file_name       TEXT    NOT NULL,
    total_size      BIGINT  NOT NULL,
    user_id         TEXT    NOT NULL,
    user_role       TEXT    NOT NULL,
    content_type    TEXT    NOT NULL,
    chunk_size      BIGINT  NOT NULL,
    total_chunks    INTEGER NOT NULL,
    status          TEXT    NOT NULL,
    r2_key          TEXT    NOT NULL,
    store_handle    TEXT    NOT NULL DEFAULT '',
    chunks_uploaded INTEGER NOT NULL DEFAULT 0,
    bytes_uploaded  BIGINT  NOT NULL DEFAULT 0,
    created_at      BIGINT  NOT NULL, -- unix milliseconds
    updated_at      BIGINT  NOT NULL  -- unix milliseconds
);

-- The key reservation, across every instance on this database: at most one
-- upload that is not cancelled holds a key; cancelling an upload frees it.
-- The Go code recognises a violation of this index by its name.
CREATE UNIQUE INDEX uploads_r2_key_reserved ON uploads (r2_key) WHERE status <> 'cancelled';

CREATE TABLE chunks (
    upload_id TEXT    NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
    idx       INTEGER NOT NULL,
    size      BIGINT  NOT NULL,
    etag      TEXT    NOT NULL,
    PRIMARY KEY (upload_id, idx)
);
