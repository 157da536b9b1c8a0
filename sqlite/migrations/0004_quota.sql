-- The per-user quotas, checked in the transaction of every init. Partial
-- indexes hold only the uploads a check counts and carry the column it
-- sums, so a check reads only those entries (no table rows): a user's open
-- uploads, however many completed files the user has. The Go code's
-- queries repeat these conditions literally, so that the planner can match
-- them. Plain SQLite, so that it also runs on Cloudflare D1.

-- Open uploads (storage.OpenStatuses): a user's count and bytes. status
-- is a column too, so that SQLite reads the index alone.
CREATE INDEX uploads_open ON uploads (status, user_id, total_size)
    WHERE status IN ('initiated', 'in_progress', 'completing', 'cancelling');

-- Completed files: a user's stored bytes, for --user-quota.
CREATE INDEX uploads_completed ON uploads (user_id, total_size)
    WHERE status = 'completed';
