// Package metastoretest is the conformance suite every storage.MetaStore
// passes: the SQLite store on every go test, PostgreSQL against a real
// server. The suite makes its own unique ids and keys and never assumes an
// empty database, so it can run against a shared one.
package metastoretest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	storage "github.com/memenow/memenow-storage"
)

// allStatuses lists every state of an upload.
var allStatuses = []storage.Status{
	storage.StatusInitiated, storage.StatusInProgress, storage.StatusCompleting,
	storage.StatusCompleted, storage.StatusCancelling, storage.StatusCancelled,
	storage.StatusDeleted,
}

// chunkStates are the states in which the Service accepts chunks.
var chunkStates = []storage.Status{storage.StatusInitiated, storage.StatusInProgress}

// RunConformance runs the suite. newStore returns a ready store, which may
// hold data of earlier runs; the suite closes every store it gets.
func RunConformance(t *testing.T, newStore func(t *testing.T) storage.MetaStore) {
	open := func(t *testing.T) storage.MetaStore {
		t.Helper()
		s := newStore(t)
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	}
	tests := []struct {
		name string
		run  func(t *testing.T, s storage.MetaStore)
	}{
		{"Ping", testPing},
		{"CreateGetRoundTrip", testRoundTrip},
		{"UnknownID", testUnknownID},
		{"ListChunksUnknownID", testListChunksUnknownID},
		{"DuplicateID", testDuplicateID},
		{"KeyReservation", testKeyReservation},
		{"Transitions", testTransitions},
		{"TransitionReturnsUpload", testTransitionReturnsUpload},
		{"RecordChunk", testRecordChunk},
		{"ChunksRefusedOutsideChunkStates", testChunksRefused},
		{"ForgetChunk", testForgetChunk},
		{"ConcurrentDistinctChunks", testConcurrentDistinctChunks},
		{"ConcurrentSameChunk", testConcurrentSameChunk},
		{"ConcurrentMixedChunkOps", testConcurrentMixedChunkOps},
		{"ConcurrentCompleteOnce", testConcurrentCompleteOnce},
		{"ConcurrentCompleteVersusCancel", testCompleteVersusCancel},
		{"LateChunkCannotReviveCancel", testLateChunkCannotRevive},
		{"Visibility", testVisibility},
		{"Deleted", testDeleted},
		{"GetUploadByKey", testGetUploadByKey},
		{"ListUploads", testListUploads},
		{"ListUploadsCursor", testListUploadsCursor},
		{"ListUploadsEveryUser", testListUploadsEveryUser},
		{"ListUploadsEmpty", testListUploadsEmpty},
		{"QuotaOpenUploads", testQuotaOpenUploads},
		{"QuotaOpenBytes", testQuotaOpenBytes},
		{"QuotaStoredBytes", testQuotaStoredBytes},
		{"QuotaZeroIsUnlimited", testQuotaZeroIsUnlimited},
		{"QuotaConcurrent", testQuotaConcurrent},
		{"CheckWrite", testCheckWrite},
		{"ListStale", testListStale},
		{"Expire", testExpire},
		{"ExpireLosesToChunk", testExpireLosesToChunk},
		{"ConcurrentExpire", testConcurrentExpire},
		{"Lease", testLease},
		{"AuditWithStateChanges", testAuditWithStateChanges},
		{"AuditList", testAuditList},
		{"AuditRetention", testAuditRetention},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, open(t)) })
	}
}

// newUpload returns an upload in status st with a unique id and key.
func newUpload(st storage.Status) *storage.Upload {
	now := time.Now().UTC()
	id := uuid.NewString()
	name := "clip-" + id[:8] + ".mp4"
	return &storage.Upload{
		ID:          fmt.Sprintf("%d-%s", now.UnixMilli(), id),
		FileName:    name,
		TotalSize:   10*storage.MinChunkSize + 123,
		UserID:      "user_" + id[:8],
		UserRole:    storage.RoleCreator,
		ContentType: "video/mp4",
		ChunkSize:   storage.MinChunkSize,
		TotalChunks: 11,
		Status:      st,
		Key:         storage.ObjectKey(storage.RoleCreator, "user_"+id[:8], now, "video/mp4", name),
		CreatedAt:   now,
		UpdatedAt:   now,
	}
}

// create inserts a new upload in status st and returns it.
func create(t *testing.T, s storage.MetaStore, st storage.Status) *storage.Upload {
	t.Helper()
	u := newUpload(st)
	if err := s.CreateUpload(t.Context(), u, storage.Quota{}); err != nil {
		t.Fatalf("CreateUpload: %v", err)
	}
	return u
}

func get(t *testing.T, s storage.MetaStore, id string) *storage.Upload {
	t.Helper()
	u, err := s.GetUpload(t.Context(), id)
	if err != nil {
		t.Fatalf("GetUpload(%s): %v", id, err)
	}
	return u
}

func list(t *testing.T, s storage.MetaStore, id string) []storage.Chunk {
	t.Helper()
	cs, err := s.ListChunks(t.Context(), id)
	if err != nil {
		t.Fatalf("ListChunks(%s): %v", id, err)
	}
	return cs
}

func record(t *testing.T, s storage.MetaStore, id string, c storage.Chunk) {
	t.Helper()
	if err := s.RecordChunk(t.Context(), id, c, chunkStates); err != nil {
		t.Fatalf("RecordChunk(%s, %d): %v", id, c.Index, err)
	}
}

func transition(t *testing.T, s storage.MetaStore, id string, from []storage.Status, to storage.Status) *storage.Upload {
	t.Helper()
	u, err := s.Transition(t.Context(), id, from, to)
	if err != nil {
		t.Fatalf("Transition(%s, %v → %s): %v", id, from, to, err)
	}
	return u
}

func wantCode(t *testing.T, what string, err error, code storage.Code) {
	t.Helper()
	if !storage.HasCode(err, code) {
		t.Errorf("%s: got error %v, want code %s", what, err, code)
	}
}

