package httpapi

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	storage "github.com/memenow/memenow-storage"
)

// RequestLimits bound what one request may make the server hold: a body
// that trickles in, a response nobody reads, a Range header that asks for
// thousands of parts, and a head whose length a proxy in front may have
// read otherwise than net/http. Every zero field is off; the zero value
// limits nothing.
type RequestLimits struct {
	// BodyIdleTimeout cuts a request body that delivers no byte for this
	// long.
	BodyIdleTimeout time.Duration
	// MinBodyRate, in bytes per second, cuts a request body whose average
	// rate falls under it once MinRateGrace has passed. The time counted is
	// the time the server waits for the client (inside reads of the body),
	// so a slow store is not held against the client.
	MinBodyRate int64
	// MinRateGrace is how long a body may be slower than MinBodyRate at
	// first; it must not be 0 when MinBodyRate is set.
	MinRateGrace time.Duration
	// WriteIdleTimeout cuts a response whose client takes no data for this
	// long. Every write of at most 32 KiB gets a fresh deadline, so a long
	// download to a slow but steady client goes on. (A blocked write wakes
	// when the kernel has sent about half the socket's send buffer, so the
	// client must take that much within the timeout.)
	WriteIdleTimeout time.Duration
	// MaxRanges is the most byte ranges a Range header may ask for; more
	// is refused with 400 INVALID_FIELD.
	MaxRanges int
	// FramingProblem, when set, tells why the connection of r carried a
	// request head with an ambiguous length (Content-Length next to
	// Transfer-Encoding, which net/http resolves by deleting the
	// Content-Length before any handler runs), or "" when none. Such a
	// request is refused with 400 INVALID_FIELD and its connection closed.
	FramingProblem func(r *http.Request) string
}

// Defaults that serve applies (and the Worker may).
const (
	DefaultBodyIdleTimeout  = 30 * time.Second
	DefaultMinBodyRate      = 16 << 10
	DefaultMinRateGrace     = 30 * time.Second
	DefaultWriteIdleTimeout = 60 * time.Second
	DefaultMaxRanges        = 64
)

// writePiece is the most a response write sends under one write deadline.
const writePiece = 32 << 10

// on reports whether any limit is set.
func (l RequestLimits) on() bool {
	return l.BodyIdleTimeout > 0 || l.MinBodyRate > 0 || l.WriteIdleTimeout > 0 || l.MaxRanges > 0 || l.FramingProblem != nil
}

// limitRequests enforces the RequestLimits: it refuses an ambiguous head
// and too many ranges, and guards the body and the response of every other
// request.
func (s *server) limitRequests(next http.Handler) http.Handler {
	l := s.limits
	if !l.on() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if l.FramingProblem != nil {
			if problem := l.FramingProblem(r); problem != "" {
				w.Header().Set("Connection", "close")
				s.writeError(w, r, storage.Errorf(storage.CodeInvalidField, "%s", problem))
				return
			}
		}
		if l.MaxRanges > 0 {
			if n := countRanges(r.Header.Values("Range")); n > l.MaxRanges {
				s.writeError(w, r, storage.Errorf(storage.CodeInvalidField, "the Range header asks for %d ranges; at most %d are served", n, l.MaxRanges))
				return
			}
		}
		rc := http.NewResponseController(w)
		var g *bodyGuard
		if hasBody(r) && (l.BodyIdleTimeout > 0 || l.MinBodyRate > 0) {
			g = &bodyGuard{body: r.Body, w: w, rc: rc, idle: l.BodyIdleTimeout, rate: l.MinBodyRate, grace: l.MinRateGrace, deadlines: true}
			r.Body = g
		}
		if l.WriteIdleTimeout > 0 {
			// The deadline the previous response on this connection left
			// must not fail a 100 Continue written before our first write.
			_ = rc.SetWriteDeadline(time.Time{})
		}
		if g == nil && l.WriteIdleTimeout <= 0 {
			next.ServeHTTP(w, r)
			return
		}
		gw := &guardedWriter{ResponseWriter: w, rc: rc, idle: l.WriteIdleTimeout, guard: g}
		defer gw.finish()
		next.ServeHTTP(gw, r)
	})
}

// hasBody reports whether r may have a body to read.
func hasBody(r *http.Request) bool {
	return r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
}

// countRanges counts the ranges of Range header values: one more than
// their commas each.
func countRanges(values []string) int {
	n := 0
	for _, v := range values {
		if strings.TrimSpace(v) != "" {
			n += strings.Count(v, ",") + 1
		}
	}
	return n
}

// errTooSlow marks a body cut for its pace.
var errTooSlow = errors.New("request body too slow")

// bodyGuard is the request body under BodyIdleTimeout and MinBodyRate.
// Before each read it sets the connection's read deadline to the time by
// which the client must deliver a byte (the idle timeout, or sooner when
// the average rate would fall under the minimum), and after each read it
// checks the average. A cut body fails its reads with CodeIncompleteBody,
// so the chunk is not recorded and the store frees its lock at once.
//
// The read deadline is touched only while the body has not reached its end
// and no response has started: net/http clears it when it starts its own
// background read at the end of the body, and a deadline set after that
// would cancel the request.
type bodyGuard struct {
	body      io.ReadCloser
	w         http.ResponseWriter
	rc        *http.ResponseController
	idle      time.Duration
	rate      int64
	grace     time.Duration
	deadlines bool // the connection takes read deadlines

	waited time.Duration // time spent waiting inside reads
	got    int64         // bytes read
	done   bool          // the body ended (EOF, error or close) or a response started
	err    error         // the cut, repeated by every later read
}

