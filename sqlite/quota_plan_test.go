package sqlite

import (
	"path/filepath"
	"strings"
	"testing"

	storage "github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/internal/sqlquery"
)

// TestQuotaQueriesReadOnlyTheirIndexes checks that the quota queries match
// the partial indexes of migration 0004 (their status lists
// must be the same text) and read nothing else: a user's thousands of
// completed files do not slow down their every init.
func TestQuotaQueriesReadOnlyTheirIndexes(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), "meta.db"))
	defer s.Close()
	for _, tc := range []struct {
		name    string
		sql     string
		args    []any
		indexes []string
	}{
		{"open uploads", sqlquery.Usage(storage.DefaultQuota()), []any{"u"}, []string{"uploads_open"}},
		{"stored bytes", sqlquery.Usage(storage.Quota{MaxStoredBytes: 1}), []any{"u", "u"}, []string{"uploads_open", "uploads_completed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := s.r.Query("EXPLAIN QUERY PLAN "+tc.sql, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var reads []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				if strings.Contains(detail, " uploads") {
					reads = append(reads, detail)
				}
			}
			if len(reads) != len(tc.indexes) {
				t.Fatalf("the plan reads uploads %d times, want %d: %q", len(reads), len(tc.indexes), reads)
			}
			for i, r := range reads {
				if !strings.Contains(r, "USING COVERING INDEX "+tc.indexes[i]+" ") {
					t.Errorf("plan step %q, want a search of the covering index %s only", r, tc.indexes[i])
				}
			}
		})
	}
}