// wantCounters checks the upload's counters against its recorded chunks.
func wantCounters(t *testing.T, s storage.MetaStore, id string, chunks int, bytes int64) {
	t.Helper()
	u := get(t, s, id)
	if u.ChunksUploaded != chunks || u.BytesUploaded != bytes {
		t.Errorf("counters = %d chunks, %d bytes; want %d, %d", u.ChunksUploaded, u.BytesUploaded, chunks, bytes)
	}
	cs := list(t, s, id)
	var sum int64
	for _, c := range cs {
		sum += c.Size
	}
	if len(cs) != chunks || sum != bytes {
		t.Errorf("ListChunks has %d chunks, %d bytes; want %d, %d", len(cs), sum, chunks, bytes)
	}
}

// sameTime reports whether a and b are within a millisecond.
func sameTime(a, b time.Time) bool {
	d := a.Sub(b)
	return d < time.Millisecond && d > -time.Millisecond
}

func testPing(t *testing.T, s storage.MetaStore) {
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func testRoundTrip(t *testing.T, s storage.MetaStore) {
	u := newUpload(storage.StatusInitiated)
	u.FileName = "Überlänge 影片 " + u.FileName
	u.TotalSize = 10_737_418_240 // over 32 bits
	u.UserRole = storage.RoleSubscriber
	u.ContentType = "text/plain; charset=utf-8"
	u.ChunkSize = 157_286_400
	u.TotalChunks = 69
	u.StoreHandle = "handle-" + uuid.NewString()
	u.Visibility = storage.VisibilityPublic
	loc := time.FixedZone("UTC+5:30", 5*3600+1800)
	u.CreatedAt = time.Date(2024, 2, 29, 23, 59, 58, 123_456_789, loc)
	u.UpdatedAt = time.Date(2024, 3, 1, 0, 0, 1, 987_654_321, loc)
	if err := s.CreateUpload(t.Context(), u, storage.Quota{}); err != nil {
		t.Fatalf("CreateUpload: %v", err)
	}
	got := get(t, s, u.ID)
	for _, ts := range []struct {
		name      string
		got, want time.Time
	}{{"CreatedAt", got.CreatedAt, u.CreatedAt}, {"UpdatedAt", got.UpdatedAt, u.UpdatedAt}} {
		if !sameTime(ts.got, ts.want) {
			t.Errorf("%s = %v, want %v within 1ms", ts.name, ts.got, ts.want)
		}
		if ts.got.Location() != time.UTC {
			t.Errorf("%s location = %v, want UTC", ts.name, ts.got.Location())
		}
	}
	want := *u
	want.CreatedAt, want.UpdatedAt = got.CreatedAt, got.UpdatedAt
	if *got != want {
		t.Errorf("GetUpload =\n%+v\nwant\n%+v", *got, want)
	}
}

func testUnknownID(t *testing.T, s storage.MetaStore) {
	id := fmt.Sprintf("%d-%s", time.Now().UnixMilli(), uuid.NewString())
	ctx := t.Context()
	ops := []struct {
		name string
		call func() error
	}{
		{"GetUpload", func() error { _, err := s.GetUpload(ctx, id); return err }},
		{"Transition", func() error {
			_, err := s.Transition(ctx, id, allStatuses, storage.StatusCancelled)
			return err
		}},
		{"RecordChunk", func() error {
			return s.RecordChunk(ctx, id, storage.Chunk{Index: 0, Size: 1, ETag: "e"}, chunkStates)
		}},
		{"ForgetChunk", func() error { return s.ForgetChunk(ctx, id, 0, chunkStates) }},
	}
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			wantCode(t, op.name, op.call(), storage.CodeUploadNotFound)
		})
	}
	if cs := list(t, s, id); len(cs) != 0 {
		t.Errorf("RecordChunk of an unknown upload left chunks: %v", cs)
	}
}

func testListChunksUnknownID(t *testing.T, s storage.MetaStore) {
	cs, err := s.ListChunks(t.Context(), "no-such-"+uuid.NewString())
	if err != nil {
		t.Fatalf("ListChunks: %v", err)
	}
	if len(cs) != 0 {
		t.Errorf("ListChunks = %v, want empty", cs)
	}
}

func testDuplicateID(t *testing.T, s storage.MetaStore) {
	u := create(t, s, storage.StatusInitiated)
	dup := newUpload(storage.StatusInitiated)
	dup.ID = u.ID
	err := s.CreateUpload(t.Context(), dup, storage.Quota{})
	wantCode(t, "CreateUpload with a used id", err, storage.CodeDatabase)
	if got := get(t, s, u.ID); got.Key != u.Key {
		t.Errorf("the duplicate replaced the upload: key %q, want %q", got.Key, u.Key)
	}
}

func testKeyReservation(t *testing.T, s storage.MetaStore) {
	ctx := t.Context()
	for _, holder := range []storage.Status{
		storage.StatusInitiated, storage.StatusInProgress, storage.StatusCompleting,
		storage.StatusCompleted, storage.StatusCancelling, storage.StatusDeleted,
	} {
		t.Run(string(holder), func(t *testing.T) {
			first := create(t, s, holder)
			second := newUpload(storage.StatusInitiated)
			second.Key = first.Key
			wantCode(t, "second CreateUpload with the same key", s.CreateUpload(ctx, second, storage.Quota{}), storage.CodeKeyTaken)
			_, err := s.GetUpload(ctx, second.ID)
			wantCode(t, "GetUpload of the refused upload", err, storage.CodeUploadNotFound)

			transition(t, s, first.ID, []storage.Status{holder}, storage.StatusCancelled)
			if err := s.CreateUpload(ctx, second, storage.Quota{}); err != nil {
				t.Fatalf("CreateUpload after the holder was cancelled: %v", err)
			}
			third := newUpload(storage.StatusInitiated)
			third.Key = first.Key
			wantCode(t, "third CreateUpload with the same key", s.CreateUpload(ctx, third, storage.Quota{}), storage.CodeKeyTaken)

			_, err = s.Transition(ctx, first.ID, []storage.Status{storage.StatusCancelled}, storage.StatusInitiated)
			wantCode(t, "reviving the cancelled holder while its key is taken", err, storage.CodeConflict)
			if st := get(t, s, first.ID).Status; st != storage.StatusCancelled {
				t.Errorf("the refused revival left status %s", st)
			}
		})
	}
	t.Run("TwoCancelledShareAKey", func(t *testing.T) {
		a := create(t, s, storage.StatusCancelled)
		b := newUpload(storage.StatusCancelled)
		b.Key = a.Key
		if err := s.CreateUpload(ctx, b, storage.Quota{}); err != nil {
			t.Fatalf("CreateUpload of a cancelled upload with a cancelled upload's key: %v", err)
		}
	})
}

