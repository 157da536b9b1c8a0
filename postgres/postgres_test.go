package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	storage "github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/internal/migration"
	"github.com/memenow/memenow-storage/metastoretest"
	"github.com/memenow/memenow-storage/postgres/migrations"
)

// startHint is the one command that starts a PostgreSQL for these tests.
const startHint = `eval "$(.ci/postgres.sh start /tmp/memenow-pg)"`

// serverURL returns the URL of the test server, or skips the test when there
// is none (fails it when MEMENOW_REQUIRE_POSTGRES=1, as in CI).
func serverURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("MEMENOW_TEST_POSTGRES_URL")
	if u != "" {
		return u
	}
	msg := "PostgreSQL tests need MEMENOW_TEST_POSTGRES_URL; start a server with: " + startHint
	if os.Getenv("MEMENOW_REQUIRE_POSTGRES") == "1" {
		t.Fatal(msg + " (MEMENOW_REQUIRE_POSTGRES=1)")
	}
	t.Skip(msg)
	return ""
}

// freshDatabase creates an empty database on the test server for t, drops it
// when t ends, and returns its URL.
func freshDatabase(t *testing.T) string {
	t.Helper()
	base := serverURL(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to %s: %v", base, err)
	}
	defer conn.Close(ctx)
	name := "memenow_test_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:16]
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", base, err)
	}
	u.Path = "/" + name
	return u.String()
}

