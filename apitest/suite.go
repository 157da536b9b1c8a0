package apitest

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Run runs the whole end-to-end API suite against target.
func Run(t *testing.T, target Target) {
	cases := []struct {
		name string
		fn   func(*T)
	}{
		{"FullFlowOutOfOrder", testFullFlow},
		{"ParallelChunks", testParallelChunks},
		{"SingleSmallChunk", testSingleSmallChunk},
		{"EmptyFile", testEmptyFile},
		{"DefaultChunkSizeAndContentType", testDefaults},
		{"Download", testDownload},
		{"InitValidation", testInitValidation},
		{"ChunkValidation", testChunkValidation},
		{"ReuploadReplacesChunk", testReupload},
		{"CompleteWithMissingChunks", testMissingChunks},
		{"AfterComplete", testAfterComplete},
		{"AfterCancel", testAfterCancel},
		{"UnknownUpload", testUnknownUpload},
		{"KeysNeverOverwritten", testDuplicateKeys},
		{"HostileFileNames", testHostileNames},
		{"Categories", testCategories},
		{"ContentTypeFromName", testContentTypeFromName},
		{"FilesNotFoundAndTraversal", testFileNotFound},
		{"RoutesAndMethods", testRoutes},
		{"CORS", testCORS},
		{"Health", testHealth},
		{"ConcurrentCompletes", testConcurrentCompletes},
		{"ConcurrentChunksAndCancel", testChunksRaceCancel},
		{"BodyJSONEdgeCases", testJSONEdgeCases},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.fn(&T{T: t, Target: target}) })
	}
}

// threeChunks is a file of two full chunks and a short last one.
func threeChunks(seed uint64) []byte { return RandomBytes(2*ChunkSize+12345, seed) }

func testFullFlow(t *T) {
	user := NewUserID()
	u := t.Init("video.mp4", "video/mp4", threeChunks(1), user)
	if want := "creator/" + user + "/"; !strings.HasPrefix(u.Key, want) || !strings.HasSuffix(u.Key, "/video/video.mp4") {
		t.Fatalf("key %q, want %s{YYYYMMDD}/video/video.mp4", u.Key, want)
	}
	st := t.Status(u)
	if st["status"] != "initiated" || st["chunks_uploaded"] != 0.0 || st["total_chunks"] != 3.0 {
		t.Fatalf("fresh status %v", st)
	}
	for _, i := range []int{2, 0} {
		t.SendChunk(u, i)
	}
	st = t.Status(u)
	if st["status"] != "in_progress" || st["chunks_uploaded"] != 2.0 || fmt.Sprint(st["chunks"]) != "[0 2]" {
		t.Fatalf("status after chunks 2, 0: %v", st)
	}
	if want := float64(len(u.Chunk(0)) + len(u.Chunk(2))); st["bytes_uploaded"] != want {
		t.Fatalf("bytes_uploaded %v, want %v", st["bytes_uploaded"], want)
	}
	if _, ok := st["r2_key"]; ok {
		t.Fatalf("r2_key shown before completion: %v", st)
	}
	for _, field := range []string{"upload_id", "file_name", "total_size", "user_id", "user_role", "content_type", "chunk_size", "created_at", "updated_at"} {
		if _, ok := st[field]; !ok {
			t.Fatalf("status lacks %s: %v", field, st)
		}
	}
	t.SendChunk(u, 1)
	m := t.WantOK(t.Complete(u))
	if m["upload_id"] != u.ID || m["r2_key"] != u.Key || m["status"] != "completed" {
		t.Fatalf("complete response %v", m)
	}
	st = t.Status(u)
	if st["status"] != "completed" || st["r2_key"] != u.Key || fmt.Sprint(st["chunks"]) != "[0 1 2]" || st["bytes_uploaded"] != float64(len(u.Data)) {
		t.Fatalf("status after complete %v", st)
	}
	got := t.Do("GET", FilePath(u.Key), nil, nil)
	if got.Status != 200 || !bytes.Equal(got.Body, u.Data) {
		t.Fatalf("download: status %d, %d bytes, identical=%v", got.Status, len(got.Body), bytes.Equal(got.Body, u.Data))
	}
	if ct := got.Header.Get("Content-Type"); ct != "video/mp4" {
		t.Fatalf("Content-Type %q", ct)
	}
}

