package sqlite

import (
	"fmt"
	"path/filepath"
	"testing"

	storage "github.com/memenow/memenow-storage"
)

// TestFullDatabaseIsInsufficientStorage: when SQLite cannot grow its file
// (SQLITE_FULL: a full disk, here a page limit), writes fail with
// CodeInsufficientStorage (507, not retried blindly), not CodeDatabase.
func TestFullDatabaseIsInsufficientStorage(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "full.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var pages int
	if err := s.w.QueryRow("PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.Exec(fmt.Sprintf("PRAGMA max_page_count = %d", pages+2)); err != nil {
		t.Fatal(err)
	}
	for i := range 10_000 {
		err = s.CreateUpload(t.Context(), newUpload(fmt.Sprintf("full-%d", i)), storage.Quota{})
		if err != nil {
			break
		}
	}
	if !storage.HasCode(err, storage.CodeInsufficientStorage) {
		t.Fatalf("error on a full database: %v, want %s", err, storage.CodeInsufficientStorage)
	}
}