func openT(t *testing.T, dbURL string) *Store {
	t.Helper()
	s, err := Open(t.Context(), dbURL)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

// rawConn connects to dbURL without the store, for inspecting and tampering.
func rawConn(t *testing.T, dbURL string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func queryInt(t *testing.T, conn *pgx.Conn, q string) int {
	t.Helper()
	var n int
	if err := conn.QueryRow(t.Context(), q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func TestConformance(t *testing.T) {
	dbURL := freshDatabase(t)
	metastoretest.RunConformance(t, func(t *testing.T) storage.MetaStore { return openT(t, dbURL) })
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

// TestConcurrentOpen opens five stores at once on an empty database: the
// advisory lock lets exactly one of them apply each migration.
func TestConcurrentOpen(t *testing.T) {
	dbURL := freshDatabase(t)
	const n = 5
	stores := make([]*Store, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			stores[i], errs[i] = Open(t.Context(), dbURL)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open #%d: %v", i, err)
			continue
		}
		defer stores[i].Close()
	}
	if t.Failed() {
		t.FailNow()
	}
	ms, err := migration.Load(migrations.Files)
	if err != nil {
		t.Fatal(err)
	}
	conn := rawConn(t, dbURL)
	if got := queryInt(t, conn, "SELECT count(*) FROM schema_migrations"); got != len(ms) {
		t.Errorf("schema_migrations has %d rows, want %d", got, len(ms))
	}
	// Every store works on the one schema: an upload made through one is seen by all.
	u := newUpload("open-" + uuid.NewString())
	if err := stores[0].CreateUpload(t.Context(), u, storage.Quota{}); err != nil {
		t.Fatalf("CreateUpload: %v", err)
	}
	for i, s := range stores {
		if got, err := s.GetUpload(t.Context(), u.ID); err != nil || got.Key != u.Key {
			t.Errorf("store %d: GetUpload = %v, %v", i, got, err)
		}
	}
}

func TestMigrateThenOpen(t *testing.T) {
	dbURL := freshDatabase(t)
	for i := range 3 {
		if err := Migrate(t.Context(), dbURL); err != nil {
			t.Fatalf("Migrate #%d: %v", i+1, err)
		}
	}
	ms, err := migration.Load(migrations.Files)
	if err != nil {
		t.Fatal(err)
	}
	conn := rawConn(t, dbURL)
	if got := queryInt(t, conn, "SELECT count(*) FROM schema_migrations"); got != len(ms) {
		t.Errorf("schema_migrations has %d rows, want %d", got, len(ms))
	}
	if got := queryInt(t, conn, "SELECT count(*) FROM pg_tables WHERE tablename IN ('uploads', 'chunks')"); got != 2 {
		t.Errorf("found %d of the 2 tables", got)
	}
	s := openT(t, dbURL)
	defer s.Close()
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	dbURL := freshDatabase(t)
	if err := Migrate(t.Context(), dbURL); err != nil {
		t.Fatal(err)
	}
	conn := rawConn(t, dbURL)
	if _, err := conn.Exec(t.Context(), "INSERT INTO schema_migrations (version, name) VALUES (999, '0999_future.sql')"); err != nil {
		t.Fatal(err)
	}
	for name, open := range map[string]func() error{
		"Open":    func() error { s, err := Open(t.Context(), dbURL); maybeClose(s); return err },
		"Migrate": func() error { return Migrate(t.Context(), dbURL) },
	} {
		t.Run(name, func(t *testing.T) {
			err := open()
			if err == nil {
				t.Fatal("accepted a database with a newer schema")
			}
			if !strings.Contains(err.Error(), "schema version 999 is newer") {
				t.Errorf("error %q does not explain the newer schema", err)
			}
		})
	}
}

// TestMigrateFromVersion1 upgrades a database made by the first schema and
// holding an upload: the upload becomes private and keeps its key, and the
// listing indexes exist.
func TestMigrateFromVersion1(t *testing.T) {
	dbURL := freshDatabase(t)
	ms, err := migration.Load(migrations.Files)
	if err != nil {
		t.Fatal(err)
	}
	conn := rawConn(t, dbURL)
	ctx := t.Context()
	u := newUpload("old-" + uuid.NewString())
	for _, q := range []string{
		`CREATE TABLE schema_migrations (version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL,
			applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
		ms[0].SQL,
		fmt.Sprintf("INSERT INTO schema_migrations (version, name) VALUES (1, '%s')", ms[0].Name),
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%.40s: %v", q, err)
		}
	}
	if _, err := conn.Exec(ctx, `INSERT INTO uploads (id, file_name, total_size, user_id, user_role, content_type,
		chunk_size, total_chunks, status, r2_key, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		u.ID, u.FileName, u.TotalSize, u.UserID, string(u.UserRole), u.ContentType, u.ChunkSize, u.TotalChunks,
		string(storage.StatusCompleted), u.Key, u.CreatedAt.UnixMilli(), u.UpdatedAt.UnixMilli()); err != nil {
		t.Fatal(err)
	}

	s := openT(t, dbURL)
	defer s.Close()
	got, err := s.GetUploadByKey(ctx, u.Key)
	if err != nil {
		t.Fatalf("GetUploadByKey after the upgrade: %v", err)
	}
	if got.ID != u.ID || got.Visibility != storage.VisibilityPrivate {
		t.Errorf("upgraded upload = %s, visibility %q; want %s, private", got.ID, got.Visibility, u.ID)
	}
	if n := queryInt(t, conn, "SELECT count(*) FROM schema_migrations"); n != len(ms) {
		t.Errorf("schema_migrations has %d rows, want %d", n, len(ms))
	}
	if n := queryInt(t, conn, "SELECT count(*) FROM pg_indexes WHERE indexname IN ('uploads_user_created', 'uploads_created')"); n != 2 {
		t.Errorf("found %d of the 2 listing indexes", n)
	}
}

func maybeClose(s *Store) {
	if s != nil {
		s.Close()
	}
}

func TestOpenFails(t *testing.T) {
	base := serverURL(t)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/no_such_database_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:8]
	withPassword := "postgres://memenow:s3cret-pw@127.0.0.1:1/x?sslmode=disable"
	tests := []struct {
		name, url string
	}{
		{"missing database", u.String()},
		{"bad URL", "postgres://[::1"},
		{"nothing listening", withPassword},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(t.Context(), tt.url)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if strings.Contains(err.Error(), "s3cret-pw") {
				t.Errorf("error shows the password: %v", err)
			}
			if err := Migrate(t.Context(), tt.url); err == nil {
				t.Error("Migrate succeeded")
			}
		})
	}
}

func TestChunksCascadeWithUpload(t *testing.T) {
	dbURL := freshDatabase(t)
	s := openT(t, dbURL)
	defer s.Close()
	ctx := t.Context()
	u := newUpload("cascade-" + uuid.NewString())
	if err := s.CreateUpload(ctx, u, storage.Quota{}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordChunk(ctx, u.ID, storage.Chunk{Index: 0, Size: 10, ETag: "e"}, []storage.Status{storage.StatusInitiated}); err != nil {
		t.Fatal(err)
	}
	conn := rawConn(t, dbURL)
	if _, err := conn.Exec(ctx, "DELETE FROM uploads WHERE id = $1", u.ID); err != nil {
		t.Fatal(err)
	}
	if cs, err := s.ListChunks(ctx, u.ID); err != nil || len(cs) != 0 {
		t.Errorf("ListChunks after deleting the upload = %v, %v; want empty", cs, err)
	}
	if _, err := conn.Exec(ctx, "INSERT INTO chunks (upload_id, idx, size, etag) VALUES ('nobody', 0, 1, 'e')"); err == nil {
		t.Error("a chunk of no upload was accepted")
	}
}

// wantDatabaseError checks that err is CodeDatabase with the plain message
// and shows no SQL.
func wantDatabaseError(t *testing.T, what string, err error) {
	t.Helper()
	var e *storage.Error
	if !storage.HasCode(err, storage.CodeDatabase) || !errors.As(err, &e) || e.Message != "database error" {
		t.Errorf("%s: got %v, want CodeDatabase with the message \"database error\"", what, err)
	}
}

// storeOps are calls of every MetaStore method on upload id.
func storeOps(s *Store, id string) []struct {
	name string
	call func(ctx context.Context) error
} {
	from := []storage.Status{storage.StatusInitiated, storage.StatusInProgress}
	return []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Ping", s.Ping},
		{"GetUpload", func(ctx context.Context) error { _, err := s.GetUpload(ctx, id); return err }},
		{"ListChunks", func(ctx context.Context) error { _, err := s.ListChunks(ctx, id); return err }},
		{"GetUploadByKey", func(ctx context.Context) error { _, err := s.GetUploadByKey(ctx, newUpload(id).Key); return err }},
		{"ListUploads", func(ctx context.Context) error {
			_, err := s.ListUploads(ctx, storage.ListQuery{UserID: "u1", Limit: 5, After: &storage.ListCursor{CreatedAt: time.Now(), ID: id}})
			return err
		}},
		{"CreateUpload", func(ctx context.Context) error {
			return s.CreateUpload(ctx, newUpload("new-"+uuid.NewString()), storage.Quota{})
		}},
		{"RecordChunk", func(ctx context.Context) error {
			return s.RecordChunk(ctx, id, storage.Chunk{Index: 1, Size: 10, ETag: "e1"}, from)
		}},
		{"ForgetChunk", func(ctx context.Context) error { return s.ForgetChunk(ctx, id, 1, from) }},
		{"Transition", func(ctx context.Context) error {
			_, err := s.Transition(ctx, id, from, storage.StatusInProgress)
			return err
		}},
	}
}

func TestErrorsAfterCloseAreDatabaseErrors(t *testing.T) {
	s := openT(t, freshDatabase(t))
	s.Close()
	for _, op := range storeOps(s, "x") {
		t.Run(op.name, func(t *testing.T) { wantDatabaseError(t, op.name, op.call(t.Context())) })
	}
}

func TestUnknownConstraintIsNotKeyTaken(t *testing.T) {
	dbURL := freshDatabase(t)
	s := openT(t, dbURL)
	defer s.Close()
	// Another unique index on the table must not be mistaken for the key reservation.
	conn := rawConn(t, dbURL)
	if _, err := conn.Exec(t.Context(), "CREATE UNIQUE INDEX uploads_handle_test ON uploads (store_handle) WHERE store_handle <> ''"); err != nil {
		t.Fatal(err)
	}
	a, b := newUpload("a-"+uuid.NewString()), newUpload("b-"+uuid.NewString())
	a.StoreHandle, b.StoreHandle = "same", "same"
	if err := s.CreateUpload(t.Context(), a, storage.Quota{}); err != nil {
		t.Fatal(err)
	}
	wantDatabaseError(t, "CreateUpload violating another unique index", s.CreateUpload(t.Context(), b, storage.Quota{}))
}

// TestRecoversAfterDatabaseRestart stops a PostgreSQL server of its own under
// an open Store: every call fails with CodeDatabase, and after the server is
// started again the same Store works.
func TestRecoversAfterDatabaseRestart(t *testing.T) {
	serverURL(t) // PostgreSQL is available here
	srv := startServer(t)
	s := openT(t, srv.url)
	defer s.Close()
	ctx := t.Context()
	u := newUpload("restart-" + uuid.NewString())
	if err := s.CreateUpload(ctx, u, storage.Quota{}); err != nil {
		t.Fatal(err)
	}
	from := []storage.Status{storage.StatusInitiated, storage.StatusInProgress}
	if err := s.RecordChunk(ctx, u.ID, storage.Chunk{Index: 0, Size: 10, ETag: "e0"}, from); err != nil {
		t.Fatal(err)
	}

	srv.stop(t)
	for _, op := range storeOps(s, u.ID) {
		wantDatabaseError(t, op.name+" while the database is down", op.call(ctx))
	}

	srv.start(t)
	for _, op := range storeOps(s, u.ID) {
		if err := op.call(ctx); err != nil {
			t.Errorf("%s after the database returned: %v", op.name, err)
		}
	}
	got, err := s.GetUpload(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != storage.StatusInProgress || got.ChunksUploaded != 1 || got.BytesUploaded != 10 {
		t.Errorf("after the restart: %+v; want in_progress with chunk 0 only", got)
	}
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name        string
		url         string
		wantMax     int32
		wantTimeout time.Duration
	}{
		{"defaults", "postgres://u@127.0.0.1:5432/db", int32(max(defaultMaxConns, 4*runtime.GOMAXPROCS(0))), defaultConnectTimeout},
		{"explicit", "postgres://u@127.0.0.1:5432/db?pool_max_conns=3&connect_timeout=9", 3, 9 * time.Second},
		{"key=value", "host=127.0.0.1 user=u dbname=db pool_max_conns=7", 7, defaultConnectTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseConfig(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.MaxConns != tt.wantMax || cfg.ConnConfig.ConnectTimeout != tt.wantTimeout {
				t.Errorf("MaxConns %d, ConnectTimeout %v; want %d, %v", cfg.MaxConns, cfg.ConnConfig.ConnectTimeout, tt.wantMax, tt.wantTimeout)
			}
		})
	}
}

// TestTwoStoresOneDatabase plays two instances: chunk records, forgets and
// completes of one upload spread over two stores (two pools) keep the
// counters exact and let exactly one complete win.
func TestTwoStoresOneDatabase(t *testing.T) {
	dbURL := freshDatabase(t)
	stores := []*Store{openT(t, dbURL), openT(t, dbURL)}
	defer stores[0].Close()
	defer stores[1].Close()
	ctx := t.Context()
	u := newUpload("two-" + uuid.NewString())
	if err := stores[0].CreateUpload(ctx, u, storage.Quota{}); err != nil {
		t.Fatal(err)
	}
	from := []storage.Status{storage.StatusInitiated, storage.StatusInProgress}
	const n = 40
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			s := stores[i%2]
			idx := i % 8 // five writers per index, on both stores
			if i%5 == 0 {
				errs[i] = s.ForgetChunk(ctx, u.ID, idx, from)
				return
			}
			errs[i] = s.RecordChunk(ctx, u.ID, storage.Chunk{Index: idx, Size: int64(100 + i), ETag: fmt.Sprint("e", i)}, from)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("goroutine %d: %v", i, err)
		}
	}
	chunks, err := stores[1].ListChunks(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	var bytes int64
	for _, c := range chunks {
		bytes += c.Size
	}
	got, err := stores[0].GetUpload(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ChunksUploaded != len(chunks) || got.BytesUploaded != bytes {
		t.Errorf("counters %d chunks, %d bytes; the chunk rows have %d, %d", got.ChunksUploaded, got.BytesUploaded, len(chunks), bytes)
	}

	wins := 0
	for i, err := range parallelTransitions(ctx, stores, u.ID, 10) {
		switch {
		case err == nil:
			wins++
		case !storage.HasCode(err, storage.CodeConflict):
			t.Errorf("Transition %d: %v, want nil or CodeConflict", i, err)
		}
	}
	if wins != 1 {
		t.Errorf("%d transitions to completed won, want 1", wins)
	}
}

// parallelTransitions moves upload id from in_progress to completed n times
// at once, alternating the stores, and returns the errors.
func parallelTransitions(ctx context.Context, stores []*Store, id string, n int) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = stores[i%len(stores)].Transition(ctx, id, []storage.Status{storage.StatusInProgress}, storage.StatusCompleted)
		})
	}
	close(start)
	wg.Wait()
	return errs
}
