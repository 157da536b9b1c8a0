//go:build !(js && wasm)

package cfworker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	storage "github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/cfworker"
)

// faultyR2 is an R2 whose calls fail when named in fail; the others
// succeed with made-up answers. It exists to inject faults: the real R2
// runs in the Worker tests.
type faultyR2 struct {
	fail map[string]bool

	mu      sync.Mutex
	aborted []string // "key upload-id" of every successful AbortMultipart
}

func (f *faultyR2) err(op string) error {
	if f.fail[op] {
		return &cfworker.BindingError{Op: op, Message: "injected failure"}
	}
	return nil
}

func (f *faultyR2) CreateMultipart(ctx context.Context, key, contentType, uploadID string) (string, error) {
	return "r2-" + uploadID, f.err("create")
}
func (f *faultyR2) UploadPart(ctx context.Context, key, id string, part int, size int64, body io.Reader) (string, error) {
	if err := f.err("uploadPart"); err != nil {
		return "", err
	}
	n, err := io.Copy(io.Discard, body)
	if err != nil || n != size {
		return "", errors.New("short body")
	}
	return "etag-" + strconv.Itoa(part), nil
}
func (f *faultyR2) CompleteMultipart(ctx context.Context, key, id string, parts []cfworker.R2Part) (*cfworker.R2Object, error) {
	return nil, &cfworker.BindingError{Op: "complete", Message: "not supported by this fake"}
}
func (f *faultyR2) AbortMultipart(ctx context.Context, key, id string) error {
	if err := f.err("abort"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.aborted = append(f.aborted, key+" "+id)
	return nil
}
func (f *faultyR2) Head(ctx context.Context, key string) (*cfworker.R2Object, error) {
	return nil, f.err("head")
}
func (f *faultyR2) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	return nil, f.err("get")
}
func (f *faultyR2) Delete(ctx context.Context, key string) error { return f.err("delete") }
func (f *faultyR2) Ping(ctx context.Context) error               { return f.err("ping") }

// memKV is a KV namespace in memory; err, when set, is returned by Get.
type memKV struct {
	mu     sync.Mutex
	values map[string]string
	err    error
}

func (k *memKV) Get(ctx context.Context, key string) (string, bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.err != nil {
		return "", false, k.err
	}
	v, ok := k.values[key]
	return v, ok, nil
}

type appEnv struct {
	url  string
	r2   *faultyR2
	d1   *sqliteD1
	logs *syncBuffer
	app  *cfworker.App
	skew atomic.Int64 // added to the App's clock, in nanoseconds
}

// advance moves the App's clock forward by d.
func (e *appEnv) advance(d time.Duration) { e.skew.Add(int64(d)) }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newApp serves the Worker's App over a real SQLite D1, a fault-injecting
// R2 and kv, on a test server.
func newApp(t *testing.T, kv cfworker.KV) *appEnv {
	t.Helper()
	e := &appEnv{r2: &faultyR2{fail: map[string]bool{}}, d1: newSQLiteD1(t), logs: &syncBuffer{}}
	log := slog.New(slog.NewTextHandler(e.logs, nil))
	app := &cfworker.App{
		Objects: &cfworker.ObjectStore{Bucket: e.r2, Name: "STORAGE_BUCKET"},
		Meta:    &cfworker.MetaStore{DB: e.d1},
		Config:  &cfworker.ConfigSource{KV: kv, Logger: log},
		Logger:  log,
		Now:     func() time.Time { return time.Now().Add(time.Duration(e.skew.Load())) },
	}
	e.app = app
	srv := httptest.NewServer(app)
	t.Cleanup(srv.Close)
	e.url = srv.URL
	return e
}

type reply struct {
	status int
	body   map[string]any
}

func do(t *testing.T, method, url string, header map[string]string, body []byte) reply {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("%s %s: body is not JSON: %v", method, url, err)
	}
	return reply{resp.StatusCode, m}
}

