// Package httpapi is the HTTP API of MemeNow Storage: the routes of the
// original service (init, chunk, complete, status, cancel, health), file
// downloads, CORS, and the mapping of domain errors to HTTP statuses.
package httpapi

import (
	"log/slog"
	"net/http"
	"time"

	storage "github.com/memenow/memenow-storage"
)

// Options configures the HTTP API.
type Options struct {
	// Service does the work; required.
	Service *storage.Service
	// Logger receives request logs and internal errors; slog.Default() when nil.
	Logger *slog.Logger
	// AllowedOrigins lists the origins browsers may call the API from;
	// "*" (the default when empty) allows any.
	AllowedOrigins []string
	// Page, when not nil, serves the browser upload page at GET /.
	Page http.Handler
	// Now returns the current time for error timestamps; time.Now when nil.
	Now func() time.Time
}

// server holds the dependencies of the handlers.
type server struct {
	svc     *storage.Service
	log     *slog.Logger
	origins map[string]bool // nil: any origin
	page    http.Handler
	nowFunc func() time.Time
	mux     *http.ServeMux
}

// NewServer returns the HTTP handler of the whole API.
func NewServer(o Options) http.Handler {
	s := &server{svc: o.Service, log: o.Logger, page: o.Page, nowFunc: o.Now, mux: http.NewServeMux()}
	if s.log == nil {
		s.log = slog.Default()
	}
	for _, origin := range o.AllowedOrigins {
		if origin == "*" {
			s.origins = nil
			break
		}
		if s.origins == nil {
			s.origins = map[string]bool{}
		}
		s.origins[origin] = true
	}
	s.routes()
	var h http.Handler = http.HandlerFunc(s.dispatch)
	h = s.cors(h)
	h = s.recoverPanics(h)
	h = s.logRequests(h)
	return h
}

func (s *server) now() time.Time {
	if s.nowFunc != nil {
		return s.nowFunc()
	}
	return time.Now()
}