// fromSets are the from-lists tried in testTransitions: each single state,
// the Service's lists, and the empty list.
func fromSets() [][]storage.Status {
	sets := [][]storage.Status{
		{},
		chunkStates,
		{storage.StatusInitiated, storage.StatusInProgress, storage.StatusCompleting},
		{storage.StatusInitiated, storage.StatusInProgress, storage.StatusCancelling},
		allStatuses,
	}
	for _, st := range allStatuses {
		sets = append(sets, []storage.Status{st})
	}
	return sets
}

func testTransitions(t *testing.T, s storage.MetaStore) {
	targets := map[storage.Status]storage.Status{ // a target per current state, other than itself where possible
		storage.StatusInitiated:  storage.StatusCancelled,
		storage.StatusInProgress: storage.StatusCompleting,
		storage.StatusCompleting: storage.StatusCompleted,
		storage.StatusCompleted:  storage.StatusDeleted,
		storage.StatusCancelling: storage.StatusCancelled,
		storage.StatusCancelled:  storage.StatusInProgress,
		storage.StatusDeleted:    storage.StatusCompleted,
	}
	for _, cur := range allStatuses {
		for _, from := range fromSets() {
			for _, to := range []storage.Status{targets[cur], cur} {
				name := fmt.Sprintf("%s/from%v/to_%s", cur, from, to)
				t.Run(name, func(t *testing.T) {
					u := create(t, s, cur)
					got, err := s.Transition(t.Context(), u.ID, from, to)
					after := get(t, s, u.ID)
					if slices.Contains(from, cur) {
						if err != nil {
							t.Fatalf("Transition: %v", err)
						}
						if got.Status != to || after.Status != to {
							t.Errorf("status = %s returned, %s stored; want %s", got.Status, after.Status, to)
						}
						return
					}
					wantCode(t, "Transition", err, storage.CodeConflict)
					if after.Status != cur {
						t.Errorf("a refused Transition changed the status to %s", after.Status)
					}
				})
			}
		}
	}
}

func testTransitionReturnsUpload(t *testing.T, s storage.MetaStore) {
	u := newUpload(storage.StatusInitiated)
	u.CreatedAt = time.Now().Add(-time.Hour).UTC()
	u.UpdatedAt = u.CreatedAt
	if err := s.CreateUpload(t.Context(), u, storage.Quota{}); err != nil {
		t.Fatalf("CreateUpload: %v", err)
	}
	record(t, s, u.ID, storage.Chunk{Index: 1, Size: 7, ETag: "e1"})
	got := transition(t, s, u.ID, []storage.Status{storage.StatusInProgress}, storage.StatusCompleting)
	if got.ID != u.ID || got.Key != u.Key || got.TotalSize != u.TotalSize || got.Status != storage.StatusCompleting {
		t.Errorf("Transition returned %+v", got)
	}
	if got.ChunksUploaded != 1 || got.BytesUploaded != 7 {
		t.Errorf("Transition returned counters %d, %d; want 1, 7", got.ChunksUploaded, got.BytesUploaded)
	}
	if !got.UpdatedAt.After(u.UpdatedAt) {
		t.Errorf("UpdatedAt = %v, not after the creation time %v", got.UpdatedAt, u.UpdatedAt)
	}
	if !sameTime(got.CreatedAt, u.CreatedAt) {
		t.Errorf("CreatedAt changed to %v, want %v", got.CreatedAt, u.CreatedAt)
	}
	if stored := get(t, s, u.ID); *stored != *got {
		t.Errorf("Transition returned\n%+v\nbut GetUpload gives\n%+v", *got, *stored)
	}
}

func testRecordChunk(t *testing.T, s storage.MetaStore) {
	u := create(t, s, storage.StatusInitiated)
	record(t, s, u.ID, storage.Chunk{Index: 2, Size: 300, ETag: "etag-2"})
	if st := get(t, s, u.ID).Status; st != storage.StatusInProgress {
		t.Errorf("status after the first chunk = %s, want in_progress", st)
	}
	wantCounters(t, s, u.ID, 1, 300)
	record(t, s, u.ID, storage.Chunk{Index: 0, Size: 100, ETag: "etag-0"})
	record(t, s, u.ID, storage.Chunk{Index: 1, Size: 200, ETag: "etag-1"})
	wantCounters(t, s, u.ID, 3, 600)

	record(t, s, u.ID, storage.Chunk{Index: 1, Size: 250, ETag: "etag-1b"}) // a replacement
	wantCounters(t, s, u.ID, 3, 650)
	record(t, s, u.ID, storage.Chunk{Index: 1, Size: 250, ETag: "etag-1b"}) // the same again
	wantCounters(t, s, u.ID, 3, 650)

	want := []storage.Chunk{{Index: 0, Size: 100, ETag: "etag-0"}, {Index: 1, Size: 250, ETag: "etag-1b"}, {Index: 2, Size: 300, ETag: "etag-2"}}
	if got := list(t, s, u.ID); !slices.Equal(got, want) {
		t.Errorf("ListChunks = %v, want %v", got, want)
	}
	if st := get(t, s, u.ID).Status; st != storage.StatusInProgress {
		t.Errorf("status = %s, want in_progress", st)
	}
}

