package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	storage "github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/httpapi"
)

// fixedSpace wraps the disk store and reports a free space the test sets;
// what the uploads may still write is the disk store's own count.
type fixedSpace struct {
	storage.ObjectStore
	free int64
}

func (f *fixedSpace) FreeSpace(context.Context) (int64, error) { return f.free, nil }

func (f *fixedSpace) PromisedBytes(ctx context.Context) (int64, error) {
	return f.ObjectStore.(storage.PromiseCounter).PromisedBytes(ctx)
}

// TestInitRefusedWhenShortOfSpace: init answers 507 INSUFFICIENT_STORAGE
// when the free space less what the uploads in progress may still write
// (the disk store's count of its sparse files) and less the new upload
// would fall under MinFreeSpace; bytes already written are not counted
// twice, and cancelling gives the promise back.
func TestInitRefusedWhenShortOfSpace(t *testing.T) {
	svc := newService(t)
	space := &fixedSpace{ObjectStore: svc.Objects, free: 100 << 20}
	svc.Objects = space
	svc.Config.MinFreeSpace = 10 << 20
	s := newLimitedServer(t, httpapi.Options{Service: svc}, nil)
	init := func(size int64) *httptest.ResponseRecorder {
		return s.do(request{method: "POST", path: "/api/upload/init", body: initBody("u1", size)})
	}
	wantInsufficient := func(what string, rec *httptest.ResponseRecorder) {
		t.Helper()
		if rec.Code != http.StatusInsufficientStorage || errorCode(rec) != "INSUFFICIENT_STORAGE" {
			t.Errorf("%s: %d %s, want 507 INSUFFICIENT_STORAGE", what, rec.Code, rec.Body)
		}
		if strings.Contains(rec.Body.String(), "promised") {
			t.Errorf("%s: the server's numbers reached the client: %s", what, rec.Body)
		}
	}

	idOf := func(rec *httptest.ResponseRecorder) string {
		t.Helper()
		if rec.Code != http.StatusOK {
			t.Fatalf("init: %d %s", rec.Code, rec.Body)
		}
		var up struct {
			UploadID string `json:"upload_id"`
		}
		json.Unmarshal(rec.Body.Bytes(), &up)
		return up.UploadID
	}
	cancel := func(id string) {
		t.Helper()
		if rec := s.do(request{method: "POST", path: "/api/upload/cancel", body: fmt.Sprintf(`{"upload_id":%q}`, id)}); rec.Code != http.StatusOK {
			t.Fatalf("cancel: %d %s", rec.Code, rec.Body)
		}
	}

	wantInsufficient("init that would leave 9 MiB", init(91<<20))
	a := idOf(init(60 << 20)) // 40 MiB left, 60 promised
	wantInsufficient("init of 31 MiB with 60 promised", init(31<<20))
	b := idOf(init(29 << 20)) // 11 MiB left
	wantInsufficient("init of 2 MiB, leaving 9", init(2<<20))
	cancel(b) // 60 promised

	// A chunk written moves 5 MiB from promised to used: the file system's
	// free space goes down by as much, and the guard must not count those
	// bytes twice.
	put := s.do(request{method: "PUT", path: "/api/upload/chunk", body: string(bytes.Repeat([]byte{1}, 5<<20)),
		header: map[string]string{"X-Upload-Id": a, "X-Chunk-Index": "0"}})
	if put.Code != http.StatusOK {
		t.Fatalf("chunk: %d %s", put.Code, put.Body)
	}
	space.free -= 5 << 20
	idOf(init(29 << 20)) // 95 free - 55 promised - 29 = 11 MiB left (6 if the chunk counted twice)
	wantInsufficient("init of 2 MiB after that", init(2<<20))

	cancel(a) // its 5 MiB freed, its 55 MiB promise given back
	space.free += 5 << 20
	idOf(init(60 << 20)) // 100 free - 29 promised - 60 = 11 MiB left
}
