package disk_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/disk"
)

const mib = 1 << 20

// layout returns a MultipartInfo of total bytes in chunks of chunk bytes.
func layout(id string, total, chunk int64) storage.MultipartInfo {
	return storage.MultipartInfo{
		UploadID: id, Key: "creator/u1/20260101/video/" + id + ".mp4", ContentType: "video/mp4",
		TotalSize: total, ChunkSize: chunk, TotalChunks: int((total + chunk - 1) / chunk),
	}
}

// chunksOf lists every chunk of m with its length.
func chunksOf(m storage.MultipartInfo) []storage.Chunk {
	chunks := make([]storage.Chunk, m.TotalChunks)
	for i := range chunks {
		size := m.ChunkSize
		if i == m.TotalChunks-1 {
			size = m.TotalSize - int64(i)*m.ChunkSize
		}
		chunks[i] = storage.Chunk{Index: i, Size: size, ETag: fmt.Sprint(i)}
	}
	return chunks
}

func create(t *testing.T, s *disk.Store, m storage.MultipartInfo) string {
	t.Helper()
	h, err := s.CreateMultipart(t.Context(), m)
	if err != nil {
		t.Fatalf("CreateMultipart: %v", err)
	}
	return h
}

func writeChunk(t *testing.T, s *disk.Store, m storage.MultipartInfo, h string, i int, data []byte) {
	t.Helper()
	if _, err := s.WriteChunk(t.Context(), m, h, i, int64(len(data)), bytes.NewReader(data)); err != nil {
		t.Fatalf("WriteChunk %d: %v", i, err)
	}
}

func readObject(t *testing.T, s *disk.Store, key string) []byte {
	t.Helper()
	obj, err := s.Open(t.Context(), key)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer obj.Close()
	b, err := io.ReadAll(obj)
	if err != nil {
		t.Fatalf("ReadAll: %v", err)
	}
	return b
}

func TestCompleteLinksWithoutCopying(t *testing.T) {
	dir := t.TempDir()
	s, err := disk.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := layout("1-big", 4<<30+100, 1<<30) // 4 GiB + 100 bytes, sparse
	h := create(t, s, m)
	tail := bytes.Repeat([]byte("tail"), 25)
	writeChunk(t, s, m, h, m.TotalChunks-1, tail)
	before, err := os.Stat(filepath.Join(dir, "uploads", h))
	if err != nil {
		t.Fatal(err)
	}

	info, err := s.CompleteMultipart(t.Context(), m, h, chunksOf(m))
	if err != nil {
		t.Fatalf("CompleteMultipart: %v", err)
	}
	if info.Size != m.TotalSize {
		t.Errorf("Size = %d, want %d", info.Size, m.TotalSize)
	}
	after, err := os.Stat(filepath.Join(dir, "objects", filepath.FromSlash(m.Key)))
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) {
		t.Error("the object is not the upload's file (a copy was made)")
	}
	if blocks := after.Sys().(*syscall.Stat_t).Blocks; blocks*512 > mib {
		t.Errorf("the object uses %d bytes of disk; the sparse file was filled", blocks*512)
	}
	if _, err := os.Stat(filepath.Join(dir, "uploads", h)); !os.IsNotExist(err) {
		t.Errorf("the upload's file is still there: %v", err)
	}
	obj, err := s.Open(t.Context(), m.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	if _, err := obj.Seek(-int64(len(tail)), io.SeekEnd); err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(obj); err != nil || !bytes.Equal(got, tail) {
		t.Errorf("last chunk reads %q, %v; want %q", got, err, tail)
	}
}

func TestCompleteRepairsCrash(t *testing.T) {
	tests := []struct {
		name  string
		crash func(t *testing.T, dir string, m storage.MultipartInfo, h string)
	}{
		{"nothing left", func(*testing.T, string, storage.MultipartInfo, string) {}},
		{"between link and remove", func(t *testing.T, dir string, m storage.MultipartInfo, h string) {
			// Put the upload's name back, as a crash before its removal leaves it.
			if err := os.Link(filepath.Join(dir, "objects", filepath.FromSlash(m.Key)), filepath.Join(dir, "uploads", h)); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := disk.New(dir)
			if err != nil {
				t.Fatal(err)
			}
			m := layout("1-crash", 6*mib, 5*mib)
			h := create(t, s, m)
			data := bytes.Repeat([]byte{7}, int(m.TotalSize))
			writeChunk(t, s, m, h, 0, data[:5*mib])
			writeChunk(t, s, m, h, 1, data[5*mib:])
			first, err := s.CompleteMultipart(t.Context(), m, h, chunksOf(m))
			if err != nil {
				t.Fatal(err)
			}
			tt.crash(t, dir, m, h)
			_, err = s.WriteChunk(t.Context(), m, h, 0, 5*mib, bytes.NewReader(make([]byte, 5*mib)))
			if !storage.HasCode(err, storage.CodeUploadNotFound) {
				t.Errorf("WriteChunk after complete: error %v, want %s", err, storage.CodeUploadNotFound)
			}
			again, err := s.CompleteMultipart(t.Context(), m, h, chunksOf(m))
			if err != nil {
				t.Fatalf("repeated CompleteMultipart: %v", err)
			}
			if again != first {
				t.Errorf("repeated CompleteMultipart = %+v, want %+v", again, first)
			}
			if _, err := os.Stat(filepath.Join(dir, "uploads", h)); !os.IsNotExist(err) {
				t.Errorf("the upload's file is still there: %v", err)
			}
			if !bytes.Equal(readObject(t, s, m.Key), data) {
				t.Error("the object's bytes changed")
			}
		})
	}
}

