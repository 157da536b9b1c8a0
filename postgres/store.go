package postgres

import (
	"context"
	"errors"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	storage "github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/internal/sqlquery"
)

const uploadColumns = `id, file_name, total_size, user_id, user_role, content_type,
	chunk_size, total_chunks, status, r2_key, store_handle, chunks_uploaded,
	bytes_uploaded, created_at, updated_at, visibility`

// nowMS is the current time in unix milliseconds, the unit of created_at and
// updated_at.
func nowMS() int64 { return time.Now().UnixMilli() }

func fromMS(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// CreateUpload inserts u with every field it carries, provided that q
// still holds for its user with u counted (storage.Quota.Check); an empty
// Visibility is stored as private. With a quota, one round trip sends two
// statements that run in one implicit transaction: the first takes a
// transaction-level advisory lock on the user, so that the inits of one
// user run one at a time on every instance; the second, whose snapshot is
// taken after the lock (READ COMMITTED), counts the user's holdings and
// inserts u only when they leave room for it. Errors: CodeKeyTaken when an
// upload that is not cancelled holds u.Key, CodeTooManyUploads,
// CodeQuotaExceeded, CodeDatabase (a duplicate id included).
func (s *Store) CreateUpload(ctx context.Context, u *storage.Upload, q storage.Quota, audit ...storage.AuditEvent) error {
	vis := u.Visibility
	if vis == "" {
		vis = storage.VisibilityPrivate
	}
	args := []any{u.ID, u.FileName, u.TotalSize, u.UserID, string(u.UserRole), u.ContentType,
		u.ChunkSize, u.TotalChunks, string(u.Status), u.Key, u.StoreHandle, u.ChunksUploaded,
		u.BytesUploaded, u.CreatedAt.UnixMilli(), u.UpdatedAt.UnixMilli(), string(vis)}
	if !q.On() {
		insert := `INSERT INTO uploads (` + uploadColumns + `)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`
		if len(audit) > 0 { // audit.go: the rows in the same statement
			insert = `WITH ins AS (` + insert + ` RETURNING 1) ` + auditInsert(len(args)+1, `WHERE EXISTS (SELECT 1 FROM ins)`)
			args = append(args, auditArrays(audit)...)
		}
		_, err := s.pool.Exec(ctx, insert, args...)
		return s.createError(ctx, err)
	}
	b := &pgx.Batch{}
	b.Queue(`SELECT pg_advisory_xact_lock($1, $2)`, quotaLockClass, userLockKey(u.UserID))
	var use storage.QuotaUsage
	var inserted bool
	b.Queue(quotaInsertSQL(q), append(args, q.MaxOpenUploads, q.MaxOpenBytes, q.MaxStoredBytes)...).
		QueryRow(func(row pgx.Row) error {
			return row.Scan(&use.OpenUploads, &use.OpenBytes, &use.StoredBytes, &inserted)
		})
	if len(audit) > 0 { // audit.go: in the batch's implicit transaction, only when inserted
		b.Queue(auditInsert(2, `WHERE EXISTS (SELECT 1 FROM uploads WHERE id = $1)`), append([]any{u.ID}, auditArrays(audit)...)...)
	}
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return s.createError(ctx, err)
	}
	if inserted {
		return nil
	}
	if err := q.Check(use, u.TotalSize); err != nil {
		return err
	}
	return storage.Errorf(storage.CodeDatabase, "the quota check refused upload %s for no reason Quota.Check knows", u.ID)
}

// createError translates the failure of an insert into uploads.
func (s *Store) createError(ctx context.Context, err error) error {
	if isKeyTaken(err) { // a duplicate id violates uploads_pkey instead
		return storage.Wrap(storage.CodeKeyTaken, err, "the key is reserved by another upload")
	}
	if err != nil {
		return s.dbError(ctx, err)
	}
	return nil
}

// quotaLockClass is the first key of the advisory locks that serialize a
// user's inits; the second is userLockKey. (The two-key space does not
// overlap the one-key space of the migration lock.)
const quotaLockClass int32 = 0x6d6e7175 // "mnqu"

// userLockKey hashes a user id to the second key of its advisory lock; two
// users who share a hash only wait for each other's inits.
func userLockKey(userID string) int32 {
	h := fnv.New32a()
	h.Write([]byte(userID))
	return int32(h.Sum32())
}

