package cfworker

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	storage "github.com/memenow/memenow-storage"
)

// memR2 holds one object in memory and answers Head and Get; the other R2
// methods are not used by Open and panic (the nil embedded interface).
type memR2 struct {
	R2
	key  string
	data []byte
	gets int
}

func (m *memR2) Head(ctx context.Context, key string) (*R2Object, error) {
	if key != m.key {
		return nil, nil
	}
	return &R2Object{Key: key, Size: int64(len(m.data)), HTTPETag: `"e1"`, UploadedMS: 1700000000000, ContentType: "application/octet-stream"}, nil
}

func (m *memR2) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	m.gets++
	return io.NopCloser(bytes.NewReader(m.data[offset : offset+length])), nil
}

// serveRun is one ServeObject that took the body.
type serveRun struct {
	key, etag            string
	offset, length, size int64
}

// servingR2 is a memR2 that is an ObjectServer deciding as the Worker's
// response writer does (servableRange, on what the recorder has so far),
// and "streams" the run by writing the bytes to the recorder itself.
type servingR2 struct {
	*memR2
	rec  *httptest.ResponseRecorder
	runs []serveRun
	fail error
}

func (s *servingR2) ServeObject(ctx context.Context, key, etag string, offset, size int64) (bool, error) {
	if s.fail != nil {
		return false, s.fail
	}
	length, ok := servableRange(s.rec.Code, s.rec.Header(), offset, size)
	if !ok || s.rec.Body.Len() > 0 {
		return false, nil
	}
	s.runs = append(s.runs, serveRun{key, etag, offset, length, size})
	s.rec.Body.Write(s.memR2.data[offset : offset+length])
	return true, nil
}

// TestObjectServedByR2 serves a stored object with http.ServeContent, as
// the download handler does, and checks which requests hand the body to R2
// (one run of bytes: whole file or one range), which read it through Go
// (several ranges), and which read nothing (HEAD, 304, 412, 416).
func TestObjectServedByR2(t *testing.T) {
	data := []byte(strings.Repeat("0123456789", 100)) // 1000 bytes
	cases := []struct {
		name    string
		method  string
		headers map[string]string
		status  int
		run     *serveRun // the run R2 streams, or nil
		gets    int       // Go-side gets
		body    string    // the expected body ("" to skip the check)
	}{
		{"whole file", "GET", nil, 200, &serveRun{offset: 0, length: 1000}, 0, string(data)},
		{"whole file, type sniffed first", "GET", map[string]string{"sniff": "1"}, 200, &serveRun{offset: 0, length: 1000}, 1, string(data)},
		{"one range", "GET", map[string]string{"Range": "bytes=10-19"}, 206, &serveRun{offset: 10, length: 10}, 0, string(data[10:20])},
		{"suffix range", "GET", map[string]string{"Range": "bytes=-5"}, 206, &serveRun{offset: 995, length: 5}, 0, string(data[995:])},
		{"open range", "GET", map[string]string{"Range": "bytes=990-"}, 206, &serveRun{offset: 990, length: 10}, 0, string(data[990:])},
		{"If-Range that matches", "GET", map[string]string{"Range": "bytes=0-0", "If-Range": `"e1"`}, 206, &serveRun{offset: 0, length: 1}, 0, "0"},
		{"If-Range that does not match", "GET", map[string]string{"Range": "bytes=0-0", "If-Range": `"old"`}, 200, &serveRun{offset: 0, length: 1000}, 0, string(data)},
		{"two ranges", "GET", map[string]string{"Range": "bytes=0-1,5-6"}, 206, nil, 2, ""},
		{"HEAD", "HEAD", nil, 200, nil, 0, ""},
		{"If-None-Match", "GET", map[string]string{"If-None-Match": `"e1"`}, 304, nil, 0, ""},
		{"If-Match that fails", "GET", map[string]string{"If-Match": `"other"`}, 412, nil, 0, ""},
		{"unsatisfiable range", "GET", map[string]string{"Range": "bytes=5000-"}, 416, nil, 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			srv := &servingR2{memR2: &memR2{key: "k/f.bin", data: data}, rec: rec}
			store := &ObjectStore{Bucket: srv}
			r := httptest.NewRequest(tc.method, "/api/files/k/f.bin", nil)
			for k, v := range tc.headers {
				r.Header.Set(k, v)
			}
			if r.Header.Get("sniff") == "" { // as the download handler does
				rec.Header().Set("Content-Type", "application/octet-stream")
			}
			obj, err := store.Open(r.Context(), "k/f.bin")
			if err != nil {
				t.Fatal(err)
			}
			rec.Header().Set("ETag", obj.Info().ETag)
			http.ServeContent(rec, r, "", obj.Info().LastModified, obj)
			_ = obj.Close()
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d", rec.Code, tc.status)
			}
			switch {
			case tc.run == nil && len(srv.runs) != 0:
				t.Fatalf("R2 served %+v; want the body read through Go or not at all", srv.runs)
			case tc.run != nil && (len(srv.runs) != 1 || srv.runs[0].offset != tc.run.offset || srv.runs[0].length != tc.run.length ||
				srv.runs[0].key != "k/f.bin" || srv.runs[0].etag != `"e1"` || srv.runs[0].size != 1000):
				t.Fatalf("R2 served %+v; want one run from %d of %d bytes", srv.runs, tc.run.offset, tc.run.length)
			}
			if srv.gets != tc.gets {
				t.Fatalf("%d gets through Go, want %d", srv.gets, tc.gets)
			}
			if tc.body != "" && rec.Body.String() != tc.body {
				t.Fatalf("body %q, want %q", rec.Body.String(), tc.body)
			}
			if tc.name == "two ranges" && !strings.Contains(rec.Body.String(), "01") {
				t.Fatalf("multipart body without the first range: %q", rec.Body.String())
			}
		})
	}
}

