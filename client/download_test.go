package client_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	storage "github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/client"
)

// TestDownloadFileRefusedLeavesNoPart checks that a download refused
// before any byte (an unknown key) leaves neither the file nor a ".part",
// and removes an empty ".part" an earlier attempt left.
func TestDownloadFileRefusedLeavesNoPart(t *testing.T) {
	c := newServer(t, nil)
	for _, tt := range []struct {
		name      string
		emptyPart bool
	}{
		{"nothing there before", false},
		{"an empty .part there before", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "none.bin")
			if tt.emptyPart {
				if err := os.WriteFile(out+".part", nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, err := c.DownloadFile(context.Background(), "creator/x/20260101/other/none.bin", out, client.DownloadOptions{})
			if !errors.Is(err, &storage.Error{Code: storage.CodeNotFound}) {
				t.Fatalf("err = %v, want NOT_FOUND", err)
			}
			entries, _ := os.ReadDir(filepath.Dir(out))
			if len(entries) != 0 {
				t.Errorf("files left: %v", entries)
			}
		})
	}
}

// TestDownloadFileNoOverwrite checks that NoOverwrite refuses an existing
// destination before asking the server, and refuses one that appears
// during the transfer, keeping the complete ".part"; without it the file
// is replaced.
func TestDownloadFileNoOverwrite(t *testing.T) {
	var log requestLog
	var appear atomic.Pointer[string] // a path to create when the download is asked for
	c := newServer(t, func(next http.Handler) http.Handler {
		return counting(&log)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if p := appear.Load(); p != nil && strings.HasPrefix(r.URL.Path, "/api/files/") {
				_ = os.WriteFile(*p, []byte("appeared"), 0o644)
			}
			next.ServeHTTP(w, r)
		}))
	})
	ctx := context.Background()
	data := randomData(t, 1000)
	res, err := c.Upload(ctx, bytes.NewReader(data), int64(len(data)), opts("keep.bin"))
	if err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(t.TempDir(), "keep.bin")
	if err := os.WriteFile(out, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	log.reset()
	_, err = c.DownloadFile(ctx, res.Key, out, client.DownloadOptions{NoOverwrite: true})
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("err = %v, want fs.ErrExist", err)
	}
	if got, _ := os.ReadFile(out); string(got) != "mine" {
		t.Errorf("the existing file now holds %q", got)
	}
	if n := log.count("GET /api/files/" + res.Key); n != 0 {
		t.Errorf("%d GETs for a refused destination, want none", n)
	}
	if _, err := os.Stat(out + ".part"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf(".part made for a refused destination: %v", err)
	}

	late := filepath.Join(t.TempDir(), "late.bin")
	appear.Store(&late)
	_, err = c.DownloadFile(ctx, res.Key, late, client.DownloadOptions{NoOverwrite: true})
	appear.Store(nil)
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("file appearing during the download: err = %v, want fs.ErrExist", err)
	}
	if got, _ := os.ReadFile(late); string(got) != "appeared" {
		t.Errorf("the file that appeared now holds %q", got)
	}
	if got, _ := os.ReadFile(late + ".part"); !bytes.Equal(got, data) {
		t.Errorf(".part holds %d bytes, want the complete %d", len(got), len(data))
	}

	if _, err := c.DownloadFile(ctx, res.Key, out, client.DownloadOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
		t.Error("without NoOverwrite the file was not replaced")
	}
}

// TestDownloadFileEmpty checks that an empty file is saved as an empty file.
func TestDownloadFileEmpty(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "0")
		w.Header().Set("ETag", `"e"`)
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	out := filepath.Join(t.TempDir(), "empty.txt")
	info, err := client.New(srv.URL).DownloadFile(context.Background(), "member/x/20260101/other/empty.txt", out, client.DownloadOptions{NoOverwrite: true})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(out)
	if err != nil || fi.Size() != 0 || info.Size != 0 {
		t.Fatalf("saved file %v, %v (info size %d); want an empty file", fi, err, info.Size)
	}
	if _, err := os.Stat(out + ".part"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf(".part left: %v", err)
	}
}
