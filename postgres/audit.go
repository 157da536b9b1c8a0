package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	storage "github.com/memenow/memenow-storage"
)

// The audit log (storage.AuditEvent): the rows state changes write in their
// own statement (auditInsert, a part of the compare-and-set's statement or
// batch), the batches of other events, the listing and the retention delete.

const auditColumns = `id, at, request_id, actor, actor_id, client_ip, action, upload_id, r2_key, bytes, outcome`

// auditInsert returns "INSERT INTO audit … SELECT … FROM unnest(…)" over the
// ten array parameters $first … $first+9 of auditArrays, followed by cond
// (e.g. "WHERE EXISTS (SELECT 1 FROM t)"), so that the rows are written
// only when the change they record happened, in the same statement or
// implicit transaction.
func auditInsert(first int, cond string) string {
	p := func(i int, typ string) string { return "$" + strconv.Itoa(first+i) + "::" + typ + "[]" }
	return fmt.Sprintf(`INSERT INTO audit (at, request_id, actor, actor_id, client_ip, action, upload_id, r2_key, bytes, outcome)
		SELECT * FROM unnest(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) %s`,
		p(0, "bigint"), p(1, "text"), p(2, "text"), p(3, "text"), p(4, "text"), p(5, "text"),
		p(6, "text"), p(7, "text"), p(8, "bigint"), p(9, "text"), cond)
}

// auditArrays returns the ten column arrays of events for auditInsert.
func auditArrays(events []storage.AuditEvent) []any {
	n := len(events)
	at, bytes := make([]int64, n), make([]int64, n)
	req, actor, actorID, ip, action, upload, key, outcome :=
		make([]string, n), make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for i, e := range events {
		at[i], bytes[i] = e.Time.UnixMilli(), e.Bytes
		req[i], actor[i], actorID[i], ip[i] = e.RequestID, e.Actor, e.ActorID, e.ClientIP
		action[i], upload[i], key[i], outcome[i] = e.Action, e.UploadID, e.Key, e.Outcome
	}
	return []any{at, req, actor, actorID, ip, action, upload, key, bytes, outcome}
}

// withAudit wraps the data-modifying statement stmt (which RETURNS
// uploadColumns) so that events are inserted in the same statement when it
// changed a row, and the changed row is returned. The events' parameters
// follow the nargs of stmt.
func withAudit(stmt string, nargs int) string {
	return `WITH t AS (` + stmt + `), a AS (` + auditInsert(nargs+1, `WHERE EXISTS (SELECT 1 FROM t)`) + `)
		SELECT ` + uploadColumns + ` FROM t`
}

// AppendAudit writes events in one statement. Errors: CodeDatabase.
func (s *Store) AppendAudit(ctx context.Context, events []storage.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	if _, err := s.pool.Exec(ctx, auditInsert(1, ""), auditArrays(events)...); err != nil {
		return s.dbError(ctx, err)
	}
	return nil
}

// ListAudit returns up to q.Limit (at least 1) audit rows newest first, by
// at and then id, both descending, filtered by q; the indexes on (at, id),
// (actor_id, at, id) and (action, at, id) serve it. Errors: CodeDatabase.
func (s *Store) ListAudit(ctx context.Context, q storage.AuditQuery) ([]storage.AuditEvent, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if !q.Since.IsZero() {
		where = append(where, "at >= "+arg(q.Since.UnixMilli()))
	}
	if q.UserID != "" {
		where = append(where, "actor_id = "+arg(q.UserID))
	}
	if q.Action != "" {
		where = append(where, "action = "+arg(q.Action))
	}
	if q.Before != nil {
		where = append(where, "(at, id) < ("+arg(q.Before.Time.UnixMilli())+", "+arg(q.Before.ID)+")")
	}
	sql := `SELECT ` + auditColumns + ` FROM audit`
	if len(where) > 0 {
		sql += ` WHERE ` + strings.Join(where, " AND ")
	}
	sql += ` ORDER BY at DESC, id DESC LIMIT ` + arg(max(q.Limit, 1))
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.AuditEvent, error) {
		var e storage.AuditEvent
		var at int64
		err := row.Scan(&e.ID, &at, &e.RequestID, &e.Actor, &e.ActorID, &e.ClientIP, &e.Action,
			&e.UploadID, &e.Key, &e.Bytes, &e.Outcome)
		e.Time = fromMS(at)
		return e, err
	})
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	if out == nil {
		out = []storage.AuditEvent{}
	}
	return out, nil
}

// DeleteAuditBefore deletes the audit rows older than t. Errors:
// CodeDatabase.
func (s *Store) DeleteAuditBefore(ctx context.Context, t time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM audit WHERE at < $1`, t.UnixMilli())
	if err != nil {
		return 0, s.dbError(ctx, err)
	}
	return tag.RowsAffected(), nil
}
