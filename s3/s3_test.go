package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/objectstoretest"
)

const mib = 1 << 20

func TestParseURL(t *testing.T) {
	tests := []struct {
		in             string
		bucket, prefix string
		wantErr        bool
	}{
		{in: "s3://media", bucket: "media"},
		{in: "s3://media/", bucket: "media"},
		{in: "s3://media/uploads", bucket: "media", prefix: "uploads"},
		{in: "s3://media/a/b/", bucket: "media", prefix: "a/b"},
		{in: "s3://my.bucket-1/x", bucket: "my.bucket-1", prefix: "x"},
		{in: "", wantErr: true},
		{in: "media/x", wantErr: true},
		{in: "https://media/x", wantErr: true},
		{in: "s3://", wantErr: true},
		{in: "s3:///x", wantErr: true},
		{in: "s3://ab", wantErr: true},
		{in: "s3://Media", wantErr: true},
		{in: "s3://-media", wantErr: true},
		{in: "s3://media/a//b", wantErr: true},
		{in: "s3://media/a/../b", wantErr: true},
		{in: "s3://media/x?versionId=1", wantErr: true},
		{in: "s3://user@media/x", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			b, p, err := ParseURL(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseURL(%q) = %q, %q; want an error", tt.in, b, p)
				}
				return
			}
			if err != nil || b != tt.bucket || p != tt.prefix {
				t.Fatalf("ParseURL(%q) = %q, %q, %v; want %q, %q", tt.in, b, p, err, tt.bucket, tt.prefix)
			}
		})
	}
}