func TestCompleteNeverOverwrites(t *testing.T) {
	s := newStore(t)
	a, b := layout("1-a", 10, 5*mib), layout("2-b", 10, 5*mib)
	b.Key = a.Key
	ha, hb := create(t, s, a), create(t, s, b)
	writeChunk(t, s, a, ha, 0, []byte("aaaaaaaaaa"))
	writeChunk(t, s, b, hb, 0, []byte("bbbbbbbbbb"))
	if _, err := s.CompleteMultipart(t.Context(), a, ha, chunksOf(a)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CompleteMultipart(t.Context(), b, hb, chunksOf(b)); !storage.HasCode(err, storage.CodeStorage) {
		t.Errorf("completing another upload at a taken key: error %v, want %s", err, storage.CodeStorage)
	}
	if got := readObject(t, s, a.Key); string(got) != "aaaaaaaaaa" {
		t.Errorf("object = %q, want the first upload's", got)
	}
	if err := s.AbortMultipart(t.Context(), b, hb); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CompleteMultipart(t.Context(), b, hb, chunksOf(b)); !storage.HasCode(err, storage.CodeUploadNotFound) {
		t.Errorf("completing the aborted upload whose key holds another object: error %v, want %s", err, storage.CodeUploadNotFound)
	}
}

func TestKeysCannotEscape(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "store")
	s, err := disk.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "secret"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(root, filepath.Join(dir, "objects", "up")); err != nil {
		t.Fatal(err)
	}
	keys := []string{"../../secret", "a/../../../secret", "/etc/passwd", `..\..\secret`, "..", ".", "a//b",
		"a/./b", "", "a\x00b", "up/secret"}
	for _, key := range keys {
		t.Run(fmt.Sprintf("%q", key), func(t *testing.T) {
			if obj, err := s.Open(t.Context(), key); !storage.HasCode(err, storage.CodeNotFound) {
				if obj != nil {
					obj.Close()
				}
				t.Errorf("Open: error %v, want %s", err, storage.CodeNotFound)
			}
			m := layout("1-escape", 10, 5*mib)
			m.Key = key
			if key != "up/secret" {
				if _, err := s.CreateMultipart(t.Context(), m); err == nil {
					t.Error("CreateMultipart accepted the key")
				}
			}
			_, err := s.WriteChunk(t.Context(), m, key, 0, 10, bytes.NewReader(make([]byte, 10)))
			if !storage.HasCode(err, storage.CodeUploadNotFound) {
				t.Errorf("WriteChunk with the key as handle: error %v, want %s", err, storage.CodeUploadNotFound)
			}
			if err := s.Delete(t.Context(), key); err != nil {
				t.Errorf("Delete: %v, want no error (nothing of the store's there)", err)
			}
		})
	}
	if got, err := os.ReadFile(filepath.Join(root, "secret")); err != nil || string(got) != "secret" {
		t.Errorf("secret = %q, %v", got, err)
	}
}

// TestDeleteRemovesOnlyTheObject checks that Delete removes the object's
// file, leaves the folder of other keys, another object and an upload in
// progress alone, and treats a folder's key as no object.
func TestDeleteRemovesOnlyTheObject(t *testing.T) {
	dir := t.TempDir()
	s, err := disk.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	complete := func(id string) storage.MultipartInfo {
		m := layout(id, 100, 5*mib)
		h := create(t, s, m)
		writeChunk(t, s, m, h, 0, bytes.Repeat([]byte{'x'}, 100))
		if _, err := s.CompleteMultipart(t.Context(), m, h, chunksOf(m)); err != nil {
			t.Fatalf("CompleteMultipart: %v", err)
		}
		return m
	}
	gone, kept := complete("1-gone"), complete("2-kept")
	pending := layout("3-pending", 100, 5*mib)
	h := create(t, s, pending)

	if err := s.Delete(t.Context(), gone.Key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "objects", filepath.FromSlash(gone.Key))); !os.IsNotExist(err) {
		t.Errorf("the object's file is still there: %v", err)
	}
	folder := filepath.Dir(filepath.FromSlash(kept.Key))
	for _, key := range []string{filepath.ToSlash(folder), pending.Key} {
		if err := s.Delete(t.Context(), key); err != nil {
			t.Errorf("Delete(%q): %v", key, err)
		}
	}
	if got := readObject(t, s, kept.Key); len(got) != 100 {
		t.Errorf("the other object has %d bytes, want 100", len(got))
	}
	writeChunk(t, s, pending, h, 0, bytes.Repeat([]byte{'y'}, 100))
	if _, err := s.CompleteMultipart(t.Context(), pending, h, chunksOf(pending)); err != nil {
		t.Fatalf("CompleteMultipart of the upload in progress: %v", err)
	}
	if got := readObject(t, s, pending.Key); !bytes.Equal(got, bytes.Repeat([]byte{'y'}, 100)) {
		t.Errorf("the upload in progress completed as %q", got)
	}
}

