//go:build !(js && wasm)

package cfworker_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/memenow/memenow-storage/cfworker"
)

// TestRequestBodyLimitCapsChunks checks that the request body limit caps
// the chunk sizes a client may ask for, and how it is read from KV.
func TestRequestBodyLimitCapsChunks(t *testing.T) {
	const MiB = 1 << 20
	tests := []struct {
		name              string
		raw               string
		limit, chunk, max int64
	}{
		{"default", `{}`, 95 * MiB, 95 * MiB, 95 * MiB},
		{"Business plan", `{"max_request_body": 199000000}`, 199000000, 95 * MiB, 199000000},
		{"Business plan with its chunk", `{"max_request_body": 199000000, "chunk_size": 190000000}`, 199000000, 190000000, 199000000},
		{"chunk over the limit", `{"chunk_size": 157286400}`, 95 * MiB, 95 * MiB, 95 * MiB},
		{"smaller limit", `{"max_request_body": 52428800}`, 50 * MiB, 50 * MiB, 50 * MiB},
		{"limit under 5 MiB", `{"max_request_body": 1000}`, 95 * MiB, 95 * MiB, 95 * MiB},
		{"limit over 5 GiB", `{"max_request_body": 6442450944}`, 95 * MiB, 95 * MiB, 95 * MiB},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := cfworker.ParseSettings(tt.raw)
			if err != nil {
				t.Fatal(err)
			}
			c := s.ServiceConfig()
			if s.MaxRequestBody != tt.limit || s.ChunkSize != tt.chunk || c.MaxChunkSize != tt.max || c.ChunkSize != tt.chunk {
				t.Fatalf("limit %d, chunk %d, max chunk %d; want %d, %d, %d", s.MaxRequestBody, s.ChunkSize, c.MaxChunkSize, tt.limit, tt.chunk, tt.max)
			}
			if err := c.Validate(); err != nil {
				t.Fatalf("invalid config: %v", err)
			}
		})
	}
}

// TestInitRefusesChunkOverRequestBodyLimit asks the Worker's App for chunks
// larger than Cloudflare accepts in a request body: init answers 400
// INVALID_FIELD naming the limit, and a chunk at the limit is accepted.
func TestInitRefusesChunkOverRequestBodyLimit(t *testing.T) {
	e := newApp(t, &memKV{values: map[string]string{}})
	body := func(chunk int64) []byte {
		return []byte(fmt.Sprintf(`{"file_name":"big.bin","total_size":1000000000,"user_id":"u1","user_role":"creator","chunk_size":%d}`, chunk))
	}
	r := do(t, "POST", e.url+"/api/upload/init", map[string]string{"Content-Type": "application/json"}, body(200_000_000))
	if r.status != 400 || errCode(r) != "INVALID_FIELD" {
		t.Fatalf("200 MB chunks: %d %v, want 400 INVALID_FIELD", r.status, r.body)
	}
	msg, _ := r.body["error"].(map[string]any)["message"].(string)
	if !strings.Contains(msg, fmt.Sprint(cfworker.DefaultMaxRequestBody)) {
		t.Fatalf("message %q does not name the limit %d", msg, cfworker.DefaultMaxRequestBody)
	}
	r = do(t, "POST", e.url+"/api/upload/init", map[string]string{"Content-Type": "application/json"}, body(cfworker.DefaultMaxRequestBody))
	if r.status != 200 || r.body["chunk_size"] != float64(cfworker.DefaultMaxRequestBody) {
		t.Fatalf("chunks at the limit: %d %v, want 200", r.status, r.body)
	}
}
