package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"time"

	storage "github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/internal/sqlquery"
)

const uploadColumns = sqlquery.UploadColumns

// queryer is what *sql.DB and *sql.Tx share.
type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// scanner is what *sql.Row and *sql.Rows share.
type scanner interface {
	Scan(dest ...any) error
}

// nowMS is the current time in unix milliseconds, the unit of created_at and
// updated_at.
func nowMS() int64 { return time.Now().UnixMilli() }

func fromMS(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// visibility is the stored form of v: an empty one is private.
func visibility(v storage.Visibility) storage.Visibility {
	if v == "" {
		return storage.VisibilityPrivate
	}
	return v
}

// CreateUpload inserts u, provided that q still holds for its user with u
// counted (see checkQuota); an empty Visibility is stored as private. The
// quota is read in the same write transaction as the insert, and SQLite
// runs one write transaction at a time (in this process and across
// processes on the file), so concurrent inits cannot both take the last
// place. Errors: CodeKeyTaken when an upload that is not cancelled holds
// u.Key, CodeTooManyUploads, CodeQuotaExceeded, CodeDatabase (a duplicate
// id included).
func (s *Store) CreateUpload(ctx context.Context, u *storage.Upload, q storage.Quota, audit ...storage.AuditEvent) error {
	return s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := checkQuota(ctx, tx, u, q); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO uploads (`+uploadColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			u.ID, u.FileName, u.TotalSize, u.UserID, string(u.UserRole), u.ContentType,
			u.ChunkSize, u.TotalChunks, string(u.Status), u.Key, u.StoreHandle, u.ChunksUploaded,
			u.BytesUploaded, u.CreatedAt.UnixMilli(), u.UpdatedAt.UnixMilli(), string(visibility(u.Visibility)))
		if isUniqueViolation(err) { // the partial index on r2_key; a duplicate id is a PRIMARY KEY violation
			return storage.Wrap(storage.CodeKeyTaken, err, "the key is reserved by another upload")
		}
		if err != nil {
			return err
		}
		return insertAudit(ctx, tx, audit) // audit.go
	})
}

// GetUpload returns upload id. Errors: CodeUploadNotFound, CodeDatabase.
func (s *Store) GetUpload(ctx context.Context, id string) (*storage.Upload, error) {
	return getUpload(ctx, s.r, id)
}

func getUpload(ctx context.Context, q queryer, id string) (*storage.Upload, error) {
	u, err := scanUpload(q.QueryRowContext(ctx, `SELECT `+uploadColumns+` FROM uploads WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound(id)
	}
	if err != nil {
		return nil, dbError(err)
	}
	return u, nil
}

// GetUploadByKey returns the upload that holds key: the one that is
// neither cancelled nor expired. Errors: CodeUploadNotFound, CodeDatabase.
func (s *Store) GetUploadByKey(ctx context.Context, key string) (*storage.Upload, error) {
	// The condition is the one of the partial unique index on r2_key, which
	// serves the query and guarantees at most one row.
	u, err := scanUpload(s.r.QueryRowContext(ctx, `SELECT `+uploadColumns+` FROM uploads
		WHERE r2_key = ? AND status NOT IN ('cancelled', 'expired')`, key))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, storage.Errorf(storage.CodeUploadNotFound, "no upload holds that key")
	}
	if err != nil {
		return nil, dbError(err)
	}
	return u, nil
}

// ListUploads returns up to q.Limit (at least 1) uploads newest first, by
// created_at and then id, both descending, filtered by q's user and status
// and starting after q.After. The indexes on (user_id, created_at, id) and
// (created_at, id) serve the order and the cursor. Errors: CodeDatabase.
func (s *Store) ListUploads(ctx context.Context, q storage.ListQuery) ([]*storage.Upload, error) {
	query, args := sqlquery.ListUploads(q)
	return s.queryUploads(ctx, query, args...)
}

