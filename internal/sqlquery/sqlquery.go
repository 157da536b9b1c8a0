// Package sqlquery holds SQL text that more than one SQL store uses: literal
// status lists for every store, and the quota usage query in the SQLite
// dialect, shared by the sqlite store and the Cloudflare D1 adapter (one
// schema, sqlite/migrations, serves both). It imports no driver, so the
// Workers build can use it.
package sqlquery

import (
	"strings"

	storage "github.com/memenow/memenow-storage"
)

// StatusList returns sts as a literal SQL list, 'a', 'b': the statuses are
// the domain's constants, and a literal list lets the database match the
// query to a partial index over the same list.
func StatusList(sts []storage.Status) string {
	var b strings.Builder
	for i, st := range sts {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("'" + strings.ReplaceAll(string(st), "'", "''") + "'")
	}
	return b.String()
}

// Usage counts a user's holdings for q, in the SQLite dialect: one row of
// the open uploads' count and bytes, and the bytes of the open uploads and
// completed files (0 when q does not limit stored bytes). Its parameters
// are UsageArgs. The conditions are those of the partial indexes
// uploads_open and uploads_completed (migration 0004), which serve it alone.
func Usage(q storage.Quota) string {
	completed := `SELECT 0 AS bytes`
	if q.MaxStoredBytes > 0 {
		completed = `SELECT COALESCE(SUM(total_size), 0) AS bytes FROM uploads WHERE user_id = ? AND status = 'completed'`
	}
	return `SELECT o.n AS open_uploads, o.bytes AS open_bytes, o.bytes + c.bytes AS stored_bytes
		FROM (SELECT COUNT(*) AS n, COALESCE(SUM(total_size), 0) AS bytes FROM uploads
			WHERE user_id = ? AND status IN (` + StatusList(storage.OpenStatuses) + `)) AS o,
		(` + completed + `) AS c`
}

// UsageArgs returns the parameters of Usage(q) for user: the user's id,
// once, or twice when q limits stored bytes.
func UsageArgs(q storage.Quota, user string) []any {
	if q.MaxStoredBytes > 0 {
		return []any{user, user}
	}
	return []any{user}
}

// UploadColumns are the columns of an upload row, in the order the SQLite
// store and the D1 adapter scan them.
const UploadColumns = `id, file_name, total_size, user_id, user_role, content_type,
	chunk_size, total_chunks, status, r2_key, store_handle, chunks_uploaded,
	bytes_uploaded, created_at, updated_at, visibility`

// AuditColumns are the columns of an audit row, in the order the SQLite
// store and the D1 adapter scan them.
const AuditColumns = `id, at, request_id, actor, actor_id, client_ip, action, upload_id, r2_key, bytes, outcome`

// ListUploads returns the query of MetaStore.ListUploads for q, in the
// SQLite dialect, and its parameters: newest first by created_at and then
// id, filtered by q's user and status, after q.After (a row value
// comparison, which SQLite turns into a range of the index on (user_id,
// created_at, id) or (created_at, id)), at most q.Limit (at least 1) rows.
func ListUploads(q storage.ListQuery) (string, []any) {
	var where []string
	var args []any
	if q.UserID != "" {
		where, args = append(where, "user_id = ?"), append(args, q.UserID)
	}
	if q.Status != "" {
		where, args = append(where, "status = ?"), append(args, string(q.Status))
	}
	if q.After != nil {
		where, args = append(where, "(created_at, id) < (?, ?)"), append(args, q.After.CreatedAt.UnixMilli(), q.After.ID)
	}
	return selectNewest(`SELECT `+UploadColumns+` FROM uploads`, where, `created_at DESC, id DESC`), append(args, max(q.Limit, 1))
}

// ListAudit returns the query of MetaStore.ListAudit for q, in the SQLite
// dialect, and its parameters: newest first by at and then id, filtered by
// q, served by the indexes on (at, id), (actor_id, at, id) and (action, at,
// id).
func ListAudit(q storage.AuditQuery) (string, []any) {
	var where []string
	var args []any
	if !q.Since.IsZero() {
		where, args = append(where, "at >= ?"), append(args, q.Since.UnixMilli())
	}
	if q.UserID != "" {
		where, args = append(where, "actor_id = ?"), append(args, q.UserID)
	}
	if q.Action != "" {
		where, args = append(where, "action = ?"), append(args, q.Action)
	}
	if q.Before != nil {
		where, args = append(where, "(at, id) < (?, ?)"), append(args, q.Before.Time.UnixMilli(), q.Before.ID)
	}
	return selectNewest(`SELECT `+AuditColumns+` FROM audit`, where, `at DESC, id DESC`), append(args, max(q.Limit, 1))
}

// selectNewest joins a SELECT, its conditions and its order with a LIMIT
// parameter.
func selectNewest(sel string, where []string, order string) string {
	if len(where) > 0 {
		sel += ` WHERE ` + strings.Join(where, " AND ")
	}
	return sel + ` ORDER BY ` + order + ` LIMIT ?`
}
