package sqlite

import (
	"context"
	"database/sql"
	"time"

	storage "github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/internal/sqlquery"
)

// The audit log (storage.AuditEvent): the rows state changes write in their
// own transaction (insertAudit), the batches of other events, the listing
// and the retention delete.

const auditColumns = sqlquery.AuditColumns

// insertAudit writes events in tx.
func insertAudit(ctx context.Context, tx *sql.Tx, events []storage.AuditEvent) error {
	for _, e := range events {
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit
			(at, request_id, actor, actor_id, client_ip, action, upload_id, r2_key, bytes, outcome)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, auditArgs(e)...); err != nil {
			return err
		}
	}
	return nil
}

// auditArgs returns the values of e for the columns of auditColumns but id.
func auditArgs(e storage.AuditEvent) []any {
	return []any{e.Time.UnixMilli(), e.RequestID, e.Actor, e.ActorID, e.ClientIP, e.Action,
		e.UploadID, e.Key, e.Bytes, e.Outcome}
}

// AppendAudit writes events in one transaction. Errors: CodeDatabase.
func (s *Store) AppendAudit(ctx context.Context, events []storage.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	return s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return insertAudit(ctx, tx, events)
	})
}

// ListAudit returns up to q.Limit (at least 1) audit rows newest first, by
// at and then id, both descending, filtered by q; the indexes on (at, id),
// (actor_id, at, id) and (action, at, id) serve it. Errors: CodeDatabase.
func (s *Store) ListAudit(ctx context.Context, q storage.AuditQuery) ([]storage.AuditEvent, error) {
	query, args := sqlquery.ListAudit(q)
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, dbError(err)
	}
	defer rows.Close()
	out := []storage.AuditEvent{}
	for rows.Next() {
		var e storage.AuditEvent
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.RequestID, &e.Actor, &e.ActorID, &e.ClientIP, &e.Action,
			&e.UploadID, &e.Key, &e.Bytes, &e.Outcome); err != nil {
			return nil, dbError(err)
		}
		e.Time = fromMS(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, dbError(err)
	}
	return out, nil
}

// DeleteAuditBefore deletes the audit rows older than t. Errors:
// CodeDatabase.
func (s *Store) DeleteAuditBefore(ctx context.Context, t time.Time) (int64, error) {
	var n int64
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM audit WHERE at < ?`, t.UnixMilli())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}
