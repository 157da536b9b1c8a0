package httpapi

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	storage "github.com/memenow/memenow-storage"
)

// dispatch routes a request through the mux, answering unknown routes,
// wrong methods and paths with dot segments in the JSON error shape instead
// of the mux's plain text and redirects.
func (s *server) dispatch(w http.ResponseWriter, r *http.Request) {
	if hasDotSegment(r.URL.Path) || hasDotSegment(decodeDots(r.URL.EscapedPath())) {
		s.writeError(w, r, storage.Errorf(storage.CodeNotFound, "no route or file at %s", r.URL.EscapedPath()))
		return
	}
	h, pattern := s.mux.Handler(r)
	if pattern != "" {
		s.mux.ServeHTTP(w, r) // ServeHTTP, not h: it sets the path values
		return
	}
	// The mux has no route: find out whether it would say 404, 405 or redirect.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	switch rec.Code {
	case http.StatusMethodNotAllowed:
		if allow := rec.Header().Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		s.writeError(w, r, storage.Errorf(storage.CodeMethodNotAllowed, "method %s is not allowed on %s", r.Method, r.URL.Path))
	default:
		s.writeError(w, r, storage.Errorf(storage.CodeNotFound, "no route at %s %s", r.Method, r.URL.Path))
	}
}

// hasDotSegment reports whether a path has a "." or ".." segment or a
// backslash, which some systems treat as a separator.
func hasDotSegment(p string) bool {
	if strings.Contains(p, `\`) {
		return true
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// decodeDots decodes the percent-encoded dots and backslashes of an escaped
// path, and nothing else, so that "%2e%2e" is seen as ".." but "%252e" is not.
func decodeDots(p string) string {
	return strings.NewReplacer("%2e", ".", "%2E", ".", "%5c", `\`, "%5C", `\`).Replace(p)
}

// cors adds the CORS headers to every response, errors included, and
// answers preflight requests.
func (s *server) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		allowed := origin != "" && (s.origins == nil || s.origins[origin])
		h := w.Header()
		if allowed {
			if s.origins == nil {
				h.Set("Access-Control-Allow-Origin", "*")
			} else {
				h.Set("Access-Control-Allow-Origin", origin)
				h.Add("Vary", "Origin")
			}
			h.Set("Access-Control-Expose-Headers", exposedHeaders)
		}
		if r.Method == http.MethodOptions {
			h.Set("Allow", allowedMethods)
			if allowed && r.Header.Get("Access-Control-Request-Method") != "" {
				h.Set("Access-Control-Allow-Methods", allowedMethods)
				h.Set("Access-Control-Allow-Headers", allowedHeaders)
				h.Set("Access-Control-Max-Age", "86400")
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// recoverPanics turns a panic in a handler into a 500 in the JSON shape.
func (s *server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic", "method", r.Method, "path", r.URL.Path, "panic", v)
				s.writeError(w, r, storage.Errorf(storage.CodeInternal, "internal error"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// statusRecorder remembers the status and size of a response, for the log
// and the audit row of a download.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// auditedRefusal reports whether a status is a refusal a client can cause
// at will and the audit log records (401, 403, 429): logged at debug, so
// that a flood of them cannot flood the log.
func auditedRefusal(status int) bool {
	return status == http.StatusUnauthorized || status == http.StatusForbidden || status == http.StatusTooManyRequests
}

// logRequests logs one line per request at debug level, and at info level
// for errors but the audited refusals.
func (s *server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		level := slog.LevelDebug
		if rec.status >= 400 && !auditedRefusal(rec.status) {
			level = slog.LevelInfo
		}
		s.log.Log(r.Context(), level, "request", "method", r.Method, "path", r.URL.Path,
			"status", rec.status, "bytes", rec.bytes, "duration", time.Since(start))
	})
}