func testChunksRefused(t *testing.T, s storage.MetaStore) {
	for _, st := range []storage.Status{
		storage.StatusCompleting, storage.StatusCompleted, storage.StatusCancelling, storage.StatusCancelled,
		storage.StatusDeleted,
	} {
		t.Run(string(st), func(t *testing.T) {
			ctx := t.Context()
			u := create(t, s, storage.StatusInProgress)
			record(t, s, u.ID, storage.Chunk{Index: 0, Size: 10, ETag: "a"})
			transition(t, s, u.ID, []storage.Status{storage.StatusInProgress}, st)

			err := s.RecordChunk(ctx, u.ID, storage.Chunk{Index: 1, Size: 20, ETag: "b"}, chunkStates)
			wantCode(t, "RecordChunk of a new chunk", err, storage.CodeConflict)
			err = s.RecordChunk(ctx, u.ID, storage.Chunk{Index: 0, Size: 30, ETag: "c"}, chunkStates)
			wantCode(t, "RecordChunk replacing a chunk", err, storage.CodeConflict)
			wantCode(t, "ForgetChunk", s.ForgetChunk(ctx, u.ID, 0, chunkStates), storage.CodeConflict)
			wantCode(t, "ForgetChunk of a missing chunk", s.ForgetChunk(ctx, u.ID, 5, chunkStates), storage.CodeConflict)

			if got := get(t, s, u.ID).Status; got != st {
				t.Errorf("status = %s, want %s", got, st)
			}
			wantCounters(t, s, u.ID, 1, 10)
			if got, want := list(t, s, u.ID), []storage.Chunk{{Index: 0, Size: 10, ETag: "a"}}; !slices.Equal(got, want) {
				t.Errorf("ListChunks = %v, want %v", got, want)
			}
		})
	}
}

func testForgetChunk(t *testing.T, s storage.MetaStore) {
	ctx := t.Context()
	u := create(t, s, storage.StatusInitiated)
	if err := s.ForgetChunk(ctx, u.ID, 0, chunkStates); err != nil {
		t.Fatalf("ForgetChunk of a missing chunk while initiated: %v", err)
	}
	if st := get(t, s, u.ID).Status; st != storage.StatusInitiated {
		t.Errorf("ForgetChunk changed the status to %s", st)
	}
	record(t, s, u.ID, storage.Chunk{Index: 0, Size: 100, ETag: "a"})
	record(t, s, u.ID, storage.Chunk{Index: 1, Size: 200, ETag: "b"})
	for i := range 2 { // the second time the chunk is already gone
		if err := s.ForgetChunk(ctx, u.ID, 0, chunkStates); err != nil {
			t.Fatalf("ForgetChunk #%d: %v", i+1, err)
		}
		wantCounters(t, s, u.ID, 1, 200)
	}
	if err := s.ForgetChunk(ctx, u.ID, 7, chunkStates); err != nil {
		t.Fatalf("ForgetChunk of a chunk never recorded: %v", err)
	}
	wantCounters(t, s, u.ID, 1, 200)
	if got, want := list(t, s, u.ID), []storage.Chunk{{Index: 1, Size: 200, ETag: "b"}}; !slices.Equal(got, want) {
		t.Errorf("ListChunks = %v, want %v", got, want)
	}
	if err := s.ForgetChunk(ctx, u.ID, 1, chunkStates); err != nil {
		t.Fatalf("ForgetChunk: %v", err)
	}
	wantCounters(t, s, u.ID, 0, 0)
	if st := get(t, s, u.ID).Status; st != storage.StatusInProgress {
		t.Errorf("status = %s, want in_progress", st)
	}
	record(t, s, u.ID, storage.Chunk{Index: 0, Size: 100, ETag: "c"})
	wantCounters(t, s, u.ID, 1, 100)
}

