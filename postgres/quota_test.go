package postgres

import (
	"fmt"
	"sync"
	"testing"

	"github.com/google/uuid"

	storage "github.com/memenow/memenow-storage"
)

// TestQuotaAcrossInstances runs many inits of one user at once through two
// stores, each with its own connection pool, as two instances of the
// service would: the quota holds across them, by count and by bytes.
func TestQuotaAcrossInstances(t *testing.T) {
	dbURL := freshDatabase(t)
	stores := []*Store{openT(t, dbURL), openT(t, dbURL)}
	for _, tc := range []struct {
		name  string
		q     storage.Quota
		limit int
		code  storage.Code
	}{
		{"count", storage.Quota{MaxOpenUploads: 7}, 7, storage.CodeTooManyUploads},
		{"open bytes", storage.Quota{MaxOpenBytes: 7 * 30}, 7, storage.CodeQuotaExceeded},
		{"stored bytes", storage.Quota{MaxStoredBytes: 7 * 30}, 7, storage.CodeQuotaExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 60
			user := "u_" + uuid.NewString()[:8]
			errs := make([]error, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					u := newUpload(fmt.Sprintf("quota-%d-%s", i, uuid.NewString()))
					u.UserID = user
					<-start
					errs[i] = stores[i%2].CreateUpload(t.Context(), u, tc.q)
				})
			}
			close(start)
			wg.Wait()
			accepted := 0
			for i, err := range errs {
				switch {
				case err == nil:
					accepted++
				case !storage.HasCode(err, tc.code):
					t.Errorf("init %d: %v, want nil or %s", i, err, tc.code)
				}
			}
			conn := rawConn(t, dbURL)
			stored := queryInt(t, conn, fmt.Sprintf("SELECT count(*) FROM uploads WHERE user_id = '%s'", user))
			if accepted != tc.limit || stored != tc.limit {
				t.Errorf("%d inits accepted and %d stored of %d at once on two instances, want %d", accepted, stored, n, tc.limit)
			}
		})
	}
}