// Read reads the body under the guard's deadline.
func (g *bodyGuard) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	if g.done {
		return g.body.Read(p)
	}
	wait, byRate := g.allowance()
	if wait <= 0 {
		return 0, g.cut(byRate)
	}
	if g.deadlines {
		if err := g.rc.SetReadDeadline(time.Now().Add(wait)); err != nil {
			g.deadlines = false // not a net/http connection: the rate is still checked
		}
	}
	start := time.Now()
	n, err := g.body.Read(p)
	g.waited += time.Since(start)
	g.got += int64(n)
	switch {
	case err == io.EOF:
		g.done = true
		return n, err
	case err != nil && errors.Is(err, os.ErrDeadlineExceeded):
		return n, g.cut(byRate)
	case err != nil:
		g.done = true
		return n, err
	case g.rate > 0 && g.waited > g.grace && float64(g.got) < float64(g.rate)*g.waited.Seconds():
		return n, g.cut(true)
	}
	return n, nil
}

// allowance returns how long the next read may wait for a byte, and
// whether the minimum rate (rather than the idle timeout) sets it.
func (g *bodyGuard) allowance() (time.Duration, bool) {
	wait, byRate := g.idle, false
	if g.rate > 0 {
		// The average stays at the minimum until got/rate of waiting, and
		// is not checked before the grace ends.
		until := max(g.grace, time.Duration(float64(g.got)/float64(g.rate)*float64(time.Second)))
		if left := until - g.waited; wait <= 0 || left < wait {
			wait, byRate = left, true
		}
	}
	return wait, byRate
}

// cut ends the body: the connection is closed after the response, and
// every read fails from now on.
func (g *bodyGuard) cut(byRate bool) error {
	if g.deadlines {
		_ = g.rc.SetReadDeadline(time.Now()) // no more waiting, here or in net/http
	}
	g.w.Header().Set("Connection", "close")
	if byRate {
		avg := int64(0)
		if s := g.waited.Seconds(); s > 0 {
			avg = int64(float64(g.got) / s)
		}
		g.err = &storage.Error{Code: storage.CodeIncompleteBody, Err: errTooSlow,
			Message: fmt.Sprintf("the request body was cut: it arrived at %d bytes/s on average, under the minimum of %d", avg, g.rate)}
	} else {
		g.err = &storage.Error{Code: storage.CodeIncompleteBody, Err: errTooSlow,
			Message: fmt.Sprintf("the request body was cut: no byte arrived for %s", g.idle)}
	}
	g.done = true
	return g.err
}

// Close closes the body; net/http may read what is left of it, which ends
// the guard's hold on the read deadline.
func (g *bodyGuard) Close() error {
	g.beforeResponse()
	g.done = true
	return g.body.Close()
}

// beforeResponse runs when the response starts (or the body is closed)
// while the body may still be unread: net/http then reads up to 256 KiB of
// what is left to keep the connection, which must not wait on a slow
// client longer than the idle timeout (or the grace) in all.
func (g *bodyGuard) beforeResponse() {
	if g == nil || g.done {
		return
	}
	g.done = true
	if g.deadlines {
		wait := g.idle
		if wait <= 0 {
			wait = g.grace
		}
		_ = g.rc.SetReadDeadline(time.Now().Add(wait))
	}
}

// guardedWriter is the response under WriteIdleTimeout: every write of at
// most writePiece bytes gets a fresh write deadline. It also tells the body
// guard when the response starts.
type guardedWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	idle    time.Duration
	guard   *bodyGuard
	started bool
}

// WriteHeader starts the response.
func (w *guardedWriter) WriteHeader(code int) {
	if code >= 200 && !w.started {
		w.started = true
		w.guard.beforeResponse()
	}
	w.extend()
	w.ResponseWriter.WriteHeader(code)
}

// Write sends p in pieces, each under a fresh write deadline.
func (w *guardedWriter) Write(p []byte) (int, error) {
	if !w.started {
		w.WriteHeader(http.StatusOK)
	}
	if w.idle <= 0 {
		return w.ResponseWriter.Write(p)
	}
	written := 0
	for len(p) > 0 {
		piece := p[:min(len(p), writePiece)]
		w.extend()
		n, err := w.ResponseWriter.Write(piece)
		written += n
		if err != nil {
			return written, err
		}
		p = p[n:]
	}
	return written, nil
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *guardedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// extend moves the write deadline to now plus the idle timeout.
func (w *guardedWriter) extend() {
	if w.idle > 0 {
		_ = w.rc.SetWriteDeadline(time.Now().Add(w.idle))
	}
}

// finish runs when the handler returns: net/http then writes what is
// buffered (and may read what is left of the body) on its own.
func (w *guardedWriter) finish() {
	if !w.started {
		w.guard.beforeResponse()
	}
	w.extend()
}
