// Package client is a Go client of the MemeNow Storage HTTP API.
//
// The low-level methods (Init, PutChunk, Complete, Status, Cancel, Health,
// Me, List, Delete, Share) map one to one onto the API's endpoints and retry
// transient failures.
// Upload and Download build on them: parallel chunk uploads that stream from
// an io.ReaderAt and resume an interrupted upload, and downloads that resume
// an interrupted transfer with Range requests.
//
// Errors reported by the server are returned as *storage.Error values carrying
// the code of the response body, so that
//
//	errors.Is(err, &storage.Error{Code: storage.CodeUploadNotFound})
//
// works; their cause is a *StatusError with the HTTP status (see HTTPStatus).
// IsUnauthorized tells a missing or refused token apart.
//
// A server with auth on wants a bearer token (Client.Token) on every call;
// Me tells whether it does and whom the token names.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	storage "github.com/memenow/memenow-storage"
)

// Client talks to one MemeNow Storage server. The zero value is not usable:
// BaseURL is required. A Client is safe for concurrent use.
type Client struct {
	// BaseURL is the server's root URL, e.g. "http://127.0.0.1:8787".
	BaseURL string
	// HTTPClient sends the requests; http.DefaultClient when nil. Its
	// Timeout, if any, bounds whole chunk transfers, so keep it zero and use
	// contexts instead.
	HTTPClient *http.Client
	// Token, when set, is sent as "Authorization: Bearer <Token>".
	Token string
	// Retry controls how transient failures are retried.
	Retry RetryPolicy
	// UserAgent is sent in the User-Agent header; a default when empty.
	UserAgent string
}

// New returns a Client for the server at baseURL with the default retry policy.
func New(baseURL string) *Client { return &Client{BaseURL: baseURL} }

// InitRequest is the body of POST /api/upload/init.
type InitRequest struct {
	FileName  string `json:"file_name"`
	TotalSize int64  `json:"total_size"`
	// UserID and UserRole name the owner. With auth on they may be left
	// empty: the server takes them from the token (and refuses others').
	UserID      string `json:"user_id,omitempty"`
	UserRole    string `json:"user_role,omitempty"`
	ContentType string `json:"content_type,omitempty"`
	// ChunkSize asks for a chunk size; 0 lets the server choose.
	ChunkSize int64 `json:"chunk_size,omitempty"`
	// Visibility is "public" (anyone may read the completed file without a
	// token) or "private"; empty means the server's default, private.
	Visibility string `json:"visibility,omitempty"`
}

// Visibilities of a file (InitRequest.Visibility).
const (
	VisibilityPrivate = "private"
	VisibilityPublic  = "public"
)

// InitResponse is the server's answer to an init.
type InitResponse struct {
	UploadID    string `json:"upload_id"`
	ChunkSize   int64  `json:"chunk_size"`
	TotalChunks int    `json:"total_chunks"`
	Key         string `json:"r2_key"`
	Status      string `json:"status"`
	Visibility  string `json:"visibility,omitempty"`
	// UploadToken, sent by a server with auth on, is a bearer token good for
	// this one upload's chunks, status, complete and cancel (not for other
	// calls), usable instead of the user's token.
	UploadToken string `json:"upload_token,omitempty"`
}

// ChunkResponse is the server's answer to a chunk upload.
type ChunkResponse struct {
	UploadID   string `json:"upload_id"`
	ChunkIndex int    `json:"chunk_index"`
	Status     string `json:"status"`
}

// CompleteResponse is the server's answer to a complete.
type CompleteResponse struct {
	UploadID string `json:"upload_id"`
	Key      string `json:"r2_key"`
	Status   string `json:"status"`
}

// CancelResponse is the server's answer to a cancel.
type CancelResponse struct {
	UploadID string `json:"upload_id"`
	Status   string `json:"status"`
}

// UploadStatus is the server's description of an upload.
type UploadStatus struct {
	UploadID       string `json:"upload_id"`
	FileName       string `json:"file_name"`
	TotalSize      int64  `json:"total_size"`
	UserID         string `json:"user_id"`
	UserRole       string `json:"user_role"`
	ContentType    string `json:"content_type"`
	Visibility     string `json:"visibility,omitempty"`
	Status         string `json:"status"`
	ChunksUploaded int    `json:"chunks_uploaded"`
	ChunkSize      int64  `json:"chunk_size"`
	TotalChunks    int    `json:"total_chunks"`
	Chunks         []int  `json:"chunks"`
	BytesUploaded  int64  `json:"bytes_uploaded"`
	CreatedAt      string `json:"created_at"` // RFC 3339, as sent
	UpdatedAt      string `json:"updated_at"`
	// Key is where the file is stored; the server sends it once completed.
	Key string `json:"r2_key,omitempty"`
	// UploadToken is a fresh upload token (see InitResponse.UploadToken),
	// sent with auth on to the owner while the upload takes chunks.
	UploadToken string `json:"upload_token,omitempty"`
	// ExpiresAt is when the server will expire the upload if it is not
	// finished (RFC 3339, as sent), from a server that expires uploads.
	ExpiresAt string `json:"expires_at,omitempty"`
}

// Health is the server's health report.
type Health struct {
	Status    string            `json:"status"`
	Timestamp string            `json:"timestamp"`
	Checks    map[string]string `json:"checks"`
}

