package s3

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/memenow/memenow-storage"
)

// testServer returns the endpoint and bucket of the real S3 server the tests
// run against. Without one they skip, unless MEMENOW_REQUIRE_S3=1 (set in
// CI), where a missing server is a failure.
func testServer(t *testing.T) (endpoint, bucket string) {
	t.Helper()
	endpoint = os.Getenv("MEMENOW_TEST_S3_ENDPOINT")
	bucket = os.Getenv("MEMENOW_TEST_S3_BUCKET")
	if endpoint == "" || bucket == "" {
		const msg = "S3 tests need MEMENOW_TEST_S3_ENDPOINT and MEMENOW_TEST_S3_BUCKET; run: " +
			"eval $(.ci/s3-server.sh start /tmp/s3) && go test ./s3/ ; .ci/s3-server.sh stop /tmp/s3"
		if os.Getenv("MEMENOW_REQUIRE_S3") == "1" {
			t.Fatal(msg + " (MEMENOW_REQUIRE_S3=1 forbids skipping)")
		}
		t.Skip(msg)
	}
	return endpoint, bucket
}

var nonKeyChars = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// freshPrefix returns a prefix no other test uses.
func freshPrefix(t *testing.T) string {
	var b [6]byte
	rand.Read(b[:])
	name := nonKeyChars.ReplaceAllString(t.Name(), "_")
	if len(name) > 60 {
		name = name[:60]
	}
	return "test/" + name + "-" + hex.EncodeToString(b[:])
}

// newTestStore returns a Store on the test server under a fresh prefix,
// with hc as its HTTP client when not nil. Its objects and multipart
// uploads are removed when the test ends.
func newTestStore(t *testing.T, hc *http.Client) *Store {
	t.Helper()
	return newTestStoreWithPrefix(t, hc, freshPrefix(t))
}

func newTestStoreWithPrefix(t *testing.T, hc *http.Client, prefix string) *Store {
	t.Helper()
	endpoint, bucket := testServer(t)
	s, err := New(context.Background(), Options{
		Bucket: bucket, Prefix: prefix, Endpoint: endpoint, PathStyle: true, HTTPClient: hc,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { removeAll(t, s) })
	return s
}

// removeAll deletes the objects and multipart uploads under s's prefix.
func removeAll(t *testing.T, s *Store) {
	ctx := context.Background()
	objs := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &s.prefix})
	for objs.HasMorePages() {
		page, err := objs.NextPage(ctx)
		if err != nil {
			t.Logf("cleanup: list objects: %v", err)
			break
		}
		for _, o := range page.Contents {
			if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: o.Key}); err != nil {
				t.Logf("cleanup: delete %s: %v", aws.ToString(o.Key), err)
			}
		}
	}
	ups, err := s.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &s.bucket, Prefix: &s.prefix})
	if err != nil {
		t.Logf("cleanup: list uploads: %v", err)
		return
	}
	for _, u := range ups.Uploads {
		_, _ = s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: u.Key, UploadId: u.UploadId})
	}
}

// testData returns n deterministic pseudo-random bytes.
func testData(seed uint64, n int) []byte {
	b := make([]byte, n)
	var s [32]byte
	s[0] = byte(seed)
	mrand.NewChaCha8(s).Read(b)
	return b
}

// onlyReader hides every method of r but Read, so the SDK cannot seek it.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// multipart describes an upload of data in chunks of chunkSize bytes.
func multipart(key string, data []byte, chunkSize int64) storage.MultipartInfo {
	n := (int64(len(data)) + chunkSize - 1) / chunkSize
	return storage.MultipartInfo{
		UploadID: "1700000000000-" + strings.Repeat("0", 8), Key: key, ContentType: "video/mp4",
		TotalSize: int64(len(data)), ChunkSize: chunkSize, TotalChunks: int(n),
	}
}

