package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/memenow/memenow-storage/internal/bulkwrite"
)

// uploader is what the throughput and overhead measurements drive: our API
// and the bare handler both implement it.
type uploader interface {
	Init(ctx context.Context, name string, size, chunk int64) (id string, err error)
	Put(ctx context.Context, id string, index int, body []byte) error
	Complete(ctx context.Context, id string) error
}

// newTransport returns a client transport for conns connections to one host:
// no proxy, no compression, large buffers.
func newTransport(conns int) *http.Transport {
	return &http.Transport{
		Proxy:               nil,
		DialContext:         bulkwrite.Dial(nil), // bodies in 1 MiB writes: the client is not the bottleneck
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     0,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
		WriteBufferSize:     256 << 10,
		ReadBufferSize:      64 << 10,
	}
}

// apiClient speaks memenow-storage's HTTP API.
type apiClient struct {
	base  string
	hc    *http.Client
	token string // a user's JWT sent as "Authorization: Bearer …"; none when empty
	// tokens, when set, are the tokens nextToken moves through, one per
	// request, so that the server never saw the token before.
	tokens []string
	next   int
}

var _ uploader = (*apiClient)(nil)

// initResponse is the body of POST /api/upload/init.
type initResponse struct {
	UploadID    string `json:"upload_id"`
	ChunkSize   int64  `json:"chunk_size"`
	TotalChunks int    `json:"total_chunks"`
	Key         string `json:"r2_key"`
}

// do sends a request and fails on any status but 200; out, when not nil,
// receives the decoded JSON body.
func (c *apiClient) do(ctx context.Context, method, path string, body io.Reader, header http.Header, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(msg))
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return fmt.Errorf("%s %s: decoding the response: %w", method, path, err)
		}
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

// InitUpload starts an upload of size bytes in chunks of chunk bytes (0: the
// server's default).
func (c *apiClient) InitUpload(ctx context.Context, name string, size, chunk int64) (initResponse, error) {
	req := map[string]any{"file_name": name, "total_size": size, "user_id": "bench", "user_role": "creator"}
	if chunk > 0 {
		req["chunk_size"] = chunk
	}
	js, _ := json.Marshal(req)
	var resp initResponse
	err := c.do(ctx, http.MethodPost, "/api/upload/init", bytes.NewReader(js),
		http.Header{"Content-Type": {"application/json"}}, &resp)
	if err == nil && resp.UploadID == "" {
		err = fmt.Errorf("init returned no upload_id")
	}
	return resp, err
}

// Init starts an upload and checks that the server chose the layout asked for.
func (c *apiClient) Init(ctx context.Context, name string, size, chunk int64) (string, error) {
	resp, err := c.InitUpload(ctx, name, size, chunk)
	if err != nil {
		return "", err
	}
	if chunk > 0 && (resp.ChunkSize != chunk || int64(resp.TotalChunks) != chunkCount(size, chunk)) {
		return "", fmt.Errorf("init: got %d chunks of %d bytes, want %d of %d", resp.TotalChunks, resp.ChunkSize, chunkCount(size, chunk), chunk)
	}
	return resp.UploadID, nil
}

// Put uploads chunk index of upload id.
func (c *apiClient) Put(ctx context.Context, id string, index int, body []byte) error {
	return c.do(ctx, http.MethodPut, "/api/upload/chunk", bytes.NewReader(body),
		http.Header{"X-Upload-Id": {id}, "X-Chunk-Index": {strconv.Itoa(index)}, "Content-Type": {"application/octet-stream"}}, nil)
}

// Complete completes upload id.
func (c *apiClient) Complete(ctx context.Context, id string) error {
	js, _ := json.Marshal(map[string]string{"upload_id": id})
	return c.do(ctx, http.MethodPost, "/api/upload/complete", bytes.NewReader(js),
		http.Header{"Content-Type": {"application/json"}}, nil)
}

// Status reads the status of upload id and returns its state.
func (c *apiClient) Status(ctx context.Context, id string) (string, error) {
	var st struct {
		UploadID string `json:"upload_id"`
		Status   string `json:"status"`
	}
	if err := c.do(ctx, http.MethodGet, "/api/upload/"+id+"/status", nil, nil, &st); err != nil {
		return "", err
	}
	if st.UploadID != id {
		return "", fmt.Errorf("status of %s answered for %q", id, st.UploadID)
	}
	return st.Status, nil
}

// Health calls GET /health.
func (c *apiClient) Health(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/health", nil, nil, nil)
}

// nextToken makes the next token of tokens the one sent; without tokens it
// does nothing.
func (c *apiClient) nextToken() {
	if len(c.tokens) == 0 {
		return
	}
	c.token = c.tokens[c.next%len(c.tokens)]
	c.next++
}

// chunkCount is the number of chunks of size bytes in chunks of chunk bytes.
func chunkCount(size, chunk int64) int64 { return (size + chunk - 1) / chunk }

// chunkLen is the length of chunk index.
func chunkLen(size, chunk int64, index int) int64 {
	return min(chunk, size-int64(index)*chunk)
}
