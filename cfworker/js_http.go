//go:build js && wasm

package cfworker

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
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

// responseWriter sends a response to the shim: in one piece when the
// handler is done before flushSize bytes, else as a stream (of the
// Content-Length when the handler set one).
type responseWriter struct {
	ctx       context.Context
	header    http.Header
	status    int
	buf       []byte
	streaming bool
	done      bool
	err       error
}

func newResponseWriter(ctx context.Context) *responseWriter {
	return &responseWriter{ctx: ctx, header: http.Header{}}
}

func (w *responseWriter) Header() http.Header { return w.header }

func (w *responseWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *responseWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	if w.err != nil {
		return 0, w.err
	}
	w.buf = append(w.buf, p...)
	if len(w.buf) >= flushSize {
		w.Flush()
	}
	return len(p), w.err
}

// Flush sends the gathered body, starting the streamed response if needed.
func (w *responseWriter) Flush() {
	w.WriteHeader(http.StatusOK)
	if w.err != nil || w.done {
		return
	}
	if !w.streaming {
		length := int64(-1)
		if n, err := strconv.ParseInt(w.header.Get("Content-Length"), 10, 64); err == nil && n >= 0 {
			length = n
		}
		if _, err := call(w.ctx, "respond", w.status, headerPairs(w.header), nil, length); err != nil {
			w.err = err
			return
		}
		w.streaming = true
	}
	if len(w.buf) > 0 {
		_, w.err = call(w.ctx, "write", bytesToJS(w.buf))
		w.buf = w.buf[:0]
	}
}

// fail replaces an unsent response with a 500 in the API's error shape.
func (w *responseWriter) fail() {
	if w.streaming {
		w.err = io.ErrUnexpectedEOF
		return
	}
	w.header = http.Header{"Content-Type": {"application/json"}, "Cache-Control": {"no-store"}}
	w.status = http.StatusInternalServerError
	w.buf = []byte(`{"error":{"code":"INTERNAL_ERROR","message":"internal error","timestamp":""}}` + "\n")
}

// finish sends the response, or the end of the streamed one.
func (w *responseWriter) finish() error {
	if w.done {
		return w.err
	}
	w.done = true
	w.WriteHeader(http.StatusOK)
	if !w.streaming {
		var body any
		if len(w.buf) > 0 {
			body = bytesToJS(w.buf)
		}
		_, err := call(w.ctx, "respond", w.status, headerPairs(w.header), body, -1)
		return err
	}
	if w.err == nil && len(w.buf) > 0 {
		_, w.err = call(w.ctx, "write", bytesToJS(w.buf))
	}
	// end also aborts the stream after a failed write.
	_, err := call(w.ctx, "end", w.err == nil)
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