// parallel runs f(0) … f(n-1) in goroutines released together and returns
// their errors by index.
func parallel(n int, f func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = f(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

func testConcurrentDistinctChunks(t *testing.T, s storage.MetaStore) {
	const n = 50
	u := create(t, s, storage.StatusInitiated)
	ctx := t.Context()
	errs := parallel(n, func(i int) error {
		return s.RecordChunk(ctx, u.ID, storage.Chunk{Index: i, Size: int64(1000 + i), ETag: fmt.Sprint("e", i)}, chunkStates)
	})
	var want []storage.Chunk
	var bytes int64
	for i, err := range errs {
		if err != nil {
			t.Errorf("RecordChunk %d: %v", i, err)
		}
		want = append(want, storage.Chunk{Index: i, Size: int64(1000 + i), ETag: fmt.Sprint("e", i)})
		bytes += int64(1000 + i)
	}
	wantCounters(t, s, u.ID, n, bytes)
	if got := list(t, s, u.ID); !slices.Equal(got, want) {
		t.Errorf("ListChunks = %v, want %v", got, want)
	}
	if st := get(t, s, u.ID).Status; st != storage.StatusInProgress {
		t.Errorf("status = %s, want in_progress", st)
	}
}

func testConcurrentSameChunk(t *testing.T, s storage.MetaStore) {
	const n = 20
	u := create(t, s, storage.StatusInitiated)
	ctx := t.Context()
	errs := parallel(n, func(i int) error {
		return s.RecordChunk(ctx, u.ID, storage.Chunk{Index: 3, Size: int64(500 + i), ETag: fmt.Sprint("e", i)}, chunkStates)
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("RecordChunk by goroutine %d: %v", i, err)
		}
	}
	cs := list(t, s, u.ID)
	if len(cs) != 1 {
		t.Fatalf("ListChunks = %v, want one chunk", cs)
	}
	c := cs[0]
	if i := c.Size - 500; c.Index != 3 || i < 0 || i >= n || c.ETag != fmt.Sprint("e", i) {
		t.Errorf("chunk = %+v, not one of the recorded ones", c)
	}
	wantCounters(t, s, u.ID, 1, c.Size)
}

func testConcurrentMixedChunkOps(t *testing.T, s storage.MetaStore) {
	const workers, ops, indices = 10, 20, 5
	u := create(t, s, storage.StatusInitiated)
	ctx := t.Context()
	errs := parallel(workers, func(w int) error {
		for k := range ops {
			idx := (w + k) % indices
			var err error
			if (w+k)%3 == 0 {
				err = s.ForgetChunk(ctx, u.ID, idx, chunkStates)
			} else {
				err = s.RecordChunk(ctx, u.ID, storage.Chunk{Index: idx, Size: int64(10*w + k + 1), ETag: "e"}, chunkStates)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("worker %d: %v", i, err)
		}
	}
	cs := list(t, s, u.ID)
	var bytes int64
	for _, c := range cs {
		bytes += c.Size
	}
	wantCounters(t, s, u.ID, len(cs), bytes)
}

func testConcurrentCompleteOnce(t *testing.T, s storage.MetaStore) {
	const n = 20
	u := create(t, s, storage.StatusInProgress)
	ctx := t.Context()
	errs := parallel(n, func(int) error {
		_, err := s.Transition(ctx, u.ID, []storage.Status{storage.StatusInProgress}, storage.StatusCompleted)
		return err
	})
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !storage.HasCode(err, storage.CodeConflict):
			t.Errorf("Transition: %v, want nil or CodeConflict", err)
		}
	}
	if wins != 1 {
		t.Errorf("%d of %d transitions succeeded, want exactly 1", wins, n)
	}
	if st := get(t, s, u.ID).Status; st != storage.StatusCompleted {
		t.Errorf("status = %s, want completed", st)
	}
}

func testCompleteVersusCancel(t *testing.T, s storage.MetaStore) {
	const rounds, n = 5, 10
	for r := range rounds {
		u := create(t, s, storage.StatusInProgress)
		ctx := t.Context()
		targets := []storage.Status{storage.StatusCompleting, storage.StatusCancelling}
		errs := parallel(n, func(i int) error {
			_, err := s.Transition(ctx, u.ID, chunkStates, targets[i%2])
			return err
		})
		var winners []storage.Status
		for i, err := range errs {
			switch {
			case err == nil:
				winners = append(winners, targets[i%2])
			case !storage.HasCode(err, storage.CodeConflict):
				t.Errorf("round %d: Transition: %v, want nil or CodeConflict", r, err)
			}
		}
		if len(winners) != 1 {
			t.Errorf("round %d: %d transitions succeeded (%v), want exactly 1", r, len(winners), winners)
			continue
		}
		if st := get(t, s, u.ID).Status; st != winners[0] {
			t.Errorf("round %d: status = %s, want the winner's %s", r, st, winners[0])
		}
	}
}

func testLateChunkCannotRevive(t *testing.T, s storage.MetaStore) {
	const n = 20
	u := create(t, s, storage.StatusInProgress)
	ctx := t.Context()
	errs := parallel(n+1, func(i int) error {
		if i == n {
			_, err := s.Transition(ctx, u.ID, chunkStates, storage.StatusCancelling)
			return err
		}
		err := s.RecordChunk(ctx, u.ID, storage.Chunk{Index: i, Size: 1, ETag: "e"}, chunkStates)
		if storage.HasCode(err, storage.CodeConflict) {
			return nil // arrived after the cancel
		}
		return err
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("goroutine %d: %v", i, err)
		}
	}
	if st := get(t, s, u.ID).Status; st != storage.StatusCancelling {
		t.Errorf("status = %s, want cancelling", st)
	}
	cs := list(t, s, u.ID)
	wantCounters(t, s, u.ID, len(cs), int64(len(cs)))
}

func testVisibility(t *testing.T, s storage.MetaStore) {
	ctx := t.Context()
	tests := []struct {
		name string
		set  storage.Visibility
		want storage.Visibility
	}{
		{"empty is private", "", storage.VisibilityPrivate},
		{"private", storage.VisibilityPrivate, storage.VisibilityPrivate},
		{"public", storage.VisibilityPublic, storage.VisibilityPublic},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUpload(storage.StatusInitiated)
			u.Visibility = tt.set
			if err := s.CreateUpload(ctx, u, storage.Quota{}); err != nil {
				t.Fatalf("CreateUpload: %v", err)
			}
			if got := get(t, s, u.ID).Visibility; got != tt.want {
				t.Errorf("GetUpload: Visibility = %q, want %q", got, tt.want)
			}
			if got := getByKey(t, s, u.Key).Visibility; got != tt.want {
				t.Errorf("GetUploadByKey: Visibility = %q, want %q", got, tt.want)
			}
			record(t, s, u.ID, storage.Chunk{Index: 0, Size: 5, ETag: "e"})
			if got := transition(t, s, u.ID, chunkStates, storage.StatusCompleted).Visibility; got != tt.want {
				t.Errorf("Transition: Visibility = %q, want %q", got, tt.want)
			}
			us := listUploads(t, s, storage.ListQuery{UserID: u.UserID, Limit: 10})
			if len(us) != 1 || us[0].Visibility != tt.want {
				t.Errorf("ListUploads = %v, want one upload with Visibility %q", summary(us), tt.want)
			}
		})
	}
}

