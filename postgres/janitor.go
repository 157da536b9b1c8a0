package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	storage "github.com/memenow/memenow-storage"
)

// The janitor's queries (expiry, leases) and the health check's write.

// CheckWrite commits now to the one row of the health table within a short
// timeout. Errors: CodeDatabase.
func (s *Store) CheckWrite(ctx context.Context, now time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	_, err := s.pool.Exec(ctx, `INSERT INTO health (id, checked_at) VALUES (1, $1)
		ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at`, now.UnixMilli())
	if err != nil {
		return s.dbError(ctx, err)
	}
	return nil
}

// ListStale returns up to limit uploads in one of statuses last updated
// before updatedBefore, least recently updated first; the index on
// (status, updated_at) serves it. Errors: CodeDatabase.
func (s *Store) ListStale(ctx context.Context, statuses []storage.Status, updatedBefore time.Time, limit int) ([]*storage.Upload, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+uploadColumns+` FROM uploads
		WHERE status = ANY($1) AND updated_at < $2
		ORDER BY updated_at LIMIT $3`, statusStrings(statuses), updatedBefore.UnixMilli(), max(limit, 1))
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	us, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*storage.Upload, error) { return scanUpload(row) })
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	if us == nil {
		us = []*storage.Upload{}
	}
	return us, nil
}

// Expire moves upload id to expired when it is initiated or in progress and
// was last updated before updatedBefore, stamped with now, in one
// compare-and-set statement. Errors: CodeUploadNotFound, CodeConflict,
// CodeDatabase.
func (s *Store) Expire(ctx context.Context, id string, updatedBefore, now time.Time, audit ...storage.AuditEvent) (*storage.Upload, error) {
	sql := `UPDATE uploads SET status = $2, updated_at = $3
		WHERE id = $1 AND status = ANY($4) AND updated_at < $5
		RETURNING ` + uploadColumns
	args := []any{id, string(storage.StatusExpired), now.UnixMilli(),
		statusStrings([]storage.Status{storage.StatusInitiated, storage.StatusInProgress}), updatedBefore.UnixMilli()}
	if len(audit) > 0 { // audit.go: the rows in the same statement
		sql, args = withAudit(sql, len(args)), append(args, auditArrays(audit)...)
	}
	u, err := scanUpload(s.pool.QueryRow(ctx, sql, args...))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, s.casFailed(ctx, id)
	case err != nil:
		return nil, s.dbError(ctx, err)
	}
	return u, nil
}

// AcquireLease takes lease name for holder until until when it is free at
// now or held by holder already, in one upsert. Errors: CodeDatabase.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, now, until time.Time) (bool, error) {
	var h string
	err := s.pool.QueryRow(ctx, `INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE leases.holder = excluded.holder OR leases.expires_at <= $4
		RETURNING holder`, name, holder, until.UnixMilli(), now.UnixMilli()).Scan(&h)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return false, nil
	case err != nil:
		return false, s.dbError(ctx, err)
	}
	return h == holder, nil
}

// ReleaseLease deletes lease name when holder holds it. Errors:
// CodeDatabase.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM leases WHERE name = $1 AND holder = $2`, name, holder); err != nil {
		return s.dbError(ctx, err)
	}
	return nil
}