// quotaInsertSQL counts the holdings of user $4 for q (from the partial
// indexes uploads_open and uploads_completed, whose conditions it repeats)
// and inserts the
// upload of $1…$16 when they leave room for it under the limits $17 (open
// uploads), $18 (open bytes) and $19 (stored bytes), 0 being no limit: the
// conditions of storage.Quota.Check. It returns the holdings counted and
// whether the upload was inserted.
func quotaInsertSQL(q storage.Quota) string {
	completed := `SELECT 0::bigint AS bytes`
	if q.MaxStoredBytes > 0 {
		completed = `SELECT COALESCE(SUM(total_size), 0)::bigint AS bytes FROM uploads WHERE user_id = $4 AND status = 'completed'`
	}
	return `WITH held AS (
			SELECT o.n AS open_uploads, o.bytes AS open_bytes, o.bytes + c.bytes AS stored_bytes
			FROM (SELECT COUNT(*) AS n, COALESCE(SUM(total_size), 0)::bigint AS bytes FROM uploads
				WHERE user_id = $4 AND status IN (` + sqlquery.StatusList(storage.OpenStatuses) + `)) AS o,
			(` + completed + `) AS c
		), ins AS (
			INSERT INTO uploads (` + uploadColumns + `)
			SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16 FROM held
			WHERE ($17::bigint = 0 OR held.open_uploads < $17::bigint)
				AND ($18::bigint = 0 OR held.open_bytes + $3::bigint <= $18::bigint)
				AND ($19::bigint = 0 OR held.stored_bytes + $3::bigint <= $19::bigint)
			RETURNING 1
		)
		SELECT open_uploads, open_bytes, stored_bytes, EXISTS (SELECT 1 FROM ins) FROM held`
}

