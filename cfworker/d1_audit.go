package cfworker

import (
	"context"
	"time"

	storage "github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/internal/sqlquery"
)

// The audit log (storage.AuditEvent) on D1. D1 has no interactive
// transactions: a state change's rows are INSERT statements in the batch
// (one transaction) of its compare-and-set, placed before the guarded
// update and guarded by the same condition, so that they are written only
// when the change happens.

const auditColumns = sqlquery.AuditColumns

// auditInserts returns one INSERT per event, written only when the SQL
// condition cond (with parameters cargs; "" for none) holds.
func auditInserts(events []storage.AuditEvent, cond string, cargs []any) []Statement {
	sts := make([]Statement, 0, len(events))
	for _, e := range events {
		sql := `INSERT INTO audit (at, request_id, actor, actor_id, client_ip, action, upload_id, r2_key, bytes, outcome)
			SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?`
		if cond != "" {
			sql += ` WHERE ` + cond
		}
		sts = append(sts, Statement{SQL: sql, Params: cat([]any{e.Time.UnixMilli(), e.RequestID, e.Actor, e.ActorID,
			e.ClientIP, e.Action, e.UploadID, e.Key, e.Bytes, e.Outcome}, cargs)})
	}
	return sts
}

// AppendAudit writes events in one batch. Errors: CodeDatabase.
func (s *MetaStore) AppendAudit(ctx context.Context, events []storage.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	_, err := s.DB.Batch(ctx, auditInserts(events, "", nil))
	return dbError(err)
}

// ListAudit returns up to q.Limit (at least 1) audit rows newest first, by
// at and then id, both descending, filtered by q, in one query that the
// indexes on (at, id), (actor_id, at, id) and (action, at, id) serve.
// Errors: CodeDatabase.
func (s *MetaStore) ListAudit(ctx context.Context, q storage.AuditQuery) ([]storage.AuditEvent, error) {
	query, args := sqlquery.ListAudit(q)
	res, err := s.DB.Query(ctx, Statement{SQL: query, Params: args})
	if err != nil {
		return nil, dbError(err)
	}
	out := make([]storage.AuditEvent, 0, len(res.Rows))
	for _, row := range res.Rows {
		var r rowReader = row
		out = append(out, storage.AuditEvent{ID: r.int("id"), Time: time.UnixMilli(r.int("at")).UTC(),
			RequestID: r.str("request_id"), Actor: r.str("actor"), ActorID: r.str("actor_id"), ClientIP: r.str("client_ip"),
			Action: r.str("action"), UploadID: r.str("upload_id"), Key: r.str("r2_key"), Bytes: r.int("bytes"),
			Outcome: r.str("outcome")})
	}
	return out, nil
}

// auditDeleteBatch bounds the rows one DeleteAuditBefore deletes, so that
// one statement stays within D1's time limits; the next sweep goes on.
const auditDeleteBatch = 10000

// DeleteAuditBefore deletes the audit rows older than t, at most
// auditDeleteBatch of them, oldest first. Errors: CodeDatabase.
func (s *MetaStore) DeleteAuditBefore(ctx context.Context, t time.Time) (int64, error) {
	res, err := s.DB.Query(ctx, Statement{SQL: `DELETE FROM audit WHERE id IN
		(SELECT id FROM audit WHERE at < ? ORDER BY at, id LIMIT ?) RETURNING id`,
		Params: []any{t.UnixMilli(), auditDeleteBatch}})
	if err != nil {
		return 0, dbError(err)
	}
	return int64(len(res.Rows)), nil
}
