//go:build !(js && wasm)

package cfworker_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/memenow/memenow-storage/cfworker"
	"github.com/memenow/memenow-storage/httpapi"
)

// TestWorkerLimits: the Worker's rate limits count per client address
// (CF-Connecting-IP, which the Worker runtime puts in RemoteAddr), and the
// quota in the KV settings is enforced by the D1 store.
func TestWorkerLimits(t *testing.T) {
	kv := &memKV{values: map[string]string{"config": `{"max_open_uploads": 2}`}}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	app := &cfworker.App{
		Objects:    &cfworker.ObjectStore{Bucket: &faultyR2{fail: map[string]bool{}}, Name: "STORAGE_BUCKET"},
		Meta:       &cfworker.MetaStore{DB: newSQLiteD1(t)},
		Config:     &cfworker.ConfigSource{KV: kv},
		Logger:     slog.New(slog.DiscardHandler),
		Now:        func() time.Time { return now },
		RateLimits: httpapi.RateLimits{API: httpapi.Rate{PerSecond: 1, Burst: 4}},
	}
	do := func(ip, method, path, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		r.RemoteAddr = ip
		w := httptest.NewRecorder()
		app.ServeHTTP(w, r)
		return w
	}
	init := func(ip string) *httptest.ResponseRecorder {
		return do(ip, "POST", "/api/upload/init", `{"file_name":"a.bin","total_size":100,"user_id":"u1","user_role":"creator"}`)
	}
	for i, want := range []int{http.StatusOK, http.StatusOK, http.StatusTooManyRequests} {
		w := init("198.51.100.1")
		if w.Code != want || (want == http.StatusTooManyRequests && !strings.Contains(w.Body.String(), "TOO_MANY_UPLOADS")) {
			t.Fatalf("init %d: %d %s, want %d (TOO_MANY_UPLOADS on the third)", i, w.Code, w.Body, want)
		}
	}
	if w := do("198.51.100.1", "GET", "/api/me", ""); w.Code != http.StatusOK {
		t.Fatalf("4th request: %d %s", w.Code, w.Body)
	}
	w := do("198.51.100.1", "GET", "/api/me", "")
	if w.Code != http.StatusTooManyRequests || !strings.Contains(w.Body.String(), "RATE_LIMITED") || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("5th request: %d %s Retry-After %q, want 429 RATE_LIMITED Retry-After 1", w.Code, w.Body, w.Header().Get("Retry-After"))
	}
	if w := do("198.51.100.2", "GET", "/api/me", ""); w.Code != http.StatusOK {
		t.Fatalf("another address: %d %s", w.Code, w.Body)
	}
}
