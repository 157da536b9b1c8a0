package cfworker

import (
	"context"
	"strings"
	"time"

	storage "github.com/memenow/memenow-storage"
)

// The janitor's queries (expiry, leases) and the health check's write, each
// one D1 statement, which D1 runs atomically.

// CheckWrite commits now to the one row of the health table. Errors:
// CodeDatabase.
func (s *MetaStore) CheckWrite(ctx context.Context, now time.Time) error {
	_, err := s.DB.Query(ctx, Statement{SQL: `INSERT INTO health (id, checked_at) VALUES (1, ?)
		ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at`, Params: []any{now.UnixMilli()}})
	return dbError(err)
}

// ListStale returns up to limit uploads in one of statuses last updated
// before updatedBefore, least recently updated first. Errors: CodeDatabase.
func (s *MetaStore) ListStale(ctx context.Context, statuses []storage.Status, updatedBefore time.Time, limit int) ([]*storage.Upload, error) {
	if len(statuses) == 0 {
		return []*storage.Upload{}, nil
	}
	_, args := statusIn(statuses)
	res, err := s.DB.Query(ctx, Statement{SQL: `SELECT ` + uploadColumns + ` FROM uploads
		WHERE status IN (` + strings.TrimSuffix(strings.Repeat("?, ", len(statuses)), ", ") + `) AND updated_at < ?
		ORDER BY updated_at LIMIT ?`, Params: cat(args, []any{updatedBefore.UnixMilli(), max(limit, 1)})})
	if err != nil {
		return nil, dbError(err)
	}
	us := make([]*storage.Upload, 0, len(res.Rows))
	for _, row := range res.Rows {
		u, err := uploadOf(row)
		if err != nil {
			return nil, err
		}
		us = append(us, u)
	}
	return us, nil
}

// Expire moves upload id to expired when it is initiated or in progress and
// was last updated before updatedBefore, stamped with now, in one
// compare-and-set statement. Errors: CodeUploadNotFound, CodeConflict,
// CodeDatabase.
func (s *MetaStore) Expire(ctx context.Context, id string, updatedBefore, now time.Time, audit ...storage.AuditEvent) (*storage.Upload, error) {
	cond := `id = ? AND status IN (?, ?) AND updated_at < ?`
	cargs := []any{id, string(storage.StatusInitiated), string(storage.StatusInProgress), updatedBefore.UnixMilli()}
	update := Statement{SQL: `UPDATE uploads SET status = ?, updated_at = ? WHERE ` + cond + `
		RETURNING ` + uploadColumns, Params: cat([]any{string(storage.StatusExpired), now.UnixMilli()}, cargs)}
	var res Result
	var err error
	if len(audit) == 0 {
		res, err = s.DB.Query(ctx, update)
	} else {
		// d1_audit.go: the audit rows come before the update, under its
		// condition, in one batch.
		var all []Result
		all, err = s.DB.Batch(ctx, append(auditInserts(audit, `EXISTS (SELECT 1 FROM uploads WHERE `+cond+`)`, cargs), update))
		if err == nil && len(all) > 0 {
			res = all[len(all)-1]
		}
	}
	if err != nil {
		return nil, dbError(err)
	}
	if len(res.Rows) == 0 {
		return nil, s.casFailed(ctx, id)
	}
	return uploadOf(res.Rows[0])
}

// AcquireLease takes lease name for holder until until when it is free at
// now or held by holder already, in one upsert. Errors: CodeDatabase.
func (s *MetaStore) AcquireLease(ctx context.Context, name, holder string, now, until time.Time) (bool, error) {
	res, err := s.DB.Query(ctx, Statement{SQL: `INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE leases.holder = excluded.holder OR leases.expires_at <= ?
		RETURNING holder`, Params: []any{name, holder, until.UnixMilli(), now.UnixMilli()}})
	if err != nil {
		return false, dbError(err)
	}
	return len(res.Rows) == 1 && rowReader(res.Rows[0]).str("holder") == holder, nil
}

// ReleaseLease deletes lease name when holder holds it. Errors:
// CodeDatabase.
func (s *MetaStore) ReleaseLease(ctx context.Context, name, holder string) error {
	_, err := s.DB.Query(ctx, Statement{SQL: `DELETE FROM leases WHERE name = ? AND holder = ?`, Params: []any{name, holder}})
	return dbError(err)
}