// gate delivers r's first n bytes, then closes reached and waits for release.
type gate struct {
	r       io.Reader
	n       int64
	reached chan struct{}
	release chan struct{}
}

func newGate(data []byte, n int64) *gate {
	return &gate{r: bytes.NewReader(data), n: n, reached: make(chan struct{}), release: make(chan struct{})}
}

func (g *gate) Read(p []byte) (int, error) {
	if g.n == 0 {
		close(g.reached)
		<-g.release
		g.n = -1
	}
	if g.n > 0 && int64(len(p)) > g.n {
		p = p[:g.n]
	}
	n, err := g.r.Read(p)
	if g.n > 0 {
		g.n -= int64(n)
	}
	return n, err
}

func TestTwoStoresContendForAChunk(t *testing.T) {
	dir := t.TempDir()
	a, err := disk.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := disk.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := layout("1-two", 5*mib+10, 5*mib)
	h := create(t, a, m)
	first := bytes.Repeat([]byte{1}, 5*mib)
	g := newGate(first, mib)
	done := make(chan error, 1)
	go func() {
		_, err := a.WriteChunk(t.Context(), m, h, 0, 5*mib, g)
		done <- err
	}()
	<-g.reached // a holds chunk 0 and has written 1 MiB of it

	_, err = b.WriteChunk(t.Context(), m, h, 0, 5*mib, bytes.NewReader(bytes.Repeat([]byte{2}, 5*mib)))
	if !storage.HasCode(err, storage.CodeChunkLocked) {
		t.Errorf("second store writing the same chunk: error %v, want %s", err, storage.CodeChunkLocked)
	}
	writeChunk(t, b, m, h, 1, []byte("0123456789")) // another chunk is free
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := b.CompleteMultipart(cancelled, m, h, chunksOf(m)); !storage.HasCode(err, storage.CodeChunkLocked) {
		t.Errorf("complete during a chunk write: error %v, want %s", err, storage.CodeChunkLocked)
	}

	close(g.release)
	if err := <-done; err != nil {
		t.Fatalf("first store's WriteChunk: %v", err)
	}
	if _, err := b.CompleteMultipart(t.Context(), m, h, chunksOf(m)); err != nil {
		t.Fatalf("CompleteMultipart: %v", err)
	}
	if got, want := readObject(t, a, m.Key), append(first, "0123456789"...); !bytes.Equal(got, want) {
		t.Error("the object is not the first store's chunk 0 and the second's chunk 1")
	}
	_, err = a.WriteChunk(t.Context(), m, h, 0, 5*mib, bytes.NewReader(first))
	if !storage.HasCode(err, storage.CodeUploadNotFound) {
		t.Errorf("WriteChunk after complete: error %v, want %s", err, storage.CodeUploadNotFound)
	}
}

// failAfter returns err after n bytes of zeros.
type failAfter struct {
	n   int
	err error
}

func (f *failAfter) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, f.err
	}
	n := min(len(p), f.n)
	clear(p[:n])
	f.n -= n
	return n, nil
}

func TestWriteChunkReturnsReaderDomainErrorUnchanged(t *testing.T) {
	s := newStore(t)
	m := layout("1-reader", 5*mib, 5*mib)
	h := create(t, s, m)
	injected := storage.Errorf(storage.CodeIncompleteBody, "body ended")
	_, err := s.WriteChunk(t.Context(), m, h, 0, 5*mib, &failAfter{n: mib, err: injected})
	if err != injected {
		t.Fatalf("WriteChunk error = %v, want the reader's error itself", err)
	}
	_, err = s.WriteChunk(t.Context(), m, h, 0, 5*mib, &failAfter{n: 5 * mib, err: io.EOF})
	if err != nil {
		t.Fatalf("WriteChunk after the failure: %v", err)
	}
}

func TestOpenWithoutSidecar(t *testing.T) {
	dir := t.TempDir()
	s, err := disk.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	key := "member/u2/20260101/other/plain.bin"
	path := filepath.Join(dir, "objects", filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := s.Open(t.Context(), key)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer obj.Close()
	info := obj.Info()
	if info.ContentType != storage.DefaultContentType || info.ETag == "" || info.Size != 5 || !info.LastModified.Equal(fi.ModTime()) {
		t.Errorf("Info = %+v; want the default content type, a tag, 5 bytes, mtime %v", info, fi.ModTime())
	}
}

func TestPingAndDescribe(t *testing.T) {
	dir := t.TempDir()
	s, err := disk.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(dir)
	if got := s.Describe(); got != "disk:"+abs {
		t.Errorf("Describe = %q", got)
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "objects")); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(t.Context()); !storage.HasCode(err, storage.CodeStorage) {
		t.Errorf("Ping without the objects folder: error %v, want %s", err, storage.CodeStorage)
	}
}