func testParallelChunks(t *T) {
	u := t.Init("parallel.bin", "", RandomBytes(4*ChunkSize+1, 2), NewUserID())
	var wg sync.WaitGroup
	errs := make(chan string, u.Chunks)
	for i := u.Chunks - 1; i >= 0; i-- {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			req, _ := http.NewRequest("PUT", t.BaseURL+"/api/upload/chunk", bytes.NewReader(u.Chunk(i)))
			req.Header.Set("X-Upload-Id", u.ID)
			req.Header.Set("X-Chunk-Index", strconv.Itoa(i))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- err.Error()
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				errs <- fmt.Sprintf("chunk %d: status %d", i, resp.StatusCode)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	t.WantOK(t.Complete(u))
	if got := t.Do("GET", FilePath(u.Key), nil, nil); !bytes.Equal(got.Body, u.Data) {
		t.Fatalf("downloaded %d bytes, not identical", len(got.Body))
	}
}

func testSingleSmallChunk(t *T) {
	u := t.Init("tiny.txt", "text/plain", []byte("hello, world\n"), NewUserID())
	if u.Chunks != 1 || !strings.Contains(u.Key, "/document/tiny.txt") {
		t.Fatalf("upload %+v", u)
	}
	t.UploadAll(u)
	got := t.Do("GET", FilePath(u.Key), nil, nil)
	if string(got.Body) != "hello, world\n" {
		t.Fatalf("got %q", got.Body)
	}
}

// testEmptyFile uploads a zero-byte file: no chunk, complete at once, an
// empty download.
func testEmptyFile(t *T) {
	u := t.Init("empty.txt", "text/plain", nil, NewUserID())
	if u.Chunks != 0 || !strings.Contains(u.Key, "/document/empty.txt") {
		t.Fatalf("upload %+v", u)
	}
	st := t.Status(u)
	if st["status"] != "initiated" || st["total_chunks"] != 0.0 || st["chunks_uploaded"] != 0.0 ||
		st["total_size"] != 0.0 || fmt.Sprint(st["chunks"]) != "[]" {
		t.Fatalf("status of an empty file %v", st)
	}
	t.WantError(t.PutChunk(u, 0, nil), 400, "INVALID_FIELD")
	t.WantError(t.PutChunk(u, 0, []byte("x")), 400, "INVALID_FIELD")
	m := t.WantOK(t.Complete(u))
	if m["status"] != "completed" || m["r2_key"] != u.Key {
		t.Fatalf("complete response %v", m)
	}
	path := FilePath(u.Key)
	// identity: Cloudflare's edge (and local workerd) gzips text/plain for
	// a client that accepts it, and a gzipped answer has no Content-Length.
	identity := map[string]string{"Accept-Encoding": "identity"}
	got := t.Do("GET", path, identity, nil)
	if got.Status != 200 || len(got.Body) != 0 || got.Header.Get("Content-Length") != "0" || got.Header.Get("ETag") == "" ||
		!strings.HasPrefix(got.Header.Get("Content-Type"), "text/plain") ||
		!strings.Contains(got.Header.Get("Content-Disposition"), "empty.txt") {
		t.Fatalf("GET: status %d, %d bytes, headers %v", got.Status, len(got.Body), got.Header)
	}
	head := t.Do("HEAD", path, identity, nil)
	if head.Status != 200 || len(head.Body) != 0 || head.Header.Get("Content-Length") != "0" {
		t.Fatalf("HEAD: status %d, %d bytes, headers %v", head.Status, len(head.Body), head.Header)
	}
	// net/http ignores a Range on an empty file (clients add one to every
	// request) and answers 200 with the empty body, not 416.
	if r := t.Do("GET", path, map[string]string{"Range": "bytes=0-0", "Accept-Encoding": "identity"}, nil); r.Status != 200 || len(r.Body) != 0 {
		t.Fatalf("Range on an empty file: status %d, %d bytes; want 200 and none, as net/http answers", r.Status, len(r.Body))
	}
	again := t.WantOK(t.Complete(u))
	if again["status"] != "completed" || again["r2_key"] != u.Key {
		t.Fatalf("repeated complete %v", again)
	}
	if st := t.Status(u); st["status"] != "completed" || st["total_chunks"] != 0.0 {
		t.Fatalf("status after complete %v", st)
	}
}

func testDefaults(t *T) {
	user := NewUserID()
	m := t.WantOK(t.PostJSON("/api/upload/init", map[string]any{
		"file_name": "blob", "total_size": 1, "user_id": user, "user_role": "subscriber"}))
	if cs, _ := m["chunk_size"].(float64); cs < 5<<20 {
		t.Fatalf("default chunk_size %v", m["chunk_size"])
	}
	key, _ := m["r2_key"].(string)
	if !strings.HasPrefix(key, "subscriber/"+user+"/") || !strings.HasSuffix(key, "/other/blob") {
		t.Fatalf("key %q", key)
	}
	st := t.WantOK(t.Do("GET", "/api/upload/"+m["upload_id"].(string)+"/status", nil, nil))
	if st["content_type"] != "application/octet-stream" {
		t.Fatalf("content_type %v", st["content_type"])
	}
	// Another chunk size within every deployment's bounds may be asked for
	// (the Worker's largest is its request body limit, 95 MiB by default).
	m = t.WantOK(t.PostJSON("/api/upload/init", map[string]any{
		"file_name": "big", "total_size": 1, "user_id": user, "user_role": "member", "chunk_size": 2 * ChunkSize}))
	if m["chunk_size"] != float64(2*ChunkSize) {
		t.Fatalf("asked chunk_size %d, got %v", 2*ChunkSize, m["chunk_size"])
	}
}

func testDownload(t *T) {
	u := t.Init("range.bin", "application/x-test", RandomBytes(ChunkSize+1000, 3), NewUserID())
	key := t.UploadAll(u)
	path := FilePath(key)
	full := t.Do("GET", path, nil, nil)
	etag := full.Header.Get("ETag")
	if full.Status != 200 || etag == "" || full.Header.Get("Last-Modified") == "" ||
		full.Header.Get("Accept-Ranges") != "bytes" || full.Header.Get("Content-Length") != strconv.Itoa(len(u.Data)) {
		t.Fatalf("GET headers %v status %d", full.Header, full.Status)
	}
	head := t.Do("HEAD", path, nil, nil)
	if head.Status != 200 || len(head.Body) != 0 || head.Header.Get("Content-Length") != strconv.Itoa(len(u.Data)) {
		t.Fatalf("HEAD: status %d, body %d bytes, headers %v", head.Status, len(head.Body), head.Header)
	}
	n := len(u.Data)
	ranges := []struct {
		header     string
		start, end int
	}{
		{"bytes=0-9", 0, 10},
		{fmt.Sprintf("bytes=%d-%d", ChunkSize-5, ChunkSize+5), ChunkSize - 5, ChunkSize + 6},
		{"bytes=-100", n - 100, n},
		{fmt.Sprintf("bytes=%d-", n-1), n - 1, n},
	}
	for _, r := range ranges {
		got := t.Do("GET", path, map[string]string{"Range": r.header}, nil)
		if got.Status != 206 || !bytes.Equal(got.Body, u.Data[r.start:r.end]) {
			t.Fatalf("Range %s: status %d, %d bytes", r.header, got.Status, len(got.Body))
		}
		if want := fmt.Sprintf("bytes %d-%d/%d", r.start, r.end-1, n); got.Header.Get("Content-Range") != want {
			t.Fatalf("Range %s: Content-Range %q, want %q", r.header, got.Header.Get("Content-Range"), want)
		}
	}
	if got := t.Do("GET", path, map[string]string{"Range": fmt.Sprintf("bytes=%d-", n+10)}, nil); got.Status != 416 {
		t.Fatalf("unsatisfiable range: status %d", got.Status)
	}
	if got := t.Do("GET", path, map[string]string{"If-None-Match": etag}, nil); got.Status != 304 {
		t.Fatalf("If-None-Match: status %d", got.Status)
	}
	if got := t.Do("GET", path, map[string]string{"If-Match": `"other"`}, nil); got.Status != 412 {
		t.Fatalf("If-Match other: status %d", got.Status)
	}
	if got := t.Do("GET", path, map[string]string{"If-Modified-Since": full.Header.Get("Last-Modified")}, nil); got.Status != 304 {
		t.Fatalf("If-Modified-Since: status %d", got.Status)
	}
	if got := t.Do("GET", path, map[string]string{"Range": "bytes=0-3", "If-Range": `"stale"`}, nil); got.Status != 200 || len(got.Body) != n {
		t.Fatalf("If-Range stale: status %d, %d bytes", got.Status, len(got.Body))
	}
}
