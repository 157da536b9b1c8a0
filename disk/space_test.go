package disk

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/memenow/memenow-storage"
)

// TestFullFileSystemErrors: ENOSPC and EDQUOT are INSUFFICIENT_STORAGE (507
// to clients, never retried blindly) and release the reserve; other
// failures stay R2_ERROR and leave it.
func TestFullFileSystemErrors(t *testing.T) {
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	reserve := filepath.Join(s.dir, reserveName)
	if fi, err := os.Stat(reserve); err != nil || fi.Size() != ReserveBytes {
		t.Fatalf("New made no reserve of %d bytes: %v", ReserveBytes, err)
	}
	if got := storage.ErrorCode(s.fsError(&fs.PathError{Op: "write", Path: "x", Err: syscall.EIO}, "writing")); got != storage.CodeStorage {
		t.Errorf("EIO: %s, want %s", got, storage.CodeStorage)
	}
	if !s.haveReserve() {
		t.Fatal("EIO released the reserve")
	}
	for _, errno := range []syscall.Errno{syscall.ENOSPC, syscall.EDQUOT} {
		err := s.fsError(fmt.Errorf("wrapped: %w", &fs.PathError{Op: "write", Path: "x", Err: errno}), "writing chunk 3 failed")
		if got := storage.ErrorCode(err); got != storage.CodeInsufficientStorage {
			t.Errorf("%v: %s, want %s", errno, got, storage.CodeInsufficientStorage)
		}
		if !errors.Is(err, errno) {
			t.Errorf("%v: the cause is lost: %v", errno, err)
		}
		if _, err := os.Stat(reserve); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%v did not release the reserve (%v)", errno, err)
		}
		if err := s.checkRoom(1); err != nil { // the temp folder has room: the reserve is made again
			t.Fatalf("checkRoom with room: %v", err)
		}
		if !s.haveReserve() {
			t.Errorf("checkRoom did not make the reserve again")
		}
	}
}

// TestPromisedBytes: the unwritten bytes of the upload files, counted at
// once for this process's uploads, chunks and aborts, and found the same
// by a scan (a second store on the folder, as another process would).
func TestPromisedBytes(t *testing.T) {
	dir := t.TempDir()
	s, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	const chunk = 1 << 20
	want := func(what string, n int64) {
		t.Helper()
		got, err := s.PromisedBytes(ctx)
		if err != nil || got != n {
			t.Errorf("%s: PromisedBytes = %d, %v; want %d", what, got, err, n)
		}
		// A store that never saw these uploads scans the files. A file's
		// extended attribute may take a block of its own, so the scan
		// may find up to a block less per file.
		other, err := New(dir)
		if err != nil {
			t.Fatal(err)
		}
		if scanned, err := other.PromisedBytes(ctx); err != nil || scanned > n || scanned < n-3*8192 {
			t.Errorf("%s: a scan finds %d, %v; want %d", what, scanned, err, n)
		}
	}
	want("no uploads", 0)
	var ms []storage.MultipartInfo
	for i := range 3 {
		m := storage.MultipartInfo{UploadID: fmt.Sprintf("1700000000000-%d", i), Key: fmt.Sprintf("k/%d", i),
			TotalSize: 4 * chunk, ChunkSize: chunk, TotalChunks: 4}
		if _, err := s.CreateMultipart(ctx, m); err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	want("three uploads of 4 MiB", 12*chunk)
	body := bytes.Repeat([]byte{7}, chunk)
	for _, i := range []int{0, 2, 2} { // chunk 2 written twice: taken once
		if _, err := s.WriteChunk(ctx, ms[0], ms[0].UploadID, i, chunk, bytes.NewReader(body)); err != nil {
			t.Fatal(err)
		}
	}
	want("two chunks written", 10*chunk)
	if err := s.AbortMultipart(ctx, ms[0], ms[0].UploadID); err != nil {
		t.Fatal(err)
	}
	want("the upload with chunks aborted", 8*chunk)
	if err := s.AbortMultipart(ctx, ms[1], ms[1].UploadID); err != nil {
		t.Fatal(err)
	}
	want("another aborted", 4*chunk)
}