// TestObjectWithoutServer reads the whole body through Go when the bucket
// cannot hand it over, and fails the read when handing it over fails.
func TestObjectWithoutServer(t *testing.T) {
	data := []byte("hello, world")
	store := &ObjectStore{Bucket: &memR2{key: "k", data: data}}
	obj, err := store.Open(context.Background(), "k")
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	http.ServeContent(rec, httptest.NewRequest("GET", "/", nil), "", time.Time{}, obj)
	if rec.Body.String() != string(data) {
		t.Fatalf("body %q", rec.Body.String())
	}

	rec = httptest.NewRecorder()
	failing := &servingR2{memR2: &memR2{key: "k", data: data}, rec: rec, fail: errors.New("r2 down")}
	obj, err = (&ObjectStore{Bucket: failing}).Open(context.Background(), "k")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := obj.Read(make([]byte, 4)); !storage.HasCode(err, storage.CodeStorage) {
		t.Fatalf("read after a failed hand-over: %v, want CodeStorage", err)
	}
}

// TestObjectReadAfterServed checks that a served object reads as
// ErrBodyServed, so the copy in ServeContent stops at once.
func TestObjectReadAfterServed(t *testing.T) {
	rec := httptest.NewRecorder()
	rec.Header().Set("Content-Length", "3")
	rec.WriteHeader(http.StatusOK)
	srv := &servingR2{memR2: &memR2{key: "k", data: []byte("abc")}, rec: rec}
	obj, err := (&ObjectStore{Bucket: srv}).Open(context.Background(), "k")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if n, err := obj.Read(make([]byte, 3)); n != 0 || !errors.Is(err, ErrBodyServed) {
			t.Fatalf("read %d, %v; want 0, ErrBodyServed", n, err)
		}
	}
}

// TestServableRange covers the refusals of servableRange.
func TestServableRange(t *testing.T) {
	h := func(kv ...string) http.Header {
		out := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			out.Set(kv[i], kv[i+1])
		}
		return out
	}
	cases := []struct {
		name   string
		status int
		h      http.Header
		offset int64
		want   int64 // 0: refused
	}{
		{"200 whole", 200, h("Content-Length", "100"), 0, 100},
		{"200 not from 0", 200, h("Content-Length", "90"), 10, 0},
		{"200 short", 200, h("Content-Length", "90"), 0, 0},
		{"no length", 200, h(), 0, 0},
		{"bad length", 200, h("Content-Length", "x"), 0, 0},
		{"encoded", 200, h("Content-Length", "100", "Content-Encoding", "gzip"), 0, 0},
		{"empty", 200, h("Content-Length", "0"), 0, 0},
		{"206", 206, h("Content-Length", "10", "Content-Range", "bytes 5-14/100"), 5, 10},
		{"206 other offset", 206, h("Content-Length", "10", "Content-Range", "bytes 5-14/100"), 6, 0},
		{"206 other size", 206, h("Content-Length", "10", "Content-Range", "bytes 5-14/101"), 5, 0},
		{"206 multipart", 206, h("Content-Length", "300", "Content-Type", "multipart/byteranges; boundary=x"), 0, 0},
		{"206 past the end", 206, h("Content-Length", "10", "Content-Range", "bytes 95-104/100"), 95, 0},
		{"304", 304, h("Content-Length", "100"), 0, 0},
		{"500", 500, h("Content-Length", "100"), 0, 0},
	}
	for _, tc := range cases {
		got, ok := servableRange(tc.status, tc.h, tc.offset, 100)
		if (tc.want > 0) != ok || got != tc.want {
			t.Errorf("%s: %d, %v; want %d", tc.name, got, ok, tc.want)
		}
	}
}
