package storage_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	storage "github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/apitest"
)

// auditOf returns the audit rows of q.
func auditOf(t *testing.T, e *env, q storage.AuditQuery) []storage.AuditEvent {
	t.Helper()
	q.Limit = 1000
	es, err := e.svc.Meta.ListAudit(t.Context(), q)
	if err != nil {
		t.Fatalf("ListAudit: %v", err)
	}
	return es
}

// TestAuditStateChanges checks that each state change writes exactly one
// row, with its upload, key and size: init, complete, cancel and delete by
// the user, expire by the janitor; repeating a complete or a cancel writes
// none; and that the janitor deletes rows past the retention.
func TestAuditStateChanges(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		api := e.api
		user := apitest.NewUserID()
		done := api.Init("done.bin", "", apitest.RandomBytes(100, 1), user)
		key := api.UploadAll(done)
		api.WantOK(api.Complete(done)) // a repeat (200): no second row
		api.WantOK(api.Do("DELETE", apitest.FilePath(key), nil, nil))
		gone := api.Init("gone.bin", "", apitest.RandomBytes(10, 2), user)
		api.WantOK(api.Cancel(gone))
		api.WantOK(api.Cancel(gone)) // a repeat (200): no second row
		idle := api.Init("idle.bin", "", apitest.RandomBytes(10, 3), user)

		count := map[string][]string{}
		for _, ev := range auditOf(t, e, storage.AuditQuery{UserID: user}) {
			count[ev.Action] = append(count[ev.Action], ev.UploadID)
			if ev.Outcome != storage.OutcomeOK || ev.Actor != "anonymous" || ev.ClientIP != "127.0.0.1" || ev.RequestID == "" {
				t.Errorf("row %+v: want outcome ok, actor anonymous (auth off), a client IP and a request id", ev)
			}
			if ev.UploadID == done.ID && (ev.Key != key || ev.Bytes != 100) {
				t.Errorf("row %+v: want key %s and 100 bytes", ev, key)
			}
		}
		want := map[string][]string{
			storage.AuditInit:     {idle.ID, gone.ID, done.ID},
			storage.AuditComplete: {done.ID},
			storage.AuditDelete:   {done.ID},
			storage.AuditCancel:   {gone.ID},
		}
		for action, ids := range want {
			if !slices.Equal(count[action], ids) {
				t.Errorf("%s rows for uploads %v, want %v", action, count[action], ids)
			}
		}

		e.clock.Set(storage.DefaultUploadTTL + time.Minute)
		sweep(t, e.svc, storage.SweepOptions{})
		expired := auditOf(t, e, storage.AuditQuery{Action: storage.AuditExpire})
		if len(expired) != 1 || expired[0].UploadID != idle.ID || expired[0].Actor != storage.ActorJanitor {
			t.Errorf("expire rows %+v, want one for %s by the janitor", expired, idle.ID)
		}
		sweep(t, e.svc, storage.SweepOptions{})
		if n := len(auditOf(t, e, storage.AuditQuery{Action: storage.AuditExpire})); n != 1 {
			t.Errorf("expire rows after a second sweep: %d, want 1", n)
		}

		// Retention: the user's rows are a day old on the clock; the
		// janitor's expire row is not.
		e.svc.Config.AuditRetention = time.Hour
		r := sweep(t, e.svc, storage.SweepOptions{})
		if r.AuditDeleted < 6 {
			t.Errorf("the sweep deleted %d audit rows, want at least 6", r.AuditDeleted)
		}
		if rows := auditOf(t, e, storage.AuditQuery{UserID: user}); len(rows) != 0 {
			t.Errorf("%d rows older than the retention remain", len(rows))
		}
		if n := len(auditOf(t, e, storage.AuditQuery{Action: storage.AuditExpire})); n != 1 {
			t.Errorf("the recent expire row was deleted too (%d left)", n)
		}
	})
}

// appendRecorder is a MetaStore whose AppendAudit is recorded, or fails.
type appendRecorder struct {
	storage.MetaStore
	mu      sync.Mutex
	batches [][]storage.AuditEvent
	fail    bool
}

func (a *appendRecorder) AppendAudit(_ context.Context, es []storage.AuditEvent) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail {
		return storage.Errorf(storage.CodeDatabase, "injected")
	}
	a.batches = append(a.batches, slices.Clone(es))
	return nil
}

func (a *appendRecorder) written() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, b := range a.batches {
		n += len(b)
	}
	return n
}

// TestAuditBatcher: events are written in one batch by Flush; a failed
// flush keeps them for the next; a full buffer drops and counts instead of
// blocking; Close writes what is left and drops what comes after.
func TestAuditBatcher(t *testing.T) {
	meta := &appendRecorder{}
	b := storage.NewAuditBatcher(meta, storage.AuditBatcherOptions{MaxBuffer: 4})
	ev := storage.AuditEvent{Action: storage.AuditDownload, Outcome: storage.OutcomeOK}
	for range 3 {
		b.Record(ev)
	}
	meta.fail = true
	if err := b.Flush(t.Context()); err == nil {
		t.Fatal("Flush succeeded on a failing store")
	}
	meta.fail = false
	b.Record(ev)
	b.Record(ev) // the fifth: over MaxBuffer
	if got := b.Dropped(); got != 1 {
		t.Errorf("Dropped = %d, want 1", got)
	}
	if err := b.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := meta.written(); n != 4 || len(meta.batches) != 1 {
		t.Errorf("written %d events in %d batches, want 4 in 1", n, len(meta.batches))
	}
	b.Record(ev)
	if err := b.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := meta.written(); n != 5 {
		t.Errorf("after Close %d events written, want 5", n)
	}
	b.Record(ev)
	if got := b.Dropped(); got != 2 {
		t.Errorf("an event after Close: Dropped = %d, want 2", got)
	}

	// A background flusher writes without being asked, and Close stops it.
	bg := &appendRecorder{}
	b = storage.NewAuditBatcher(bg, storage.AuditBatcherOptions{Interval: 10 * time.Millisecond})
	b.Record(ev)
	deadline := time.Now().Add(10 * time.Second)
	for bg.written() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if bg.written() != 1 {
		t.Error("the background flusher wrote nothing")
	}
	if err := b.Close(t.Context()); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}
