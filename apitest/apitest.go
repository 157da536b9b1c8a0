// Package apitest is the end-to-end suite of the HTTP API. It speaks plain
// HTTP to a base URL, so the same cases run against every deployment: the
// in-process server on SQLite and disk, the S3 and PostgreSQL backends, the
// real binary, and the Cloudflare Workers build.
package apitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Target is a running deployment of the API.
type Target struct {
	// BaseURL is the server's root, e.g. "http://127.0.0.1:8787".
	BaseURL string
	// MaxFileSize is the server's configured limit.
	MaxFileSize int64
	// Client is the HTTP client to use; http.DefaultClient when nil.
	Client *http.Client
}

// ChunkSize is the chunk size the suite asks for: the smallest every
// deployment accepts.
const ChunkSize = 5 << 20

// T wraps a testing.T with helpers that talk to one Target.
type T struct {
	*testing.T
	Target
	// Token, when set, is sent as "Authorization: Bearer <Token>" on every
	// request that names no Authorization header of its own.
	Token string
}

// As returns a T that sends token (none when "") on its requests.
func (t *T) As(token string) *T {
	c := *t
	c.Token = token
	return &c
}

var userSeq atomic.Int64

// NewUserID returns a user id no other test in this process uses, so that
// keys never collide across tests or runs against one shared server.
func NewUserID() string {
	return fmt.Sprintf("u%d-%d", time.Now().UnixNano()%1e9, userSeq.Add(1))
}

// Response is an HTTP response with its body read.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a map.
func (r *Response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body is not a JSON object (status %d): %v: %q", r.Status, err, truncate(r.Body))
	}
	return m
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

// Do sends a request and reads the whole response.
func (t *T) Do(method, path string, header map[string]string, body io.Reader) *Response {
	t.Helper()
	req, err := http.NewRequest(method, t.BaseURL+path, body)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	for k, v := range header {
		if k == "Content-Length" {
			n, _ := strconv.ParseInt(v, 10, 64)
			req.ContentLength = n
			continue
		}
		req.Header.Set(k, v)
	}
	if _, ok := header["Authorization"]; !ok && t.Token != "" {
		req.Header.Set("Authorization", "Bearer "+t.Token)
	}
	client := t.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: data}
}

// PostJSON posts v (a string is sent as is) as JSON.
func (t *T) PostJSON(path string, v any) *Response {
	t.Helper()
	var body []byte
	if s, ok := v.(string); ok {
		body = []byte(s)
	} else {
		var err error
		if body, err = json.Marshal(v); err != nil {
			t.Fatal(err)
		}
	}
	return t.Do("POST", path, map[string]string{"Content-Type": "application/json"}, bytes.NewReader(body))
}

// WantError checks that r is the documented error shape with status and code.
func (t *T) WantError(r *Response, status int, code string) map[string]any {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body %s", r.Status, status, truncate(r.Body))
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q, want application/json", ct)
	}
	e, ok := r.JSON(t)["error"].(map[string]any)
	if !ok {
		t.Fatalf("no error object in %s", truncate(r.Body))
	}
	if e["code"] != code {
		t.Fatalf("error code %v, want %s; body %s", e["code"], code, truncate(r.Body))
	}
	if msg, _ := e["message"].(string); msg == "" {
		t.Fatalf("empty error message in %s", truncate(r.Body))
	}
	ts, _ := e["timestamp"].(string)
	if _, err := time.Parse(time.RFC3339, ts); err != nil {
		t.Fatalf("error timestamp %q is not RFC 3339", ts)
	}
	return e
}

// WantOK checks that r has status 200 and returns its JSON body.
func (t *T) WantOK(r *Response) map[string]any {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("status %d, want 200; body %s", r.Status, truncate(r.Body))
	}
	return r.JSON(t)
}

// Upload is an upload the suite started.
type Upload struct {
	ID        string
	Key       string
	Data      []byte
	ChunkSize int
	Chunks    int
}

// Chunk returns the bytes of chunk i.
func (u *Upload) Chunk(i int) []byte {
	end := min((i+1)*u.ChunkSize, len(u.Data))
	return u.Data[i*u.ChunkSize : end]
}

// RandomBytes returns n pseudo-random bytes from seed.
func RandomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n - n%8; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

// Init starts an upload of data with the suite's chunk size.
func (t *T) Init(fileName, contentType string, data []byte, user string) *Upload {
	t.Helper()
	body := map[string]any{"file_name": fileName, "total_size": len(data), "user_id": user,
		"user_role": "creator", "chunk_size": ChunkSize}
	if contentType != "" {
		body["content_type"] = contentType
	}
	m := t.WantOK(t.PostJSON("/api/upload/init", body))
	id, _ := m["upload_id"].(string)
	if m["status"] != "initiated" || id == "" {
		t.Fatalf("init response %v", m)
	}
	if cs, _ := m["chunk_size"].(float64); int(cs) != ChunkSize {
		t.Fatalf("chunk_size %v, want %d", m["chunk_size"], ChunkSize)
	}
	key, _ := m["r2_key"].(string)
	return &Upload{ID: id, Key: key, Data: data, ChunkSize: ChunkSize, Chunks: (len(data) + ChunkSize - 1) / ChunkSize}
}

// PutChunk sends chunk i of u with its exact length.
func (t *T) PutChunk(u *Upload, i int, data []byte) *Response {
	t.Helper()
	return t.Do("PUT", "/api/upload/chunk", map[string]string{
		"X-Upload-Id": u.ID, "X-Chunk-Index": strconv.Itoa(i),
		"Content-Type": "application/octet-stream", "Content-Length": strconv.Itoa(len(data)),
	}, bytes.NewReader(data))
}

// SendChunk sends chunk i of u and checks the answer.
func (t *T) SendChunk(u *Upload, i int) {
	t.Helper()
	m := t.WantOK(t.PutChunk(u, i, u.Chunk(i)))
	if m["upload_id"] != u.ID || m["chunk_index"] != float64(i) || m["status"] != "uploaded" {
		t.Fatalf("chunk response %v", m)
	}
}

// Complete completes u and returns the response.
func (t *T) Complete(u *Upload) *Response {
	t.Helper()
	return t.PostJSON("/api/upload/complete", map[string]any{"upload_id": u.ID})
}

// Cancel cancels u and returns the response.
func (t *T) Cancel(u *Upload) *Response {
	t.Helper()
	return t.PostJSON("/api/upload/cancel", map[string]any{"upload_id": u.ID})
}

// Status returns the status body of u.
func (t *T) Status(u *Upload) map[string]any {
	t.Helper()
	return t.WantOK(t.Do("GET", "/api/upload/"+u.ID+"/status", nil, nil))
}

// UploadAll sends every chunk of u and completes it, returning the key.
func (t *T) UploadAll(u *Upload) string {
	t.Helper()
	for i := 0; i < u.Chunks; i++ {
		t.SendChunk(u, i)
	}
	m := t.WantOK(t.Complete(u))
	key, _ := m["r2_key"].(string)
	if m["status"] != "completed" || key == "" {
		t.Fatalf("complete response %v", m)
	}
	return key
}

// FilePath returns the download path of a key, escaping each segment.
func FilePath(key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = pathEscape(s)
	}
	return "/api/files/" + strings.Join(segs, "/")
}

func pathEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