// Init starts an upload. It is retried only when the server surely did not
// act on it (429, 503 or a failed connection), so that a retry never
// reserves a second key.
func (c *Client) Init(ctx context.Context, r InitRequest) (*InitResponse, error) {
	var out InitResponse
	err := c.retry(ctx, c.Retry, false, func() error {
		return c.doJSON(ctx, http.MethodPost, "/api/upload/init", r, &out)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// PutChunk uploads chunk index (0-based) of an upload, reading exactly
// length bytes from body. When body is an io.Seeker, transient failures are
// retried from body's current position; otherwise it is sent once.
func (c *Client) PutChunk(ctx context.Context, uploadID string, index int, body io.Reader, length int64) (*ChunkResponse, error) {
	seeker, ok := body.(io.Seeker)
	if !ok {
		return c.putChunkOnce(ctx, uploadID, index, body, length)
	}
	start, err := seeker.Seek(0, io.SeekCurrent)
	if err != nil {
		return c.putChunkOnce(ctx, uploadID, index, body, length)
	}
	var out *ChunkResponse
	first := true
	err = c.retry(ctx, c.Retry, true, func() error {
		if !first {
			if _, err := seeker.Seek(start, io.SeekStart); err != nil {
				return err
			}
		}
		first = false
		var err error
		out, err = c.putChunkOnce(ctx, uploadID, index, body, length)
		return err
	})
	return out, err
}

// putChunkOnce sends one PUT /api/upload/chunk.
func (c *Client) putChunkOnce(ctx context.Context, uploadID string, index int, body io.Reader, length int64) (*ChunkResponse, error) {
	req, err := c.newRequest(ctx, http.MethodPut, "/api/upload/chunk", io.NopCloser(body))
	if err != nil {
		return nil, err
	}
	req.ContentLength = length
	if length == 0 {
		req.Body = http.NoBody
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("X-Upload-Id", uploadID)
	req.Header.Set("X-Chunk-Index", strconv.Itoa(index))
	var out ChunkResponse
	if err := c.send(req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Complete asks the server to assemble an upload's chunks into its file.
// Transient failures are retried; the server makes completing idempotent.
func (c *Client) Complete(ctx context.Context, uploadID string) (*CompleteResponse, error) {
	var out CompleteResponse
	err := c.retry(ctx, c.Retry, true, func() error {
		return c.doJSON(ctx, http.MethodPost, "/api/upload/complete", map[string]string{"upload_id": uploadID}, &out)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Status returns the state of an upload and its recorded chunks.
func (c *Client) Status(ctx context.Context, uploadID string) (*UploadStatus, error) {
	var out UploadStatus
	err := c.retry(ctx, c.Retry, true, func() error {
		return c.doJSON(ctx, http.MethodGet, "/api/upload/"+url.PathEscape(uploadID)+"/status", nil, &out)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Cancel abandons an upload. Transient failures are retried; the server
// makes cancelling idempotent.
func (c *Client) Cancel(ctx context.Context, uploadID string) (*CancelResponse, error) {
	var out CancelResponse
	err := c.retry(ctx, c.Retry, true, func() error {
		return c.doJSON(ctx, http.MethodPost, "/api/upload/cancel", map[string]string{"upload_id": uploadID}, &out)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Health asks the server for its health report, once. An unhealthy server
// (503) gives both its report and an error with CodeUnavailable.
func (c *Client) Health(ctx context.Context) (*Health, error) {
	req, err := c.newRequest(ctx, http.MethodGet, "/health", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return nil, err
	}
	defer drainClose(resp.Body)
	var h Health
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&h); err != nil || h.Status == "" {
		return nil, &storage.Error{Code: codeForStatus(resp.StatusCode),
			Message: fmt.Sprintf("unexpected health response: %s", resp.Status),
			Err:     &StatusError{StatusCode: resp.StatusCode}}
	}
	if resp.StatusCode != http.StatusOK {
		return &h, &storage.Error{Code: storage.CodeUnavailable, Message: "server is " + h.Status,
			Err: &StatusError{StatusCode: resp.StatusCode}}
	}
	return &h, nil
}

func (c *Client) httpClient() *http.Client {
	if c.HTTPClient != nil {
		return c.HTTPClient
	}
	return http.DefaultClient
}

// newRequest builds a request to path (already escaped) under BaseURL.
func (c *Client) newRequest(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	if c.BaseURL == "" {
		return nil, fmt.Errorf("client: BaseURL is empty")
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL, "/")+path, body)
	if err != nil {
		return nil, err
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	ua := c.UserAgent
	if ua == "" {
		ua = "memenow-storage-client/1"
	}
	req.Header.Set("User-Agent", ua)
	return req, nil
}

// doJSON sends one request with an optional JSON body and decodes a JSON
// answer into out.
func (c *Client) doJSON(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := c.newRequest(ctx, method, path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.send(req, out)
}

// send performs req and decodes a 2xx JSON answer into out, or turns an
// error answer into a *storage.Error.
func (c *Client) send(req *http.Request, out any) error {
	req.Header.Set("Accept", "application/json")
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return err
	}
	defer drainClose(resp.Body)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return decodeError(resp)
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 8<<20)).Decode(out); err != nil {
		return fmt.Errorf("client: decoding %s %s response: %w", req.Method, req.URL.Path, err)
	}
	return nil
}

// drainClose reads a little of what is left of a body, so that the
// connection can be reused, and closes it.
func drainClose(body io.ReadCloser) {
	_, _ = io.CopyN(io.Discard, body, 64<<10)
	_ = body.Close()
}
