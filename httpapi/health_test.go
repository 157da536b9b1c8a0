package httpapi_test

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	storage "github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/disk"
	"github.com/memenow/memenow-storage/httpapi"
	"github.com/memenow/memenow-storage/sqlite"
)

// healthEnv is the API on a real SQLite file and disk folder, with a clock
// the test moves (the /health report is reused for a few seconds).
type healthEnv struct {
	dir, dbPath string
	svc         *storage.Service
	url         string
	mu          sync.Mutex
	off         time.Duration
}

func (e *healthEnv) now() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return time.Now().Add(e.off)
}

// later moves the clock past the reuse of the last report.
func (e *healthEnv) later() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.off += time.Minute
}

func newHealthEnv(t *testing.T, wrap func(storage.MetaStore) storage.MetaStore) *healthEnv {
	t.Helper()
	e := &healthEnv{dir: t.TempDir()}
	e.dbPath = filepath.Join(e.dir, "memenow.db")
	meta, err := sqlite.Open(e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { meta.Close() })
	objects, err := disk.New(e.dir)
	if err != nil {
		t.Fatal(err)
	}
	var m storage.MetaStore = meta
	if wrap != nil {
		m = wrap(meta)
	}
	e.svc = &storage.Service{Objects: objects, Meta: m, Config: storage.DefaultConfig(), Now: e.now}
	srv := httptest.NewServer(httpapi.NewServer(httpapi.Options{Service: e.svc, Logger: quietLogger(), Now: e.now}))
	t.Cleanup(srv.Close)
	e.url = srv.URL
	return e
}

// health returns /health's status and checks.
func (e *healthEnv) health(t *testing.T) (int, map[string]any) {
	t.Helper()
	resp := get(t, e.url+"/health")
	m := decode(t, resp)
	checks, _ := m["checks"].(map[string]any)
	return resp.StatusCode, checks
}

// TestHealthDatabaseFileDeleted deletes the SQLite files under a running
// server: /health must report 503 (once its last report is out of date) and
// writes must fail instead of going to the deleted file.
func TestHealthDatabaseFileDeleted(t *testing.T) {
	e := newHealthEnv(t, nil)
	if code, checks := e.health(t); code != 200 || checks["database"] != "ok" || checks["storage"] != "ok" {
		t.Fatalf("healthy server: %d %v", code, checks)
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(e.dbPath + suffix); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	if code, _ := e.health(t); code != 200 {
		t.Errorf("the report of the last few seconds was not reused: %d", code)
	}
	e.later()
	if code, checks := e.health(t); code != 503 || checks["database"] != "error" || checks["storage"] != "ok" {
		t.Errorf("health with the database file deleted: %d %v, want 503 with database error", code, checks)
	}
	wantError(t, post(t, e.url+"/api/upload/init", `{"file_name":"a","total_size":10,"user_id":"u1","user_role":"creator"}`),
		502, "DATABASE_ERROR")
}

// TestHealthStorageNotWritable removes the folder uploads are written to.
func TestHealthStorageNotWritable(t *testing.T) {
	e := newHealthEnv(t, nil)
	if err := os.RemoveAll(filepath.Join(e.dir, "uploads")); err != nil {
		t.Fatal(err)
	}
	if code, checks := e.health(t); code != 503 || checks["storage"] != "error" || checks["database"] != "ok" {
		t.Errorf("health without the uploads folder: %d %v, want 503 with storage error", code, checks)
	}
}

// commitFails is a MetaStore that answers queries but cannot commit.
type commitFails struct {
	storage.MetaStore
	mu   sync.Mutex
	fail bool
}

func (c *commitFails) CheckWrite(ctx context.Context, now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail {
		return storage.Wrap(storage.CodeDatabase, errBackend, "database error")
	}
	return c.MetaStore.CheckWrite(ctx, now)
}

// TestHealthDatabaseCannotCommit checks that /health commits a write: a
// database that still answers SELECT 1 but cannot commit is unhealthy.
func TestHealthDatabaseCannotCommit(t *testing.T) {
	var cf *commitFails
	e := newHealthEnv(t, func(m storage.MetaStore) storage.MetaStore { cf = &commitFails{MetaStore: m}; return cf })
	if code, _ := e.health(t); code != 200 {
		t.Fatalf("healthy server: %d", code)
	}
	cf.mu.Lock()
	cf.fail = true
	cf.mu.Unlock()
	if err := e.svc.Meta.Ping(t.Context()); err != nil {
		t.Fatalf("Ping still works: %v", err)
	}
	e.later()
	resp := get(t, e.url+"/health")
	m := decode(t, resp)
	checks, _ := m["checks"].(map[string]any)
	errObj, _ := m["error"].(map[string]any)
	if resp.StatusCode != 503 || checks["database"] != "error" || m["status"] != "unavailable" || errObj["code"] != "SERVICE_UNAVAILABLE" {
		t.Errorf("health of a database that cannot commit: %d %v", resp.StatusCode, m)
	}
	if resp.Header.Get("Retry-After") == "" {
		t.Error("a 503 from /health has no Retry-After")
	}
}

// TestHealthFreeSpace checks /health against the disk store's real free
// space: under Config.MinFreeSpace it is 503 with the space check failed.
func TestHealthFreeSpace(t *testing.T) {
	e := newHealthEnv(t, nil)
	e.svc.Config.MinFreeSpace = 1
	if code, checks := e.health(t); code != 200 || checks["space"] != "ok" {
		t.Fatalf("with room to spare: %d %v", code, checks)
	}
	e.svc.Config.MinFreeSpace = 1 << 62 // more than any disk here
	e.later()
	if code, checks := e.health(t); code != 503 || checks["space"] != "error" || checks["database"] != "ok" || checks["storage"] != "ok" {
		t.Errorf("under the free space kept: %d %v, want 503 with the space check failed", code, checks)
	}
}
