//go:build !(js && wasm)

package cfworker_test

import (
	"io"
	"net/http"
	"strconv"
	"testing"
)

// TestWorkerStreamsBodyOfUnknownLength fetches a 1 MB body that the
// Worker's Go side writes without a Content-Length (the test route of
// worker/test/start.mjs): it must arrive whole, not empty, through the
// shim's respond.stream of unknown length.
func TestWorkerStreamsBodyOfUnknownLength(t *testing.T) {
	base := workerURL(t)
	for _, n := range []int{0, 1000, 256 << 10, 1_000_000} {
		resp, err := http.Get(base + "/__test/stream?bytes=" + strconv.Itoa(n))
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if resp.StatusCode != http.StatusOK || len(body) != n {
			t.Fatalf("%d bytes: status %d, %d bytes received", n, resp.StatusCode, len(body))
		}
		for i, b := range body {
			if b != byte(i%251) {
				t.Fatalf("%d bytes: byte %d is %d, want %d", n, i, b, i%251)
			}
		}
	}
}
