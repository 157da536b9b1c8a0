package metastoretest

import (
	"testing"

	"github.com/google/uuid"

	storage "github.com/memenow/memenow-storage"
)

// The quota cases: CreateUpload counts the user's holdings and refuses an
// upload that q has no room for, in the same transaction as the insert.

// quotaUser returns a user id of its own for one case, so that the case
// does not see other runs' uploads on a shared database.
func quotaUser() string { return "quota_" + uuid.NewString()[:18] }

// userUpload returns a new initiated upload of user with size bytes.
func userUpload(user string, size int64) *storage.Upload {
	u := newUpload(storage.StatusInitiated)
	u.UserID = user
	u.TotalSize = size
	u.ChunkSize = max(size, 1)
	u.TotalChunks = 1
	return u
}

// createFor inserts an upload of user with size bytes under q and fails the
// test when it is refused.
func createFor(t *testing.T, s storage.MetaStore, user string, size int64, q storage.Quota) *storage.Upload {
	t.Helper()
	u := userUpload(user, size)
	if err := s.CreateUpload(t.Context(), u, q); err != nil {
		t.Fatalf("CreateUpload of %d bytes for %s under %+v: %v", size, user, q, err)
	}
	return u
}

// wantRefused checks that an upload of user with size bytes is refused
// under q with code, and that nothing of it was stored.
func wantRefused(t *testing.T, s storage.MetaStore, user string, size int64, q storage.Quota, code storage.Code) {
	t.Helper()
	u := userUpload(user, size)
	err := s.CreateUpload(t.Context(), u, q)
	wantCode(t, "CreateUpload over the quota", err, code)
	if _, gerr := s.GetUpload(t.Context(), u.ID); !storage.HasCode(gerr, storage.CodeUploadNotFound) {
		t.Errorf("a refused upload was stored (GetUpload: %v)", gerr)
	}
	if err != nil && !storage.HasCode(err, code) {
		return
	}
	// Its key stays free.
	again := userUpload("other_"+uuid.NewString()[:8], size)
	again.Key = u.Key
	if err := s.CreateUpload(t.Context(), again, storage.Quota{}); err != nil {
		t.Errorf("the key of a refused upload is not free: %v", err)
	}
}

// testQuotaOpenUploads: MaxOpenUploads open uploads, then TOO_MANY_UPLOADS;
// other users are unaffected; cancelled, expired, completed and deleted
// uploads do not count, and an upload that leaves an open state makes room.
func testQuotaOpenUploads(t *testing.T, s storage.MetaStore) {
	q := storage.Quota{MaxOpenUploads: 3}
	user := quotaUser()
	var ups []*storage.Upload
	for range 3 {
		ups = append(ups, createFor(t, s, user, 100, q))
	}
	wantRefused(t, s, user, 100, q, storage.CodeTooManyUploads)
	createFor(t, s, quotaUser(), 100, q) // another user

	// Every open state counts.
	record(t, s, ups[0].ID, storage.Chunk{Index: 0, Size: 100, ETag: "e"})
	transition(t, s, ups[1].ID, []storage.Status{storage.StatusInitiated}, storage.StatusCompleting)
	transition(t, s, ups[2].ID, []storage.Status{storage.StatusInitiated}, storage.StatusCancelling)
	wantRefused(t, s, user, 100, q, storage.CodeTooManyUploads)

	// Leaving the open states makes room, one place each.
	for i, to := range []storage.Status{storage.StatusCompleted, storage.StatusCancelled} {
		from := []storage.Status{storage.StatusCompleting, storage.StatusCancelling}
		transition(t, s, ups[i+1].ID, from, to)
		createFor(t, s, user, 100, q)
		wantRefused(t, s, user, 100, q, storage.CodeTooManyUploads)
	}
	transition(t, s, ups[0].ID, []storage.Status{storage.StatusInProgress}, storage.StatusExpired)
	createFor(t, s, user, 100, q)
	wantRefused(t, s, user, 100, q, storage.CodeTooManyUploads)

	// Other limits off: the count alone decides, whatever the size.
	createFor(t, s, quotaUser(), 1<<40, q)
}