func testDeleted(t *testing.T, s storage.MetaStore) {
	ctx := t.Context()
	u := create(t, s, storage.StatusInProgress)
	record(t, s, u.ID, storage.Chunk{Index: 0, Size: 10, ETag: "a"})
	_, err := s.Transition(ctx, u.ID, []storage.Status{storage.StatusCompleted}, storage.StatusDeleted)
	wantCode(t, "deleting an upload that is not completed", err, storage.CodeConflict)
	transition(t, s, u.ID, []storage.Status{storage.StatusInProgress}, storage.StatusCompleted)

	got := transition(t, s, u.ID, []storage.Status{storage.StatusCompleted}, storage.StatusDeleted)
	if got.Status != storage.StatusDeleted || got.ID != u.ID || got.Key != u.Key {
		t.Errorf("Transition to deleted returned %+v", *got)
	}
	if stored := get(t, s, u.ID); *stored != *got {
		t.Errorf("Transition returned\n%+v\nbut GetUpload gives\n%+v", *got, *stored)
	}
	_, err = s.Transition(ctx, u.ID, []storage.Status{storage.StatusCompleted}, storage.StatusDeleted)
	wantCode(t, "deleting a deleted upload again", err, storage.CodeConflict)
	wantCounters(t, s, u.ID, 1, 10)

	again := newUpload(storage.StatusInitiated)
	again.Key = u.Key
	wantCode(t, "CreateUpload with a deleted upload's key", s.CreateUpload(ctx, again, storage.Quota{}), storage.CodeKeyTaken)
	if st := get(t, s, u.ID).Status; st != storage.StatusDeleted {
		t.Errorf("status = %s, want deleted", st)
	}
}

func getByKey(t *testing.T, s storage.MetaStore, key string) *storage.Upload {
	t.Helper()
	u, err := s.GetUploadByKey(t.Context(), key)
	if err != nil {
		t.Fatalf("GetUploadByKey(%s): %v", key, err)
	}
	return u
}

func testGetUploadByKey(t *testing.T, s storage.MetaStore) {
	ctx := t.Context()
	t.Run("Unknown", func(t *testing.T) {
		_, err := s.GetUploadByKey(ctx, "creator/nobody/20250101/other/"+uuid.NewString()+".bin")
		wantCode(t, "GetUploadByKey of an unknown key", err, storage.CodeUploadNotFound)
	})
	for _, holder := range []storage.Status{
		storage.StatusInitiated, storage.StatusInProgress, storage.StatusCompleting,
		storage.StatusCompleted, storage.StatusCancelling, storage.StatusDeleted,
	} {
		t.Run("Holder_"+string(holder), func(t *testing.T) {
			u := create(t, s, holder)
			got, want := getByKey(t, s, u.Key), get(t, s, u.ID)
			if *got != *want {
				t.Errorf("GetUploadByKey =\n%+v\nGetUpload =\n%+v", *got, *want)
			}
		})
	}
	t.Run("CancelledFreesTheKey", func(t *testing.T) {
		first := create(t, s, storage.StatusInProgress)
		record(t, s, first.ID, storage.Chunk{Index: 0, Size: 10, ETag: "a"})
		transition(t, s, first.ID, chunkStates, storage.StatusCancelled)
		_, err := s.GetUploadByKey(ctx, first.Key)
		wantCode(t, "GetUploadByKey of a cancelled upload's key", err, storage.CodeUploadNotFound)

		// Another cancelled upload with the key is not returned either.
		other := newUpload(storage.StatusCancelled)
		other.Key = first.Key
		if err := s.CreateUpload(ctx, other, storage.Quota{}); err != nil {
			t.Fatalf("CreateUpload of a second cancelled upload: %v", err)
		}
		_, err = s.GetUploadByKey(ctx, first.Key)
		wantCode(t, "GetUploadByKey with two cancelled uploads", err, storage.CodeUploadNotFound)

		second := newUpload(storage.StatusInitiated)
		second.Key = first.Key
		if err := s.CreateUpload(ctx, second, storage.Quota{}); err != nil {
			t.Fatalf("CreateUpload with the freed key: %v", err)
		}
		if got := getByKey(t, s, first.Key); got.ID != second.ID || got.Status != storage.StatusInitiated {
			t.Errorf("GetUploadByKey = %s (%s), want the new upload %s", got.ID, got.Status, second.ID)
		}
	})
	t.Run("DeletedKeepsTheKey", func(t *testing.T) {
		u := create(t, s, storage.StatusCompleted)
		transition(t, s, u.ID, []storage.Status{storage.StatusCompleted}, storage.StatusDeleted)
		got := getByKey(t, s, u.Key)
		if got.ID != u.ID || got.Status != storage.StatusDeleted {
			t.Errorf("GetUploadByKey = %s (%s), want %s (deleted)", got.ID, got.Status, u.ID)
		}
		next := newUpload(storage.StatusInitiated)
		next.Key = u.Key
		wantCode(t, "CreateUpload with a deleted upload's key", s.CreateUpload(ctx, next, storage.Quota{}), storage.CodeKeyTaken)
		if got := getByKey(t, s, u.Key); got.ID != u.ID {
			t.Errorf("GetUploadByKey after the refused CreateUpload = %s, want %s", got.ID, u.ID)
		}
	})
}

func listUploads(t *testing.T, s storage.MetaStore, q storage.ListQuery) []*storage.Upload {
	t.Helper()
	us, err := s.ListUploads(t.Context(), q)
	if err != nil {
		t.Fatalf("ListUploads(%+v): %v", q, err)
	}
	if us == nil {
		t.Fatalf("ListUploads(%+v) = nil, want a non-nil slice", q)
	}
	return us
}

// summary lists the ids of us, for messages.
func summary(us []*storage.Upload) []string {
	ids := make([]string, len(us))
	for i, u := range us {
		ids[i] = u.ID
	}
	return ids
}

// listing is a set of uploads of one new user, made by newListing.
type listing struct {
	user string
	base time.Time // the oldest upload's creation time, whole milliseconds
	all  []*storage.Upload
}

