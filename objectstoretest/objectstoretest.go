// Package objectstoretest is the conformance suite every storage.ObjectStore
// passes: the local disk store on every go test run, S3-compatible stores
// against a real server.
//
// The suite uses unique keys and upload ids in every subtest, so a shared
// bucket is fine, and keeps every chunk but the last exactly
// storage.MinChunkSize (5 MiB) bytes, the smallest part S3 accepts.
package objectstoretest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/memenow/memenow-storage"
)

// chunkSize is the size of every chunk but the last in the suite.
const chunkSize = storage.MinChunkSize

// RunConformance runs the suite against stores made by newStore, which is
// called once per subtest and cleans up after itself (with t.Cleanup).
func RunConformance(t *testing.T, newStore func(t *testing.T) storage.ObjectStore) {
	t.Run("Ping", func(t *testing.T) {
		s := newStore(t)
		if err := s.Ping(t.Context()); err != nil {
			t.Fatalf("Ping: %v", err)
		}
		if s.Describe() == "" {
			t.Error("Describe is empty")
		}
	})
	t.Run("RoundTripOutOfOrder", func(t *testing.T) { testRoundTrip(t, newStore(t)) })
	t.Run("SeekRead", func(t *testing.T) { testSeekRead(t, newStore(t)) })
	t.Run("ParallelChunks", func(t *testing.T) { testParallelChunks(t, newStore(t)) })
	t.Run("SameChunkConcurrently", func(t *testing.T) { testSameChunkConcurrently(t, newStore(t)) })
	t.Run("RewriteReplaces", func(t *testing.T) { testRewriteReplaces(t, newStore(t)) })
	t.Run("ReaderFailsMidChunk", func(t *testing.T) { testReaderFails(t, newStore(t)) })
	t.Run("ReaderEndsEarly", func(t *testing.T) { testReaderEndsEarly(t, newStore(t)) })
	t.Run("ContextCancelledDuringWrite", func(t *testing.T) { testContextCancelled(t, newStore(t)) })
	t.Run("CompleteIdempotent", func(t *testing.T) { testCompleteIdempotent(t, newStore(t)) })
	t.Run("EmptyFile", func(t *testing.T) { testEmptyFile(t, newStore(t)) })
	t.Run("CompleteInvalidPart", func(t *testing.T) { testCompleteInvalidPart(t, newStore(t)) })
	t.Run("CompleteWrongETag", func(t *testing.T) { testCompleteWrongETag(t, newStore(t)) })
	t.Run("Abort", func(t *testing.T) { testAbort(t, newStore(t)) })
	t.Run("Delete", func(t *testing.T) { testDelete(t, newStore(t)) })
	t.Run("ListMultipart", func(t *testing.T) { testListMultipart(t, newStore(t)) })
	t.Run("HoldsData", func(t *testing.T) { testHoldsData(t, newStore(t)) })
	t.Run("OpenMissing", func(t *testing.T) {
		s := newStore(t)
		_, err := s.Open(t.Context(), newUpload(t, 1).m.Key)
		wantCode(t, "Open of a missing key", err, storage.CodeNotFound)
	})
	t.Run("SmallSingleChunk", func(t *testing.T) {
		s := newStore(t)
		for _, size := range []int64{1, 1000, chunkSize - 1} {
			t.Run(fmt.Sprint(size), func(t *testing.T) {
				u := newUpload(t, size)
				u.create(s)
				etag := u.write(s, 0, u.data)
				u.completeAndCheck(s, []storage.Chunk{{Index: 0, Size: size, ETag: etag}})
			})
		}
	})
}

// upload is one multipart upload of the suite and its expected contents.
type upload struct {
	t      *testing.T
	m      storage.MultipartInfo
	handle string
	data   []byte // the whole file
}

// newUpload returns an upload of size bytes with a unique key and id and
// deterministic contents.
func newUpload(t *testing.T, size int64) *upload {
	t.Helper()
	id := uuid.NewString()
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, t.Name())
	return &upload{
		t: t,
		m: storage.MultipartInfo{
			UploadID:    fmt.Sprintf("%d-%s", time.Now().UnixMilli(), id),
			Key:         fmt.Sprintf("objectstoretest/%s/%s.bin", id, name),
			ContentType: "video/mp4",
			TotalSize:   size,
			ChunkSize:   chunkSize,
			TotalChunks: int((size + chunkSize - 1) / chunkSize),
		},
		data: content(uint64(size), size),
	}
}

