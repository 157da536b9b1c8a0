//go:build !(js && wasm)

package cfworker_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	storage "github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/apitest"
)

// fireScheduled fires the Worker's scheduled event (the janitor's Cron
// Trigger) as of at, through the test path of worker/test/start.mjs, and
// checks that it succeeded: the janitor fails the event when it could not
// expire an upload or abort its R2 multipart upload.
func fireScheduled(t *testing.T, base string, at time.Time) {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("%s/cdn-cgi/handler/scheduled?cron=%s&time=%d", base, "*+*+*+*+*", at.UnixMilli()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != "ok" {
		t.Fatalf("scheduled event: %d %q, want 200 ok (see the Worker's log)", resp.StatusCode, body)
	}
}

// TestWorkerExpiry runs the janitor's Cron Trigger on local workerd (real
// local D1 and R2): before the upload TTL nothing expires; after it an
// abandoned upload is expired (D1), its R2 multipart upload aborted (the
// event fails otherwise), its key freed; chunk and complete answer 410.
// The event's scheduled time stands in for the passing of a day. Times only
// move forward, so that the janitor's lease of one event has ended by the
// next.
func TestWorkerExpiry(t *testing.T) {
	base := workerURL(t)
	at := &apitest.T{T: t, Target: apitest.Target{BaseURL: base, Client: &http.Client{Timeout: 2 * time.Minute}}}
	user := apitest.NewUserID()
	idle := at.Init("idle.bin", "", apitest.RandomBytes(100, 1), user)
	half := at.Init("half.bin", "", apitest.RandomBytes(apitest.ChunkSize+10, 2), user)
	at.SendChunk(half, 0)
	if st := at.Status(half); st["expires_at"] == nil {
		t.Errorf("status has no expires_at: %v", st)
	}

	ttl := storage.DefaultUploadTTL // the Worker's UPLOAD_TTL is not set by .ci/worker.sh
	now := time.Now()
	fireScheduled(t, base, now.Add(ttl-time.Hour))
	if st := at.Status(idle); st["status"] != "initiated" {
		t.Fatalf("expired before the TTL: %v", st)
	}
	fireScheduled(t, base, now.Add(ttl+time.Hour))
	for _, u := range []*apitest.Upload{idle, half} {
		if st := at.Status(u); st["status"] != "expired" || st["expires_at"] != nil {
			t.Errorf("after the TTL: %v", st)
		}
	}
	at.WantError(at.PutChunk(half, 1, half.Chunk(1)), 410, "UPLOAD_EXPIRED")
	at.WantError(at.Complete(half), 410, "UPLOAD_EXPIRED")

	// The key is free: a new upload of the same name (on the same day)
	// gets it and completes on R2.
	again := at.Init("half.bin", "", apitest.RandomBytes(apitest.ChunkSize+20, 3), user)
	if again.Key != half.Key && strings.Split(again.Key, "/")[2] == strings.Split(half.Key, "/")[2] {
		t.Errorf("a new upload of half.bin got %s, want the expired upload's key %s", again.Key, half.Key)
	}
	at.UploadAll(again)
	fireScheduled(t, base, now.Add(ttl+2*time.Hour)) // an empty sweep succeeds too
}
