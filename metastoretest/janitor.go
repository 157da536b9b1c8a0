package metastoretest

import (
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	storage "github.com/memenow/memenow-storage"
)

// The janitor's part of the suite: CheckWrite, ListStale, Expire and
// AcquireLease.

// createIdle inserts a new upload in status st last updated at updated.
func createIdle(t *testing.T, s storage.MetaStore, st storage.Status, updated time.Time) *storage.Upload {
	t.Helper()
	u := newUpload(st)
	u.UpdatedAt = updated.UTC().Truncate(time.Millisecond)
	if err := s.CreateUpload(t.Context(), u, storage.Quota{}); err != nil {
		t.Fatalf("CreateUpload: %v", err)
	}
	return u
}

func testCheckWrite(t *testing.T, s storage.MetaStore) {
	for range 2 { // the first write inserts the row, the second updates it
		if err := s.CheckWrite(t.Context(), time.Now()); err != nil {
			t.Fatalf("CheckWrite: %v", err)
		}
	}
}

// ids returns the ids of us that are in want, in the order of us.
func ids(us []*storage.Upload, want map[string]bool) []string {
	var out []string
	for _, u := range us {
		if want[u.ID] {
			out = append(out, u.ID)
		}
	}
	return out
}

func testListStale(t *testing.T, s storage.MetaStore) {
	now := time.Now()
	old := createIdle(t, s, storage.StatusInProgress, now.Add(-3*time.Hour))
	older := createIdle(t, s, storage.StatusInitiated, now.Add(-4*time.Hour))
	recent := createIdle(t, s, storage.StatusInitiated, now.Add(-time.Minute))
	done := createIdle(t, s, storage.StatusCompleted, now.Add(-5*time.Hour))
	stuck := createIdle(t, s, storage.StatusCompleting, now.Add(-5*time.Hour))
	mine := map[string]bool{old.ID: true, older.ID: true, recent.ID: true, done.ID: true, stuck.ID: true}

	open := []storage.Status{storage.StatusInitiated, storage.StatusInProgress}
	got, err := s.ListStale(t.Context(), open, now.Add(-time.Hour), 100000)
	if err != nil {
		t.Fatalf("ListStale: %v", err)
	}
	if want := []string{older.ID, old.ID}; !slices.Equal(ids(got, mine), want) {
		t.Errorf("ListStale(initiated, in_progress, before 1h ago) = %v, want %v (least recently updated first)", ids(got, mine), want)
	}
	for i := 1; i < len(got); i++ {
		if got[i].UpdatedAt.Before(got[i-1].UpdatedAt) {
			t.Errorf("ListStale is not in updated_at order at %d: %v after %v", i, got[i].UpdatedAt, got[i-1].UpdatedAt)
		}
	}
	for _, u := range got {
		if !slices.Contains(open, u.Status) || !u.UpdatedAt.Before(now.Add(-time.Hour)) {
			t.Errorf("ListStale returned %s (%s, updated %v)", u.ID, u.Status, u.UpdatedAt)
		}
	}
	if len(got) > 0 {
		if g := got[len(got)-1]; g.ID == old.ID && (g.Key != old.Key || !sameTime(g.UpdatedAt, old.UpdatedAt)) {
			t.Errorf("ListStale returned %+v, want %+v", g, old)
		}
	}

	got, err = s.ListStale(t.Context(), []storage.Status{storage.StatusCompleting}, now.Add(-time.Hour), 100000)
	if err != nil {
		t.Fatalf("ListStale: %v", err)
	}
	if want := []string{stuck.ID}; !slices.Equal(ids(got, mine), want) {
		t.Errorf("ListStale(completing) = %v, want %v", ids(got, mine), want)
	}

	got, err = s.ListStale(t.Context(), open, now.Add(-time.Hour), 1)
	if err != nil {
		t.Fatalf("ListStale: %v", err)
	}
	if len(got) != 1 {
		t.Errorf("ListStale with limit 1 returned %d uploads", len(got))
	}
	if got, err := s.ListStale(t.Context(), nil, now, 10); err != nil || len(got) != 0 {
		t.Errorf("ListStale of no states = %v, %v; want none", got, err)
	}
}

