package httpapi_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	storage "github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/httpapi"
)

// recorder is an httpapi.AuditRecorder that keeps the events.
type recorder struct {
	mu     sync.Mutex
	events []storage.AuditEvent
}

func (r *recorder) Record(e storage.AuditEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

// TestAuditRefusals: a 429 and a 401 are handed to the recorder with the
// client's address, the request id, the code as outcome and no token.
func TestAuditRefusals(t *testing.T) {
	rec := &recorder{}
	clock := &fakeClock{now: time.Now()}
	s := newLimitedServer(t, httpapi.Options{Now: clock.Now, Audit: rec,
		RateLimits: httpapi.RateLimits{API: httpapi.Rate{PerSecond: 1, Burst: 1}}}, []byte("0123456789abcdef0123456789abcdef"))
	s.do(request{method: "GET", path: "/api/uploads", user: "alice"})
	if got := s.do(request{method: "GET", path: "/api/uploads", user: "alice", header: map[string]string{"X-Request-Id": "r-429"}}); got.Code != http.StatusTooManyRequests {
		t.Fatalf("second request: %d, want 429", got.Code)
	}
	if got := s.do(request{method: "GET", path: "/api/uploads", peer: "198.51.100.9:5", header: map[string]string{"Authorization": "Bearer forged.token.value"}}); got.Code != http.StatusUnauthorized {
		t.Fatalf("forged token: %d, want 401", got.Code)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.events) != 2 {
		t.Fatalf("recorded %+v, want a rate_limited and an auth_failure", rec.events)
	}
	limited, failed := rec.events[0], rec.events[1]
	if limited.Action != storage.AuditRateLimited || limited.Outcome != "RATE_LIMITED" || limited.ActorID != "alice" ||
		limited.RequestID != "r-429" || limited.ClientIP != "192.0.2.1" {
		t.Errorf("rate limited event %+v", limited)
	}
	if failed.Action != storage.AuditAuthFailure || failed.Actor != "anonymous" || failed.ClientIP != "198.51.100.9" ||
		failed.Outcome != "UNAUTHORIZED" || len(failed.RequestID) != 32 {
		t.Errorf("auth failure event %+v", failed)
	}
}
