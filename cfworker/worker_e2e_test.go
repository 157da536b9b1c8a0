//go:build !(js && wasm)

package cfworker_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/memenow/memenow-storage/apitest"
	"github.com/memenow/memenow-storage/cfworker"
)

// workerURL returns the base URL of a Worker started by
// `.ci/worker.sh start DIR`, skipping the test when there is none (or
// failing it when MEMENOW_REQUIRE_WORKER=1).
func workerURL(t *testing.T) string {
	t.Helper()
	url := os.Getenv("MEMENOW_TEST_WORKER_URL")
	if url == "" {
		if os.Getenv("MEMENOW_REQUIRE_WORKER") == "1" {
			t.Fatal("MEMENOW_REQUIRE_WORKER=1 but MEMENOW_TEST_WORKER_URL is not set; run `.ci/worker.sh start DIR` and source its output")
		}
		t.Skip("no Worker: set MEMENOW_TEST_WORKER_URL (`.ci/worker.sh start DIR` prints it) to run the API suite on local workerd")
	}
	return url
}

// TestWorkerAPI runs the whole end-to-end API suite against the Worker on
// local workerd (real local R2, D1 and KV).
func TestWorkerAPI(t *testing.T) {
	apitest.Run(t, apitest.Target{BaseURL: workerURL(t), MaxFileSize: cfworker.DefaultSettings().MaxFileSize})
}

// TestWorkerConcurrentChunksAndStatus sends 32 chunks of shared uploads and
// 32 status requests at once: every request must be answered (the client's
// timeout only guards against a hang), every chunk stored, every file whole.
func TestWorkerConcurrentChunksAndStatus(t *testing.T) {
	base := workerURL(t)
	client := &http.Client{Timeout: 3 * time.Minute}
	at := &apitest.T{T: t, Target: apitest.Target{BaseURL: base, Client: client}}
	const uploads, chunksEach = 4, 8
	var ups []*apitest.Upload
	for i := range uploads {
		data := apitest.RandomBytes((chunksEach-1)*apitest.ChunkSize+1000+i, uint64(100+i))
		ups = append(ups, at.Init(fmt.Sprintf("shared-%d.bin", i), "", data, apitest.NewUserID()))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*uploads*chunksEach)
	for _, u := range ups {
		for i := range chunksEach {
			wg.Add(2)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest("PUT", base+"/api/upload/chunk", bytes.NewReader(u.Chunk(i)))
				req.Header.Set("X-Upload-Id", u.ID)
				req.Header.Set("X-Chunk-Index", strconv.Itoa(i))
				errs <- expectStatus(client, req, http.StatusOK)
			}()
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest("GET", base+"/api/upload/"+u.ID+"/status", nil)
				errs <- expectStatus(client, req, http.StatusOK)
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if t.Failed() {
		return
	}
	for _, u := range ups {
		if st := at.Status(u); st["chunks_uploaded"] != float64(chunksEach) || st["bytes_uploaded"] != float64(len(u.Data)) {
			t.Fatalf("upload %s after concurrent chunks: %v", u.ID, st)
		}
		at.WantOK(at.Complete(u))
		if got := at.Do("GET", apitest.FilePath(u.Key), nil, nil); !bytes.Equal(got.Body, u.Data) {
			t.Fatalf("upload %s: downloaded %d bytes, not the %d sent", u.ID, len(got.Body), len(u.Data))
		}
	}
}

func expectStatus(client *http.Client, req *http.Request, want int) error {
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: status %d, want %d: %s", req.Method, req.URL.Path, resp.StatusCode, want, body)
	}
	return nil
}

// TestWorkerChunkNeedsContentLength checks that a chunk sent without a
// Content-Length (chunked transfer encoding) is refused in the error shape:
// R2 needs a part's length before its bytes.
func TestWorkerChunkNeedsContentLength(t *testing.T) {
	base := workerURL(t)
	at := &apitest.T{T: t, Target: apitest.Target{BaseURL: base}}
	u := at.Init("nolength.bin", "", apitest.RandomBytes(apitest.ChunkSize+10, 7), apitest.NewUserID())
	req, _ := http.NewRequest("PUT", base+"/api/upload/chunk", io.MultiReader(bytes.NewReader(u.Chunk(1))))
	req.ContentLength = -1 // chunked
	req.Header.Set("X-Upload-Id", u.ID)
	req.Header.Set("X-Chunk-Index", "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	at.WantError(&apitest.Response{Status: resp.StatusCode, Header: resp.Header, Body: body}, http.StatusBadRequest, "MISSING_FIELD")
	// The refused chunk left nothing behind; the upload completes normally.
	at.UploadAll(u)
}

// TestWorkerAuth runs the identity and access suite against a second Worker
// started with JWT_SECRET and SIGNING_KEY (`.ci/run` starts it and exports
// MEMENOW_TEST_WORKER_AUTH_URL and MEMENOW_TEST_WORKER_AUTH_SECRET).
func TestWorkerAuth(t *testing.T) {
	url, secret := os.Getenv("MEMENOW_TEST_WORKER_AUTH_URL"), os.Getenv("MEMENOW_TEST_WORKER_AUTH_SECRET")
	if url == "" || secret == "" {
		if os.Getenv("MEMENOW_REQUIRE_WORKER") == "1" {
			t.Fatal("MEMENOW_REQUIRE_WORKER=1 but MEMENOW_TEST_WORKER_AUTH_URL or MEMENOW_TEST_WORKER_AUTH_SECRET is not set")
		}
		t.Skip("no Worker with auth: set MEMENOW_TEST_WORKER_AUTH_URL and MEMENOW_TEST_WORKER_AUTH_SECRET")
	}
	apitest.RunAuth(t, apitest.AuthTarget{
		Target: apitest.Target{BaseURL: url, MaxFileSize: cfworker.DefaultSettings().MaxFileSize},
		Secret: []byte(secret),
	})
}