// queryUploads runs a SELECT of uploadColumns on the reader pool and scans
// every row; no row gives an empty, non-nil slice. Errors: CodeDatabase.
func (s *Store) queryUploads(ctx context.Context, query string, args ...any) ([]*storage.Upload, error) {
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, dbError(err)
	}
	defer rows.Close()
	us := []*storage.Upload{}
	for rows.Next() {
		u, err := scanUpload(rows)
		if err != nil {
			return nil, dbError(err)
		}
		us = append(us, u)
	}
	if err := rows.Err(); err != nil {
		return nil, dbError(err)
	}
	return us, nil
}

func scanUpload(row scanner) (*storage.Upload, error) {
	var u storage.Upload
	var role, status, vis string
	var created, updated int64
	err := row.Scan(&u.ID, &u.FileName, &u.TotalSize, &u.UserID, &role, &u.ContentType,
		&u.ChunkSize, &u.TotalChunks, &status, &u.Key, &u.StoreHandle, &u.ChunksUploaded,
		&u.BytesUploaded, &created, &updated, &vis)
	if err != nil {
		return nil, err
	}
	u.UserRole, u.Status, u.Visibility = storage.Role(role), storage.Status(status), storage.Visibility(vis)
	u.CreatedAt, u.UpdatedAt = fromMS(created), fromMS(updated)
	return &u, nil
}

// ListChunks returns the recorded chunks of upload id sorted by index; an
// unknown id gives an empty list. Errors: CodeDatabase.
func (s *Store) ListChunks(ctx context.Context, id string) ([]storage.Chunk, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT idx, size, etag FROM chunks WHERE upload_id = ? ORDER BY idx`, id)
	if err != nil {
		return nil, dbError(err)
	}
	defer rows.Close()
	chunks := []storage.Chunk{}
	for rows.Next() {
		var c storage.Chunk
		if err := rows.Scan(&c.Index, &c.Size, &c.ETag); err != nil {
			return nil, dbError(err)
		}
		chunks = append(chunks, c)
	}
	if err := rows.Err(); err != nil {
		return nil, dbError(err)
	}
	return chunks, nil
}

// ForgetChunk deletes the record of chunk index of upload id, provided the
// upload is in one of the states from; a chunk that is not recorded is no
// error. Errors: CodeUploadNotFound, CodeConflict, CodeDatabase.
func (s *Store) ForgetChunk(ctx context.Context, id string, index int, from []storage.Status) error {
	return s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var status string
		err := tx.QueryRowContext(ctx, `SELECT status FROM uploads WHERE id = ?`, id).Scan(&status)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound(id)
		}
		if err != nil {
			return err
		}
		if !slices.Contains(from, storage.Status(status)) {
			return conflict(id, storage.Status(status))
		}
		var size int64
		err = tx.QueryRowContext(ctx, `DELETE FROM chunks WHERE upload_id = ? AND idx = ? RETURNING size`, id, index).Scan(&size)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // nothing recorded: the counters stay
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE uploads
			SET chunks_uploaded = chunks_uploaded - 1, bytes_uploaded = bytes_uploaded - ?, updated_at = ?
			WHERE id = ?`, size, nowMS(), id)
		return err
	})
}