func TestNewAndDescribe(t *testing.T) {
	tests := []struct {
		name    string
		o       Options
		want    string
		wantErr bool
	}{
		{name: "prefix and endpoint", o: Options{Bucket: "media", Prefix: "/up/loads/", Endpoint: "https://acc.r2.cloudflarestorage.com"},
			want: "s3://media/up/loads (https://acc.r2.cloudflarestorage.com)"},
		{name: "no prefix", o: Options{Bucket: "media"}, want: "s3://media/"},
		{name: "endpoint credentials hidden", o: Options{Bucket: "media", Endpoint: "http://key:secret@127.0.0.1:9000"},
			want: "s3://media/ (http://127.0.0.1:9000)"},
		{name: "no bucket", o: Options{Prefix: "x"}, wantErr: true},
		{name: "bad prefix", o: Options{Bucket: "media", Prefix: "a/../b"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(context.Background(), tt.o)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("New(%+v) succeeded; want an error", tt.o)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Describe(); got != tt.want {
				t.Errorf("Describe() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRegion(t *testing.T) {
	tests := []struct {
		name, env, opt, want string
	}{
		{name: "default is auto", want: "auto"},
		{name: "from environment", env: "eu-west-1", want: "eu-west-1"},
		{name: "option wins", env: "eu-west-1", opt: "us-east-2", want: "us-east-2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("AWS_REGION", tt.env)
			t.Setenv("AWS_DEFAULT_REGION", "")
			t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
			s, err := New(context.Background(), Options{Bucket: "media", Region: tt.opt})
			if err != nil {
				t.Fatal(err)
			}
			if got := s.client.Options().Region; got != tt.want {
				t.Errorf("region = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPartReader(t *testing.T) {
	mine := storage.Errorf(storage.CodeChunkSize, "caller's own error")
	tests := []struct {
		name     string
		r        io.Reader
		size     int64
		want     string
		wantCode storage.Code
		wantSame error
		cancel   bool
	}{
		{name: "exact", r: strings.NewReader("hello"), size: 5, want: "hello"},
		{name: "longer source is cut", r: strings.NewReader("hello world"), size: 5, want: "hello"},
		{name: "short source", r: strings.NewReader("hel"), size: 5, wantCode: storage.CodeIncompleteBody},
		{name: "plain read error", r: io.MultiReader(strings.NewReader("he"), errReader{errors.New("reset")}), size: 5, wantCode: storage.CodeIncompleteBody},
		{name: "storage error kept", r: io.MultiReader(strings.NewReader("he"), errReader{mine}), size: 5, wantSame: mine},
		{name: "cancelled context", r: strings.NewReader("hello"), size: 5, cancel: true, wantCode: storage.CodeStorage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			if tt.cancel {
				cancel()
			}
			defer cancel()
			p := &partReader{ctx: ctx, r: tt.r, remaining: tt.size, size: tt.size}
			got, err := io.ReadAll(p)
			if tt.cancel && !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want one wrapping context.Canceled", err)
			}
			switch {
			case tt.wantSame != nil:
				if err != tt.wantSame || p.err != tt.wantSame {
					t.Fatalf("err = %v, recorded %v; want the reader's own error", err, p.err)
				}
			case tt.wantCode != "":
				wantCode(t, "ReadAll", err, tt.wantCode)
			case err != nil || string(got) != tt.want:
				t.Fatalf("ReadAll = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// TestRoundTrip writes chunks out of order through non-seekable readers,
// completes, and reads the object back whole, by ranges and through
// http.ServeContent.
func TestRoundTrip(t *testing.T) {
	s := newTestStore(t, nil)
	ctx := context.Background()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	data := testData(1, 11*mib+123)
	m := multipart("creator/u1/20240101/video/clip.mp4", data, 5*mib)
	handle, chunks := writeAll(t, s, m, data)
	info, err := s.CompleteMultipart(ctx, m, handle, chunks)
	if err != nil {
		t.Fatalf("CompleteMultipart: %v", err)
	}
	if info.Key != m.Key || info.Size != m.TotalSize || info.ContentType != "video/mp4" ||
		!strings.HasPrefix(info.ETag, `"`) || info.LastModified.IsZero() {
		t.Fatalf("CompleteMultipart info = %+v", info)
	}
	got, body := readObject(t, s, m.Key)
	if got != info {
		t.Errorf("Open info = %+v, want %+v", got, info)
	}
	if !bytes.Equal(body, data) {
		t.Fatal("object differs from the uploaded bytes")
	}

	t.Run("seek and read", func(t *testing.T) {
		obj, err := s.Open(ctx, m.Key)
		if err != nil {
			t.Fatal(err)
		}
		defer obj.Close()
		for _, off := range []int64{5*mib - 3, 17, m.TotalSize - 10, 0} {
			if _, err := obj.Seek(off, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 8)
			if _, err := io.ReadFull(obj, buf); err != nil {
				t.Fatalf("read at %d: %v", off, err)
			}
			if !bytes.Equal(buf, data[off:off+8]) {
				t.Fatalf("bytes at %d differ", off)
			}
		}
		if end, _ := obj.Seek(0, io.SeekEnd); end != m.TotalSize {
			t.Fatalf("Seek(0, End) = %d, want %d", end, m.TotalSize)
		}
		if n, err := obj.Read(make([]byte, 1)); n != 0 || err != io.EOF {
			t.Fatalf("Read at end = %d, %v; want 0, EOF", n, err)
		}
		if _, err := obj.Seek(-1, io.SeekStart); err == nil {
			t.Fatal("Seek to -1 succeeded")
		}
	})

	t.Run("ServeContent", func(t *testing.T) {
		tests := []struct {
			name   string
			header map[string]string
			status int
			body   []byte
		}{
			{name: "range", header: map[string]string{"Range": "bytes=100-199"}, status: 206, body: data[100:200]},
			{name: "suffix range", header: map[string]string{"Range": "bytes=-5"}, status: 206, body: data[len(data)-5:]},
			{name: "if-none-match", header: map[string]string{"If-None-Match": info.ETag}, status: 304},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				obj, err := s.Open(ctx, m.Key)
				if err != nil {
					t.Fatal(err)
				}
				defer obj.Close()
				req := httptest.NewRequest(http.MethodGet, "/f", nil)
				for k, v := range tt.header {
					req.Header.Set(k, v)
				}
				w := httptest.NewRecorder()
				w.Header().Set("ETag", obj.Info().ETag)
				http.ServeContent(w, req, "clip.mp4", obj.Info().LastModified, obj)
				if w.Code != tt.status || !bytes.Equal(w.Body.Bytes(), tt.body) {
					t.Fatalf("status %d with %d bytes; want %d with %d bytes", w.Code, w.Body.Len(), tt.status, len(tt.body))
				}
			})
		}
	})
}

// TestPrefix checks that keys are stored under the prefix and that stores
// with different prefixes do not see each other's objects.
func TestPrefix(t *testing.T) {
	base := freshPrefix(t)
	a := newTestStoreWithPrefix(t, nil, base+"/a/")
	b := newTestStoreWithPrefix(t, nil, base+"/b")
	ctx := context.Background()
	data := testData(2, 1000)
	m := multipart("member/u2/20240101/other/x.bin", data, 5*mib)
	handle, chunks := writeAll(t, a, m, data)
	if _, err := a.CompleteMultipart(ctx, m, handle, chunks); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{base + "/a/" + m.Key} {
		if _, err := a.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &a.bucket, Key: aws.String(k)}); err != nil {
			t.Errorf("no object at the prefixed key %q: %v", k, err)
		}
	}
	if _, err := a.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &a.bucket, Key: aws.String(m.Key)}); !isNotFound(err) {
		t.Errorf("object also at the bare key %q: %v", m.Key, err)
	}
	if _, err := b.Open(ctx, m.Key); !storage.HasCode(err, storage.CodeNotFound) {
		t.Errorf("store with another prefix opened the object: %v", err)
	}
	if _, body := readObject(t, a, m.Key); !bytes.Equal(body, data) {
		t.Error("object read through its prefix differs")
	}

	// Deleting through the other prefix leaves the object; deleting
	// through its own removes exactly the prefixed key.
	if err := b.Delete(ctx, m.Key); err != nil {
		t.Fatalf("Delete through another prefix: %v", err)
	}
	if _, body := readObject(t, a, m.Key); !bytes.Equal(body, data) {
		t.Error("a store with another prefix deleted the object")
	}
	for _, key := range []string{"../a/" + m.Key, "x/../../a/" + m.Key, "", "a//b"} {
		if err := b.Delete(ctx, key); !storage.HasCode(err, storage.CodeStorage) {
			t.Errorf("Delete(%q): %v, want %s for a malformed key", key, err, storage.CodeStorage)
		}
	}
	if _, body := readObject(t, a, m.Key); !bytes.Equal(body, data) {
		t.Error("a malformed key deleted the object of another prefix")
	}
	if err := a.Delete(ctx, m.Key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := a.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &a.bucket, Key: aws.String(base + "/a/" + m.Key)}); !isNotFound(err) {
		t.Errorf("the prefixed key is still there after Delete: %v", err)
	}
}

func TestErrors(t *testing.T) {
	s := newTestStore(t, nil)
	ctx := context.Background()
	data := testData(3, 10*mib+1)
	m := multipart("creator/u3/20240101/other/e.bin", data, 5*mib)

	t.Run("open missing", func(t *testing.T) {
		_, err := s.Open(ctx, "creator/nobody/none.bin")
		wantCode(t, "Open", err, storage.CodeNotFound)
	})
	t.Run("missing part", func(t *testing.T) {
		handle, err := s.CreateMultipart(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		defer s.AbortMultipart(ctx, m, handle)
		c0 := chunkOf(m, data, 0)
		etag, err := s.WriteChunk(ctx, m, handle, 0, int64(len(c0)), bytes.NewReader(c0))
		if err != nil {
			t.Fatal(err)
		}
		chunks := []storage.Chunk{{Index: 0, Size: 5 * mib, ETag: etag}, {Index: 1, Size: 5 * mib, ETag: `"0000"`}, {Index: 2, Size: 1, ETag: `"1111"`}}
		_, err = s.CompleteMultipart(ctx, m, handle, chunks)
		wantCode(t, "CompleteMultipart", err, storage.CodeInvalidPart)
	})
	t.Run("chunks not matching the upload", func(t *testing.T) {
		_, err := s.CompleteMultipart(ctx, m, "any", []storage.Chunk{{Index: 0, Size: 5 * mib}})
		wantCode(t, "CompleteMultipart", err, storage.CodeInvalidPart)
	})
	t.Run("wrong etags are reconciled", func(t *testing.T) {
		handle, chunks := writeAll(t, s, m, data)
		for i := range chunks {
			chunks[i].ETag = `"ffffffffffffffffffffffffffffffff"`
		}
		info, err := s.CompleteMultipart(ctx, m, handle, chunks)
		if err != nil {
			t.Fatalf("CompleteMultipart: %v", err)
		}
		if _, body := readObject(t, s, m.Key); info.Size != m.TotalSize || !bytes.Equal(body, data) {
			t.Fatal("reconciled object differs")
		}
	})
	t.Run("unknown upload", func(t *testing.T) {
		m2 := m
		m2.Key = "creator/u3/20240101/other/never.bin"
		_, err := s.CompleteMultipart(ctx, m2, "no-such-upload", chunksOfSizes(m2))
		wantCode(t, "CompleteMultipart", err, storage.CodeUploadNotFound)
		c0 := chunkOf(m, data, 0)
		_, err = s.WriteChunk(ctx, m2, "no-such-upload", 0, int64(len(c0)), bytes.NewReader(c0))
		wantCode(t, "WriteChunk", err, storage.CodeUploadNotFound)
		if err := s.AbortMultipart(ctx, m2, "no-such-upload"); err != nil {
			t.Fatalf("AbortMultipart of an unknown upload: %v", err)
		}
	})
	t.Run("abort is idempotent", func(t *testing.T) {
		m2 := m
		m2.Key = "creator/u3/20240101/other/aborted.bin"
		handle, chunks := writeAll(t, s, m2, data)
		for range 2 {
			if err := s.AbortMultipart(ctx, m2, handle); err != nil {
				t.Fatalf("AbortMultipart: %v", err)
			}
		}
		_, err := s.CompleteMultipart(ctx, m2, handle, chunks)
		wantCode(t, "CompleteMultipart after abort", err, storage.CodeUploadNotFound)
	})
	t.Run("short body", func(t *testing.T) {
		handle, err := s.CreateMultipart(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		defer s.AbortMultipart(ctx, m, handle)
		_, err = s.WriteChunk(ctx, m, handle, 0, 5*mib, onlyReader{bytes.NewReader(data[:mib])})
		wantCode(t, "WriteChunk", err, storage.CodeIncompleteBody)
	})
	t.Run("reader's storage error unchanged", func(t *testing.T) {
		handle, err := s.CreateMultipart(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		defer s.AbortMultipart(ctx, m, handle)
		mine := storage.Errorf(storage.CodeIncompleteBody, "client went away")
		r := io.MultiReader(bytes.NewReader(data[:2*mib]), errReader{mine})
		_, err = s.WriteChunk(ctx, m, handle, 0, 5*mib, r)
		if err != mine {
			t.Fatalf("WriteChunk = %v; want the reader's own error", err)
		}
	})
	t.Run("bad credentials give a clean storage error", func(t *testing.T) {
		t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
		bad := newTestStoreWithPrefix(t, nil, freshPrefix(t))
		err := bad.Ping(ctx)
		wantCode(t, "Ping", err, storage.CodeStorage)
		var de *storage.Error
		if errors.As(err, &de); de.Message != "object storage error" || de.Err == nil {
			t.Fatalf("error = %+v; want a clean message with the SDK's cause", de)
		}
		_, err = bad.CreateMultipart(ctx, m)
		wantCode(t, "CreateMultipart", err, storage.CodeStorage)
		wantCode(t, "Delete", bad.Delete(ctx, m.Key), storage.CodeStorage)
	})
	t.Run("missing bucket", func(t *testing.T) {
		nb, err := New(ctx, Options{Bucket: "no-such-bucket-memenow", Endpoint: s.endpoint, PathStyle: true})
		if err != nil {
			t.Fatal(err)
		}
		wantCode(t, "Ping", nb.Ping(ctx), storage.CodeStorage)
		wantCode(t, "Delete", nb.Delete(ctx, m.Key), storage.CodeStorage)
	})
}

func chunksOfSizes(m storage.MultipartInfo) []storage.Chunk {
	c := make([]storage.Chunk, m.TotalChunks)
	for i := range c {
		c[i] = storage.Chunk{Index: i, Size: chunkLen(m, i), ETag: `"x"`}
	}
	return c
}

// blockingReader returns its first byte, then blocks until released.
type blockingReader struct {
	started chan struct{}
	release chan struct{}
	r       io.Reader
	first   bool
}

func (b *blockingReader) Read(p []byte) (int, error) {
	if !b.first {
		b.first = true
		close(b.started)
		<-b.release
	}
	return b.r.Read(p)
}

func TestChunkLocked(t *testing.T) {
	s := newTestStore(t, nil)
	ctx := context.Background()
	data := testData(4, 6*mib)
	m := multipart("creator/u4/20240101/other/l.bin", data, 5*mib)
	handle, err := s.CreateMultipart(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	c0 := chunkOf(m, data, 0)
	br := &blockingReader{started: make(chan struct{}), release: make(chan struct{}), r: bytes.NewReader(c0)}
	done := make(chan error, 1)
	go func() {
		_, err := s.WriteChunk(ctx, m, handle, 0, int64(len(c0)), br)
		done <- err
	}()
	<-br.started
	_, err = s.WriteChunk(ctx, m, handle, 0, int64(len(c0)), bytes.NewReader(c0))
	wantCode(t, "concurrent WriteChunk", err, storage.CodeChunkLocked)
	close(br.release)
	if err := <-done; err != nil {
		t.Fatalf("first WriteChunk: %v", err)
	}
	if _, err := s.WriteChunk(ctx, m, handle, 0, int64(len(c0)), bytes.NewReader(c0)); err != nil {
		t.Fatalf("WriteChunk after the lock was released: %v", err)
	}
}

// genReader yields n pseudo-random bytes without allocating; it cannot seek.
type genReader struct {
	rng *mrand.ChaCha8
	n   int64
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > g.n {
		p = p[:g.n]
	}
	g.rng.Read(p)
	g.n -= int64(len(p))
	return len(p), nil
}

// TestStreamsPart uploads a 64 MiB part from a non-seekable reader and checks
// that it went out as one unsigned, un-chunked stream without the part
// being held in memory, and came back byte for byte.
func TestStreamsPart(t *testing.T) {
	hc, ft := newFaultClient()
	s := newTestStore(t, hc)
	ctx := context.Background()
	const size = 64 * mib
	m := storage.MultipartInfo{UploadID: "u-stream", Key: "creator/u5/20240101/other/big.bin",
		ContentType: "application/octet-stream", TotalSize: size, ChunkSize: size, TotalChunks: 1}
	handle, err := s.CreateMultipart(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.New()
	src := io.TeeReader(&genReader{rng: mrand.NewChaCha8([32]byte{5}), n: size}, sum)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	etag, err := s.WriteChunk(ctx, m, handle, 0, size, src)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatalf("WriteChunk: %v", err)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("WriteChunk of %d MiB allocated %d KiB", size/mib, alloc/1024)
	if alloc > 16*mib {
		t.Errorf("WriteChunk of a 64 MiB part allocated %d MiB; the part must be streamed", alloc/mib)
	}
	if len(ft.seen) != 1 {
		t.Fatalf("%d UploadPart requests, want 1", len(ft.seen))
	}
	h := ft.seen[0]
	if got := h.Get("X-Amz-Content-Sha256"); got != "UNSIGNED-PAYLOAD" {
		t.Errorf("X-Amz-Content-Sha256 = %q, want UNSIGNED-PAYLOAD", got)
	}
	if got := h.Get("Content-Encoding") + h.Get("X-Amz-Trailer") + h.Get("X-Amz-Decoded-Content-Length"); got != "" {
		t.Errorf("part was sent aws-chunked: %v", h)
	}

	info, err := s.CompleteMultipart(ctx, m, handle, []storage.Chunk{{Index: 0, Size: size, ETag: etag}})
	if err != nil {
		t.Fatalf("CompleteMultipart: %v", err)
	}
	obj, err := s.Open(ctx, m.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	back := sha256.New()
	if n, err := io.Copy(back, obj); err != nil || n != size || info.Size != size {
		t.Fatalf("read back %d bytes (%v), info size %d; want %d", n, err, info.Size, size)
	}
	if !bytes.Equal(back.Sum(nil), sum.Sum(nil)) {
		t.Fatal("object differs from the streamed bytes")
	}
}

// TestPartFailsMidStream cuts an UploadPart after 1 MiB of its body: the
// chunk fails with CodeStorage, a retry succeeds and the object is exact.
func TestPartFailsMidStream(t *testing.T) {
	hc, ft := newFaultClient()
	s := newTestStore(t, hc)
	ctx := context.Background()
	data := testData(6, 12*mib)
	m := multipart("creator/u6/20240101/other/f.bin", data, 5*mib)
	handle, err := s.CreateMultipart(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	chunks := make([]storage.Chunk, m.TotalChunks)
	for i := range chunks {
		c := chunkOf(m, data, i)
		if i == 1 {
			ft.mu.Lock()
			ft.breakParts, ft.cutAfter = 1, mib
			ft.mu.Unlock()
			_, err := s.WriteChunk(ctx, m, handle, i, int64(len(c)), onlyReader{bytes.NewReader(c)})
			wantCode(t, "WriteChunk cut mid-stream", err, storage.CodeStorage)
		}
		etag, err := s.WriteChunk(ctx, m, handle, i, int64(len(c)), onlyReader{bytes.NewReader(c)})
		if err != nil {
			t.Fatalf("WriteChunk %d: %v", i, err)
		}
		chunks[i] = storage.Chunk{Index: i, Size: int64(len(c)), ETag: etag}
	}
	if ft.breakParts != 0 {
		t.Fatal("the fault was not injected")
	}
	if _, err := s.CompleteMultipart(ctx, m, handle, chunks); err != nil {
		t.Fatalf("CompleteMultipart: %v", err)
	}
	if _, body := readObject(t, s, m.Key); !bytes.Equal(body, data) {
		t.Fatal("object differs after a retried chunk")
	}
}

// TestCompleteResponseLost lets CompleteMultipartUpload succeed on the server
// but loses its answers: completing again returns the object's info.
func TestCompleteResponseLost(t *testing.T) {
	hc, ft := newFaultClient()
	s := newTestStore(t, hc)
	ctx := context.Background()
	data := testData(7, 7*mib)
	m := multipart("creator/u7/20240101/other/c.bin", data, 5*mib)
	handle, chunks := writeAll(t, s, m, data)

	// Lose every answer, so that the SDK's own retries cannot recover.
	ft.setLoseCompletes(1000)
	_, err := s.CompleteMultipart(ctx, m, handle, chunks)
	wantCode(t, "CompleteMultipart with its responses lost", err, storage.CodeStorage)
	if ft.setLoseCompletes(0) == 1000 {
		t.Fatal("the fault was not injected")
	}
	if _, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: aws.String(s.key(m.Key))}); err != nil {
		t.Fatalf("the lost complete did not reach the server: %v", err)
	}
	info, err := s.CompleteMultipart(ctx, m, handle, chunks)
	if err != nil {
		t.Fatalf("repeated CompleteMultipart: %v", err)
	}
	if info.Key != m.Key || info.Size != m.TotalSize || info.ETag == "" {
		t.Fatalf("repeated CompleteMultipart info = %+v", info)
	}
	if _, body := readObject(t, s, m.Key); !bytes.Equal(body, data) {
		t.Fatal("object differs")
	}

	t.Run("another upload's object is not taken as done", func(t *testing.T) {
		other := m
		other.UploadID = "another-upload"
		_, err := s.CompleteMultipart(ctx, other, "gone-upload-id", chunks)
		wantCode(t, "CompleteMultipart", err, storage.CodeUploadNotFound)
	})
}

// TestConformance runs the ObjectStore conformance suite against the real
// S3 server, under a fresh prefix per subtest.
func TestConformance(t *testing.T) {
	testServer(t)
	objectstoretest.RunConformance(t, func(t *testing.T) storage.ObjectStore { return newTestStore(t, nil) })
}
