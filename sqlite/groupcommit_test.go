package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	storage "github.com/memenow/memenow-storage"
)

// holdWriter occupies the writer with a write that blocks until the
// returned release is called, so that writes queued meanwhile share the
// next batch.
func holdWriter(t *testing.T, s *Store) (release func()) {
	t.Helper()
	started, unblock := make(chan struct{}), make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		errc <- s.writes.run(t.Context(), func(ctx context.Context, tx *sql.Tx) error {
			close(started)
			<-unblock
			return nil
		})
	}()
	<-started
	return func() {
		close(unblock)
		if err := <-errc; err != nil {
			t.Errorf("holding write: %v", err)
		}
	}
}

// waitQueued waits until n writes wait in s's queue.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(s.writes.queue) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d writes queued, want %d", len(s.writes.queue), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func insertUploadTx(ctx context.Context, tx *sql.Tx, id string) error {
	u := newUpload(id)
	_, err := tx.ExecContext(ctx, `INSERT INTO uploads (`+uploadColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', 0, 0, ?, ?, 'private')`,
		u.ID, u.FileName, u.TotalSize, u.UserID, u.UserRole, u.ContentType, u.ChunkSize, u.TotalChunks,
		u.Status, u.Key, u.CreatedAt.UnixMilli(), u.UpdatedAt.UnixMilli())
	return err
}

func uploadExists(t *testing.T, s *Store, id string) bool {
	t.Helper()
	var n int
	if err := s.r.QueryRowContext(t.Context(), `SELECT count(*) FROM uploads WHERE id = ?`, id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// TestGroupCommitSharesOneTransaction checks that writes queued together
// commit in one transaction, and that a write that fails takes back its own
// changes only.
func TestGroupCommitSharesOneTransaction(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), "meta.db"))
	defer s.Close()
	release := holdWriter(t, s)

	const n = 64
	errWanted := errors.New("this write fails after inserting")
	var mu sync.Mutex
	txs := map[*sql.Tx]int{}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.writes.run(t.Context(), func(ctx context.Context, tx *sql.Tx) error {
				mu.Lock()
				txs[tx]++
				mu.Unlock()
				if err := insertUploadTx(ctx, tx, fmt.Sprintf("w-%02d", i)); err != nil {
					return err
				}
				if i%2 == 1 {
					return errWanted
				}
				return nil
			})
		})
	}
	waitQueued(t, s, n)
	release()
	wg.Wait()

	if len(txs) != 1 {
		t.Errorf("%d writes queued together ran in %d transactions, want 1", n, len(txs))
	}
	for i := range n {
		id := fmt.Sprintf("w-%02d", i)
		if i%2 == 1 {
			if !errors.Is(errs[i], errWanted) {
				t.Errorf("write %d: got %v, want its own error", i, errs[i])
			}
			if uploadExists(t, s, id) {
				t.Errorf("write %d failed but its row was committed", i)
			}
			continue
		}
		if errs[i] != nil {
			t.Errorf("write %d: %v", i, errs[i])
		}
		if !uploadExists(t, s, id) {
			t.Errorf("write %d succeeded but its row is missing", i)
		}
	}
}

// TestGroupCommitSkipsCancelledWrites checks that a write whose request
// ended while it waited in the queue does not run.
func TestGroupCommitSkipsCancelledWrites(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), "meta.db"))
	defer s.Close()
	release := holdWriter(t, s)

	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 2)
	go func() {
		errc <- s.writes.run(ctx, func(ctx context.Context, tx *sql.Tx) error { return insertUploadTx(ctx, tx, "cancelled") })
	}()
	go func() {
		errc <- s.writes.run(t.Context(), func(ctx context.Context, tx *sql.Tx) error { return insertUploadTx(ctx, tx, "kept") })
	}()
	waitQueued(t, s, 2)
	cancel()
	release()
	var cancelled, ok int
	for range 2 {
		switch err := <-errc; {
		case errors.Is(err, context.Canceled):
			cancelled++
		case err == nil:
			ok++
		default:
			t.Errorf("unexpected error %v", err)
		}
	}
	if cancelled != 1 || ok != 1 {
		t.Errorf("%d cancelled and %d succeeded, want 1 and 1", cancelled, ok)
	}
	if uploadExists(t, s, "cancelled") {
		t.Error("the cancelled write ran")
	}
	if !uploadExists(t, s, "kept") {
		t.Error("the write beside the cancelled one is missing")
	}
}

// TestGroupCommitBrokenTransaction injects a write that ends the shared
// transaction behind the committer's back: every write of that batch must
// fail (none of them is durable), and the store must go on working.
func TestGroupCommitBrokenTransaction(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), "meta.db"))
	defer s.Close()
	release := holdWriter(t, s)

	ids := []string{"before", "breaker", "after"}
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() {
			errs[i] = s.writes.run(t.Context(), func(ctx context.Context, tx *sql.Tx) error {
				if err := insertUploadTx(ctx, tx, id); err != nil {
					return err
				}
				if id == "breaker" {
					_, err := tx.ExecContext(ctx, "ROLLBACK")
					return err
				}
				return nil
			})
		})
		waitQueued(t, s, i+1) // keep the order: before, breaker, after
	}
	release()
	wg.Wait()
	for i, id := range ids {
		if errs[i] == nil {
			t.Errorf("write %q succeeded in a batch whose transaction was lost", id)
		}
		if uploadExists(t, s, id) {
			t.Errorf("row %q of the lost batch is in the database", id)
		}
	}
	if err := s.CreateUpload(t.Context(), newUpload("later"), storage.Quota{}); err != nil {
		t.Fatalf("a write after the lost batch: %v", err)
	}
	if !uploadExists(t, s, "later") {
		t.Error("the write after the lost batch is missing")
	}
}

// TestCloseWaitsForQueuedWrites checks that Close lets queued writes finish
// and that writes after it fail.
func TestCloseWaitsForQueuedWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	s := openT(t, path)
	release := holdWriter(t, s)
	errc := make(chan error, 1)
	go func() { errc <- s.CreateUpload(t.Context(), newUpload("queued"), storage.Quota{}) }()
	waitQueued(t, s, 1)
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	release()
	if err := <-errc; err != nil {
		t.Errorf("queued write: %v", err)
	}
	if err := <-closed; err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := s.writes.run(t.Context(), func(context.Context, *sql.Tx) error { return nil }); !errors.Is(err, errClosed) {
		t.Errorf("write after Close: got %v, want errClosed", err)
	}
	s2 := openT(t, path)
	defer s2.Close()
	if !uploadExists(t, s2, "queued") {
		t.Error("the write queued before Close is missing")
	}
}