// RecordChunk records (or replaces) chunk c of upload id and moves the upload
// to in_progress, provided it is in one of the states from. It does O(1)
// work: the counters change by the difference the chunk makes. Errors:
// CodeUploadNotFound, CodeConflict, CodeDatabase.
func (s *Store) RecordChunk(ctx context.Context, id string, c storage.Chunk, from []storage.Status) error {
	return s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var oldSize int64
		dChunks := 1
		err := tx.QueryRowContext(ctx, `SELECT size FROM chunks WHERE upload_id = ? AND idx = ?`, id, c.Index).Scan(&oldSize)
		switch {
		case err == nil:
			dChunks = 0 // a replacement: the chunk is counted already
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if len(from) == 0 {
			return casFailed(ctx, tx, id)
		}
		args := []any{string(storage.StatusInProgress), dChunks, c.Size - oldSize, nowMS(), id}
		res, err := tx.ExecContext(ctx, `UPDATE uploads
			SET status = ?, chunks_uploaded = chunks_uploaded + ?, bytes_uploaded = bytes_uploaded + ?, updated_at = ?
			WHERE id = ? AND status IN (`+placeholders(len(from))+`)`, append(args, statusArgs(from)...)...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return casFailed(ctx, tx, id)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO chunks (upload_id, idx, size, etag) VALUES (?, ?, ?, ?)
			ON CONFLICT (upload_id, idx) DO UPDATE SET size = excluded.size, etag = excluded.etag`,
			id, c.Index, c.Size, c.ETag)
		return err
	})
}

// Transition moves upload id to status to, provided it is in one of the
// states from, and returns it as it is afterwards. Errors:
// CodeUploadNotFound, CodeConflict, CodeDatabase.
func (s *Store) Transition(ctx context.Context, id string, from []storage.Status, to storage.Status, audit ...storage.AuditEvent) (*storage.Upload, error) {
	var u *storage.Upload
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if len(from) == 0 {
			return casFailed(ctx, tx, id)
		}
		args := append([]any{string(to), nowMS(), id}, statusArgs(from)...)
		var err error
		u, err = scanUpload(tx.QueryRowContext(ctx, `UPDATE uploads SET status = ?, updated_at = ?
			WHERE id = ? AND status IN (`+placeholders(len(from))+`)
			RETURNING `+uploadColumns, args...))
		if errors.Is(err, sql.ErrNoRows) {
			return casFailed(ctx, tx, id)
		}
		if isUniqueViolation(err) { // leaving cancelled while another upload holds the key
			return storage.Wrap(storage.CodeConflict, err, "the key is reserved by another upload")
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

// inTx runs f as one write transaction, which commits together with the
// writes queued beside it (see groupCommitter), and returns once it is
// durable. It refuses to write to a database file that was deleted or
// replaced since Open. Errors that are not *storage.Error become
// CodeDatabase.
func (s *Store) inTx(ctx context.Context, f writeFunc) error {
	if err := s.file.check(); err != nil { // janitor.go: a deleted database file refuses writes
		return err
	}
	if err := s.writes.run(ctx, f); err != nil {
		return dbError(err)
	}
	return nil
}

// casFailed explains a compare-and-set that changed no row: the upload is
// missing (CodeUploadNotFound) or in another state (CodeConflict).
func casFailed(ctx context.Context, q queryer, id string) error {
	var status string
	err := q.QueryRowContext(ctx, `SELECT status FROM uploads WHERE id = ?`, id).Scan(&status)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound(id)
	}
	if err != nil {
		return err
	}
	return conflict(id, storage.Status(status))
}

func notFound(id string) error {
	return storage.Errorf(storage.CodeUploadNotFound, "upload %s not found", id)
}

func conflict(id string, status storage.Status) error {
	return storage.Errorf(storage.CodeConflict, "upload %s is %s", id, status)
}

// placeholders returns n comma-separated '?'.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func statusArgs(from []storage.Status) []any {
	args := make([]any, len(from))
	for i, st := range from {
		args[i] = string(st)
	}
	return args
}

// checkQuota refuses u when its user's holdings, read in tx, leave no room
// for it under q (storage.Quota.Check). A zero q reads nothing.
func checkQuota(ctx context.Context, tx *sql.Tx, u *storage.Upload, q storage.Quota) error {
	if !q.On() {
		return nil
	}
	var use storage.QuotaUsage
	if err := tx.QueryRowContext(ctx, sqlquery.Usage(q), sqlquery.UsageArgs(q, u.UserID)...).Scan(&use.OpenUploads, &use.OpenBytes, &use.StoredBytes); err != nil {
		return err
	}
	return q.Check(use, u.TotalSize)
}
