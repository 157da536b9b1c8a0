package sqlite

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	storage "github.com/memenow/memenow-storage"
)

func quotaUpload(user string, size int64) *storage.Upload {
	now := time.Now().UTC()
	id := fmt.Sprintf("%d-%s", now.UnixMilli(), uuid.NewString())
	return &storage.Upload{
		ID: id, FileName: "a.bin", TotalSize: size, UserID: user, UserRole: storage.RoleMember,
		ContentType: "application/octet-stream", ChunkSize: max(size, 1), TotalChunks: 1,
		Status: storage.StatusInitiated, Key: "member/" + user + "/20250101/other/" + id,
		CreatedAt: now, UpdatedAt: now,
	}
}

// TestQuotaAcrossProcesses runs many inits of one user at once through two
// stores on one file, as two processes sharing a data folder would: the
// quota holds across them.
func TestQuotaAcrossProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	stores := []*Store{openT(t, path), openT(t, path)}
	t.Cleanup(func() { stores[0].Close(); stores[1].Close() })
	const n, limit = 60, 7
	q := storage.Quota{MaxOpenUploads: limit}
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = stores[i%2].CreateUpload(t.Context(), quotaUpload("u1", 10), q)
		})
	}
	close(start)
	wg.Wait()
	accepted := 0
	for i, err := range errs {
		switch {
		case err == nil:
			accepted++
		case !storage.HasCode(err, storage.CodeTooManyUploads):
			t.Errorf("init %d: %v", i, err)
		}
	}
	var stored int
	if err := stores[0].r.QueryRow(`SELECT count(*) FROM uploads WHERE user_id = 'u1'`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if accepted != limit || stored != limit {
		t.Errorf("%d inits accepted and %d stored of %d at once through two stores, want %d", accepted, stored, n, limit)
	}
}

// BenchmarkCreateUploadQuota measures an init's insert with and without
// the quotas on a database where the user already has many completed files
// and the server many open uploads:
//
//	go test -run - -bench CreateUploadQuota ./sqlite
func BenchmarkCreateUploadQuota(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "meta.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	// 100,000 completed files of user "heavy" and 1,000 open uploads of
	// 100 other users.
	tx, err := s.w.Begin()
	if err != nil {
		b.Fatal(err)
	}
	ins, err := tx.Prepare(`INSERT INTO uploads (` + uploadColumns + `) VALUES (?, 'a', 100, ?, 'member', 'x', 100, 1, ?, ?, '', 0, 0, ?, ?, 'private')`)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UnixMilli()
	for i := range 101_000 {
		user, st := "heavy", storage.StatusCompleted
		if i >= 100_000 {
			user, st = fmt.Sprint("u", i%100), storage.StatusInProgress
		}
		if _, err := ins.Exec(fmt.Sprint("id-", i), user, string(st), fmt.Sprint("k/", i), now, now); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	for _, bc := range []struct {
		name string
		q    storage.Quota
	}{{"no quota", storage.Quota{}}, {"default quota", storage.DefaultQuota()},
		{"with stored quota", storage.Quota{MaxOpenUploads: 1 << 30, MaxStoredBytes: 1 << 60}}} {
		b.Run("insert, "+bc.name, func(b *testing.B) {
			for b.Loop() {
				u := quotaUpload("heavy", 100)
				if err := s.CreateUpload(ctx, u, bc.q); err != nil {
					b.Fatal(err)
				}
				if _, err := s.Transition(ctx, u.ID, []storage.Status{storage.StatusInitiated}, storage.StatusCancelled); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
