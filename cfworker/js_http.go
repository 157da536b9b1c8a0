//go:build js && wasm

package cfworker

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall/js"
)

// jsBody is the body of a Worker request. It stays a JavaScript stream:
// Read pulls pieces of it into Go (for small JSON bodies), while the R2
// store hands the whole stream to uploadPart without reading it (see
// requestBody), after which Read reports EOF.
type jsBody struct {
	ctx       context.Context
	length    int64 // Content-Length, or -1
	buf       []byte
	eof       bool
	read      bool // Go has read from the stream
	handedOff bool // the stream went to R2
}

func (b *jsBody) Read(p []byte) (int, error) {
	if b.handedOff || (b.eof && len(b.buf) == 0) {
		return 0, io.EOF
	}
	if len(b.buf) == 0 {
		b.read = true
		v, err := call(b.ctx, "body.read")
		if err != nil {
			return 0, err
		}
		if v.IsNull() || v.IsUndefined() {
			b.eof = true
			return 0, io.EOF
		}
		b.buf = make([]byte, v.Length())
		js.CopyBytesToGo(b.buf, v)
	}
	n := copy(p, b.buf)
	b.buf = b.buf[n:]
	return n, nil
}

func (b *jsBody) Close() error { return nil }

// newRequest builds the http.Request of the shim's request object, which
// carries method, url, headers (an array of [name, value]) and hasBody.
func newRequest(ctx context.Context, req *request) (*http.Request, error) {
	rc := req.rc
	r, err := http.NewRequestWithContext(ctx, rc.Get("method").String(), rc.Get("url").String(), nil)
	if err != nil {
		return nil, err
	}
	headers := rc.Get("headers")
	for i, n := 0, headers.Length(); i < n; i++ {
		kv := headers.Index(i)
		r.Header.Add(kv.Index(0).String(), kv.Index(1).String())
	}
	r.RemoteAddr = r.Header.Get("CF-Connecting-IP")
	r.RequestURI = r.URL.RequestURI()
	r.ContentLength = 0
	if rc.Get("hasBody").Bool() {
		length := int64(-1)
		if v := r.Header.Get("Content-Length"); v != "" {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
				length = n
			}
		}
		req.body = &jsBody{ctx: ctx, length: length}
		r.Body, r.ContentLength = req.body, length
	} else {
		r.Body = http.NoBody
	}
	return r, nil
}

// flushSize is how much of a response body is gathered before it is sent
// to JavaScript.
const flushSize = 256 << 10

// The response operations of the shim (worker/index.mjs). Each response
// starts with exactly one of the three "respond" operations:
//
//   - opRespond (status, headers, body): the whole response at once; body
//     is the complete body (bytes) or null for none. It also ends the
//     response: nothing follows.
//   - opRespondStream (status, headers, length): a streamed body sent by
//     opWrite and ended by opEnd; length is its Content-Length, or null
//     when unknown (the body is then as long as the writes make it).
//   - opRespondR2 (status, headers, key, etag, offset, length): the body is
//     length bytes from offset of the R2 object at key, which R2 streams to
//     the client itself; the get fails unless the object's ETag is still
//     etag. No byte passes through Go. Nothing follows but opEnd.
//
// opEnd (ok) ends the other two: it closes (ok) or aborts the streamed
// body, and tells the shim that Go posts nothing more for the request.
const (
	opRespond       = "respond"
	opRespondStream = "respond.stream"
	opRespondR2     = "respond.r2"
	opWrite         = "write"
	opEnd           = "end"
)

// responseWriter sends a response to the shim: in one piece when the
// handler is done before flushSize bytes, else as a stream (of the
// Content-Length when the handler set one, of unknown length otherwise),
// or, when an R2 object's bytes are the whole body, as R2's own stream
// (see serveObject).
type responseWriter struct {
	ctx    context.Context
	header http.Header

	// mu guards what follows: ServeContent reads a multi-range body in a
	// goroutine of its own, whose reads ask serveObject.
	mu        sync.Mutex
	status    int
	buf       []byte
	streaming bool
	handedOff bool // the body is an R2 stream (opRespondR2)
	sealed    bool // the response was replaced by an error: writes are dropped
	done      bool
	err       error
}

func newResponseWriter(ctx context.Context) *responseWriter {
	return &responseWriter{ctx: ctx, header: http.Header{}}
}

func (w *responseWriter) Header() http.Header { return w.header }

func (w *responseWriter) WriteHeader(code int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writeHeader(code)
}

