package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// bareServer is the bare limit: the least an HTTP service must do to take a
// chunk durably. Init creates a preallocated file, a chunk is streamed with a
// pooled 1 MiB buffer to its offset and fsynced before the answer, status
// stats the file, and complete fsyncs the file, renames it and fsyncs the
// folder. No metadata, no checks.
type bareServer struct {
	dir   string
	srv   *http.Server
	base  string
	seq   atomic.Int64
	bufs  sync.Pool
	mu    sync.Mutex
	files map[string]bareFile
}

type bareFile struct {
	path  string
	chunk int64
}

// startBare starts a bare server on 127.0.0.1 writing into dir.
func startBare(dir string) (*bareServer, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &bareServer{dir: dir, files: map[string]bareFile{}, base: "http://" + ln.Addr().String()}
	b.bufs.New = func() any { buf := make([]byte, 1<<20); return &buf }
	mux := http.NewServeMux()
	mux.HandleFunc("POST /init", b.handleInit)
	mux.HandleFunc("PUT /api/upload/chunk", b.handleChunk) // the same path as ours: the same client code
	mux.HandleFunc("GET /status", b.handleStatus)
	mux.HandleFunc("POST /complete", b.handleComplete)
	b.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go b.srv.Serve(ln)
	return b, nil
}

// Close stops the server.
func (b *bareServer) Close() error { return b.srv.Close() }

func (b *bareServer) handleInit(w http.ResponseWriter, r *http.Request) {
	size, err1 := strconv.ParseInt(r.URL.Query().Get("size"), 10, 64)
	chunk, err2 := strconv.ParseInt(r.URL.Query().Get("chunk"), 10, 64)
	if err1 != nil || err2 != nil || size <= 0 || chunk <= 0 {
		http.Error(w, "bad size or chunk", http.StatusBadRequest)
		return
	}
	id := strconv.FormatInt(b.seq.Add(1), 10)
	path := filepath.Join(b.dir, id+".part")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err == nil {
		err = f.Truncate(size)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	b.mu.Lock()
	b.files[id] = bareFile{path: path, chunk: chunk}
	b.mu.Unlock()
	io.WriteString(w, id)
}

func (b *bareServer) file(id string) (bareFile, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f, ok := b.files[id]
	return f, ok
}

func (b *bareServer) handleChunk(w http.ResponseWriter, r *http.Request) {
	bf, ok := b.file(r.Header.Get("X-Upload-Id"))
	index, err := strconv.ParseInt(r.Header.Get("X-Chunk-Index"), 10, 64)
	if !ok || err != nil || r.ContentLength < 0 {
		http.Error(w, "bad chunk", http.StatusBadRequest)
		return
	}
	f, err := os.OpenFile(bf.path, os.O_WRONLY, 0)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer f.Close()
	bufp := b.bufs.Get().(*[]byte)
	defer b.bufs.Put(bufp)
	n, err := io.CopyBuffer(io.NewOffsetWriter(f, index*bf.chunk), io.LimitReader(r.Body, r.ContentLength), *bufp)
	if err == nil && n != r.ContentLength {
		err = fmt.Errorf("short body: %d of %d bytes", n, r.ContentLength)
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	io.WriteString(w, "ok")
}

func (b *bareServer) handleStatus(w http.ResponseWriter, r *http.Request) {
	bf, ok := b.file(r.URL.Query().Get("id"))
	if !ok {
		http.Error(w, "no such upload", http.StatusNotFound)
		return
	}
	fi, err := os.Stat(bf.path)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	fmt.Fprint(w, fi.Size())
}

func (b *bareServer) handleComplete(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	bf, ok := b.file(id)
	if !ok {
		http.Error(w, "no such upload", http.StatusNotFound)
		return
	}
	f, err := os.OpenFile(bf.path, os.O_RDWR, 0)
	if err == nil {
		err = f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil {
		err = os.Rename(bf.path, filepath.Join(b.dir, id))
	}
	if err == nil {
		err = syncDir(b.dir)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	io.WriteString(w, "ok")
}

// bareClient drives a bareServer.
type bareClient struct {
	api apiClient
}

var _ uploader = (*bareClient)(nil)

// Init starts a bare upload; chunk 0 means one chunk.
func (c *bareClient) Init(ctx context.Context, name string, size, chunk int64) (string, error) {
	if chunk <= 0 {
		chunk = size
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		fmt.Sprintf("%s/init?size=%d&chunk=%d", c.api.base, size, chunk), nil)
	if err != nil {
		return "", err
	}
	resp, err := c.api.hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	id, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("bare init: %s: %s", resp.Status, id)
	}
	return string(id), err
}

// Put uploads chunk index of a bare upload.
func (c *bareClient) Put(ctx context.Context, id string, index int, body []byte) error {
	return c.api.Put(ctx, id, index, body)
}

// Status asks for the size of a bare upload's file.
func (c *bareClient) Status(ctx context.Context, id string) error {
	return c.api.do(ctx, http.MethodGet, "/status?id="+id, nil, nil, nil)
}

// syncDir fsyncs the folder dir.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// Complete completes a bare upload.
func (c *bareClient) Complete(ctx context.Context, id string) error {
	return c.api.do(ctx, http.MethodPost, "/complete?id="+id, nil, nil, nil)
}
