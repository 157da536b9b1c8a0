//go:build linux

package httpapi_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	storage "github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/disk"
	"github.com/memenow/memenow-storage/httpapi"
	"github.com/memenow/memenow-storage/sqlite"
)

// smallFileSystem mounts a tmpfs of size bytes on a folder of t's and
// unmounts it when t ends. It skips the test where mounting is not allowed
// (not root, or in a container without CAP_SYS_ADMIN).
func smallFileSystem(t *testing.T, size int64) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "fs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0755", size)); err != nil {
		t.Skipf("cannot mount a small tmpfs here (%v): run as root to test a really full disk", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// TestFullDisk fills a real small file system that holds both the SQLite
// database and the uploads (a data folder on a 48 MiB tmpfs, 16 of them
// the disk store's reserve) to the last byte while an upload is in
// progress: the chunk that finds no space answers 507 INSUFFICIENT_STORAGE
// (not 502) and releases the reserve, the next chunk is refused before it
// eats the reserve's room, init answers 507, status still answers, cancel
// (a database write) succeeds and frees the upload's space, and uploads
// work again without a restart.
func TestFullDisk(t *testing.T) {
	dir := smallFileSystem(t, 48<<20)
	meta, err := sqlite.Open(filepath.Join(dir, "memenow.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	objects, err := disk.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	svc := &storage.Service{Objects: objects, Meta: meta, Config: storage.DefaultConfig()}
	srv := httptest.NewServer(httpapi.NewServer(httpapi.Options{Service: svc, Logger: quietLogger()}))
	defer srv.Close()

	call := func(method, path string, header map[string]string, body []byte) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	code := func(m map[string]any) any {
		e, _ := m["error"].(map[string]any)
		return e["code"]
	}
	const chunkSize = 5 << 20
	init := func(size int64) (int, map[string]any) {
		return call("POST", "/api/upload/init", nil, []byte(initBody("u1", size)))
	}

	status, m := init(12 * chunkSize)
	if status != http.StatusInsufficientStorage || code(m) != "INSUFFICIENT_STORAGE" {
		t.Fatalf("init of 60 MiB on a 48 MiB disk: %d %v, want 507 INSUFFICIENT_STORAGE", status, m)
	}
	status, m = init(3 * chunkSize)
	if status != http.StatusOK {
		t.Fatalf("init of 15 MiB on an empty 48 MiB disk: %d %v", status, m)
	}
	id := m["upload_id"].(string)
	body := bytes.Repeat([]byte{0xAB}, chunkSize)
	put := func(id string, i int) (int, map[string]any) {
		return call("PUT", "/api/upload/chunk", map[string]string{"X-Upload-Id": id, "X-Chunk-Index": fmt.Sprint(i)}, body)
	}
	if status, m = put(id, 0); status != http.StatusOK {
		t.Fatalf("chunk 0: %d %v", status, m)
	}
	// Something else fills the disk to the last byte.
	fill(t, filepath.Join(dir, "filler"))
	if status, m = put(id, 1); status != http.StatusInsufficientStorage || code(m) != "INSUFFICIENT_STORAGE" {
		t.Fatalf("chunk 1 on a full disk: %d %v, want 507 INSUFFICIENT_STORAGE", status, m)
	}
	if _, err := os.Stat(filepath.Join(dir, ".reserve")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the reserve is still there after ENOSPC (%v)", err)
	}
	if status, m = put(id, 2); status != http.StatusInsufficientStorage || code(m) != "INSUFFICIENT_STORAGE" {
		t.Fatalf("chunk 2 with the reserve released: %d %v, want 507 INSUFFICIENT_STORAGE", status, m)
	}
	if status, m = init(1); status != http.StatusInsufficientStorage {
		t.Errorf("init on a full disk: %d %v, want 507", status, m)
	}
	if status, m = call("GET", "/api/upload/"+id+"/status", nil, nil); status != http.StatusOK {
		t.Errorf("status on a full disk: %d %v, want 200", status, m)
	}
	// Cancel on the full disk frees the upload's space.
	if status, m = call("POST", "/api/upload/cancel", nil, []byte(fmt.Sprintf(`{"upload_id":%q}`, id))); status != http.StatusOK {
		t.Fatalf("cancel on a full disk: %d %v, want 200", status, m)
	}
	// And the service works again, without a restart, in the space freed
	// (the upload's 5 MiB; the reserve's 16 are kept free until there is
	// room to make it again).
	status, m = init(2 << 20)
	if status != http.StatusOK {
		t.Fatalf("init after the cancel: %d %v", status, m)
	}
	id = m["upload_id"].(string)
	if status, m = call("PUT", "/api/upload/chunk", map[string]string{"X-Upload-Id": id, "X-Chunk-Index": "0"}, body[:2<<20]); status != http.StatusOK {
		t.Fatalf("chunk after the cancel: %d %v", status, m)
	}
	if status, m = call("POST", "/api/upload/complete", nil, []byte(fmt.Sprintf(`{"upload_id":%q}`, id))); status != http.StatusOK {
		t.Fatalf("complete after the cancel: %d %v", status, m)
	}
	// Once what filled the disk is gone, the next write makes the reserve again.
	if err := os.Remove(filepath.Join(dir, "filler")); err != nil {
		t.Fatal(err)
	}
	if status, m = init(chunkSize); status != http.StatusOK {
		t.Fatalf("init with space again: %d %v", status, m)
	}
	if fi, err := os.Stat(filepath.Join(dir, ".reserve")); err != nil || fi.Size() != disk.ReserveBytes {
		t.Errorf("the reserve was not made again: %v", err)
	}
}

// fill writes to path until the file system is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := bytes.Repeat([]byte{1}, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	for n := len(buf) / 2; n > 0; n /= 2 { // the last few bytes too
		for {
			if _, err := f.Write(buf[:n]); err != nil {
				break
			}
		}
	}
}
