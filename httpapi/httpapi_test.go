package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	storage "github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/apitest"
	"github.com/memenow/memenow-storage/disk"
	"github.com/memenow/memenow-storage/httpapi"
	"github.com/memenow/memenow-storage/sqlite"
)

// newService returns a Service on a real SQLite file and a real disk store.
func newService(t testing.TB) *storage.Service {
	t.Helper()
	dir := t.TempDir()
	meta, err := sqlite.Open(filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { meta.Close() })
	objects, err := disk.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	return &storage.Service{Objects: objects, Meta: meta, Config: storage.DefaultConfig()}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func startServer(t *testing.T, svc *storage.Service) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(httpapi.NewServer(httpapi.Options{Service: svc, Logger: quietLogger()}))
	t.Cleanup(srv.Close)
	return srv
}

// TestAPI runs the whole end-to-end suite on SQLite and disk.
func TestAPI(t *testing.T) {
	svc := newService(t)
	srv := startServer(t, svc)
	apitest.Run(t, apitest.Target{BaseURL: srv.URL, MaxFileSize: svc.Config.MaxFileSize})
}

// failingObjects is an ObjectStore whose every call fails, to check that
// storage failures reach clients as clean 502s.
type failingObjects struct{ storage.ObjectStore }

var errBackend = errors.New("backend exploded: secret-internal-detail")

func (failingObjects) CreateMultipart(context.Context, storage.MultipartInfo) (string, error) {
	return "", storage.Wrap(storage.CodeStorage, errBackend, "object storage error")
}
func (failingObjects) Ping(context.Context) error {
	return storage.Wrap(storage.CodeStorage, errBackend, "object storage error")
}

// failingMeta is a MetaStore whose every call fails.
type failingMeta struct{ storage.MetaStore }

func (failingMeta) GetUpload(context.Context, string) (*storage.Upload, error) {
	return nil, storage.Wrap(storage.CodeDatabase, errBackend, "database error")
}
func (failingMeta) Ping(context.Context) error {
	return storage.Wrap(storage.CodeDatabase, errBackend, "database error")
}
func (failingMeta) CheckWrite(context.Context, time.Time) error {
	return storage.Wrap(storage.CodeDatabase, errBackend, "database error")
}

func TestBackendFailures(t *testing.T) {
	base := newService(t)
	initBody := `{"file_name":"a","total_size":10,"user_id":"u1","user_role":"creator"}`
	t.Run("object store down", func(t *testing.T) {
		svc := *base
		svc.Objects = failingObjects{base.Objects}
		srv := startServer(t, &svc)
		resp := post(t, srv.URL+"/api/upload/init", initBody)
		wantError(t, resp, 502, "R2_ERROR")
		// The key reserved for the failed init is free again.
		ok := startServer(t, base)
		m := decode(t, post(t, ok.URL+"/api/upload/init", initBody))
		if !strings.HasSuffix(m["r2_key"].(string), "/a") {
			t.Fatalf("key after failed init: %v", m["r2_key"])
		}
		health := get(t, srv.URL+"/health")
		if health.StatusCode != 503 {
			t.Fatalf("health status %d", health.StatusCode)
		}
		hm := decode(t, health)
		if hm["checks"].(map[string]any)["storage"] != "error" || hm["checks"].(map[string]any)["database"] != "ok" {
			t.Fatalf("health %v", hm)
		}
	})
	t.Run("database down", func(t *testing.T) {
		svc := *base
		svc.Meta = failingMeta{base.Meta}
		srv := startServer(t, &svc)
		wantError(t, get(t, srv.URL+"/api/upload/x/status"), 502, "DATABASE_ERROR")
		if resp := get(t, srv.URL+"/health"); resp.StatusCode != 503 {
			t.Fatalf("health status %d", resp.StatusCode)
		}
	})
}

func post(t *testing.T, url, body string) *http.Response {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func get(t *testing.T, url string) *http.Response {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func decode(t *testing.T, resp *http.Response) map[string]any {
	t.Helper()
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func wantError(t *testing.T, resp *http.Response, status int, code string) {
	t.Helper()
	m := decode(t, resp)
	e, _ := m["error"].(map[string]any)
	if resp.StatusCode != status || e["code"] != code {
		t.Fatalf("got %d %v, want %d %s", resp.StatusCode, m, status, code)
	}
	if msg := e["message"].(string); strings.Contains(msg, "secret-internal-detail") {
		t.Fatalf("internal detail leaked to the client: %q", msg)
	}
}

func TestHTTPStatusTable(t *testing.T) {
	for code, want := range map[storage.Code]int{
		storage.CodeMissingField: 400, storage.CodeFileTooLarge: 413, storage.CodeUploadNotFound: 404,
		storage.CodeUploadCompleted: 409, storage.CodeDatabase: 502, storage.CodeStorage: 502,
		storage.CodeChunkLocked: 423, "SOMETHING_NEW": 500,
		storage.CodeUnauthorized: 401, storage.CodeForbidden: 403,
		storage.CodeInvalidSignature: 403, storage.CodeLinkExpired: 403,
	} {
		if got := httpapi.HTTPStatus(code); got != want {
			t.Errorf("HTTPStatus(%s) = %d, want %d", code, got, want)
		}
	}
}
