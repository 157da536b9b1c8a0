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