// content returns n deterministic pseudo-random bytes for seed.
func content(seed uint64, n int64) []byte {
	var key [32]byte
	copy(key[:], fmt.Sprintf("objectstoretest-%d", seed))
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(key).Read(b)
	return b
}

func (u *upload) create(s storage.ObjectStore) {
	u.t.Helper()
	h, err := s.CreateMultipart(u.t.Context(), u.m)
	if err != nil {
		u.t.Fatalf("CreateMultipart: %v", err)
	}
	u.handle = h
	u.t.Cleanup(func() { _ = s.AbortMultipart(context.Background(), u.m, h) })
}

// span returns the byte range of chunk i.
func (u *upload) span(i int) (off, n int64) {
	off = int64(i) * chunkSize
	return off, min(chunkSize, u.m.TotalSize-off)
}

// chunkOf returns chunk i of data, which is a whole file's contents.
func (u *upload) chunkOf(data []byte, i int) []byte {
	off, n := u.span(i)
	return data[off : off+n]
}

// tryWrite writes chunk i from r.
func (u *upload) tryWrite(ctx context.Context, s storage.ObjectStore, i int, r io.Reader) (string, error) {
	_, n := u.span(i)
	return s.WriteChunk(ctx, u.m, u.handle, i, n, r)
}

// write writes chunk i of data and returns its tag.
func (u *upload) write(s storage.ObjectStore, i int, data []byte) string {
	u.t.Helper()
	etag, err := u.tryWrite(u.t.Context(), s, i, bytes.NewReader(u.chunkOf(data, i)))
	if err != nil {
		u.t.Fatalf("WriteChunk %d: %v", i, err)
	}
	return etag
}

// writeAll writes every chunk of u.data in order and returns the chunk list.
func (u *upload) writeAll(s storage.ObjectStore) []storage.Chunk {
	u.t.Helper()
	chunks := make([]storage.Chunk, u.m.TotalChunks)
	for i := range chunks {
		_, n := u.span(i)
		chunks[i] = storage.Chunk{Index: i, Size: n, ETag: u.write(s, i, u.data)}
	}
	return chunks
}

// completeAndCheck completes the upload with chunks and checks the object
// reads back as u.data.
func (u *upload) completeAndCheck(s storage.ObjectStore, chunks []storage.Chunk) storage.ObjectInfo {
	u.t.Helper()
	info, err := s.CompleteMultipart(u.t.Context(), u.m, u.handle, chunks)
	if err != nil {
		u.t.Fatalf("CompleteMultipart: %v", err)
	}
	u.checkInfo("CompleteMultipart", info)
	u.checkObject(s, info.ETag)
	return info
}

func (u *upload) checkInfo(what string, info storage.ObjectInfo) {
	u.t.Helper()
	if info.Key != u.m.Key {
		u.t.Errorf("%s: Key = %q, want %q", what, info.Key, u.m.Key)
	}
	if info.Size != u.m.TotalSize {
		u.t.Errorf("%s: Size = %d, want %d", what, info.Size, u.m.TotalSize)
	}
	if info.ContentType != u.m.ContentType {
		u.t.Errorf("%s: ContentType = %q, want %q", what, info.ContentType, u.m.ContentType)
	}
	if len(info.ETag) < 3 || info.ETag[0] != '"' || info.ETag[len(info.ETag)-1] != '"' {
		u.t.Errorf("%s: ETag = %q, want a non-empty quoted tag", what, info.ETag)
	}
	if info.LastModified.IsZero() {
		u.t.Errorf("%s: LastModified is zero", what)
	}
}

// checkObject opens the object and checks its info and bytes; etag, when
// not empty, is the tag CompleteMultipart reported.
func (u *upload) checkObject(s storage.ObjectStore, etag string) {
	u.t.Helper()
	obj, err := s.Open(u.t.Context(), u.m.Key)
	if err != nil {
		u.t.Fatalf("Open: %v", err)
	}
	defer obj.Close()
	info := obj.Info()
	u.checkInfo("Open", info)
	if etag != "" && info.ETag != etag {
		u.t.Errorf("Open: ETag = %q, CompleteMultipart said %q", info.ETag, etag)
	}
	got, err := io.ReadAll(obj)
	if err != nil {
		u.t.Fatalf("reading the object: %v", err)
	}
	sameBytes(u.t, "object", got, u.data)
}

