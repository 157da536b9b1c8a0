package client_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	storage "github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/apitest"
	"github.com/memenow/memenow-storage/client"
)

// chunk is the test chunk size: the smallest the domain allows.
const chunk = storage.MinChunkSize

// testSize makes three chunks, the last one short.
const testSize = 2*chunk + 1234567

// newServer starts the real API over SQLite and disk in t.TempDir(), with
// wrap (when not nil) in front of it to count requests or inject faults,
// and returns a client with quick retries.
func newServer(t *testing.T, wrap func(http.Handler) http.Handler) *client.Client {
	t.Helper()
	h, _ := apitest.NewLocal(t, apitest.LocalOptions{Config: &storage.Config{MaxFileSize: 1 << 30, ChunkSize: chunk,
		MinChunkSize: chunk, MaxChunkSize: 64 << 20, MaxShareTTL: storage.DefaultMaxShareTTL}})
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &client.Client{BaseURL: srv.URL, HTTPClient: srv.Client(),
		Retry: client.RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: 10 * time.Millisecond}}
}

func randomData(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(n), 42))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func opts(name string) client.UploadOptions {
	return client.UploadOptions{FileName: name, UserID: "tester", UserRole: "creator", ContentType: "application/octet-stream"}
}

// requestLog records the requests that reach a handler, as "PUT 1",
// "POST /api/upload/complete", "GET /api/files/...".
type requestLog struct {
	mu   sync.Mutex
	reqs []string
}

func (l *requestLog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reqs = append(l.reqs, s)
}

func (l *requestLog) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.reqs {
		if r == s {
			n++
		}
	}
	return n
}

func (l *requestLog) puts() []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	var idx []int
	for _, r := range l.reqs {
		if s, ok := strings.CutPrefix(r, "PUT "); ok {
			i, _ := strconv.Atoi(s)
			idx = append(idx, i)
		}
	}
	slices.Sort(idx)
	return idx
}

func (l *requestLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reqs = nil
}

func describe(r *http.Request) string {
	if r.Method == http.MethodPut {
		return "PUT " + r.Header.Get("X-Chunk-Index")
	}
	return r.Method + " " + r.URL.Path
}

// counting returns a wrapper that logs every request into log.
func counting(log *requestLog) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			log.add(describe(r))
			next.ServeHTTP(w, r)
		})
	}
}

func download(t *testing.T, c *client.Client, key string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := c.Download(context.Background(), key, &buf); err != nil {
		t.Fatalf("download %s: %v", key, err)
	}
	return buf.Bytes()
}

