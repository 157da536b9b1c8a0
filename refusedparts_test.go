package storage_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	storage "github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/apitest"
)

// refusingStore refuses the first CompleteMultipart with CodeInvalidPart
// and the given Missing, as a store does whose parts disagree with the
// recorded ETags (two writes of one chunk that raced on the Worker).
type refusingStore struct {
	storage.ObjectStore
	missing []int
	refused atomic.Bool
}

func (r *refusingStore) CompleteMultipart(ctx context.Context, m storage.MultipartInfo, h string, cs []storage.Chunk) (storage.ObjectInfo, error) {
	if r.refused.CompareAndSwap(false, true) {
		return storage.ObjectInfo{}, &storage.Error{Code: storage.CodeInvalidPart, Missing: r.missing, Message: "injected"}
	}
	return r.ObjectStore.CompleteMultipart(ctx, m, h, cs)
}

// TestCompleteForgetsRefusedParts checks that parts the object store
// refuses at complete are forgotten and answered as 409 CHUNKS_MISSING with
// their indices (all recorded chunks when the store cannot tell which), so
// that sending them again completes the upload.
func TestCompleteForgetsRefusedParts(t *testing.T) {
	for _, tt := range []struct {
		name          string
		missing, want []int
		status        string
	}{
		{"store names the chunk", []int{1}, []int{1}, "in_progress"},
		{"store cannot tell", nil, []int{0, 1, 2}, "initiated"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, e *env) {
				e.svc.Objects = &refusingStore{ObjectStore: e.svc.Objects, missing: tt.missing}
				api := e.api
				u := api.Init("refused.bin", "", apitest.RandomBytes(2*apitest.ChunkSize+100, 4), apitest.NewUserID())
				for i := 0; i < u.Chunks; i++ {
					api.SendChunk(u, i)
				}
				got := api.WantError(api.Complete(u), 409, "CHUNKS_MISSING")
				if fmt.Sprint(got["missing_chunks"]) != fmt.Sprint(tt.want) {
					t.Fatalf("missing_chunks %v, want %v", got["missing_chunks"], tt.want)
				}
				st := api.Status(u)
				if st["status"] != tt.status || st["chunks_uploaded"] != float64(u.Chunks-len(tt.want)) {
					t.Fatalf("status after the refused complete: %v, want %s with %d chunks", st, tt.status, u.Chunks-len(tt.want))
				}
				for _, i := range tt.want {
					api.SendChunk(u, i)
				}
				if m := api.WantOK(api.Complete(u)); m["status"] != "completed" {
					t.Fatalf("complete after sending the chunks again: %v", m)
				}
			})
		})
	}
}