// sameBytes reports the first difference between got and want.
func sameBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if bytes.Equal(got, want) {
		return
	}
	if len(got) != len(want) {
		t.Fatalf("%s: %d bytes, want %d", what, len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: first differing byte at offset %d (chunk %d)", what, i, i/chunkSize)
		}
	}
}

func wantCode(t *testing.T, what string, err error, code storage.Code) {
	t.Helper()
	if !storage.HasCode(err, code) {
		t.Fatalf("%s: error %v, want code %s", what, err, code)
	}
}

func testRoundTrip(t *testing.T, s storage.ObjectStore) {
	u := newUpload(t, 2*chunkSize+12345)
	u.create(s)
	chunks := make([]storage.Chunk, u.m.TotalChunks)
	for _, i := range []int{2, 0, 1} {
		_, n := u.span(i)
		chunks[i] = storage.Chunk{Index: i, Size: n, ETag: u.write(s, i, u.data)}
		if chunks[i].ETag == "" {
			t.Errorf("WriteChunk %d returned an empty tag", i)
		}
	}
	if _, err := s.Open(t.Context(), u.m.Key); !storage.HasCode(err, storage.CodeNotFound) {
		t.Fatalf("Open before complete: error %v, want %s", err, storage.CodeNotFound)
	}
	u.completeAndCheck(s, chunks)
}

func testSeekRead(t *testing.T, s storage.ObjectStore) {
	u := newUpload(t, chunkSize+4321)
	u.create(s)
	u.completeAndCheck(s, u.writeAll(s))
	obj, err := s.Open(t.Context(), u.m.Key)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer obj.Close()
	size := u.m.TotalSize
	tests := []struct {
		name   string
		offset int64
		whence int
		pos    int64 // the absolute position Seek must return
		n      int
	}{
		{"start", 0, io.SeekStart, 0, 100},
		{"middle across chunks", chunkSize - 50, io.SeekStart, chunkSize - 50, 100},
		{"last byte", size - 1, io.SeekStart, size - 1, 1},
		{"from end", -10, io.SeekEnd, size - 10, 10},
		{"back to start", 0, io.SeekStart, 0, 7},
		{"from current", 5, io.SeekCurrent, 12, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pos, err := obj.Seek(tt.offset, tt.whence)
			if err != nil || pos != tt.pos {
				t.Fatalf("Seek(%d, %d) = %d, %v; want %d", tt.offset, tt.whence, pos, err, tt.pos)
			}
			got := make([]byte, tt.n)
			if _, err := io.ReadFull(obj, got); err != nil {
				t.Fatalf("ReadFull: %v", err)
			}
			sameBytes(t, "range", got, u.data[tt.pos:tt.pos+int64(tt.n)])
			if tt.pos+int64(tt.n) == size {
				if n, err := obj.Read(make([]byte, 1)); n != 0 || err != io.EOF {
					t.Errorf("Read at the end = %d, %v; want 0, EOF", n, err)
				}
			}
		})
	}
}