// chunkOf returns chunk i of data in m.
func chunkOf(m storage.MultipartInfo, data []byte, i int) []byte {
	start := int64(i) * m.ChunkSize
	return data[start : start+chunkLen(m, i)]
}

// writeAll creates a multipart upload and writes every chunk of data, in
// reverse order, through non-seekable readers. It returns the handle and chunks.
func writeAll(t *testing.T, s *Store, m storage.MultipartInfo, data []byte) (string, []storage.Chunk) {
	t.Helper()
	ctx := context.Background()
	handle, err := s.CreateMultipart(ctx, m)
	if err != nil {
		t.Fatalf("CreateMultipart: %v", err)
	}
	chunks := make([]storage.Chunk, m.TotalChunks)
	for i := m.TotalChunks - 1; i >= 0; i-- {
		c := chunkOf(m, data, i)
		etag, err := s.WriteChunk(ctx, m, handle, i, int64(len(c)), onlyReader{bytes.NewReader(c)})
		if err != nil {
			t.Fatalf("WriteChunk %d: %v", i, err)
		}
		if etag == "" {
			t.Fatalf("WriteChunk %d returned an empty ETag", i)
		}
		chunks[i] = storage.Chunk{Index: i, Size: int64(len(c)), ETag: etag}
	}
	return handle, chunks
}

// readObject opens key and reads it whole.
func readObject(t *testing.T, s *Store, key string) (storage.ObjectInfo, []byte) {
	t.Helper()
	obj, err := s.Open(context.Background(), key)
	if err != nil {
		t.Fatalf("Open(%q): %v", key, err)
	}
	defer obj.Close()
	got, err := io.ReadAll(obj)
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	return obj.Info(), got
}

// wantCode fails t unless err is an *storage.Error with code.
func wantCode(t *testing.T, what string, err error, code storage.Code) {
	t.Helper()
	var de *storage.Error
	if !errors.As(err, &de) || de.Code != code {
		t.Fatalf("%s: got error %v, want code %s", what, err, code)
	}
}

// faultTransport breaks chosen requests to the S3 server.
type faultTransport struct {
	base http.RoundTripper

	mu sync.Mutex
	// breakParts is how many UploadPart requests to cut after cutAfter
	// bytes of their body.
	breakParts int
	cutAfter   int64
	// loseCompletes is how many CompleteMultipartUpload responses to lose
	// after the server has handled the request.
	loseCompletes int
	// seen records the headers of every UploadPart request.
	seen []http.Header
}

func newFaultClient() (*http.Client, *faultTransport) {
	ft := &faultTransport{base: http.DefaultTransport.(*http.Transport).Clone()}
	return &http.Client{Transport: ft, Timeout: 5 * time.Minute}, ft
}

func (f *faultTransport) take(n *int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if *n > 0 {
		*n--
		return true
	}
	return false
}

func (f *faultTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	q := req.URL.Query()
	isPart := req.Method == http.MethodPut && q.Has("partNumber") && q.Has("uploadId")
	isComplete := req.Method == http.MethodPost && q.Has("uploadId")
	if isPart {
		f.mu.Lock()
		f.seen = append(f.seen, req.Header.Clone())
		f.mu.Unlock()
	}
	switch {
	case isPart && f.take(&f.breakParts):
		n, _ := io.CopyN(io.Discard, req.Body, f.cutAfter)
		req.Body.Close()
		return nil, errors.New("injected fault: connection reset after " + strconv.FormatInt(n, 10) + " bytes of the part")
	case isComplete && f.take(&f.loseCompletes):
		resp, err := f.base.RoundTrip(req)
		if err != nil {
			return nil, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return nil, errors.New("injected fault: response to complete lost")
	}
	return f.base.RoundTrip(req)
}

// setLoseCompletes sets how many complete responses to lose and returns the
// previous count.
func (f *faultTransport) setLoseCompletes(n int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	old := f.loseCompletes
	f.loseCompletes = n
	return old
}
