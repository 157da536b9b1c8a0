//go:build !(js && wasm)

package cfworker_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	storage "github.com/memenow/memenow-storage"
)

// TestAppSweep runs the Worker's janitor (the Cron Trigger's work) on the
// D1 store's SQL and a fake R2: an upload idle for the TTL is expired, its
// R2 multipart upload aborted, and chunk and complete answer 410.
func TestAppSweep(t *testing.T) {
	e := newApp(t, &memKV{})
	e.app.UploadTTL = time.Hour
	init := do(t, "POST", e.url+"/api/upload/init", nil,
		[]byte(`{"file_name":"idle.bin","total_size":10,"user_id":"u1","user_role":"creator"}`))
	id, _ := init.body["upload_id"].(string)
	key, _ := init.body["r2_key"].(string)
	expires, err := time.Parse(time.RFC3339, init.body["expires_at"].(string))
	if init.status != 200 || err != nil || expires.Before(time.Now().Add(59*time.Minute)) || expires.After(time.Now().Add(61*time.Minute)) {
		t.Fatalf("init: %d %v (expires_at: %v), want expires_at an hour from now", init.status, init.body, err)
	}

	r, err := e.app.Sweep(t.Context(), time.Now().Add(30*time.Minute))
	if err != nil || len(r.Expired) != 0 {
		t.Fatalf("sweep before the TTL: %+v, %v", r, err)
	}
	if err := e.app.Scheduled(t.Context(), "* * * * *", time.Now().Add(2*time.Hour)); err != nil {
		t.Fatalf("Scheduled: %v", err)
	}
	if st := do(t, "GET", e.url+"/api/upload/"+id+"/status", nil, nil); st.body["status"] != "expired" {
		t.Fatalf("status after the sweep: %v", st.body)
	}
	e.r2.mu.Lock()
	aborted := slices.Clone(e.r2.aborted)
	e.r2.mu.Unlock()
	if want := key + " r2-" + id; !slices.Contains(aborted, want) {
		t.Errorf("R2 aborts: %v, want %q", aborted, want)
	}
	chunk := do(t, "PUT", e.url+"/api/upload/chunk", map[string]string{"X-Upload-Id": id, "X-Chunk-Index": "0"}, make([]byte, 10))
	complete := do(t, "POST", e.url+"/api/upload/complete", nil, []byte(`{"upload_id":"`+id+`"}`))
	for _, r := range []reply{chunk, complete} {
		if r.status != 410 || errCode(r) != "UPLOAD_EXPIRED" {
			t.Errorf("on an expired upload: %d %v, want 410 UPLOAD_EXPIRED", r.status, r.body)
		}
	}
}

// TestAppScheduledReportsFailures checks that a sweep that could not abort
// an expired upload's R2 multipart upload fails the scheduled event (the
// upload is expired all the same).
func TestAppScheduledReportsFailures(t *testing.T) {
	e := newApp(t, &memKV{})
	init := do(t, "POST", e.url+"/api/upload/init", nil,
		[]byte(`{"file_name":"a.bin","total_size":10,"user_id":"u1","user_role":"creator"}`))
	id, _ := init.body["upload_id"].(string)
	e.r2.fail["abort"] = true
	err := e.app.Scheduled(t.Context(), "* * * * *", time.Now().Add(storage.DefaultUploadTTL+time.Hour))
	if err == nil || !strings.Contains(err.Error(), id) {
		t.Errorf("Scheduled with a failing R2 abort: %v, want an error naming %s", err, id)
	}
	if st := do(t, "GET", e.url+"/api/upload/"+id+"/status", nil, nil); st.body["status"] != "expired" {
		t.Errorf("status: %v", st.body)
	}
}