func testParallelChunks(t *testing.T, s storage.ObjectStore) {
	u := newUpload(t, 3*chunkSize+777)
	u.create(s)
	chunks := make([]storage.Chunk, u.m.TotalChunks)
	errs := make([]error, u.m.TotalChunks)
	var wg sync.WaitGroup
	for i := range chunks {
		wg.Go(func() {
			_, n := u.span(i)
			etag, err := u.tryWrite(t.Context(), s, i, bytes.NewReader(u.chunkOf(u.data, i)))
			chunks[i], errs[i] = storage.Chunk{Index: i, Size: n, ETag: etag}, err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("parallel WriteChunk: %v", err)
	}
	u.completeAndCheck(s, chunks)
}

// gatedReader reads r up to gateAt bytes, closes reached, then waits for
// release before reading on.
type gatedReader struct {
	ctx     context.Context
	r       io.Reader
	gateAt  int64
	read    int64
	reached chan struct{}
	release chan struct{}
	passed  bool
}

func (g *gatedReader) Read(p []byte) (int, error) {
	if !g.passed && g.read >= g.gateAt {
		close(g.reached)
		select {
		case <-g.release:
		case <-g.ctx.Done():
			return 0, g.ctx.Err()
		}
		g.passed = true
	}
	if !g.passed && g.read+int64(len(p)) > g.gateAt {
		p = p[:g.gateAt-g.read]
	}
	n, err := g.r.Read(p)
	g.read += int64(n)
	return n, err
}

// gatedWrite is a WriteChunk in a goroutine whose body stops half-way.
type gatedWrite struct {
	r    *gatedReader
	done chan struct{}
	etag string
	err  error
}

func startGatedWrite(t *testing.T, s storage.ObjectStore, u *upload, data []byte) *gatedWrite {
	w := &gatedWrite{done: make(chan struct{}), r: &gatedReader{ctx: t.Context(), r: bytes.NewReader(data),
		gateAt: int64(len(data)) / 2, reached: make(chan struct{}), release: make(chan struct{})}}
	go func() {
		defer close(w.done)
		w.etag, w.err = u.tryWrite(t.Context(), s, 0, w.r)
	}()
	return w
}

// finish lets the write go on and waits for it.
func (w *gatedWrite) finish() {
	select {
	case <-w.r.release:
	default:
		close(w.r.release)
	}
	<-w.done
}

func testSameChunkConcurrently(t *testing.T, s storage.ObjectStore) {
	u := newUpload(t, chunkSize+999)
	u.create(s)
	tail := u.write(s, 1, u.data)
	// Writer 0 sends the first half of its chunk and waits; writer 1 sends
	// other contents for the same chunk and, when the store lets it,
	// finishes first; then writer 0 finishes. A store that wrote both into
	// one place unguarded would hold writer 1's first half and writer 0's
	// second.
	versions := [2][]byte{u.chunkOf(u.data, 0), content(7, chunkSize)}
	w0 := startGatedWrite(t, s, u, versions[0])
	select {
	case <-w0.r.reached:
	case <-w0.done:
		t.Fatalf("first writer returned early: %v", w0.err)
	}
	w1 := startGatedWrite(t, s, u, versions[1])
	select {
	case <-w1.r.reached:
		w1.finish()
	case <-w1.done:
	case <-time.After(10 * time.Second): // the store makes writer 1 wait for writer 0
	}
	w0.finish()
	w1.finish()
	etags := [2]string{w0.etag, w1.etag}
	errs := [2]error{w0.err, w1.err}

	var won []int
	for w, err := range errs {
		switch {
		case err == nil:
			won = append(won, w)
		case !storage.HasCode(err, storage.CodeChunkLocked):
			t.Fatalf("writer %d: error %v, want success or %s", w, err, storage.CodeChunkLocked)
		}
	}
	if len(won) == 0 {
		t.Fatalf("both writers failed: %v; %v", errs[0], errs[1])
	}
	// With two successes the store decides which one is current; a store
	// that checks tags refuses the other's with CodeInvalidPart.
	var err error
	for _, w := range won {
		chunks := []storage.Chunk{{Index: 0, Size: chunkSize, ETag: etags[w]}, {Index: 1, Size: 999, ETag: tail}}
		if _, err = s.CompleteMultipart(t.Context(), u.m, u.handle, chunks); !storage.HasCode(err, storage.CodeInvalidPart) {
			break
		}
	}
	if err != nil {
		t.Fatalf("CompleteMultipart: %v", err)
	}
	obj, err := s.Open(t.Context(), u.m.Key)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer obj.Close()
	got, err := io.ReadAll(obj)
	if err != nil {
		t.Fatalf("ReadAll: %v", err)
	}
	if int64(len(got)) != u.m.TotalSize {
		t.Fatalf("object has %d bytes, want %d", len(got), u.m.TotalSize)
	}
	sameBytes(t, "last chunk", got[chunkSize:], u.chunkOf(u.data, 1))
	first := got[:chunkSize]
	ok := false
	for _, w := range won {
		ok = ok || bytes.Equal(first, versions[w])
	}
	if !ok {
		t.Fatalf("chunk 0 is neither writer's contents (winners %v)", won)
	}
}

func testRewriteReplaces(t *testing.T, s storage.ObjectStore) {
	u := newUpload(t, chunkSize+100)
	u.create(s)
	other := content(99, u.m.TotalSize)
	u.write(s, 0, other)
	u.write(s, 1, other)
	u.completeAndCheck(s, u.writeAll(s))
}

// failingReader returns err once after bytes of r.
type failingReader struct {
	r     io.Reader
	after int64 // bytes left before the failure point; -1 once past it
	err   error
	// before, when set, runs at the failure point, and the reader then
	// carries on with r instead of failing.
	before func()
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.after == 0 {
		if f.before == nil {
			return 0, f.err
		}
		f.before()
		f.after = -1
	}
	if f.after > 0 && int64(len(p)) > f.after {
		p = p[:f.after]
	}
	n, err := f.r.Read(p)
	if f.after > 0 {
		f.after -= int64(n)
	}
	return n, err
}

// rewriteAfterFailure checks that a failed write of chunk 0 leaves it
// rewritable, then completes the upload.
func rewriteAfterFailure(t *testing.T, s storage.ObjectStore, u *upload) {
	t.Helper()
	chunks := u.writeAll(s)
	u.completeAndCheck(s, chunks)
}

func testReaderFails(t *testing.T, s storage.ObjectStore) {
	u := newUpload(t, chunkSize+100)
	u.create(s)
	injected := errors.New("injected read failure")
	r := &failingReader{r: bytes.NewReader(content(5, chunkSize)), after: 1<<20 + 7, err: injected}
	if _, err := u.tryWrite(t.Context(), s, 0, r); err == nil {
		t.Fatal("WriteChunk with a failing reader succeeded")
	}
	rewriteAfterFailure(t, s, u)
}

func testReaderEndsEarly(t *testing.T, s storage.ObjectStore) {
	tests := []struct {
		name string
		err  error // what the reader returns after 3 MiB
	}{
		{"domain error", storage.Errorf(storage.CodeIncompleteBody, "client went away")},
		{"plain EOF", io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUpload(t, chunkSize+100)
			u.create(s)
			r := &failingReader{r: bytes.NewReader(content(5, chunkSize)), after: 3 << 20, err: tt.err}
			_, err := u.tryWrite(t.Context(), s, 0, r)
			wantCode(t, "WriteChunk of a short body", err, storage.CodeIncompleteBody)
			rewriteAfterFailure(t, s, u)
		})
	}
}

func testContextCancelled(t *testing.T, s storage.ObjectStore) {
	u := newUpload(t, chunkSize+100)
	u.create(s)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// The reader cancels the context half-way, then goes on supplying bytes.
	r := &failingReader{r: bytes.NewReader(content(5, chunkSize)), after: 2 << 20, before: cancel}
	if _, err := u.tryWrite(ctx, s, 0, r); err == nil {
		t.Fatal("WriteChunk succeeded although its context was cancelled")
	}
	rewriteAfterFailure(t, s, u)
}

func testCompleteIdempotent(t *testing.T, s storage.ObjectStore) {
	u := newUpload(t, chunkSize+100)
	u.create(s)
	chunks := u.writeAll(s)
	first := u.completeAndCheck(s, chunks)
	second, err := s.CompleteMultipart(t.Context(), u.m, u.handle, chunks)
	if err != nil {
		t.Fatalf("second CompleteMultipart: %v", err)
	}
	if second.Key != first.Key || second.Size != first.Size || second.ETag != first.ETag || second.ContentType != first.ContentType {
		t.Fatalf("second CompleteMultipart = %+v, first was %+v", second, first)
	}
	u.checkObject(s, first.ETag)
}

// testEmptyFile completes the upload of an empty file (TotalSize 0, no
// chunk) with no chunk: the object is empty, with its content type and a
// tag; a repeat returns the same info, and an abort after the complete
// leaves the object.
func testEmptyFile(t *testing.T, s storage.ObjectStore) {
	u := newUpload(t, 0)
	if u.m.TotalChunks != 0 {
		t.Fatalf("TotalChunks = %d, want 0", u.m.TotalChunks)
	}
	u.create(s)
	first := u.completeAndCheck(s, nil)
	second, err := s.CompleteMultipart(t.Context(), u.m, u.handle, nil)
	if err != nil {
		t.Fatalf("second CompleteMultipart: %v", err)
	}
	if second.Key != first.Key || second.Size != 0 || second.ETag != first.ETag || second.ContentType != first.ContentType {
		t.Fatalf("second CompleteMultipart = %+v, first was %+v", second, first)
	}
	if err := s.AbortMultipart(t.Context(), u.m, u.handle); err != nil {
		t.Fatalf("AbortMultipart after the complete: %v", err)
	}
	u.checkObject(s, first.ETag)
	t.Cleanup(func() { _ = s.Delete(context.Background(), u.m.Key) })
}

func testCompleteInvalidPart(t *testing.T, s storage.ObjectStore) {
	u := newUpload(t, 2*chunkSize+500)
	u.create(s)
	good := u.writeAll(s)
	c0, c1, c2 := good[0], good[1], good[2]
	short := c1
	short.Size--
	tests := []struct {
		name   string
		chunks []storage.Chunk
	}{
		{"none", nil},
		{"missing middle", []storage.Chunk{c0, c2}},
		{"missing last", []storage.Chunk{c0, c1}},
		{"wrong size", []storage.Chunk{c0, short, c2}},
		{"duplicate", []storage.Chunk{c0, c1, c1, c2}},
		{"index out of range", []storage.Chunk{c0, c1, c2, {Index: 3, Size: 1, ETag: c2.ETag}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.CompleteMultipart(t.Context(), u.m, u.handle, tt.chunks)
			wantCode(t, "CompleteMultipart", err, storage.CodeInvalidPart)
		})
	}
	if _, err := s.Open(t.Context(), u.m.Key); !storage.HasCode(err, storage.CodeNotFound) {
		t.Fatalf("Open after refused completes: error %v, want %s", err, storage.CodeNotFound)
	}
	u.completeAndCheck(s, good)
}

func testAbort(t *testing.T, s storage.ObjectStore) {
	u := newUpload(t, chunkSize+100)
	u.create(s)
	etag := u.write(s, 0, u.data)
	for i := range 2 {
		if err := s.AbortMultipart(t.Context(), u.m, u.handle); err != nil {
			t.Fatalf("AbortMultipart #%d: %v", i+1, err)
		}
	}
	_, err := u.tryWrite(t.Context(), s, 1, bytes.NewReader(u.chunkOf(u.data, 1)))
	wantCode(t, "WriteChunk after abort", err, storage.CodeUploadNotFound)
	chunks := []storage.Chunk{{Index: 0, Size: chunkSize, ETag: etag}, {Index: 1, Size: 100, ETag: etag}}
	_, err = s.CompleteMultipart(t.Context(), u.m, u.handle, chunks)
	wantCode(t, "CompleteMultipart after abort", err, storage.CodeUploadNotFound)
	_, err = s.Open(t.Context(), u.m.Key)
	wantCode(t, "Open after abort", err, storage.CodeNotFound)
}

func testDelete(t *testing.T, s storage.ObjectStore) {
	ctx := t.Context()
	gone, kept := newUpload(t, chunkSize+300), newUpload(t, 1000)
	for _, u := range []*upload{gone, kept} {
		u.create(s)
		u.completeAndCheck(s, u.writeAll(s))
	}
	for i := range 2 { // the second time the object is gone already
		if err := s.Delete(ctx, gone.m.Key); err != nil {
			t.Fatalf("Delete #%d: %v", i+1, err)
		}
		_, err := s.Open(ctx, gone.m.Key)
		wantCode(t, fmt.Sprintf("Open after Delete #%d", i+1), err, storage.CodeNotFound)
	}
	kept.checkObject(s, "")

	never := newUpload(t, 1).m.Key
	if err := s.Delete(ctx, never); err != nil {
		t.Fatalf("Delete of a key that never held an object: %v", err)
	}
	// The folder-like prefix of kept's key and a longer key beside it name
	// no object; deleting them leaves kept alone.
	dir := kept.m.Key[:strings.LastIndexByte(kept.m.Key, '/')]
	for _, key := range []string{dir, kept.m.Key + ".more"} {
		if err := s.Delete(ctx, key); err != nil {
			t.Fatalf("Delete(%q): %v", key, err)
		}
	}
	kept.checkObject(s, "")
}

// testCompleteWrongETag: a chunk recorded with a tag the store does not
// hold either completes with the stored bytes (a store that reconciles with
// its own part list, or keeps no tags) or fails with CodeInvalidPart naming
// exactly that chunk in Missing, so that the Service can ask for it again.
func testCompleteWrongETag(t *testing.T, s storage.ObjectStore) {
	u := newUpload(t, 2*chunkSize+500)
	u.create(s)
	chunks := u.writeAll(s)
	chunks[1].ETag = `"0123456789abcdef0123456789abcdef"`
	_, err := s.CompleteMultipart(t.Context(), u.m, u.handle, chunks)
	if err == nil {
		u.checkObject(s, "")
		return
	}
	var se *storage.Error
	if !errors.As(err, &se) || se.Code != storage.CodeInvalidPart || fmt.Sprint(se.Missing) != "[1]" {
		t.Fatalf("CompleteMultipart with a wrong tag for chunk 1: %v (Missing %v), want success or INVALID_PART with Missing [1]", err, missingOf(err))
	}
}

// missingOf returns the Missing of a *storage.Error in err.
func missingOf(err error) []int {
	var se *storage.Error
	if errors.As(err, &se) {
		return se.Missing
	}
	return nil
}
