package storage_test

import (
	"slices"
	"strings"
	"testing"

	storage "github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/apitest"
)

// TestEmptyFileLifecycle checks uploads of empty files (no chunk) through
// the janitor and cancel on each backend: an idle one expires and frees
// its key, one stuck in completing is completed by the janitor and
// downloads empty, and one is cancelled like any other.
func TestEmptyFileLifecycle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx, api, ttl := t.Context(), e.api, storage.DefaultUploadTTL
		user := apitest.NewUserID()

		idle := api.Init("idle-empty.txt", "text/plain", nil, user)
		stuck := api.Init("stuck-empty.txt", "text/plain", nil, user)
		if _, err := e.svc.Meta.Transition(ctx, stuck.ID, []storage.Status{storage.StatusInitiated}, storage.StatusCompleting); err != nil {
			t.Fatal(err)
		}
		cancelled := api.Init("cancelled-empty.txt", "text/plain", nil, user)
		if m := api.WantOK(api.Cancel(cancelled)); m["status"] != "cancelled" {
			t.Fatalf("cancel of an empty upload: %v", m)
		}
		api.WantError(api.Complete(cancelled), 409, "UPLOAD_CANCELLED")

		e.clock.Set(ttl + 60e9)
		r := sweep(t, e.svc, storage.SweepOptions{})
		if !slices.Contains(r.Expired, idle.ID) || !slices.Contains(r.Completed, stuck.ID) {
			t.Fatalf("sweep expired %v and completed %v; want %s expired and %s completed", r.Expired, r.Completed, idle.ID, stuck.ID)
		}
		if st := api.Status(idle); st["status"] != "expired" || st["total_chunks"] != 0.0 {
			t.Errorf("status of the idle empty upload: %v", st)
		}
		api.WantError(api.Complete(idle), 410, "UPLOAD_EXPIRED")
		if st := api.Status(stuck); st["status"] != "completed" {
			t.Errorf("status of the stuck empty upload after the sweep: %v", st)
		}
		got := api.Do("GET", apitest.FilePath(stuck.Key), map[string]string{"Accept-Encoding": "identity"}, nil)
		if got.Status != 200 || len(got.Body) != 0 || got.Header.Get("Content-Length") != "0" {
			t.Errorf("GET of the empty file the janitor completed: status %d, %d bytes, headers %v", got.Status, len(got.Body), got.Header)
		}

		// The expired upload's key is free again.
		e.clock.Set(0)
		again := api.Init("idle-empty.txt", "text/plain", nil, user)
		if again.Key != idle.Key && strings.Split(again.Key, "/")[2] == strings.Split(idle.Key, "/")[2] { // same day
			t.Errorf("a new upload of idle-empty.txt got %s, want the expired upload's key %s", again.Key, idle.Key)
		}
		api.UploadAll(again)
	})
}