// testQuotaOpenBytes: the open uploads' total_size may reach MaxOpenBytes
// exactly, not pass it; completed files do not count against it.
func testQuotaOpenBytes(t *testing.T, s storage.MetaStore) {
	q := storage.Quota{MaxOpenBytes: 1000}
	user := quotaUser()
	a := createFor(t, s, user, 600, q)
	wantRefused(t, s, user, 401, q, storage.CodeQuotaExceeded)
	createFor(t, s, user, 400, q) // exactly at the limit
	wantRefused(t, s, user, 1, q, storage.CodeQuotaExceeded)
	wantRefused(t, s, quotaUser(), 1001, q, storage.CodeQuotaExceeded) // alone over the limit
	createFor(t, s, quotaUser(), 1000, q)                              // another user

	transition(t, s, a.ID, []storage.Status{storage.StatusInitiated}, storage.StatusCompleted)
	createFor(t, s, user, 600, q) // a completed file is not open
	wantRefused(t, s, user, 1, q, storage.CodeQuotaExceeded)

	// With both limits, the count is checked first.
	both := storage.Quota{MaxOpenUploads: 2, MaxOpenBytes: 1000}
	wantRefused(t, s, user, 1, both, storage.CodeTooManyUploads)
}

// testQuotaStoredBytes: completed files and open uploads count against
// MaxStoredBytes; cancelled, expired and deleted ones do not.
func testQuotaStoredBytes(t *testing.T, s storage.MetaStore) {
	q := storage.Quota{MaxStoredBytes: 1000}
	user := quotaUser()
	done := createFor(t, s, user, 500, q)
	transition(t, s, done.ID, []storage.Status{storage.StatusInitiated}, storage.StatusCompleted)
	open := createFor(t, s, user, 300, q)
	wantRefused(t, s, user, 201, q, storage.CodeQuotaExceeded)
	last := createFor(t, s, user, 200, q) // exactly at the quota
	wantRefused(t, s, user, 1, q, storage.CodeQuotaExceeded)
	createFor(t, s, quotaUser(), 1000, q) // another user

	transition(t, s, done.ID, []storage.Status{storage.StatusCompleted}, storage.StatusDeleted)
	transition(t, s, open.ID, []storage.Status{storage.StatusInitiated}, storage.StatusCancelled)
	transition(t, s, last.ID, []storage.Status{storage.StatusInitiated}, storage.StatusExpired)
	createFor(t, s, user, 1000, q)
	wantRefused(t, s, user, 1, q, storage.CodeQuotaExceeded)
}

// testQuotaZeroIsUnlimited: a zero Quota, or zero fields, limit nothing.
func testQuotaZeroIsUnlimited(t *testing.T, s storage.MetaStore) {
	user := quotaUser()
	for range 5 {
		createFor(t, s, user, 1<<40, storage.Quota{})
	}
	// Only MaxStoredBytes set: the count and the open bytes are free.
	q := storage.Quota{MaxStoredBytes: 6 << 40}
	createFor(t, s, user, 1<<40, q)
	wantRefused(t, s, user, 1, q, storage.CodeQuotaExceeded)
}

// testQuotaConcurrent: many inits of one user at once never take more than
// the quota allows, by count and by bytes.
func testQuotaConcurrent(t *testing.T, s storage.MetaStore) {
	for _, tc := range []struct {
		name  string
		q     storage.Quota
		n     int
		limit int
		code  storage.Code
	}{
		{"count", storage.Quota{MaxOpenUploads: 5}, 40, 5, storage.CodeTooManyUploads},
		{"bytes", storage.Quota{MaxOpenBytes: 4000}, 40, 4, storage.CodeQuotaExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			user := quotaUser()
			ups := make([]*storage.Upload, tc.n)
			for i := range ups {
				ups[i] = userUpload(user, 1000)
			}
			errs := parallel(tc.n, func(i int) error { return s.CreateUpload(t.Context(), ups[i], tc.q) })
			created := 0
			for i, err := range errs {
				switch {
				case err == nil:
					created++
				case !storage.HasCode(err, tc.code):
					t.Errorf("CreateUpload %d: %v, want nil or %s", i, err, tc.code)
				}
			}
			if created != tc.limit {
				t.Errorf("%d of %d concurrent inits were accepted, want exactly %d", created, tc.n, tc.limit)
			}
			stored := 0
			for _, u := range ups {
				if _, err := s.GetUpload(t.Context(), u.ID); err == nil {
					stored++
				}
			}
			if stored != created {
				t.Errorf("%d uploads stored, %d accepted", stored, created)
			}
		})
	}
}
