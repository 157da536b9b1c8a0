package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	storage "github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/httpapi"
)

// initBody is the JSON of an init of size bytes by user.
func initBody(user string, size int64) string {
	return fmt.Sprintf(`{"file_name":"f.bin","total_size":%d,"user_id":%q,"user_role":"creator","chunk_size":5242880}`, size, user)
}

// TestInitFloodStoppedByQuota: one user's init flood is stopped by the
// open uploads quota (429 TOO_MANY_UPLOADS) and, with large files, by the
// open bytes quota (413 QUOTA_EXCEEDED); the refused inits leave nothing
// behind, another user is unaffected, and cancelling makes room.
func TestInitFloodStoppedByQuota(t *testing.T) {
	cfg := storage.DefaultConfig()
	cfg.Quota = storage.Quota{MaxOpenUploads: 5, MaxOpenBytes: 3 << 30}
	s := newLimitedServer(t, httpapi.Options{Service: newServiceWith(t, cfg)}, nil)
	init := func(user string, size int64) *httptest.ResponseRecorder {
		return s.do(request{method: "POST", path: "/api/upload/init", body: initBody(user, size)})
	}
	var ids []string
	for i := range 50 {
		rec := init("flooder", 1<<20)
		if i < 5 {
			if rec.Code != http.StatusOK {
				t.Fatalf("init %d: %d %s", i, rec.Code, rec.Body)
			}
			var r struct {
				UploadID string `json:"upload_id"`
			}
			json.Unmarshal(rec.Body.Bytes(), &r)
			ids = append(ids, r.UploadID)
			continue
		}
		if rec.Code != http.StatusTooManyRequests || errorCode(rec) != "TOO_MANY_UPLOADS" {
			t.Fatalf("init %d: %d %s, want 429 TOO_MANY_UPLOADS", i, rec.Code, rec.Body)
		}
		if rec.Header().Get("Retry-After") != "" {
			t.Errorf("TOO_MANY_UPLOADS has Retry-After %q: waiting does not help", rec.Header().Get("Retry-After"))
		}
	}
	list, err := s.svc.Meta.ListUploads(t.Context(), storage.ListQuery{UserID: "flooder", Limit: 100})
	if err != nil || len(list) != 5 {
		t.Fatalf("the flood left %d uploads (%v), want 5", len(list), err)
	}
	if rec := init("someone_else", 1<<20); rec.Code != http.StatusOK {
		t.Errorf("another user's init: %d %s", rec.Code, rec.Body)
	}

	// Cancel four: room for large files, until their bytes reach the limit.
	for _, id := range ids[1:] {
		if rec := s.do(request{method: "POST", path: "/api/upload/cancel", body: fmt.Sprintf(`{"upload_id":%q}`, id)}); rec.Code != http.StatusOK {
			t.Fatalf("cancel: %d %s", rec.Code, rec.Body)
		}
	}
	if rec := init("flooder", 2<<30); rec.Code != http.StatusOK {
		t.Fatalf("init of 2 GiB: %d %s", rec.Code, rec.Body)
	}
	rec := init("flooder", 1<<30)
	if rec.Code != http.StatusRequestEntityTooLarge || errorCode(rec) != "QUOTA_EXCEEDED" {
		t.Fatalf("init of 1 GiB over 3 GiB open: %d %s, want 413 QUOTA_EXCEEDED", rec.Code, rec.Body)
	}
	if rec := init("flooder", (1<<30)-(1<<20)); rec.Code != http.StatusOK {
		t.Errorf("init that fits exactly: %d %s", rec.Code, rec.Body)
	}
}

// newServiceWith returns a Service on SQLite and disk with cfg.
func newServiceWith(t *testing.T, cfg storage.Config) *storage.Service {
	svc := newService(t)
	svc.Config = cfg
	return svc
}
