package apitest

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"unicode/utf8"
)

func testDuplicateKeys(t *T) {
	user := NewUserID()
	first := t.Init("same.txt", "text/plain", []byte("first"), user)
	second := t.Init("same.txt", "text/plain", []byte("second"), user)
	if first.Key == second.Key || !strings.HasSuffix(second.Key, "/same-2.txt") {
		t.Fatalf("keys %q and %q", first.Key, second.Key)
	}
	t.UploadAll(second)
	t.UploadAll(first)
	third := t.Init("same.txt", "text/plain", []byte("third"), user)
	if !strings.HasSuffix(third.Key, "/same-3.txt") {
		t.Fatalf("third key %q", third.Key)
	}
	t.WantOK(t.Cancel(third))
	fourth := t.Init("same.txt", "text/plain", []byte("fourth"), user)
	if fourth.Key != third.Key {
		t.Fatalf("a cancelled upload's key was not freed: %q then %q", third.Key, fourth.Key)
	}
	for _, u := range []*Upload{first, second} {
		if got := t.Do("GET", FilePath(u.Key), nil, nil); !bytes.Equal(got.Body, u.Data) {
			t.Fatalf("%s holds %q, want %q", u.Key, got.Body, u.Data)
		}
	}
}

func testHostileNames(t *T) {
	user := NewUserID()
	names := []string{"../../../etc/passwd", `..\..\boot.ini`, "..", ".hidden", "a\x00b.txt", "line\nbreak.txt",
		"\u202eexe.txt", strings.Repeat("長", 200) + ".txt", "/", "%2e%2e", "CON", "a/../../b.txt"}
	for _, name := range names {
		u := t.Init(name, "text/plain", []byte(name), user)
		segs := strings.Split(u.Key, "/")
		last := segs[len(segs)-1]
		if len(segs) != 5 || last == "" || last == "." || last == ".." || strings.HasPrefix(last, ".") ||
			len(last) > 255 || !utf8.ValidString(last) || strings.ContainsAny(last, "\x00\n\\") {
			t.Fatalf("file name %q gave key %q", name, u.Key)
		}
		t.UploadAll(u)
		if got := t.Do("GET", FilePath(u.Key), nil, nil); !bytes.Equal(got.Body, u.Data) {
			t.Fatalf("file name %q: download of %q gave %d", name, u.Key, got.Status)
		}
	}
}

func testCategories(t *T) {
	user := NewUserID()
	for ct, cat := range map[string]string{
		"image/png": "image", "video/quicktime": "video", "audio/mpeg": "audio", "text/csv": "document",
		"application/pdf": "document", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "document",
		"application/zip": "other",
	} {
		u := t.Init("f", ct, []byte("x"), user)
		if segs := strings.Split(u.Key, "/"); len(segs) != 5 || segs[3] != cat || len(segs[2]) != 8 {
			t.Fatalf("content type %s: key %q, want category %s", ct, u.Key, cat)
		}
	}
}

// testContentTypeFromName checks that an init without content_type takes
// the type, and so the category, from the file name's extension, and that
// the download serves that type.
func testContentTypeFromName(t *T) {
	user := NewUserID()
	for name, want := range map[string]struct{ cat, ct string }{
		"Clip.MP4": {"video", "video/mp4"}, "song.flac": {"audio", "audio/flac"}, "photo.jpeg": {"image", "image/jpeg"},
		"report.pdf": {"document", "application/pdf"}, "notes.txt": {"document", "text/plain; charset=utf-8"},
		"archive.zip": {"other", "application/zip"}, "README": {"other", "application/octet-stream"},
		"data.unknownext": {"other", "application/octet-stream"},
	} {
		u := t.Init(name, "", []byte("x"), user)
		if segs := strings.Split(u.Key, "/"); len(segs) != 5 || segs[3] != want.cat {
			t.Fatalf("file name %s without content_type: key %q, want category %s", name, u.Key, want.cat)
		}
		t.UploadAll(u)
		if got := t.Do("GET", FilePath(u.Key), nil, nil); got.Status != 200 || got.Header.Get("Content-Type") != want.ct {
			t.Fatalf("file name %s: download answered %d with Content-Type %q, want 200 and %q",
				name, got.Status, got.Header.Get("Content-Type"), want.ct)
		}
	}
	// A content type the client names wins over the extension.
	u := t.Init("movie.mp4", "application/octet-stream", []byte("x"), user)
	if segs := strings.Split(u.Key, "/"); len(segs) != 5 || segs[3] != "other" {
		t.Fatalf("movie.mp4 sent as application/octet-stream: key %q, want category other", u.Key)
	}
}

func testFileNotFound(t *T) {
	for _, p := range []string{
		"/api/files/creator/nobody/20240101/video/none.mp4",
		"/api/files/../../etc/passwd",
		"/api/files/%2e%2e/%2e%2e/etc/passwd",
		"/api/files/a/%2E%2E/b",
		"/api/files/..%2f..%2fetc%2fpasswd",
		"/api/files/a%5c..%5cb",
		"/api/files/",
		"/api/files/a//b",
	} {
		r := t.Do("GET", p, nil, nil)
		t.WantError(r, 404, "NOT_FOUND")
	}
}