func errCode(r reply) string {
	e, _ := r.body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func initBody(name string) []byte {
	return []byte(`{"file_name":"` + name + `","total_size":100,"user_id":"u1","user_role":"creator"}`)
}

// completedUpload records a completed upload holding key in e's D1, as if
// its object had been stored.
func completedUpload(t *testing.T, e *appEnv, key string) {
	t.Helper()
	now := time.Now().UTC()
	u := &storage.Upload{ID: fmt.Sprintf("%d-done-%s", now.UnixMilli(), t.Name()), FileName: path.Base(key), TotalSize: 100,
		UserID: "u1", UserRole: storage.RoleCreator, ContentType: "application/octet-stream", ChunkSize: 100,
		TotalChunks: 1, Status: storage.StatusCompleted, Key: key, CreatedAt: now, UpdatedAt: now}
	if err := (&cfworker.MetaStore{DB: e.d1}).CreateUpload(t.Context(), u, storage.Quota{}); err != nil {
		t.Fatalf("CreateUpload: %v", err)
	}
}

// TestAppErrorPaths checks that R2 and D1 failures answer 502 with
// R2_ERROR and DATABASE_ERROR in the error shape, never a bare 500.
func TestAppErrorPaths(t *testing.T) {
	tests := []struct {
		name       string
		r2Fail     string
		d1Fail     bool
		request    func(e *appEnv, id string) reply
		wantStatus int
		wantCode   string
	}{
		{"R2 create fails on init", "create", false, func(e *appEnv, _ string) reply {
			return do(t, "POST", e.url+"/api/upload/init", nil, initBody("a.bin"))
		}, 502, "R2_ERROR"},
		{"R2 uploadPart fails on chunk", "uploadPart", false, func(e *appEnv, id string) reply {
			return do(t, "PUT", e.url+"/api/upload/chunk", map[string]string{"X-Upload-Id": id, "X-Chunk-Index": "0"}, make([]byte, 100))
		}, 502, "R2_ERROR"},
		{"R2 head fails on download", "head", false, func(e *appEnv, _ string) reply {
			key := "creator/u1/20240101/other/a.bin"
			completedUpload(t, e, key)
			return do(t, "GET", e.url+"/api/files/"+key, nil, nil)
		}, 502, "R2_ERROR"},
		{"D1 fails on status", "", true, func(e *appEnv, id string) reply {
			return do(t, "GET", e.url+"/api/upload/"+id+"/status", nil, nil)
		}, 502, "DATABASE_ERROR"},
		{"D1 fails on init", "", true, func(e *appEnv, _ string) reply {
			return do(t, "POST", e.url+"/api/upload/init", nil, initBody("b.bin"))
		}, 502, "DATABASE_ERROR"},
		{"D1 fails on chunk", "", true, func(e *appEnv, id string) reply {
			return do(t, "PUT", e.url+"/api/upload/chunk", map[string]string{"X-Upload-Id": id, "X-Chunk-Index": "0"}, make([]byte, 100))
		}, 502, "DATABASE_ERROR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newApp(t, &memKV{})
			init := do(t, "POST", e.url+"/api/upload/init", nil, initBody("first.bin"))
			id, _ := init.body["upload_id"].(string)
			if init.status != 200 || id == "" {
				t.Fatalf("init before the fault: %d %v", init.status, init.body)
			}
			e.r2.fail[tt.r2Fail] = true
			e.d1.fail.Store(tt.d1Fail)
			r := tt.request(e, id)
			if r.status != tt.wantStatus || errCode(r) != tt.wantCode {
				t.Fatalf("status %d code %q, want %d %s: %v", r.status, errCode(r), tt.wantStatus, tt.wantCode, r.body)
			}
			e.r2.fail[tt.r2Fail] = false
			e.d1.fail.Store(false)
			if st := do(t, "GET", e.url+"/api/upload/"+id+"/status", nil, nil); st.body["chunks_uploaded"] != 0.0 {
				t.Fatalf("a failed request left a recorded chunk: %v", st.body)
			}
		})
	}
}

// TestAppHealthReportsFailures checks /health with a failing R2 and D1.
func TestAppHealthReportsFailures(t *testing.T) {
	e := newApp(t, &memKV{})
	if r := do(t, "GET", e.url+"/health", nil, nil); r.status != 200 {
		t.Fatalf("healthy: %d %v", r.status, r.body)
	}
	e.r2.fail["ping"] = true
	e.d1.fail.Store(true)
	e.advance(time.Minute) // past the reuse of the last report
	r := do(t, "GET", e.url+"/health", nil, nil)
	checks, _ := r.body["checks"].(map[string]any)
	if r.status != 503 || checks["storage"] != "error" || checks["database"] != "error" {
		t.Fatalf("unhealthy: %d %v", r.status, r.body)
	}
}

// TestAppKVConfig checks the settings read from KV: the defaults when the
// key is absent, unreadable or bad JSON (with a log line), and the fields
// that are set otherwise.
func TestAppKVConfig(t *testing.T) {
	tests := []struct {
		name      string
		kv        *memKV
		wantChunk float64
		wantMax   int64
		wantLog   string
	}{
		{"absent", &memKV{}, cfworker.DefaultChunkSize, 10737418240, ""},
		{"bad JSON", &memKV{values: map[string]string{"config": "{not json"}}, cfworker.DefaultChunkSize, 10737418240, "not valid JSON"},
		{"KV fails", &memKV{err: errors.New("kv down")}, cfworker.DefaultChunkSize, 10737418240, "kv down"},
		{"partial", &memKV{values: map[string]string{"config": `{"chunk_size": 10485760}`}}, 10485760, 10737418240, ""},
		{"all fields", &memKV{values: map[string]string{"config": `{"database_name":"x","max_file_size":1000000000,"chunk_size":20971520}`}}, 20971520, 1000000000, ""},
		{"chunk size too small", &memKV{values: map[string]string{"config": `{"chunk_size": 1000}`}}, cfworker.DefaultChunkSize, 10737418240, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newApp(t, tt.kv)
			r := do(t, "POST", e.url+"/api/upload/init", nil,
				[]byte(`{"file_name":"c","total_size":`+strconv.FormatInt(tt.wantMax, 10)+`,"user_id":"u1","user_role":"member"}`))
			if r.status != 200 || r.body["chunk_size"] != tt.wantChunk {
				t.Fatalf("init of the largest file: %d %v, want chunk_size %v", r.status, r.body, tt.wantChunk)
			}
			r = do(t, "POST", e.url+"/api/upload/init", nil,
				[]byte(`{"file_name":"d","total_size":`+strconv.FormatInt(tt.wantMax+1, 10)+`,"user_id":"u1","user_role":"member"}`))
			if r.status != 413 || errCode(r) != "FILE_TOO_LARGE" {
				t.Fatalf("init over the limit: %d %v", r.status, r.body)
			}
			logs := e.logs.String()
			if tt.wantLog != "" && !strings.Contains(logs, tt.wantLog) {
				t.Fatalf("log lacks %q:\n%s", tt.wantLog, logs)
			}
			if tt.wantLog == "" && strings.Contains(logs, "level=ERROR") {
				t.Fatalf("unexpected error log:\n%s", logs)
			}
		})
	}
}
