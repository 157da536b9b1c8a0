package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"time"

	storage "github.com/memenow/memenow-storage"
)

// The janitor's queries (expiry, leases) and the health check's write.

// fileIdentity remembers which file the store opened, so that a database
// file deleted or replaced under the running process is noticed: SQLite
// would go on writing to the deleted file, acknowledging writes that no
// restart will ever see.
type fileIdentity struct {
	path string
	info os.FileInfo // nil when the path could not be inspected at Open
}

// newFileIdentity records the file at path.
func newFileIdentity(path string) fileIdentity {
	fi, _ := os.Stat(path)
	return fileIdentity{path: path, info: fi}
}

// check fails when the file at the path is no longer the one opened.
func (f fileIdentity) check() error {
	if f.info == nil {
		return nil
	}
	cur, err := os.Stat(f.path)
	if err == nil && os.SameFile(f.info, cur) {
		return nil
	}
	if err == nil {
		err = errors.New("another file is at its path")
	}
	return storage.Wrap(storage.CodeDatabase, err,
		"the database file was deleted or replaced while the server ran; writes are refused (restore it, or restart)")
}

// CheckWrite commits now to the one row of the health table, after checking
// that the database file is still the one opened. Errors: CodeDatabase.
func (s *Store) CheckWrite(ctx context.Context, now time.Time) error {
	return s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO health (id, checked_at) VALUES (1, ?)
			ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at`, now.UnixMilli())
		return err
	})
}

// ListStale returns up to limit uploads in one of statuses last updated
// before updatedBefore, least recently updated first; the index on
// (status, updated_at) serves it. Errors: CodeDatabase.
func (s *Store) ListStale(ctx context.Context, statuses []storage.Status, updatedBefore time.Time, limit int) ([]*storage.Upload, error) {
	if len(statuses) == 0 {
		return []*storage.Upload{}, nil
	}
	args := append(statusArgs(statuses), updatedBefore.UnixMilli(), max(limit, 1))
	return s.queryUploads(ctx, `SELECT `+uploadColumns+` FROM uploads
		WHERE status IN (`+placeholders(len(statuses))+`) AND updated_at < ?
		ORDER BY updated_at LIMIT ?`, args...)
}

// Expire moves upload id to expired when it is initiated or in progress and
// was last updated before updatedBefore, stamped with now. Errors:
// CodeUploadNotFound, CodeConflict, CodeDatabase.
func (s *Store) Expire(ctx context.Context, id string, updatedBefore, now time.Time, audit ...storage.AuditEvent) (*storage.Upload, error) {
	var u *storage.Upload
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		u, err = scanUpload(tx.QueryRowContext(ctx, `UPDATE uploads SET status = ?, updated_at = ?
			WHERE id = ? AND status IN (?, ?) AND updated_at < ?
			RETURNING `+uploadColumns,
			string(storage.StatusExpired), now.UnixMilli(), id,
			string(storage.StatusInitiated), string(storage.StatusInProgress), updatedBefore.UnixMilli()))
		if errors.Is(err, sql.ErrNoRows) {
			return casFailed(ctx, tx, id)
		}
		if err != nil {
			return err
		}
		return insertAudit(ctx, tx, audit) // audit.go
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// AcquireLease takes lease name for holder until until when it is free at
// now or held by holder already, in one upsert. Errors: CodeDatabase.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, now, until time.Time) (bool, error) {
	var got bool
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var h string
		err := tx.QueryRowContext(ctx, `INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
			WHERE leases.holder = excluded.holder OR leases.expires_at <= ?
			RETURNING holder`, name, holder, until.UnixMilli(), now.UnixMilli()).Scan(&h)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		got = err == nil && h == holder
		return err
	})
	return got, err
}

// ReleaseLease deletes lease name when holder holds it. Errors:
// CodeDatabase.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	return s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM leases WHERE name = ? AND holder = ?`, name, holder)
		return err
	})
}