func testRoutes(t *T) {
	t.WantError(t.Do("GET", "/no/such/route", nil, nil), 404, "NOT_FOUND")
	t.WantError(t.Do("GET", "/api/upload/init", nil, nil), 405, "METHOD_NOT_ALLOWED")
	r := t.Do("DELETE", "/api/upload/chunk", nil, nil)
	t.WantError(r, 405, "METHOD_NOT_ALLOWED")
	if !strings.Contains(r.Header.Get("Allow"), "PUT") {
		t.Fatalf("Allow %q", r.Header.Get("Allow"))
	}
	t.WantError(t.Do("POST", "/health", nil, nil), 405, "METHOD_NOT_ALLOWED")
}

func testCORS(t *T) {
	pre := t.Do("OPTIONS", "/api/upload/chunk", map[string]string{
		"Origin": "https://app.example", "Access-Control-Request-Method": "PUT",
		"Access-Control-Request-Headers": "x-upload-id, x-chunk-index, content-type"}, nil)
	if pre.Status != http.StatusNoContent && pre.Status != http.StatusOK {
		t.Fatalf("preflight status %d", pre.Status)
	}
	if o := pre.Header.Get("Access-Control-Allow-Origin"); o != "*" && o != "https://app.example" {
		t.Fatalf("Allow-Origin %q", o)
	}
	allowH := strings.ToLower(pre.Header.Get("Access-Control-Allow-Headers"))
	for _, h := range []string{"x-upload-id", "x-chunk-index", "content-type"} {
		if !strings.Contains(allowH, h) {
			t.Fatalf("Allow-Headers %q lacks %s", allowH, h)
		}
	}
	if !strings.Contains(pre.Header.Get("Access-Control-Allow-Methods"), "PUT") {
		t.Fatalf("Allow-Methods %q", pre.Header.Get("Access-Control-Allow-Methods"))
	}
	origin := map[string]string{"Origin": "https://app.example"}
	for _, r := range []*Response{
		t.Do("GET", "/health", origin, nil),
		t.Do("GET", "/api/upload/nope/status", origin, nil),
		t.Do("GET", "/nowhere", origin, nil),
	} {
		if r.Header.Get("Access-Control-Allow-Origin") == "" {
			t.Fatalf("status %d response lacks Access-Control-Allow-Origin", r.Status)
		}
		if !strings.Contains(r.Header.Get("Access-Control-Expose-Headers"), "ETag") {
			t.Fatalf("Expose-Headers %q", r.Header.Get("Access-Control-Expose-Headers"))
		}
	}
}

func testHealth(t *T) {
	m := t.WantOK(t.Do("GET", "/health", nil, nil))
	checks, _ := m["checks"].(map[string]any)
	if m["status"] != "ok" || m["timestamp"] == nil || checks["database"] != "ok" || checks["storage"] != "ok" {
		t.Fatalf("health %v", m)
	}
}

func testConcurrentCompletes(t *T) {
	u := t.Init("race.bin", "", threeChunks(9), NewUserID())
	for i := 0; i < u.Chunks; i++ {
		t.SendChunk(u, i)
	}
	const n = 8
	var wg sync.WaitGroup
	statuses := make(chan int, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", t.BaseURL+"/api/upload/complete", strings.NewReader(`{"upload_id":"`+u.ID+`"}`))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				statuses <- -1
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		}()
	}
	wg.Wait()
	close(statuses)
	ok := 0
	for s := range statuses {
		switch s {
		case 200:
			ok++
		case 409: // UPLOAD_BUSY: another complete is half-way
		default:
			t.Fatalf("concurrent complete answered %d", s)
		}
	}
	if ok == 0 {
		t.Fatal("no complete succeeded")
	}
	if st := t.Status(u); st["status"] != "completed" {
		t.Fatalf("status %v", st["status"])
	}
	// Once it is completed, a repeat answers 200 (complete is idempotent).
	if m := t.WantOK(t.Complete(u)); m["status"] != "completed" || m["r2_key"] != u.Key {
		t.Fatalf("complete after the race answered %v", m)
	}
	if got := t.Do("GET", FilePath(u.Key), nil, nil); !bytes.Equal(got.Body, u.Data) {
		t.Fatal("file differs after concurrent completes")
	}
}

func testChunksRaceCancel(t *T) {
	u := t.Init("cancelrace.bin", "", threeChunks(10), NewUserID())
	var wg sync.WaitGroup
	for i := 0; i < u.Chunks; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			req, _ := http.NewRequest("PUT", t.BaseURL+"/api/upload/chunk", bytes.NewReader(u.Chunk(i)))
			req.Header.Set("X-Upload-Id", u.ID)
			req.Header.Set("X-Chunk-Index", string(rune('0'+i)))
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}(i)
	}
	t.WantOK(t.Cancel(u))
	wg.Wait()
	// However the race went, the cancelled upload stays cancelled.
	if st := t.Status(u); st["status"] != "cancelled" {
		t.Fatalf("a chunk revived a cancelled upload: %v", st["status"])
	}
	t.WantError(t.Complete(u), 409, "UPLOAD_CANCELLED")
	if m := t.WantOK(t.Cancel(u)); m["status"] != "cancelled" {
		t.Fatalf("repeated cancel answered %v", m)
	}
	if st := t.Status(u); st["chunks_uploaded"] != 0.0 || st["bytes_uploaded"] != 0.0 || fmt.Sprint(st["chunks"]) != "[]" {
		t.Fatalf("status of the cancelled upload counts chunks: %v", st)
	}
}
