package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	storage "github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/internal/migration"
	"github.com/memenow/memenow-storage/metastoretest"
	"github.com/memenow/memenow-storage/sqlite/migrations"
)

func openT(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	return s
}

func TestConformance(t *testing.T) {
	// Every store of the run opens the same file, so the suite also sees a
	// database that is not empty, as it would on a shared PostgreSQL.
	path := filepath.Join(t.TempDir(), "meta.db")
	metastoretest.RunConformance(t, func(t *testing.T) storage.MetaStore { return openT(t, path) })
}

func TestConformancePathWithSpecialCharacters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a dir?x=1#frag%20", "meta.db")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	s := openT(t, path)
	defer s.Close()
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database not created at %s: %v", path, err)
	}
}

func newUpload(id string) *storage.Upload {
	now := time.Now().UTC()
	return &storage.Upload{
		ID: id, FileName: "a.bin", TotalSize: 30, UserID: "u1", UserRole: storage.RoleMember,
		ContentType: "application/octet-stream", ChunkSize: 10, TotalChunks: 3,
		Status: storage.StatusInitiated, Key: "member/u1/20250101/other/" + id,
		CreatedAt: now, UpdatedAt: now,
	}
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	ctx := t.Context()
	s := openT(t, path)
	u := newUpload("reopen-" + uuid.NewString())
	if err := s.CreateUpload(ctx, u, storage.Quota{}); err != nil {
		t.Fatal(err)
	}
	from := []storage.Status{storage.StatusInitiated, storage.StatusInProgress}
	for i := range 3 {
		if err := s.RecordChunk(ctx, u.ID, storage.Chunk{Index: i, Size: 10, ETag: fmt.Sprint("e", i)}, from); err != nil {
			t.Fatal(err)
		}
	}
	before, err := s.Transition(ctx, u.ID, from, storage.StatusCompleting)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = openT(t, path)
	defer s.Close()
	after, err := s.GetUpload(ctx, u.ID)
	if err != nil {
		t.Fatalf("GetUpload after reopen: %v", err)
	}
	if *after != *before {
		t.Errorf("after reopen\n%+v\nwant\n%+v", *after, *before)
	}
	chunks, err := s.ListChunks(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []storage.Chunk{{Index: 0, Size: 10, ETag: "e0"}, {Index: 1, Size: 10, ETag: "e1"}, {Index: 2, Size: 10, ETag: "e2"}}
	if !slices.Equal(chunks, want) {
		t.Errorf("ListChunks after reopen = %v, want %v", chunks, want)
	}
}

// rawDB opens path without the store, for inspecting and tampering.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func queryInt(t *testing.T, db *sql.DB, q string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func TestMigrationsIdempotent(t *testing.T) {
	ms, err := migration.Load(migrations.Files)
	if err != nil {
		t.Fatalf("loadMigrations: %v", err)
	}
	path := filepath.Join(t.TempDir(), "meta.db")
	for i := range 3 {
		s := openT(t, path)
		if err := s.Close(); err != nil {
			t.Fatalf("Close #%d: %v", i, err)
		}
	}
	db := rawDB(t, path)
	if v := queryInt(t, db, "PRAGMA user_version"); v != len(ms) {
		t.Errorf("user_version = %d, want %d", v, len(ms))
	}
	if n := queryInt(t, db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN ('uploads', 'chunks')"); n != 2 {
		t.Errorf("found %d of the 2 tables", n)
	}
	if mode := queryString(t, db, "PRAGMA journal_mode"); mode != "wal" {
		t.Errorf("journal_mode = %q, want wal", mode)
	}
}