func testExpire(t *testing.T, s storage.MetaStore) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	idle := now.Add(-2 * time.Hour)
	u := createIdle(t, s, storage.StatusInProgress, idle)

	_, err := s.Expire(t.Context(), u.ID, idle.Add(-time.Minute), now)
	wantCode(t, "Expire of an upload updated after the cutoff", err, storage.CodeConflict)
	if st := get(t, s, u.ID).Status; st != storage.StatusInProgress {
		t.Fatalf("after a refused Expire the status is %s", st)
	}

	got, err := s.Expire(t.Context(), u.ID, now.Add(-time.Hour), now)
	if err != nil {
		t.Fatalf("Expire: %v", err)
	}
	if got.Status != storage.StatusExpired || got.ID != u.ID || got.Key != u.Key || !sameTime(got.UpdatedAt, now) {
		t.Errorf("Expire returned %s %s updated %v, want expired, stamped %v", got.ID, got.Status, got.UpdatedAt, now)
	}
	if st := get(t, s, u.ID).Status; st != storage.StatusExpired {
		t.Errorf("status after Expire = %s", st)
	}

	_, err = s.Expire(t.Context(), u.ID, now.Add(time.Hour), now)
	wantCode(t, "a second Expire", err, storage.CodeConflict)
	_, err = s.Expire(t.Context(), "1-"+uuid.NewString(), now, now)
	wantCode(t, "Expire of an unknown upload", err, storage.CodeUploadNotFound)

	// An expired upload takes no chunk and is no longer found by its key,
	// which a new upload may take.
	err = s.RecordChunk(t.Context(), u.ID, storage.Chunk{Index: 0, Size: 1, ETag: "x"}, chunkStates)
	wantCode(t, "RecordChunk on an expired upload", err, storage.CodeConflict)
	_, err = s.GetUploadByKey(t.Context(), u.Key)
	wantCode(t, "GetUploadByKey of an expired upload's key", err, storage.CodeUploadNotFound)
	next := newUpload(storage.StatusInitiated)
	next.Key = u.Key
	if err := s.CreateUpload(t.Context(), next, storage.Quota{}); err != nil {
		t.Fatalf("CreateUpload with the key of an expired upload: %v", err)
	}
	if holder := getByKey(t, s, u.Key); holder.ID != next.ID {
		t.Errorf("the key is held by %s, want the new upload %s", holder.ID, next.ID)
	}

	// Only initiated and in-progress uploads expire.
	for _, st := range []storage.Status{storage.StatusCompleting, storage.StatusCompleted,
		storage.StatusCancelling, storage.StatusCancelled, storage.StatusDeleted} {
		v := createIdle(t, s, st, idle)
		_, err := s.Expire(t.Context(), v.ID, now, now)
		wantCode(t, "Expire of a "+string(st)+" upload", err, storage.CodeConflict)
	}
	initiated := createIdle(t, s, storage.StatusInitiated, idle)
	if _, err := s.Expire(t.Context(), initiated.ID, now, now); err != nil {
		t.Errorf("Expire of an initiated upload: %v", err)
	}
}

// testExpireLosesToChunk checks the compare-and-set on updated_at: a chunk
// recorded after the janitor listed an upload keeps it from expiring.
func testExpireLosesToChunk(t *testing.T, s storage.MetaStore) {
	now := time.Now()
	u := createIdle(t, s, storage.StatusInitiated, now.Add(-2*time.Hour))
	record(t, s, u.ID, storage.Chunk{Index: 0, Size: 10, ETag: "a"}) // stamps the store's clock: now
	_, err := s.Expire(t.Context(), u.ID, now.Add(-time.Hour), now)
	wantCode(t, "Expire after a chunk arrived", err, storage.CodeConflict)
	if st := get(t, s, u.ID).Status; st != storage.StatusInProgress {
		t.Errorf("status = %s, want in_progress", st)
	}
}

func testConcurrentExpire(t *testing.T, s storage.MetaStore) {
	now := time.Now()
	u := createIdle(t, s, storage.StatusInProgress, now.Add(-2*time.Hour))
	errs := parallel(8, func(int) error {
		_, err := s.Expire(t.Context(), u.ID, now.Add(-time.Hour), now)
		return err
	})
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !storage.HasCode(err, storage.CodeConflict):
			t.Errorf("a concurrent Expire failed: %v", err)
		}
	}
	if won != 1 {
		t.Errorf("%d of 8 concurrent Expires succeeded, want exactly 1", won)
	}
}

func testLease(t *testing.T, s storage.MetaStore) {
	name := "test-" + uuid.NewString()
	now := time.Now()
	acquire := func(holder string, at, until time.Time) bool {
		t.Helper()
		ok, err := s.AcquireLease(t.Context(), name, holder, at, until)
		if err != nil {
			t.Fatalf("AcquireLease(%s): %v", holder, err)
		}
		return ok
	}
	if !acquire("a", now, now.Add(time.Minute)) {
		t.Fatal("a could not take a lease nobody held")
	}
	if acquire("b", now.Add(30*time.Second), now.Add(90*time.Second)) {
		t.Error("b took the lease while a held it")
	}
	if !acquire("a", now.Add(30*time.Second), now.Add(2*time.Minute)) {
		t.Error("a could not renew its own lease")
	}
	if acquire("b", now.Add(90*time.Second), now.Add(3*time.Minute)) {
		t.Error("b took the lease before a's renewed lease ended")
	}
	if !acquire("b", now.Add(2*time.Minute), now.Add(3*time.Minute)) {
		t.Error("b could not take the lease when a's had ended")
	}
	if acquire("a", now.Add(150*time.Second), now.Add(4*time.Minute)) {
		t.Error("a took the lease back while b held it")
	}
	if err := s.ReleaseLease(t.Context(), name, "a"); err != nil {
		t.Fatalf("ReleaseLease by a non-holder: %v", err)
	}
	if acquire("a", now.Add(150*time.Second), now.Add(4*time.Minute)) {
		t.Error("a's release of b's lease freed it")
	}
	if err := s.ReleaseLease(t.Context(), name, "b"); err != nil {
		t.Fatalf("ReleaseLease: %v", err)
	}
	if !acquire("a", now.Add(150*time.Second), now.Add(4*time.Minute)) {
		t.Error("a could not take the lease b gave up")
	}

	// Of many holders asking at once for a lease nobody holds, one wins.
	name = "test-" + uuid.NewString()
	won := 0
	for i, err := range parallel(8, func(i int) error {
		ok, err := s.AcquireLease(t.Context(), name, "holder-"+string(rune('a'+i)), now, now.Add(time.Minute))
		if ok {
			return nil
		}
		if err == nil {
			return errLost
		}
		return err
	}) {
		switch {
		case err == nil:
			won++
		case err != errLost:
			t.Errorf("AcquireLease of holder %d: %v", i, err)
		}
	}
	if won != 1 {
		t.Errorf("%d of 8 holders took the same lease at once, want 1", won)
	}
}

// errLost marks a holder that did not get the lease.
var errLost = errorString("lease not taken")

type errorString string

func (e errorString) Error() string { return string(e) }
