// Package metastoretest is the conformance suite every storage.MetaStore
// passes: the SQLite store on every go test, PostgreSQL against a real
// server. The suite makes its own unique ids and keys and never assumes an
// empty database, so it can run against a shared one.
package metastoretest

import (
	"fmt"
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
	if err := s.CreateUpload(t.Context(), u); err != nil {
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
	loc := time.FixedZone("UTC+5:30", 5*3600+1800)
	u.CreatedAt = time.Date(2024, 2, 29, 23, 59, 58, 123_456_789, loc)
	u.UpdatedAt = time.Date(2024, 3, 1, 0, 0, 1, 987_654_321, loc)
	if err := s.CreateUpload(t.Context(), u); err != nil {
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
	err := s.CreateUpload(t.Context(), dup)
	wantCode(t, "CreateUpload with a used id", err, storage.CodeDatabase)
	if got := get(t, s, u.ID); got.Key != u.Key {
		t.Errorf("the duplicate replaced the upload: key %q, want %q", got.Key, u.Key)
	}
}

func testKeyReservation(t *testing.T, s storage.MetaStore) {
	ctx := t.Context()
	for _, holder := range []storage.Status{
		storage.StatusInitiated, storage.StatusInProgress, storage.StatusCompleting,
		storage.StatusCompleted, storage.StatusCancelling,
	} {
		t.Run(string(holder), func(t *testing.T) {
			first := create(t, s, holder)
			second := newUpload(storage.StatusInitiated)
			second.Key = first.Key
			wantCode(t, "second CreateUpload with the same key", s.CreateUpload(ctx, second), storage.CodeKeyTaken)
			_, err := s.GetUpload(ctx, second.ID)
			wantCode(t, "GetUpload of the refused upload", err, storage.CodeUploadNotFound)

			transition(t, s, first.ID, []storage.Status{holder}, storage.StatusCancelled)
			if err := s.CreateUpload(ctx, second); err != nil {
				t.Fatalf("CreateUpload after the holder was cancelled: %v", err)
			}
			third := newUpload(storage.StatusInitiated)
			third.Key = first.Key
			wantCode(t, "third CreateUpload with the same key", s.CreateUpload(ctx, third), storage.CodeKeyTaken)

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
		if err := s.CreateUpload(ctx, b); err != nil {
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
		storage.StatusCompleted:  storage.StatusInProgress,
		storage.StatusCancelling: storage.StatusCancelled,
		storage.StatusCancelled:  storage.StatusInProgress,
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
	if err := s.CreateUpload(t.Context(), u); err != nil {
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