// TestMigrateFromVersion1 upgrades a database made by the first schema and
// holding an upload: the upload becomes private, keeps its key, and the
// listing indexes exist.
func TestMigrateFromVersion1(t *testing.T) {
	ms, err := migration.Load(migrations.Files)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "meta.db")
	db := rawDB(t, path)
	u := newUpload("old-" + uuid.NewString())
	u.Status = storage.StatusCompleted
	for _, q := range []string{ms[0].SQL, "PRAGMA user_version = 1"} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%.40s: %v", q, err)
		}
	}
	if _, err := db.Exec(`INSERT INTO uploads (id, file_name, total_size, user_id, user_role, content_type,
		chunk_size, total_chunks, status, r2_key, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.FileName, u.TotalSize, u.UserID, u.UserRole, u.ContentType, u.ChunkSize, u.TotalChunks,
		u.Status, u.Key, u.CreatedAt.UnixMilli(), u.UpdatedAt.UnixMilli()); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s := openT(t, path)
	defer s.Close()
	got, err := s.GetUploadByKey(t.Context(), u.Key)
	if err != nil {
		t.Fatalf("GetUploadByKey after the upgrade: %v", err)
	}
	if got.ID != u.ID || got.Visibility != storage.VisibilityPrivate {
		t.Errorf("upgraded upload = %s, visibility %q; want %s, private", got.ID, got.Visibility, u.ID)
	}
	db = rawDB(t, path)
	if v := queryInt(t, db, "PRAGMA user_version"); v != len(ms) {
		t.Errorf("user_version = %d, want %d", v, len(ms))
	}
	for _, idx := range []string{"uploads_user_created", "uploads_created"} {
		if n := queryInt(t, db, "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = '"+idx+"'"); n != 1 {
			t.Errorf("index %s missing after the upgrade", idx)
		}
	}
}

// TestListUploadsUsesIndexes checks that SQLite answers the listing queries
// from an index, seeking to the cursor, without sorting.
func TestListUploadsUsesIndexes(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), "meta.db"))
	defer s.Close()
	tests := []struct {
		name, where, index string
		args               []any
	}{
		{"user after a cursor", "user_id = ? AND (created_at, id) < (?, ?)", "uploads_user_created (user_id=? AND (created_at,id)<(?,?))", []any{"u", 1, "x"}},
		{"every user after a cursor", "(created_at, id) < (?, ?)", "uploads_created ((created_at,id)<(?,?))", []any{1, "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := s.r.QueryContext(t.Context(), "EXPLAIN QUERY PLAN SELECT "+uploadColumns+
				" FROM uploads WHERE "+tt.where+" ORDER BY created_at DESC, id DESC LIMIT 10", tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			if want := "SEARCH uploads USING INDEX " + tt.index; len(plan) != 1 || plan[0] != want {
				t.Errorf("plan = %q, want [%q]", plan, want)
			}
		})
	}
}

func queryString(t *testing.T, db *sql.DB, q string) string {
	t.Helper()
	var s string
	if err := db.QueryRow(q).Scan(&s); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return s
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	if err := openT(t, path).Close(); err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, path)
	if _, err := db.Exec("PRAGMA user_version = 999"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err := Open(path)
	if err == nil {
		s.Close()
		t.Fatal("Open of a database with a newer schema succeeded")
	}
	if !strings.Contains(err.Error(), "schema version 999 is newer") {
		t.Errorf("error %q does not explain the newer schema", err)
	}
}

func TestMigrationFilesHaveNoPragma(t *testing.T) {
	ms, err := migration.Load(migrations.Files)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if strings.Contains(strings.ToUpper(m.SQL), "PRAGMA ") {
			t.Errorf("%s contains a PRAGMA; migrations must also run on D1", m.Name)
		}
	}
}

func TestConnectionSettings(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), "meta.db"))
	defer s.Close()
	tests := []struct {
		db    *sql.DB
		name  string
		query string
		want  int
	}{
		{s.w, "writer synchronous FULL", "PRAGMA synchronous", 2},
		{s.w, "writer foreign_keys", "PRAGMA foreign_keys", 1},
		{s.w, "writer busy_timeout", "PRAGMA busy_timeout", busyTimeoutMS},
		{s.r, "reader foreign_keys", "PRAGMA foreign_keys", 1},
		{s.r, "reader busy_timeout", "PRAGMA busy_timeout", busyTimeoutMS},
		{s.r, "reader query_only", "PRAGMA query_only", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := queryInt(t, tt.db, tt.query); got != tt.want {
				t.Errorf("%s = %d, want %d", tt.query, got, tt.want)
			}
		})
	}
	if got := s.w.Stats().MaxOpenConnections; got != 1 {
		t.Errorf("writer MaxOpenConnections = %d, want 1", got)
	}
}

func TestChunksCascadeWithUpload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	s := openT(t, path)
	defer s.Close()
	ctx := t.Context()
	u := newUpload("cascade-" + uuid.NewString())
	if err := s.CreateUpload(ctx, u, storage.Quota{}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordChunk(ctx, u.ID, storage.Chunk{Index: 0, Size: 10, ETag: "e"}, []storage.Status{storage.StatusInitiated}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.ExecContext(ctx, "DELETE FROM uploads WHERE id = ?", u.ID); err != nil {
		t.Fatal(err)
	}
	if cs, err := s.ListChunks(ctx, u.ID); err != nil || len(cs) != 0 {
		t.Errorf("ListChunks after deleting the upload = %v, %v; want empty", cs, err)
	}
	_, err := s.w.ExecContext(ctx, "INSERT INTO chunks (upload_id, idx, size, etag) VALUES ('nobody', 0, 1, 'e')")
	if err == nil {
		t.Error("a chunk of no upload was accepted; foreign keys are off")
	}
}

func TestErrorsAfterCloseAreDatabaseErrors(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), "meta.db"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	ops := []struct {
		name string
		call func() error
	}{
		{"Ping", func() error { return s.Ping(ctx) }},
		{"GetUpload", func() error { _, err := s.GetUpload(ctx, "x"); return err }},
		{"ListChunks", func() error { _, err := s.ListChunks(ctx, "x"); return err }},
		{"GetUploadByKey", func() error { _, err := s.GetUploadByKey(ctx, newUpload("x").Key); return err }},
		{"ListUploads", func() error { _, err := s.ListUploads(ctx, storage.ListQuery{Limit: 5}); return err }},
		{"CreateUpload", func() error { return s.CreateUpload(ctx, newUpload("x"), storage.Quota{}) }},
		{"RecordChunk", func() error {
			return s.RecordChunk(ctx, "x", storage.Chunk{}, []storage.Status{storage.StatusInitiated})
		}},
		{"Transition", func() error {
			_, err := s.Transition(ctx, "x", []storage.Status{storage.StatusInitiated}, storage.StatusCancelled)
			return err
		}},
	}
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			err := op.call()
			var e *storage.Error
			if !storage.HasCode(err, storage.CodeDatabase) || !errors.As(err, &e) || e.Message != "database error" {
				t.Errorf("got %v, want CodeDatabase with the message \"database error\"", err)
			}
		})
	}
}

func TestOpenFailsInMissingDirectory(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "no", "such", "dir", "meta.db"))
	if err == nil {
		s.Close()
		t.Fatal("Open in a missing directory succeeded")
	}
}

func BenchmarkRecordChunk(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "meta.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := b.Context()
	u := newUpload("bench-" + uuid.NewString())
	if err := s.CreateUpload(ctx, u, storage.Quota{}); err != nil {
		b.Fatal(err)
	}
	from := []storage.Status{storage.StatusInitiated, storage.StatusInProgress}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := s.RecordChunk(ctx, u.ID, storage.Chunk{Index: i, Size: 10, ETag: "etag"}, from); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRecordChunkParallel(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "meta.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := b.Context()
	u := newUpload("bench-" + uuid.NewString())
	if err := s.CreateUpload(ctx, u, storage.Quota{}); err != nil {
		b.Fatal(err)
	}
	from := []storage.Status{storage.StatusInitiated, storage.StatusInProgress}
	var next atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.RecordChunk(ctx, u.ID, storage.Chunk{Index: int(next.Add(1)), Size: 10, ETag: "etag"}, from); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkOpen measures Open, Ping and Close of a database holding 100,000
// uploads; Open reads no table, so it should not grow with the data.
func BenchmarkOpen(b *testing.B) {
	path := filepath.Join(b.TempDir(), "meta.db")
	s, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	tx, err := s.w.Begin()
	if err != nil {
		b.Fatal(err)
	}
	for i := range 100_000 {
		u := newUpload(fmt.Sprintf("seed-%06d", i))
		if _, err := tx.Exec(`INSERT INTO uploads (`+uploadColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', 0, 0, ?, ?, 'private')`,
			u.ID, u.FileName, u.TotalSize, u.UserID, u.UserRole, u.ContentType, u.ChunkSize, u.TotalChunks,
			u.Status, u.Key, u.CreatedAt.UnixMilli(), u.UpdatedAt.UnixMilli()); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	s.Close()
	ctx := b.Context()
	for b.Loop() {
		s, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Ping(ctx); err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}