func TestUploadParallelRoundTrip(t *testing.T) {
	var log requestLog
	c := newServer(t, counting(&log))
	data := randomData(t, testSize)
	var mu sync.Mutex
	var last, calls int64
	o := opts("round.bin")
	o.Parallel = 3
	o.Progress = func(done, total int64) {
		mu.Lock()
		defer mu.Unlock()
		if total != testSize || done < 0 || done > total {
			t.Errorf("progress(%d, %d) out of range", done, total)
		}
		last, calls = done, calls+1
	}
	res, err := c.Upload(context.Background(), bytes.NewReader(data), int64(len(data)), o)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(res.Key, "/round.bin") || res.ChunksSent != 3 || res.Resumed {
		t.Errorf("result %+v, want key ending /round.bin, 3 chunks sent, not resumed", res)
	}
	if last != testSize || calls < 2 {
		t.Errorf("last progress %d after %d calls, want %d", last, calls, testSize)
	}
	if got := log.puts(); !slices.Equal(got, []int{0, 1, 2}) {
		t.Errorf("PUTs of chunks %v, want each of 0, 1, 2 once", got)
	}
	st, err := c.Status(context.Background(), res.UploadID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != "completed" || !slices.Equal(st.Chunks, []int{0, 1, 2}) || st.Key != res.Key {
		t.Errorf("status %+v", st)
	}
	if got := download(t, c, res.Key); !bytes.Equal(got, data) {
		t.Fatalf("downloaded %d bytes differ from the %d uploaded", len(got), len(data))
	}
}

func TestUploadFileFromDisk(t *testing.T) {
	c := newServer(t, nil)
	data := randomData(t, chunk+99)
	path := filepath.Join(t.TempDir(), "from disk.dat")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	o := opts("")
	res, err := c.UploadFile(context.Background(), f, o)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(res.Key, "/from disk.dat") {
		t.Errorf("key %q does not end with the file's name", res.Key)
	}
	out := filepath.Join(t.TempDir(), "out.dat")
	if _, err := c.DownloadFile(context.Background(), res.Key, out, client.DownloadOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
		t.Fatal("downloaded file differs")
	}
}

// cutBody ends a request body with an error after n bytes, as a dropped
// connection would.
type cutBody struct {
	r io.ReadCloser
	n int
}

func (c *cutBody) Read(p []byte) (int, error) {
	if c.n <= 0 {
		return 0, errors.New("connection cut by the test")
	}
	if len(p) > c.n {
		p = p[:c.n]
	}
	n, err := c.r.Read(p)
	c.n -= n
	return n, err
}

func (c *cutBody) Close() error { return c.r.Close() }

// cuttingTransport cuts the body of the first PUT of chunk index after
// 1 MiB, so that the server sees the connection drop mid-chunk.
type cuttingTransport struct {
	base  http.RoundTripper
	index string
	once  sync.Once
}

func (c *cuttingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPut && r.Header.Get("X-Chunk-Index") == c.index {
		c.once.Do(func() {
			r = r.Clone(r.Context())
			r.Body = &cutBody{r: r.Body, n: 1 << 20}
		})
	}
	return c.base.RoundTrip(r)
}

func TestUploadCutMidChunkThenResume(t *testing.T) {
	var log requestLog
	c := newServer(t, counting(&log))
	c.HTTPClient = &http.Client{Transport: &cuttingTransport{base: c.HTTPClient.Transport, index: "1"}}
	data := randomData(t, testSize)
	o := opts("cut.bin")
	o.Parallel = 1
	o.MaxRetries = -1
	var id string
	o.OnInit = func(uploadID string) error { id = uploadID; return nil }

	_, err := c.Upload(context.Background(), bytes.NewReader(data), int64(len(data)), o)
	if err == nil || id == "" {
		t.Fatalf("upload with a cut chunk and no retries: err %v, id %q; want an error and an id", err, id)
	}
	st, err := c.Status(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(st.Chunks, []int{0}) {
		t.Fatalf("after the cut the server holds chunks %v, want [0]", st.Chunks)
	}

	log.reset()
	o.ResumeID = id
	// Retries on: the server may still hold the cut chunk's lock (423) for a
	// moment after the connection dropped.
	o.MaxRetries = 0
	o.OnInit = func(string) error { t.Error("resume started a new upload"); return nil }
	res, err := c.Upload(context.Background(), bytes.NewReader(data), int64(len(data)), o)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Resumed || res.UploadID != id || res.ChunksSent != 2 {
		t.Errorf("result %+v, want upload %s resumed with 2 chunks sent", res, id)
	}
	if got := slices.Compact(slices.Sorted(slices.Values(log.puts()))); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("resume sent chunks %v, want only the missing 1 and 2", got)
	}
	if got := download(t, c, res.Key); !bytes.Equal(got, data) {
		t.Fatal("resumed upload differs from the file")
	}
}

// dropOnce returns a wrapper that, the first time a PUT of chunk index
// arrives, reads n bytes of its body and closes the connection.
func dropOnce(index string, n int64) func(http.Handler) http.Handler {
	var once sync.Once
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			drop := false
			if r.Method == http.MethodPut && r.Header.Get("X-Chunk-Index") == index {
				once.Do(func() { drop = true })
			}
			if !drop {
				next.ServeHTTP(w, r)
				return
			}
			_, _ = io.CopyN(io.Discard, r.Body, n)
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				panic(err)
			}
			conn.Close()
		})
	}
}