func (w *responseWriter) writeHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *responseWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writeHeader(http.StatusOK)
	if w.err != nil {
		return 0, w.err
	}
	if w.handedOff {
		return 0, ErrBodyServed
	}
	if w.sealed {
		return 0, io.ErrClosedPipe
	}
	w.buf = append(w.buf, p...)
	if len(w.buf) >= flushSize {
		w.flush()
	}
	return len(p), w.err
}

// Flush sends the gathered body, starting the streamed response if needed.
func (w *responseWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.flush()
}

func (w *responseWriter) flush() {
	w.writeHeader(http.StatusOK)
	if w.err != nil || w.done || w.handedOff || w.sealed {
		return
	}
	if !w.streaming {
		var length any // null: unknown length
		if n, ok := contentLength(w.header); ok {
			length = n
		}
		if _, err := call(w.ctx, opRespondStream, w.status, headerPairs(w.header), length); err != nil {
			w.err = err
			return
		}
		w.streaming = true
	}
	if len(w.buf) > 0 {
		_, w.err = call(w.ctx, opWrite, bytesToJS(w.buf))
		w.buf = w.buf[:0]
	}
}

// serveObject makes the R2 object at key, from offset, the body of the
// response, if the response is ready to take it: nothing sent yet, and a
// status and headers that say the body is a run of the object's bytes from
// offset (servableRange). http.ServeContent sets exactly these before it
// copies the body, so the handler decides status and headers (ranges,
// conditional requests, HEAD) and R2 streams the bytes. It returns false, and changes
// nothing, when the response is not ready (the bytes must then go through
// Write); an error when the R2 get failed, after which the response is
// replaced by a 500 (nothing was sent yet).
func (w *responseWriter) serveObject(key, etag string, offset, size int64) (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.status == 0 || w.streaming || w.handedOff || w.sealed || w.done || w.err != nil || len(w.buf) > 0 {
		return false, nil
	}
	length, ok := servableRange(w.status, w.header, offset, size)
	if !ok {
		return false, nil
	}
	if _, err := call(w.ctx, opRespondR2, w.status, headerPairs(w.header), key, strings.Trim(etag, `"`), offset, length); err != nil {
		w.failLocked()
		w.sealed = true
		return false, err
	}
	w.handedOff = true
	return true, nil
}

// fail replaces an unsent response with a 500 in the API's error shape.
func (w *responseWriter) fail() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.failLocked()
}

func (w *responseWriter) failLocked() {
	if w.streaming || w.handedOff {
		w.err = io.ErrUnexpectedEOF
		return
	}
	w.header = http.Header{"Content-Type": {"application/json"}, "Cache-Control": {"no-store"}}
	w.status = http.StatusInternalServerError
	w.buf = []byte(`{"error":{"code":"INTERNAL_ERROR","message":"internal error","timestamp":""}}` + "\n")
	w.err = nil
}

// finish sends the response, or the end of the streamed one.
func (w *responseWriter) finish() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return w.err
	}
	w.done = true
	w.writeHeader(http.StatusOK)
	if !w.streaming && !w.handedOff {
		var body any
		if len(w.buf) > 0 {
			body = bytesToJS(w.buf)
		}
		_, err := call(w.ctx, opRespond, w.status, headerPairs(w.header), body)
		return err
	}
	if w.streaming && w.err == nil && len(w.buf) > 0 {
		_, w.err = call(w.ctx, opWrite, bytesToJS(w.buf))
	}
	// end also aborts the stream after a failed write.
	_, err := call(w.ctx, opEnd, w.err == nil)
	if w.err != nil {
		return w.err
	}
	return err
}

func headerPairs(h http.Header) []any {
	var out []any
	for k, vs := range h {
		for _, v := range vs {
			out = append(out, []any{k, v})
		}
	}
	return out
}

func bytesToJS(b []byte) js.Value {
	a := js.Global().Get("Uint8Array").New(len(b))
	js.CopyBytesToJS(a, b)
	return a
}

// requestBody finds the request body stream a chunk reader comes from: r
// itself, a reader r wraps (through Unwrap() io.Reader), or, since the
// Service wraps the body in a reader of its own, the body of the request in
// ctx, provided Go has not read from it and its Content-Length is size.
func requestBody(ctx context.Context, r io.Reader, size int64) *jsBody {
	for r != nil {
		if b, ok := r.(*jsBody); ok {
			return b
		}
		u, ok := r.(interface{ Unwrap() io.Reader })
		if !ok {
			break
		}
		r = u.Unwrap()
	}
	if req := requestOf(ctx); req != nil && req.body != nil && !req.body.read && !req.body.handedOff &&
		(req.body.length == size || req.body.length < 0) && strings.EqualFold(req.rc.Get("method").String(), "PUT") {
		return req.body
	}
	return nil
}
