package objectstoretest

import (
	"testing"
	"time"

	"github.com/memenow/memenow-storage"
)

// The janitor's capabilities, run on the stores that have them.

// listed returns the multipart uploads the store lists as started before
// before, by handle.
func listed(t *testing.T, l storage.MultipartLister, before time.Time) map[string]storage.Multipart {
	t.Helper()
	got := map[string]storage.Multipart{}
	err := l.ListMultipart(t.Context(), before, func(m storage.Multipart) bool {
		got[m.Handle] = m
		return true
	})
	if err != nil {
		t.Fatalf("ListMultipart: %v", err)
	}
	return got
}

func testListMultipart(t *testing.T, s storage.ObjectStore) {
	l, ok := s.(storage.MultipartLister)
	if !ok {
		t.Skipf("%s cannot list multipart uploads (no storage.MultipartLister)", s.Describe())
	}
	a, b, done := newUpload(t, chunkSize+10), newUpload(t, 100), newUpload(t, 200)
	for _, u := range []*upload{a, b, done} {
		u.create(s)
	}
	a.write(s, 0, a.data)
	done.completeAndCheck(s, done.writeAll(s))

	got := listed(t, l, time.Now().Add(time.Minute))
	for _, u := range []*upload{a, b} {
		m, ok := got[u.handle]
		switch {
		case !ok:
			t.Errorf("ListMultipart does not list the multipart upload %s (got %d)", u.handle, len(got))
		case m.Key != "" && m.Key != u.m.Key:
			t.Errorf("ListMultipart: Key = %q, want %q", m.Key, u.m.Key)
		case m.UploadID != "" && m.UploadID != u.m.UploadID:
			t.Errorf("ListMultipart: UploadID = %q, want %q", m.UploadID, u.m.UploadID)
		case m.Key == "" && m.UploadID == "":
			t.Errorf("ListMultipart gives neither the key nor the upload id of %s", u.handle)
		case m.Started.IsZero() || m.Started.After(time.Now().Add(time.Minute)):
			t.Errorf("ListMultipart: Started = %v", m.Started)
		}
	}
	if _, ok := got[done.handle]; ok {
		t.Errorf("ListMultipart lists the completed upload %s", done.handle)
	}
	if old := listed(t, l, time.Now().Add(-time.Hour)); len(old) != 0 {
		t.Errorf("ListMultipart lists %d uploads as started over an hour ago", len(old))
	}

	if err := s.AbortMultipart(t.Context(), b.m, b.handle); err != nil {
		t.Fatalf("AbortMultipart: %v", err)
	}
	if _, ok := listed(t, l, time.Now().Add(time.Minute))[b.handle]; ok {
		t.Errorf("ListMultipart lists the aborted upload %s", b.handle)
	}

	calls := 0
	if err := l.ListMultipart(t.Context(), time.Now().Add(time.Minute), func(storage.Multipart) bool {
		calls++
		return false
	}); err != nil || calls != 1 {
		t.Errorf("ListMultipart went on after fn returned false: %d calls, %v", calls, err)
	}
}

func testHoldsData(t *testing.T, s storage.ObjectStore) {
	c, ok := s.(storage.DataChecker)
	if !ok {
		t.Skipf("%s cannot tell whether it holds data (no storage.DataChecker)", s.Describe())
	}
	holds := func() bool {
		t.Helper()
		ok, err := c.HoldsData(t.Context())
		if err != nil {
			t.Fatalf("HoldsData: %v", err)
		}
		return ok
	}
	if holds() {
		t.Fatal("a new, empty store holds data")
	}
	u := newUpload(t, 100)
	u.create(s)
	if !holds() {
		t.Error("a store with a multipart upload holds no data")
	}
	if err := s.AbortMultipart(t.Context(), u.m, u.handle); err != nil {
		t.Fatalf("AbortMultipart: %v", err)
	}
	if holds() {
		t.Error("a store whose one multipart upload was aborted holds data")
	}
	v := newUpload(t, 300)
	v.create(s)
	v.completeAndCheck(s, v.writeAll(s))
	if !holds() {
		t.Error("a store with a completed object holds no data")
	}
}
