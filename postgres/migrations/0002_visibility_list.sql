-- Who may read a completed file, and the indexes of the newest-first listing
-- of uploads.

-- An upload's visibility: 'private' (the owner, an administrator or a share
-- link) or 'public' (anyone). Existing uploads become private.
ALTER TABLE uploads ADD COLUMN visibility TEXT NOT NULL DEFAULT 'private';

-- ListUploads of one user, newest first, paged by (created_at, id).
CREATE INDEX uploads_user_created ON uploads (user_id, created_at DESC, id DESC);

-- ListUploads of every user (an administrator's), newest first.
CREATE INDEX uploads_created ON uploads (created_at DESC, id DESC);
