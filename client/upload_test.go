package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	storage "github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/apitest"
	"github.com/memenow/memenow-storage/client"
)

// emptyFileServer is a server that accepts empty files: its init answers
// total_chunks chunks (0, or 1 empty chunk), and it records the requests.
type emptyFileServer struct {
	mu        sync.Mutex
	chunks    int
	puts      []int64 // the Content-Length of each chunk PUT
	completes int
	totalSize int64
}

func (s *emptyFileServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/api/upload/init":
		var in client.InitRequest
		_ = json.NewDecoder(r.Body).Decode(&in)
		s.totalSize = in.TotalSize
		json.NewEncoder(w).Encode(client.InitResponse{UploadID: "1-empty", ChunkSize: chunk, TotalChunks: s.chunks,
			Key: "member/tester/20260101/other/empty.txt", Status: "initiated"})
	case "/api/upload/chunk":
		s.puts = append(s.puts, r.ContentLength)
		json.NewEncoder(w).Encode(client.ChunkResponse{UploadID: "1-empty", ChunkIndex: 0, Status: "uploaded"})
	case "/api/upload/complete":
		s.completes++
		json.NewEncoder(w).Encode(client.CompleteResponse{UploadID: "1-empty", Key: "member/tester/20260101/other/empty.txt", Status: "completed"})
	default:
		http.NotFound(w, r)
	}
}

// TestUploadEmptyFile checks that an empty file is sent as the server
// answers its init: completed without a chunk, or with one empty chunk.
func TestUploadEmptyFile(t *testing.T) {
	for _, tt := range []struct {
		name     string
		chunks   int
		wantPuts []int64
	}{
		{"no chunk", 0, nil},
		{"one empty chunk", 1, []int64{0}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := &emptyFileServer{chunks: tt.chunks}
			srv := httptest.NewServer(s)
			defer srv.Close()
			res, err := client.New(srv.URL).Upload(context.Background(), bytes.NewReader(nil), 0, opts("empty.txt"))
			if err != nil {
				t.Fatal(err)
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			if res.Key != "member/tester/20260101/other/empty.txt" || res.Size != 0 || s.totalSize != 0 || s.completes != 1 {
				t.Errorf("result %+v, init total_size %d, %d completes; want the key, 0 bytes and one complete", res, s.totalSize, s.completes)
			}
			if len(s.puts) != len(tt.wantPuts) || (len(tt.wantPuts) == 1 && s.puts[0] != 0) {
				t.Errorf("chunk PUTs of %v bytes, want %v", s.puts, tt.wantPuts)
			}
		})
	}
}

// TestUploadEmptyFileRefused checks a server that refuses an empty file
// at init with INVALID_FIELD, as servers before zero-byte support did:
// Upload returns the refusal as is.
func TestUploadEmptyFileRefused(t *testing.T) {
	c := newServer(t, apitest.RefuseEmptyFiles)
	_, err := c.Upload(context.Background(), bytes.NewReader(nil), 0, opts("empty.txt"))
	if !errors.Is(err, &storage.Error{Code: storage.CodeInvalidField}) || client.HTTPStatus(err) != http.StatusBadRequest {
		t.Fatalf("err = %v, want INVALID_FIELD (HTTP 400)", err)
	}
}

// TestUploadEmptyFileToRealServer uploads an empty file to the real
// server, which takes it with no chunk, and reads it back empty.
func TestUploadEmptyFileToRealServer(t *testing.T) {
	c := newServer(t, nil)
	res, err := c.Upload(context.Background(), bytes.NewReader(nil), 0, opts("empty.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Size != 0 || !strings.HasSuffix(res.Key, "/empty.txt") {
		t.Fatalf("result %+v", res)
	}
	var buf bytes.Buffer
	if _, err := c.Download(context.Background(), res.Key, &buf); err != nil {
		t.Fatalf("Download: %v", err)
	}
	if buf.Len() != 0 {
		t.Fatalf("downloaded %d bytes, want none", buf.Len())
	}
}

// retryLog records the calls of RetryPolicy.OnRetry.
type retryLog struct {
	mu     sync.Mutex
	errs   []error
	delays []time.Duration
}

func (l *retryLog) onRetry(err error, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errs = append(l.errs, err)
	l.delays = append(l.delays, d)
}

// TestOnRetry checks that OnRetry hears of every retry, with its cause and
// wait: a refused connection, a 503 answer to a chunk, a download cut.
func TestOnRetry(t *testing.T) {
	t.Run("server down", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		var log retryLog
		c := &client.Client{BaseURL: "http://" + addr, Retry: client.RetryPolicy{MaxRetries: 3, BaseDelay: time.Millisecond, OnRetry: log.onRetry}}
		if _, err := c.Status(context.Background(), "1-x"); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("err = %v, want connection refused", err)
		}
		if len(log.errs) != 3 || !errors.Is(log.errs[0], syscall.ECONNREFUSED) {
			t.Fatalf("OnRetry calls %v, want 3 for the refused connection", log.errs)
		}
		for i, d := range log.delays {
			if d <= 0 || d > client.DefaultMaxDelay {
				t.Errorf("retry %d announced a wait of %v", i, d)
			}
		}
	})
	t.Run("503 to a chunk", func(t *testing.T) {
		isChunk1 := func(r *http.Request) bool { return r.Method == http.MethodPut && r.Header.Get("X-Chunk-Index") == "1" }
		c := newServer(t, failing(isChunk1, 2))
		var log retryLog
		c.Retry.OnRetry = log.onRetry
		data := randomData(t, testSize)
		if _, err := c.Upload(context.Background(), bytes.NewReader(data), int64(len(data)), opts("r.bin")); err != nil {
			t.Fatal(err)
		}
		if len(log.errs) != 2 || client.HTTPStatus(log.errs[0]) != http.StatusServiceUnavailable {
			t.Errorf("OnRetry calls %v, want 2 for the 503s", log.errs)
		}
	})
	t.Run("download cut", func(t *testing.T) {
		c := newServer(t, cutDownloadOnce(1000))
		data := randomData(t, chunk+10)
		res, err := c.Upload(context.Background(), bytes.NewReader(data), int64(len(data)), opts("d.bin"))
		if err != nil {
			t.Fatal(err)
		}
		var log retryLog
		c.Retry.OnRetry = log.onRetry
		if got := download(t, c, res.Key); !bytes.Equal(got, data) {
			t.Fatal("download differs")
		}
		if len(log.errs) != 1 {
			t.Errorf("OnRetry calls %v, want 1 for the cut", log.errs)
		}
	})
}
