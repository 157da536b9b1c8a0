package client

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	storage "github.com/memenow/memenow-storage"
)

// TestUploadDoesNotRetryRefusals: a chunk answered 507 (the server's
// storage is full) and an init answered 429 TOO_MANY_UPLOADS or 413
// QUOTA_EXCEEDED are sent once, and the upload fails at once with the
// server's code, while 429 RATE_LIMITED is waited out (Retry-After) and
// retried.
func TestUploadDoesNotRetryRefusals(t *testing.T) {
	for _, tc := range []struct {
		name       string
		initStatus int
		initCode   storage.Code
		chunkCode  storage.Code
		want       storage.Code
		inits      int64
		chunks     int64
	}{
		{"storage full", http.StatusOK, "", storage.CodeInsufficientStorage, storage.CodeInsufficientStorage, 1, 1},
		{"too many uploads", http.StatusTooManyRequests, storage.CodeTooManyUploads, "", storage.CodeTooManyUploads, 1, 0},
		{"quota exceeded", http.StatusRequestEntityTooLarge, storage.CodeQuotaExceeded, "", storage.CodeQuotaExceeded, 1, 0},
		{"rate limited, then served", http.StatusTooManyRequests, storage.CodeRateLimited, "", "", 2, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var inits, chunks atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				refuse := func(status int, code storage.Code) {
					w.Header().Set("Retry-After", "0")
					w.WriteHeader(status)
					fmt.Fprintf(w, `{"error":{"code":%q,"message":"refused","timestamp":""}}`, code)
				}
				switch r.URL.Path {
				case "/api/upload/init":
					if inits.Add(1) == 1 && tc.initCode != "" {
						refuse(tc.initStatus, tc.initCode)
						return
					}
					fmt.Fprint(w, `{"upload_id":"1-u","chunk_size":5242880,"total_chunks":1,"r2_key":"k","status":"initiated"}`)
				case "/api/upload/chunk":
					chunks.Add(1)
					if tc.chunkCode != "" {
						refuse(http.StatusInsufficientStorage, tc.chunkCode)
						return
					}
					fmt.Fprint(w, `{"upload_id":"1-u","chunk_index":0,"status":"uploaded"}`)
				case "/api/upload/complete":
					fmt.Fprint(w, `{"upload_id":"1-u","r2_key":"k","status":"completed"}`)
				default:
					http.NotFound(w, r)
				}
			}))
			defer srv.Close()
			c := New(srv.URL)
			c.Retry = RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}
			_, err := c.Upload(t.Context(), bytes.NewReader(make([]byte, 100)), 100,
				UploadOptions{FileName: "a.bin", UserID: "u", UserRole: "creator"})
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Upload: %v", err)
				}
			} else if !storage.HasCode(err, tc.want) {
				t.Fatalf("Upload: %v, want code %s", err, tc.want)
			}
			if inits.Load() != tc.inits || chunks.Load() != tc.chunks {
				t.Errorf("%d inits and %d chunk PUTs, want %d and %d", inits.Load(), chunks.Load(), tc.inits, tc.chunks)
			}
		})
	}
}
