package cfworker

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	storage "github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/internal/sqlquery"
)

// MetaStore is the storage.MetaStore on Cloudflare D1. It uses the SQLite
// store's schema and migrations. D1 has no interactive transactions, so
// every compare-and-set is one atomic batch whose first statement reads the
// status and whose writes are all guarded by the same status condition.
type MetaStore struct {
	DB D1
	// Now returns the current time; time.Now when nil.
	Now func() time.Time

	migrated atomic.Bool
}

var _ storage.MetaStore = (*MetaStore)(nil)

const uploadColumns = sqlquery.UploadColumns

func (s *MetaStore) nowMS() int64 {
	if s.Now != nil {
		return s.Now().UnixMilli()
	}
	return time.Now().UnixMilli()
}

// dbError turns a binding failure into CodeDatabase; *storage.Error values
// pass through.
func dbError(err error) error {
	var se *storage.Error
	if err == nil || errors.As(err, &se) {
		return err
	}
	return storage.Wrap(storage.CodeDatabase, err, "the database failed")
}

func isUnique(err error, column string) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed: uploads."+column)
}

// CreateUpload inserts u, provided that q still holds for its user with u
// counted (storage.Quota.Check); an empty Visibility is stored as private.
// D1 has no interactive transactions, so with a quota the insert is
// conditional in one statement (INSERT … SELECT … WHERE the user's holdings
// leave room), and a batch (one transaction) runs it after a statement that
// reads the same holdings, to tell why when no row was inserted. D1 runs
// one statement at a time on a database, so two inits cannot both take the
// last place. Errors: CodeKeyTaken, CodeTooManyUploads, CodeQuotaExceeded,
// CodeDatabase.
func (s *MetaStore) CreateUpload(ctx context.Context, u *storage.Upload, q storage.Quota, audit ...storage.AuditEvent) error {
	vis := u.Visibility
	if vis == "" {
		vis = storage.VisibilityPrivate
	}
	row := []any{u.ID, u.FileName, u.TotalSize, u.UserID, string(u.UserRole), u.ContentType,
		u.ChunkSize, u.TotalChunks, string(u.Status), u.Key, u.StoreHandle, u.ChunksUploaded,
		u.BytesUploaded, u.CreatedAt.UnixMilli(), u.UpdatedAt.UnixMilli(), string(vis)}
	// d1_audit.go: the audit rows follow the insert in its batch, written
	// only when the upload was inserted.
	audited := auditInserts(audit, `EXISTS (SELECT 1 FROM uploads WHERE id = ?)`, []any{u.ID})
	if !q.On() {
		insert := Statement{SQL: `INSERT INTO uploads (` + uploadColumns + `)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, Params: row}
		var err error
		if len(audited) == 0 {
			_, err = s.DB.Query(ctx, insert)
		} else {
			_, err = s.DB.Batch(ctx, append([]Statement{insert}, audited...))
		}
		return createError(err)
	}
	held := sqlquery.Usage(q)
	res, err := s.DB.Batch(ctx, append([]Statement{
		{SQL: held, Params: sqlquery.UsageArgs(q, u.UserID)},
		{SQL: `INSERT INTO uploads (` + uploadColumns + `)
			SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM (` + held + `) AS held
			WHERE (? = 0 OR held.open_uploads < ?)
				AND (? = 0 OR held.open_bytes + ? <= ?)
				AND (? = 0 OR held.stored_bytes + ? <= ?)
			RETURNING id`,
			Params: cat(row, sqlquery.UsageArgs(q, u.UserID), []any{
				q.MaxOpenUploads, q.MaxOpenUploads,
				q.MaxOpenBytes, u.TotalSize, q.MaxOpenBytes,
				q.MaxStoredBytes, u.TotalSize, q.MaxStoredBytes})},
	}, audited...))
	if err != nil {
		return createError(err)
	}
	if len(res) < 2 || len(res[0].Rows) == 0 {
		return storage.Errorf(storage.CodeDatabase, "the quota check of upload %s returned no result", u.ID)
	}
	if len(res[1].Rows) > 0 {
		return nil
	}
	var r rowReader = res[0].Rows[0]
	use := storage.QuotaUsage{OpenUploads: int(r.int("open_uploads")), OpenBytes: r.int("open_bytes"), StoredBytes: r.int("stored_bytes")}
	if err := q.Check(use, u.TotalSize); err != nil {
		return err
	}
	return storage.Errorf(storage.CodeDatabase, "the quota check refused upload %s for no reason Quota.Check knows", u.ID)
}

// createError translates the failure of an insert into uploads.
func createError(err error) error {
	if isUnique(err, "r2_key") {
		return storage.Wrap(storage.CodeKeyTaken, err, "the key is reserved by another upload")
	}
	return dbError(err)
}

// GetUpload returns upload id. Errors: CodeUploadNotFound, CodeDatabase.
func (s *MetaStore) GetUpload(ctx context.Context, id string) (*storage.Upload, error) {
	res, err := s.DB.Query(ctx, Statement{SQL: `SELECT ` + uploadColumns + ` FROM uploads WHERE id = ?`, Params: []any{id}})
	if err != nil {
		return nil, dbError(err)
	}
	if len(res.Rows) == 0 {
		return nil, notFound(id)
	}
	return uploadOf(res.Rows[0])
}

// GetUploadByKey returns the upload that holds key: the one that is
// neither cancelled nor expired (the partial unique index on r2_key allows
// only one). Errors:
// CodeUploadNotFound, CodeDatabase.
func (s *MetaStore) GetUploadByKey(ctx context.Context, key string) (*storage.Upload, error) {
	res, err := s.DB.Query(ctx, Statement{SQL: `SELECT ` + uploadColumns + ` FROM uploads
		WHERE r2_key = ? AND status NOT IN ('cancelled', 'expired')`, Params: []any{key}})
	if err != nil {
		return nil, dbError(err)
	}
	if len(res.Rows) == 0 {
		return nil, storage.Errorf(storage.CodeUploadNotFound, "no upload holds that key")
	}
	return uploadOf(res.Rows[0])
}

// ListUploads returns up to q.Limit (at least 1) uploads newest first, by
// created_at and then id, both descending, filtered by q's user and status
// and starting after q.After, in one query that the indexes on (user_id,
// created_at, id) and (created_at, id) serve. Errors: CodeDatabase.
func (s *MetaStore) ListUploads(ctx context.Context, q storage.ListQuery) ([]*storage.Upload, error) {
	query, args := sqlquery.ListUploads(q)
	res, err := s.DB.Query(ctx, Statement{SQL: query, Params: args})
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

// uploadOf reads an upload from a row of uploadColumns.
func uploadOf(row map[string]any) (*storage.Upload, error) {
	var r rowReader = row
	u := &storage.Upload{
		ID: r.str("id"), FileName: r.str("file_name"), TotalSize: r.int("total_size"),
		UserID: r.str("user_id"), UserRole: storage.Role(r.str("user_role")), ContentType: r.str("content_type"),
		ChunkSize: r.int("chunk_size"), TotalChunks: int(r.int("total_chunks")), Status: storage.Status(r.str("status")),
		Key: r.str("r2_key"), StoreHandle: r.str("store_handle"), ChunksUploaded: int(r.int("chunks_uploaded")),
		BytesUploaded: r.int("bytes_uploaded"), Visibility: storage.Visibility(r.str("visibility")),
		CreatedAt: time.UnixMilli(r.int("created_at")).UTC(), UpdatedAt: time.UnixMilli(r.int("updated_at")).UTC(),
	}
	return u, nil
}

// rowReader reads typed columns from a row, remembering the first error.
type rowReader map[string]any

func (r rowReader) str(col string) string {
	s, _ := r[col].(string)
	return s
}

func (r rowReader) int(col string) int64 {
	switch v := r[col].(type) {
	case float64:
		return int64(v)
	case int64:
		return v
	}
	return 0
}

// ListChunks returns the recorded chunks of upload id sorted by index.
// Errors: CodeDatabase.
func (s *MetaStore) ListChunks(ctx context.Context, id string) ([]storage.Chunk, error) {
	res, err := s.DB.Query(ctx, Statement{SQL: `SELECT idx, size, etag FROM chunks WHERE upload_id = ? ORDER BY idx`, Params: []any{id}})
	if err != nil {
		return nil, dbError(err)
	}
	chunks := make([]storage.Chunk, 0, len(res.Rows))
	for _, row := range res.Rows {
		var r rowReader = row
		chunks = append(chunks, storage.Chunk{Index: int(r.int("idx")), Size: r.int("size"), ETag: r.str("etag")})
	}
	return chunks, nil
}

// statusIn is the guard " AND status IN (?, …)" and its parameters.
func statusIn(from []storage.Status) (string, []any) {
	args := make([]any, len(from))
	for i, st := range from {
		args[i] = string(st)
	}
	return " AND status IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(from)), ", ") + ")", args
}

// selectStatus is the first statement of every compare-and-set batch.
func selectStatus(id string) Statement {
	return Statement{SQL: `SELECT status FROM uploads WHERE id = ?`, Params: []any{id}}
}

// checkStatus explains the status read by a batch's first statement:
// CodeUploadNotFound, CodeConflict, or nil when the guard held.
func checkStatus(res Result, id string, from []storage.Status) error {
	if len(res.Rows) == 0 {
		return notFound(id)
	}
	st := storage.Status(rowReader(res.Rows[0]).str("status"))
	if !slices.Contains(from, st) {
		return storage.Errorf(storage.CodeConflict, "upload %s is %s", id, st)
	}
	return nil
}

func cat(args ...[]any) []any {
	var out []any
	for _, a := range args {
		out = append(out, a...)
	}
	return out
}

// ForgetChunk deletes the record of chunk index, provided the upload is in
// one of the states from. Errors: CodeUploadNotFound, CodeConflict,
// CodeDatabase.
func (s *MetaStore) ForgetChunk(ctx context.Context, id string, index int, from []storage.Status) error {
	if len(from) == 0 {
		return s.casFailed(ctx, id)
	}
	guard, gargs := statusIn(from)
	res, err := s.DB.Batch(ctx, []Statement{
		selectStatus(id),
		{SQL: `UPDATE uploads SET chunks_uploaded = chunks_uploaded - 1,
			bytes_uploaded = bytes_uploaded - (SELECT size FROM chunks WHERE upload_id = ? AND idx = ?), updated_at = ?
			WHERE id = ?` + guard + ` AND EXISTS (SELECT 1 FROM chunks WHERE upload_id = ? AND idx = ?)`,
			Params: cat([]any{id, index, s.nowMS(), id}, gargs, []any{id, index})},
		{SQL: `DELETE FROM chunks WHERE upload_id = ? AND idx = ?
			AND EXISTS (SELECT 1 FROM uploads WHERE id = ?` + guard + `)`,
			Params: cat([]any{id, index, id}, gargs)},
	})
	if err != nil {
		return dbError(err)
	}
	return checkStatus(res[0], id, from)
}

// RecordChunk records (or replaces) chunk c and moves the upload to
// in_progress, provided it is in one of the states from. The counters change
// by the difference the chunk makes. Errors: CodeUploadNotFound,
// CodeConflict, CodeDatabase.
func (s *MetaStore) RecordChunk(ctx context.Context, id string, c storage.Chunk, from []storage.Status) error {
	if len(from) == 0 {
		return s.casFailed(ctx, id)
	}
	guard, gargs := statusIn(from)
	now := s.nowMS()
	// The counters are updated first, from the old chunk row; then the row
	// is written; then the status, whose guard the earlier statements share.
	res, err := s.DB.Batch(ctx, []Statement{
		selectStatus(id),
		{SQL: `UPDATE uploads SET
			chunks_uploaded = chunks_uploaded + (NOT EXISTS (SELECT 1 FROM chunks WHERE upload_id = ? AND idx = ?)),
			bytes_uploaded = bytes_uploaded + ? - COALESCE((SELECT size FROM chunks WHERE upload_id = ? AND idx = ?), 0),
			updated_at = ?
			WHERE id = ?` + guard,
			Params: cat([]any{id, c.Index, c.Size, id, c.Index, now, id}, gargs)},
		{SQL: `INSERT INTO chunks (upload_id, idx, size, etag)
			SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM uploads WHERE id = ?` + guard + `)
			ON CONFLICT (upload_id, idx) DO UPDATE SET size = excluded.size, etag = excluded.etag`,
			Params: cat([]any{id, c.Index, c.Size, c.ETag, id}, gargs)},
		{SQL: `UPDATE uploads SET status = ? WHERE id = ?` + guard,
			Params: cat([]any{string(storage.StatusInProgress), id}, gargs)},
	})
	if err != nil {
		return dbError(err)
	}
	return checkStatus(res[0], id, from)
}

// Transition moves upload id to status to, provided it is in one of the
// states from, and returns it as it is afterwards. Errors:
// CodeUploadNotFound, CodeConflict, CodeDatabase.
func (s *MetaStore) Transition(ctx context.Context, id string, from []storage.Status, to storage.Status, audit ...storage.AuditEvent) (*storage.Upload, error) {
	if len(from) == 0 {
		return nil, s.casFailed(ctx, id)
	}
	guard, gargs := statusIn(from)
	// d1_audit.go: the audit rows come before the update, under its guard.
	sts := append([]Statement{selectStatus(id)}, auditInserts(audit, `EXISTS (SELECT 1 FROM uploads WHERE id = ?`+guard+`)`, cat([]any{id}, gargs))...)
	res, err := s.DB.Batch(ctx, append(sts,
		Statement{SQL: `UPDATE uploads SET status = ?, updated_at = ? WHERE id = ?` + guard + ` RETURNING ` + uploadColumns,
			Params: cat([]any{string(to), s.nowMS(), id}, gargs)},
	))
	if isUnique(err, "r2_key") { // leaving cancelled while another upload holds the key
		return nil, storage.Wrap(storage.CodeConflict, err, "the key is reserved by another upload")
	}
	if err != nil {
		return nil, dbError(err)
	}
	if err := checkStatus(res[0], id, from); err != nil {
		return nil, err
	}
	if len(res) < len(sts)+1 || len(res[len(sts)].Rows) == 0 {
		return nil, storage.Errorf(storage.CodeDatabase, "the update of upload %s returned no row", id)
	}
	return uploadOf(res[len(sts)].Rows[0])
}

// casFailed explains a compare-and-set with no allowed state.
func (s *MetaStore) casFailed(ctx context.Context, id string) error {
	res, err := s.DB.Query(ctx, selectStatus(id))
	if err != nil {
		return dbError(err)
	}
	return checkStatus(res, id, nil)
}

// Ping runs SELECT 1. Errors: CodeDatabase.
func (s *MetaStore) Ping(ctx context.Context) error {
	_, err := s.DB.Query(ctx, Statement{SQL: `SELECT 1 AS one`})
	return dbError(err)
}

// Close does nothing: the binding belongs to the Worker.
func (s *MetaStore) Close() error { return nil }

func notFound(id string) error {
	return storage.Errorf(storage.CodeUploadNotFound, "upload %s not found", id)
}
