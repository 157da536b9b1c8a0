-- The per-user quotas, checked in the transaction of every init. Partial
-- indexes hold only the uploads a check counts and carry the column it
-- sums, so a check reads only those entries (an index-only scan): a user's
-- open uploads, however many completed files the user has. The Go code's
-- queries repeat these conditions literally, so that the planner can match
-- them.

-- Open uploads (storage.OpenStatuses): a user's count and bytes.
CREATE INDEX uploads_open ON uploads (user_id, total_size)
    WHERE status IN ('initiated', 'in_progress', 'completing', 'cancelling');

-- Completed files: a user's stored bytes, for --user-quota.
CREATE INDEX uploads_completed ON uploads (user_id, total_size)
    WHERE status = 'completed';
