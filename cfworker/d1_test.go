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
