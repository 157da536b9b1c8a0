//go:build !(js && wasm)

package cfworker_test

import (
	"bytes"
	"context"
	"slices"
	"testing"

	storage "github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/cfworker"
	"github.com/memenow/memenow-storage/metastoretest"
)

func newMetaStore(t *testing.T) (*cfworker.MetaStore, *sqliteD1) {
	t.Helper()
	d1 := newSQLiteD1(t)
	s := &cfworker.MetaStore{DB: d1}
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return s, d1
}

// TestMetaStoreConformance runs the MetaStore suite on the D1 store's SQL
// (batches instead of interactive transactions) over a real SQLite file.
func TestMetaStoreConformance(t *testing.T) {
	metastoretest.RunConformance(t, func(t *testing.T) storage.MetaStore {
		s, _ := newMetaStore(t)
		return s
	})
}

// TestMigrateTwice checks that migrating an up-to-date database, from a
// new store as a new isolate would, changes nothing and records each file
// once, under wrangler's table and names.
func TestMigrateTwice(t *testing.T) {
	s, d1 := newMetaStore(t)
	_ = s
	again := &cfworker.MetaStore{DB: d1}
	if err := again.Migrate(context.Background()); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	res, err := d1.Query(context.Background(), cfworker.Statement{SQL: "SELECT name FROM d1_migrations ORDER BY id"})
	if err != nil {
		t.Fatal(err)
	}
	ms, _ := cfworker.Migrations()
	var got, want []string
	for _, r := range res.Rows {
		got = append(got, r["name"].(string))
	}
	for _, m := range ms {
		want = append(want, m.Name)
	}
	if !slices.Equal(got, want) || len(want) == 0 {
		t.Fatalf("d1_migrations holds %v, want %v", got, want)
	}
}

func TestSplitSQL(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"empty", "  -- only a comment\n", nil},
		{"two", "CREATE TABLE a (x);\nCREATE TABLE b (y)", []string{"CREATE TABLE a (x)", "CREATE TABLE b (y)"}},
		{"semicolon in quotes", "INSERT INTO a VALUES ('x;y'); SELECT \"a;b\";", []string{"INSERT INTO a VALUES ('x;y')", "SELECT \"a;b\""}},
		{"semicolon in comment", "SELECT 1 -- not; a split\n;", []string{"SELECT 1"}},
		{"dashes in quotes", "SELECT '--x';", []string{"SELECT '--x'"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := cfworker.SplitSQL(tt.src)
			for i := range got {
				got[i] = string(bytes.TrimSpace([]byte(got[i])))
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("SplitSQL(%q) = %q, want %q", tt.src, got, tt.want)
			}
		})
	}
}

// TestMigrateUpgradesAnOlderDatabase applies only the first migration, as
// an older Worker (or `wrangler d1 migrations apply` of an older tree)
// would have, stores an upload, and checks that Migrate applies the rest:
// the upload becomes private and the listing works.
func TestMigrateUpgradesAnOlderDatabase(t *testing.T) {
	ctx := context.Background()
	ms, err := cfworker.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) < 2 {
		t.Fatalf("%d migrations, want at least 2", len(ms))
	}
	d1 := newSQLiteD1(t)
	sts := []cfworker.Statement{{SQL: `CREATE TABLE d1_migrations(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE,
		applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL)`}}
	for _, sql := range ms[0].Statements {
		sts = append(sts, cfworker.Statement{SQL: sql})
	}
	sts = append(sts,
		cfworker.Statement{SQL: `INSERT INTO d1_migrations (name) VALUES (?)`, Params: []any{ms[0].Name}},
		cfworker.Statement{SQL: `INSERT INTO uploads (id, file_name, total_size, user_id, user_role, content_type,
			chunk_size, total_chunks, status, r2_key, created_at, updated_at)
			VALUES ('1-old', 'a.bin', 10, 'old_user', 'creator', 'application/octet-stream', 10, 1, 'completed',
			'creator/old_user/20240101/other/a.bin', 1, 1)`})
	if _, err := d1.Batch(ctx, sts); err != nil {
		t.Fatalf("applying %s: %v", ms[0].Name, err)
	}

	s := &cfworker.MetaStore{DB: d1}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	u, err := s.GetUploadByKey(ctx, "creator/old_user/20240101/other/a.bin")
	if err != nil {
		t.Fatalf("GetUploadByKey: %v", err)
	}
	if u.ID != "1-old" || u.Visibility != storage.VisibilityPrivate {
		t.Errorf("upgraded upload = %s, visibility %q; want 1-old, private", u.ID, u.Visibility)
	}
	us, err := s.ListUploads(ctx, storage.ListQuery{UserID: "old_user", Limit: 10})
	if err != nil || len(us) != 1 || us[0].ID != "1-old" {
		t.Errorf("ListUploads = %v, %v; want the one upload", us, err)
	}
	res, err := d1.Query(ctx, cfworker.Statement{SQL: "SELECT name FROM d1_migrations ORDER BY id"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != len(ms) {
		t.Errorf("d1_migrations has %d rows, want %d", len(res.Rows), len(ms))
	}
}

// TestR2DeleteErrors checks that a failing R2 delete is CodeStorage and
// that a successful one is no error.
func TestR2DeleteErrors(t *testing.T) {
	r2 := &faultyR2{fail: map[string]bool{}}
	s := &cfworker.ObjectStore{Bucket: r2, Name: "STORAGE_BUCKET"}
	if err := s.Delete(t.Context(), "creator/u1/20240101/other/a.bin"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	r2.fail["delete"] = true
	if err := s.Delete(t.Context(), "creator/u1/20240101/other/a.bin"); !storage.HasCode(err, storage.CodeStorage) {
		t.Fatalf("Delete with R2 failing: %v, want %s", err, storage.CodeStorage)
	}
}