// newListing creates the uploads of a new user with the given creation
// offsets (in seconds from base, or from a random time in 2001 when base is
// zero) and statuses, the statuses taken in turn. Uploads
// created in the same millisecond get ids that differ only in their last
// character, so that every store's text order agrees with Go's.
func newListing(t *testing.T, s storage.MetaStore, base time.Time, offsets []int, statuses []storage.Status) *listing {
	t.Helper()
	tag := uuid.NewString()
	if base.IsZero() {
		base = time.UnixMilli(978307200000 + rand.Int64N(365*24*3600*1000)).UTC()
	}
	l := &listing{user: "list_" + tag[:8] + tag[9:13], base: base}
	for i, off := range offsets {
		created := l.base.Add(time.Duration(off) * time.Second)
		u := newUpload(statuses[i%len(statuses)])
		u.ID = fmt.Sprintf("%d-%s-%c", created.UnixMilli(), tag, 'a'+i)
		u.UserID = l.user
		u.Key = storage.ObjectKey(storage.RoleCreator, l.user, created, "video/mp4", fmt.Sprintf("%s-%d.mp4", tag[:8], i))
		u.CreatedAt, u.UpdatedAt = created, created
		if err := s.CreateUpload(t.Context(), u, storage.Quota{}); err != nil {
			t.Fatalf("CreateUpload: %v", err)
		}
		l.all = append(l.all, u)
	}
	return l
}

// want returns the ids of l's uploads with status st (every one when st is
// empty), newest first, after the cursor when there is one.
func (l *listing) want(st storage.Status, after *storage.ListCursor) []string {
	var us []*storage.Upload
	for _, u := range l.all {
		if st != "" && u.Status != st {
			continue
		}
		if after != nil && !before(u, after) {
			continue
		}
		us = append(us, u)
	}
	slices.SortFunc(us, newestFirst)
	return summary(us)
}

// newestFirst orders uploads by creation time in milliseconds, then by id,
// both descending.
func newestFirst(a, b *storage.Upload) int {
	if c := b.CreatedAt.UnixMilli() - a.CreatedAt.UnixMilli(); c != 0 {
		if c < 0 {
			return -1
		}
		return 1
	}
	switch {
	case a.ID > b.ID:
		return -1
	case a.ID < b.ID:
		return 1
	}
	return 0
}

// before reports whether u comes after the cursor c in the newest-first
// order.
func before(u *storage.Upload, c *storage.ListCursor) bool {
	ms, cms := u.CreatedAt.UnixMilli(), c.CreatedAt.UnixMilli()
	return ms < cms || ms == cms && u.ID < c.ID
}

func cursorOf(u *storage.Upload) *storage.ListCursor {
	return &storage.ListCursor{CreatedAt: u.CreatedAt, ID: u.ID}
}

// listStatuses are the statuses the listing tests give their uploads, in turn.
var listStatuses = []storage.Status{
	storage.StatusCompleted, storage.StatusInProgress, storage.StatusCompleted,
	storage.StatusDeleted, storage.StatusCancelled,
}

func testListUploads(t *testing.T, s storage.MetaStore) {
	// Three uploads share a creation time, two more share another.
	l := newListing(t, s, time.Time{}, []int{0, 1, 1, 1, 2, 3, 3, 5}, listStatuses)
	newListing(t, s, time.Time{}, []int{0, 1, 4}, listStatuses) // another user's

	all := l.want("", nil)
	got := listUploads(t, s, storage.ListQuery{UserID: l.user, Limit: 100})
	if !slices.Equal(summary(got), all) {
		t.Fatalf("ListUploads of the user =\n%v\nwant\n%v", summary(got), all)
	}
	for _, u := range got { // every field, as GetUpload gives it
		if want := get(t, s, u.ID); *u != *want {
			t.Errorf("ListUploads gave\n%+v\nGetUpload gives\n%+v", *u, *want)
		}
	}

	for _, tt := range []struct {
		name  string
		limit int
		want  int
	}{{"limit 3", 3, 3}, {"limit 1", 1, 1}, {"limit 0 is 1", 0, 1}, {"negative limit is 1", -4, 1}, {"limit above the count", len(all) + 5, len(all)}} {
		t.Run(tt.name, func(t *testing.T) {
			got := listUploads(t, s, storage.ListQuery{UserID: l.user, Limit: tt.limit})
			if !slices.Equal(summary(got), all[:tt.want]) {
				t.Errorf("ListUploads = %v, want %v", summary(got), all[:tt.want])
			}
		})
	}

	for _, st := range []storage.Status{storage.StatusCompleted, storage.StatusDeleted, storage.StatusCancelled, storage.StatusInitiated} {
		t.Run("status "+string(st), func(t *testing.T) {
			got := listUploads(t, s, storage.ListQuery{UserID: l.user, Status: st, Limit: 100})
			if want := l.want(st, nil); !slices.Equal(summary(got), want) {
				t.Errorf("ListUploads = %v, want %v", summary(got), want)
			}
			for _, u := range got {
				if u.Status != st || u.UserID != l.user {
					t.Errorf("ListUploads gave %s of %s in %s", u.ID, u.UserID, u.Status)
				}
			}
		})
	}

	t.Run("a status change moves an upload between filters", func(t *testing.T) {
		var done *storage.Upload
		for _, u := range l.all {
			if u.Status == storage.StatusCompleted {
				done = u
				break
			}
		}
		transition(t, s, done.ID, []storage.Status{storage.StatusCompleted}, storage.StatusDeleted)
		done.Status = storage.StatusDeleted
		for _, st := range []storage.Status{storage.StatusCompleted, storage.StatusDeleted} {
			got := listUploads(t, s, storage.ListQuery{UserID: l.user, Status: st, Limit: 100})
			if want := l.want(st, nil); !slices.Equal(summary(got), want) {
				t.Errorf("ListUploads of %s = %v, want %v", st, summary(got), want)
			}
		}
	})
}