// GetUpload returns upload id. Errors: CodeUploadNotFound, CodeDatabase.
func (s *Store) GetUpload(ctx context.Context, id string) (*storage.Upload, error) {
	u, err := scanUpload(s.pool.QueryRow(ctx, `SELECT `+uploadColumns+` FROM uploads WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound(id)
	}
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	return u, nil
}

// GetUploadByKey returns the upload that holds key: the one that is
// neither cancelled nor expired. The condition is the partial unique index's, which serves the
// query and allows one row at most. Errors: CodeUploadNotFound,
// CodeDatabase.
func (s *Store) GetUploadByKey(ctx context.Context, key string) (*storage.Upload, error) {
	u, err := scanUpload(s.pool.QueryRow(ctx, `SELECT `+uploadColumns+` FROM uploads
		WHERE r2_key = $1 AND status NOT IN ('cancelled', 'expired')`, key))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, storage.Errorf(storage.CodeUploadNotFound, "no upload holds that key")
	}
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	return u, nil
}

// ListUploads returns up to q.Limit (at least 1) uploads newest first, by
// created_at and then id, both descending, filtered by q's user and status
// and starting after q.After. The cursor is a row comparison, which the
// indexes on (user_id, created_at, id) and (created_at, id) turn into a
// range scan. Errors: CodeDatabase.
func (s *Store) ListUploads(ctx context.Context, q storage.ListQuery) ([]*storage.Upload, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if q.UserID != "" {
		where = append(where, "user_id = "+arg(q.UserID))
	}
	if q.Status != "" {
		where = append(where, "status = "+arg(string(q.Status)))
	}
	if q.After != nil {
		where = append(where, "(created_at, id) < ("+arg(q.After.CreatedAt.UnixMilli())+", "+arg(q.After.ID)+")")
	}
	sql := `SELECT ` + uploadColumns + ` FROM uploads`
	if len(where) > 0 {
		sql += ` WHERE ` + strings.Join(where, " AND ")
	}
	sql += ` ORDER BY created_at DESC, id DESC LIMIT ` + arg(max(q.Limit, 1))
	rows, err := s.pool.Query(ctx, sql, args...)
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

func scanUpload(row pgx.Row) (*storage.Upload, error) {
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
	rows, err := s.pool.Query(ctx, `SELECT idx, size, etag FROM chunks WHERE upload_id = $1 ORDER BY idx`, id)
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	chunks, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.Chunk, error) {
		var c storage.Chunk
		err := row.Scan(&c.Index, &c.Size, &c.ETag)
		return c, err
	})
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	if chunks == nil {
		chunks = []storage.Chunk{}
	}
	return chunks, nil
}

// ForgetChunk deletes the record of chunk index of upload id, provided the
// upload is in one of the states from; a chunk that is not recorded is no
// error. It locks the upload's row, so the counters stay exact under
// concurrent chunk requests on any instance. Errors: CodeUploadNotFound,
// CodeConflict, CodeDatabase.
func (s *Store) ForgetChunk(ctx context.Context, id string, index int, from []storage.Status) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockUpload(ctx, tx, id, from); err != nil {
			return err
		}
		// This statement's snapshot is taken after the lock, so it sees every
		// chunk change committed by the earlier holders.
		_, err := tx.Exec(ctx, `WITH gone AS (
				DELETE FROM chunks WHERE upload_id = $1 AND idx = $2 RETURNING size
			)
			UPDATE uploads
			SET chunks_uploaded = chunks_uploaded - 1, bytes_uploaded = bytes_uploaded - gone.size, updated_at = $3
			FROM gone WHERE id = $1`, id, index, nowMS())
		return err
	})
}

// RecordChunk records (or replaces) chunk c of upload id and moves the upload
// to in_progress, provided it is in one of the states from. It locks the
// upload's row and then does O(1) work: the counters change by the
// difference the chunk makes. Errors: CodeUploadNotFound, CodeConflict,
// CodeDatabase.
func (s *Store) RecordChunk(ctx context.Context, id string, c storage.Chunk, from []storage.Status) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockUpload(ctx, tx, id, from); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `WITH old AS (
				SELECT size FROM chunks WHERE upload_id = $1 AND idx = $2
			), put AS (
				INSERT INTO chunks (upload_id, idx, size, etag) VALUES ($1, $2, $3, $4)
				ON CONFLICT (upload_id, idx) DO UPDATE SET size = excluded.size, etag = excluded.etag
			)
			UPDATE uploads
			SET status = $5,
				chunks_uploaded = chunks_uploaded + CASE WHEN EXISTS (SELECT 1 FROM old) THEN 0 ELSE 1 END,
				bytes_uploaded = bytes_uploaded + $3 - COALESCE((SELECT size FROM old), 0),
				updated_at = $6
			WHERE id = $1`, id, c.Index, c.Size, c.ETag, string(storage.StatusInProgress), nowMS())
		return err
	})
}

// lockUpload locks the row of upload id for the rest of tx and checks that
// it is in one of the states from.
func lockUpload(ctx context.Context, tx pgx.Tx, id string, from []storage.Status) error {
	var status string
	err := tx.QueryRow(ctx, `SELECT status FROM uploads WHERE id = $1 FOR UPDATE`, id).Scan(&status)
	if errors.Is(err, pgx.ErrNoRows) {
		return notFound(id)
	}
	if err != nil {
		return err
	}
	for _, st := range from {
		if storage.Status(status) == st {
			return nil
		}
	}
	return conflict(id, storage.Status(status))
}

// Transition moves upload id to status to, provided it is in one of the
// states from, in one compare-and-set statement, and returns the upload as
// it is afterwards. Errors: CodeUploadNotFound, CodeConflict, CodeDatabase.
func (s *Store) Transition(ctx context.Context, id string, from []storage.Status, to storage.Status, audit ...storage.AuditEvent) (*storage.Upload, error) {
	sql := `UPDATE uploads SET status = $2, updated_at = $3
		WHERE id = $1 AND status = ANY($4)
		RETURNING ` + uploadColumns
	args := []any{id, string(to), nowMS(), statusStrings(from)}
	if len(audit) > 0 { // audit.go: the rows in the same statement
		sql, args = withAudit(sql, len(args)), append(args, auditArrays(audit)...)
	}
	u, err := scanUpload(s.pool.QueryRow(ctx, sql, args...))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, s.casFailed(ctx, id)
	case isKeyTaken(err): // leaving cancelled while another upload holds the key
		return nil, storage.Wrap(storage.CodeConflict, err, "the key is reserved by another upload")
	case err != nil:
		return nil, s.dbError(ctx, err)
	}
	return u, nil
}

// inTx runs f in a transaction and commits it when f returns nil. Errors
// that are not *storage.Error become CodeDatabase.
func (s *Store) inTx(ctx context.Context, f func(tx pgx.Tx) error) error {
	if err := pgx.BeginFunc(ctx, s.pool, f); err != nil {
		return s.dbError(ctx, err)
	}
	return nil
}

// casFailed explains a compare-and-set that changed no row: the upload is
// missing (CodeUploadNotFound) or in another state (CodeConflict).
func (s *Store) casFailed(ctx context.Context, id string) error {
	var status string
	err := s.pool.QueryRow(ctx, `SELECT status FROM uploads WHERE id = $1`, id).Scan(&status)
	if errors.Is(err, pgx.ErrNoRows) {
		return notFound(id)
	}
	if err != nil {
		return s.dbError(ctx, err)
	}
	return conflict(id, storage.Status(status))
}

func notFound(id string) error {
	return storage.Errorf(storage.CodeUploadNotFound, "upload %s not found", id)
}

func conflict(id string, status storage.Status) error {
	return storage.Errorf(storage.CodeConflict, "upload %s is %s", id, status)
}

func statusStrings(from []storage.Status) []string {
	ss := make([]string, len(from))
	for i, st := range from {
		ss[i] = string(st)
	}
	return ss
}