func TestUploadRetriesAfterDroppedConnection(t *testing.T) {
	var log requestLog
	c := newServer(t, func(h http.Handler) http.Handler { return counting(&log)(dropOnce("2", 100_000)(h)) })
	data := randomData(t, testSize)
	res, err := c.Upload(context.Background(), bytes.NewReader(data), int64(len(data)), opts("drop.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if got := log.puts(); !slices.Equal(got, []int{0, 1, 2, 2}) {
		t.Errorf("PUTs %v, want chunk 2 sent twice", got)
	}
	if got := download(t, c, res.Key); !bytes.Equal(got, data) {
		t.Fatal("upload with a retried chunk differs")
	}
}

// failing returns a wrapper that answers the first n requests matching
// match with 503 and a Retry-After of 0.
func failing(match func(*http.Request) bool, n int) func(http.Handler) http.Handler {
	var mu sync.Mutex
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			fail := match(r) && n > 0
			if fail {
				n--
			}
			mu.Unlock()
			if !fail {
				next.ServeHTTP(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"error":{"code":"SERVICE_UNAVAILABLE","message":"injected","timestamp":"2026-01-01T00:00:00Z"}}`)
		})
	}
}

func TestUploadRetriesOn503(t *testing.T) {
	var log requestLog
	isChunk0 := func(r *http.Request) bool { return r.Method == http.MethodPut && r.Header.Get("X-Chunk-Index") == "0" }
	isComplete := func(r *http.Request) bool { return r.URL.Path == "/api/upload/complete" }
	c := newServer(t, func(h http.Handler) http.Handler {
		return counting(&log)(failing(isChunk0, 2)(failing(isComplete, 1)(h)))
	})
	data := randomData(t, testSize)
	res, err := c.Upload(context.Background(), bytes.NewReader(data), int64(len(data)), opts("retry.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if n := log.count("PUT 0"); n != 3 {
		t.Errorf("chunk 0 sent %d times, want 3 (two 503s)", n)
	}
	if n := log.count("POST /api/upload/complete"); n != 2 {
		t.Errorf("complete sent %d times, want 2 (one 503)", n)
	}
	if got := download(t, c, res.Key); !bytes.Equal(got, data) {
		t.Fatal("upload retried on 503 differs")
	}
}

func TestUploadGivesUpAfterMaxRetries(t *testing.T) {
	var log requestLog
	isPut := func(r *http.Request) bool { return r.Method == http.MethodPut }
	c := newServer(t, func(h http.Handler) http.Handler { return counting(&log)(failing(isPut, 1000)(h)) })
	o := opts("never.bin")
	o.Parallel = 1
	o.MaxRetries = 2
	_, err := c.Upload(context.Background(), bytes.NewReader(randomData(t, chunk)), chunk, o)
	if !errors.Is(err, &storage.Error{Code: storage.CodeUnavailable}) || client.HTTPStatus(err) != 503 {
		t.Fatalf("err = %v, want SERVICE_UNAVAILABLE with HTTP 503", err)
	}
	if n := len(log.puts()); n != 3 {
		t.Errorf("%d PUTs, want 3 (one try and two retries)", n)
	}
}

func TestNoRetryOnValidationErrors(t *testing.T) {
	var log requestLog
	c := newServer(t, counting(&log))
	ctx := context.Background()

	t.Run("init with a bad role", func(t *testing.T) {
		log.reset()
		o := opts("bad.bin")
		o.UserRole = "admin"
		_, err := c.Upload(ctx, bytes.NewReader([]byte("x")), 1, o)
		if !errors.Is(err, &storage.Error{Code: storage.CodeInvalidField}) || client.HTTPStatus(err) != 400 {
			t.Fatalf("err = %v, want INVALID_FIELD with HTTP 400", err)
		}
		if n := log.count("POST /api/upload/init"); n != 1 {
			t.Errorf("init sent %d times, want 1", n)
		}
	})
	t.Run("chunk of the wrong size", func(t *testing.T) {
		in, err := c.Init(ctx, client.InitRequest{FileName: "size.bin", TotalSize: 2 * chunk, UserID: "tester", UserRole: "member"})
		if err != nil {
			t.Fatal(err)
		}
		log.reset()
		body := bytes.NewReader(make([]byte, 100))
		_, err = c.PutChunk(ctx, in.UploadID, 0, body, 100)
		if !errors.Is(err, &storage.Error{Code: storage.CodeChunkSize}) || client.HTTPStatus(err) != 400 {
			t.Fatalf("err = %v, want CHUNK_SIZE_MISMATCH with HTTP 400", err)
		}
		if got := log.puts(); !slices.Equal(got, []int{0}) {
			t.Errorf("PUTs %v, want one", got)
		}
	})
	t.Run("complete with chunks missing", func(t *testing.T) {
		in, err := c.Init(ctx, client.InitRequest{FileName: "missing.bin", TotalSize: 2 * chunk, UserID: "tester", UserRole: "member"})
		if err != nil {
			t.Fatal(err)
		}
		log.reset()
		_, err = c.Complete(ctx, in.UploadID)
		var se *storage.Error
		if !errors.As(err, &se) || se.Code != storage.CodeChunksMissing || !slices.Equal(se.Missing, []int{0, 1}) {
			t.Fatalf("err = %#v, want CHUNKS_MISSING [0 1]", err)
		}
		if n := log.count("POST /api/upload/complete"); n != 1 {
			t.Errorf("complete sent %d times, want 1", n)
		}
	})
	t.Run("unknown upload", func(t *testing.T) {
		_, err := c.Status(ctx, "123-nope")
		if !errors.Is(err, &storage.Error{Code: storage.CodeUploadNotFound}) || client.HTTPStatus(err) != 404 {
			t.Fatalf("err = %v, want UPLOAD_NOT_FOUND with HTTP 404", err)
		}
	})
}

func TestResumeOfCancelledUpload(t *testing.T) {
	c := newServer(t, nil)
	ctx := context.Background()
	data := randomData(t, chunk+1)
	in, err := c.Init(ctx, client.InitRequest{FileName: "c.bin", TotalSize: int64(len(data)), UserID: "tester", UserRole: "member"})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := c.Cancel(ctx, in.UploadID); err != nil || res.Status != "cancelled" {
		t.Fatalf("cancel: %+v, %v", res, err)
	}
	o := opts("c.bin")
	o.ResumeID = in.UploadID
	if _, err := c.Upload(ctx, bytes.NewReader(data), int64(len(data)), o); !errors.Is(err, &storage.Error{Code: storage.CodeUploadCancelled}) {
		t.Fatalf("resuming a cancelled upload: %v, want UPLOAD_CANCELLED", err)
	}
	o.RestartIfGone = true
	res, err := c.Upload(ctx, bytes.NewReader(data), int64(len(data)), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Resumed || res.UploadID == in.UploadID {
		t.Errorf("result %+v, want a new upload", res)
	}
	if got := download(t, c, res.Key); !bytes.Equal(got, data) {
		t.Fatal("restarted upload differs")
	}
}

func TestUploadCancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The server cancels the client's context when chunk 1 arrives.
	c := newServer(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPut && r.Header.Get("X-Chunk-Index") == "1" {
				cancel()
				http.Error(w, "cancelled", http.StatusServiceUnavailable)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	o := opts("ctx.bin")
	o.Parallel = 1
	_, err := c.Upload(ctx, bytes.NewReader(randomData(t, testSize)), testSize, o)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// cutDownloadOnce returns a wrapper that closes the connection of the first
// file download after n bytes of the body.
func cutDownloadOnce(n int) func(http.Handler) http.Handler {
	var once sync.Once
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			cut := false
			if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/api/files/") {
				once.Do(func() { cut = true })
			}
			if cut {
				w = &cuttingWriter{ResponseWriter: w, left: n}
			}
			next.ServeHTTP(w, r)
		})
	}
}

// cuttingWriter passes left bytes through, then hijacks and closes the
// connection.
type cuttingWriter struct {
	http.ResponseWriter
	left int
}

func (c *cuttingWriter) Write(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, errors.New("cut")
	}
	if len(p) <= c.left {
		c.left -= len(p)
		return c.ResponseWriter.Write(p)
	}
	n, _ := c.ResponseWriter.Write(p[:c.left])
	c.left = 0
	if conn, _, err := http.NewResponseController(c.ResponseWriter).Hijack(); err == nil {
		conn.Close()
	}
	return n, errors.New("cut")
}

func (c *cuttingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

func TestDownloadResumesAfterCut(t *testing.T) {
	var mu sync.Mutex
	var ranges []string
	logRanges := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/api/files/") {
				mu.Lock()
				ranges = append(ranges, r.Header.Get("Range"))
				mu.Unlock()
			}
			next.ServeHTTP(w, r)
		})
	}
	c := newServer(t, func(h http.Handler) http.Handler { return logRanges(cutDownloadOnce(3 << 20)(h)) })
	data := randomData(t, testSize)
	res, err := c.Upload(context.Background(), bytes.NewReader(data), int64(len(data)), opts("dl.bin"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	info, err := c.Download(context.Background(), res.Key, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), data) {
		t.Fatalf("downloaded %d bytes differ from the %d uploaded", buf.Len(), len(data))
	}
	if info.Size != testSize || info.ETag == "" {
		t.Errorf("info %+v", info)
	}
	if len(ranges) != 2 || ranges[0] != "" || !strings.HasPrefix(ranges[1], "bytes=") || ranges[1] == "bytes=0-" {
		t.Errorf("requests with Range %q, want a whole GET then one resuming from the cut", ranges)
	}
}

func TestDownloadFileResumesPartialFile(t *testing.T) {
	var mu sync.Mutex
	var ranges []string
	c := newServer(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/api/files/") {
				mu.Lock()
				ranges = append(ranges, r.Header.Get("Range"))
				mu.Unlock()
			}
			next.ServeHTTP(w, r)
		})
	})
	ctx := context.Background()
	data := randomData(t, chunk+777)
	res, err := c.Upload(ctx, bytes.NewReader(data), int64(len(data)), opts("part.bin"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		part      []byte
		wantRange string
	}{
		{"no partial file", nil, ""},
		{"partial file", data[:1<<20], "bytes=1048576-"},
		{"complete partial file", data, "bytes=" + strconv.Itoa(len(data)) + "-"},
		{"partial file longer than the file", append(slices.Clone(data), 1, 2, 3), "bytes=" + strconv.Itoa(len(data)+3) + "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ranges = nil
			out := filepath.Join(t.TempDir(), "out.bin")
			if tt.part != nil {
				if err := os.WriteFile(out+".part", tt.part, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			info, err := c.DownloadFile(ctx, res.Key, out, client.DownloadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(out); !bytes.Equal(got, data) || info.Size != int64(len(data)) {
				t.Fatalf("file of %d bytes differs from the %d uploaded", len(got), len(data))
			}
			if _, err := os.Stat(out + ".part"); !errors.Is(err, os.ErrNotExist) {
				t.Errorf(".part left behind: %v", err)
			}
			if len(ranges) == 0 || ranges[0] != tt.wantRange {
				t.Errorf("Range headers %q, want the first to be %q", ranges, tt.wantRange)
			}
		})
	}
}

func TestDownloadMissingFile(t *testing.T) {
	c := newServer(t, nil)
	_, err := c.Download(context.Background(), "creator/x/20260101/other/none.bin", io.Discard)
	if !errors.Is(err, &storage.Error{Code: storage.CodeNotFound}) || client.HTTPStatus(err) != 404 {
		t.Fatalf("err = %v, want NOT_FOUND with HTTP 404", err)
	}
}

func TestHealth(t *testing.T) {
	c := newServer(t, nil)
	h, err := c.Health(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if h.Status == "" || h.Checks["database"] == "" || h.Checks["storage"] == "" {
		t.Errorf("health %+v", h)
	}
}

func TestBearerToken(t *testing.T) {
	var got string
	c := newServer(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got = r.Header.Get("Authorization")
			next.ServeHTTP(w, r)
		})
	})
	c.Token = "s3cret"
	if _, err := c.Health(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got != "Bearer s3cret" {
		t.Errorf("Authorization %q", got)
	}
}