func testListUploadsCursor(t *testing.T, s storage.MetaStore) {
	l := newListing(t, s, time.Time{}, []int{0, 1, 1, 1, 1, 2, 3, 3, 5}, listStatuses)
	all := l.want("", nil)
	for _, st := range []storage.Status{"", storage.StatusCompleted} {
		want := l.want(st, nil)
		for size := 1; size <= len(want)+1; size++ {
			t.Run(fmt.Sprintf("status %q pages of %d", st, size), func(t *testing.T) {
				var got []string
				var after *storage.ListCursor
				for page := 0; ; page++ {
					if page > len(want)+1 {
						t.Fatalf("paging did not end: %v", got)
					}
					us := listUploads(t, s, storage.ListQuery{UserID: l.user, Status: st, Limit: size, After: after})
					if len(us) > size {
						t.Fatalf("page %d has %d uploads, limit %d", page, len(us), size)
					}
					if len(us) == 0 {
						break
					}
					got = append(got, summary(us)...)
					after = cursorOf(us[len(us)-1])
				}
				if !slices.Equal(got, want) {
					t.Errorf("pages =\n%v\nwant\n%v", got, want)
				}
			})
		}
	}

	// Cursors that are not an upload's own position.
	byID := map[string]*storage.Upload{}
	for _, u := range l.all {
		byID[u.ID] = u
	}
	mid := byID[all[3]] // one of the four created in the same millisecond
	tests := []struct {
		name  string
		after *storage.ListCursor
	}{
		{"an upload's own position", cursorOf(mid)},
		{"sub-millisecond time is ignored", &storage.ListCursor{CreatedAt: mid.CreatedAt.Add(700 * time.Microsecond), ID: mid.ID}},
		{"empty id: only older uploads", &storage.ListCursor{CreatedAt: mid.CreatedAt, ID: ""}},
		{"id above every id: the whole millisecond", &storage.ListCursor{CreatedAt: mid.CreatedAt, ID: mid.ID + "~"}},
		{"after the newest", &storage.ListCursor{CreatedAt: l.base.Add(time.Hour), ID: ""}},
		{"before the oldest", &storage.ListCursor{CreatedAt: l.base, ID: ""}},
		{"another time zone", &storage.ListCursor{CreatedAt: mid.CreatedAt.In(time.FixedZone("X", -7*3600)), ID: mid.ID}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := listUploads(t, s, storage.ListQuery{UserID: l.user, Limit: 100, After: tt.after})
			if want := l.want("", tt.after); !slices.Equal(summary(got), want) {
				t.Errorf("ListUploads after %v/%q =\n%v\nwant\n%v", tt.after.CreatedAt, tt.after.ID, summary(got), want)
			}
		})
	}
}

// testListUploadsEveryUser lists without a user filter, on a database that
// may hold other uploads: it checks the order of everything returned and
// that the listing's uploads come in order, none missing.
func testListUploadsEveryUser(t *testing.T, s storage.MetaStore) {
	l := newListing(t, s, time.Time{}, []int{0, 1, 1, 2, 3, 3}, listStatuses)
	newListing(t, s, l.base, []int{0, 2, 3, 3}, listStatuses) // another user's, interleaved
	for _, st := range []storage.Status{"", storage.StatusCompleted} {
		t.Run(fmt.Sprintf("status %q", st), func(t *testing.T) {
			start := &storage.ListCursor{CreatedAt: l.base.Add(4 * time.Second)}
			var got []*storage.Upload
			for after := start; ; {
				us := listUploads(t, s, storage.ListQuery{Status: st, Limit: 3, After: after})
				got = append(got, us...)
				if len(us) == 0 || us[len(us)-1].CreatedAt.Before(l.base) {
					break
				}
				after = cursorOf(us[len(us)-1])
			}
			var mine []string
			for i, u := range got {
				if i > 0 && newestFirst(got[i-1], u) >= 0 {
					t.Errorf("%s follows %s: not newest first", u.ID, got[i-1].ID)
				}
				if !before(u, start) {
					t.Errorf("%s is not after the cursor", u.ID)
				}
				if st != "" && u.Status != st {
					t.Errorf("%s has status %s, want %s", u.ID, u.Status, st)
				}
				if u.UserID == l.user {
					mine = append(mine, u.ID)
				}
			}
			if want := l.want(st, nil); !slices.Equal(mine, want) {
				t.Errorf("the listing's uploads came as\n%v\nwant\n%v", mine, want)
			}
		})
	}
	got := listUploads(t, s, storage.ListQuery{Limit: 1})
	if len(got) != 1 {
		t.Errorf("ListUploads with limit 1 on a database with uploads gave %d", len(got))
	}
}

func testListUploadsEmpty(t *testing.T, s storage.MetaStore) {
	nobody := "nobody_" + uuid.NewString()[:8]
	for _, q := range []storage.ListQuery{
		{UserID: nobody, Limit: 10},
		{UserID: nobody, Status: storage.StatusCompleted, Limit: 10},
		{UserID: nobody, Limit: 10, After: &storage.ListCursor{CreatedAt: time.Now(), ID: "x"}},
		{Limit: 10, After: &storage.ListCursor{CreatedAt: time.UnixMilli(1), ID: ""}},
	} {
		if got := listUploads(t, s, q); len(got) != 0 {
			t.Errorf("ListUploads(%+v) = %v, want none", q, summary(got))
		}
	}
	l := newListing(t, s, time.Time{}, []int{0, 1}, []storage.Status{storage.StatusCompleted})
	if got := listUploads(t, s, storage.ListQuery{UserID: l.user, Limit: 10, After: &storage.ListCursor{CreatedAt: l.base, ID: ""}}); len(got) != 0 {
		t.Errorf("ListUploads after the oldest = %v, want none", summary(got))
	}
	if got := listUploads(t, s, storage.ListQuery{UserID: l.user, Status: storage.StatusCancelled, Limit: 10}); len(got) != 0 {
		t.Errorf("ListUploads of a status the user has none in = %v, want none", summary(got))
	}
}
