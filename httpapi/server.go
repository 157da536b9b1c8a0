// Package httpapi is the HTTP API of MemeNow Storage: the routes of the
// original service (init, chunk, complete, status, cancel, health), file
// downloads, CORS, and the mapping of domain errors to HTTP statuses.
package httpapi

import (
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	storage "github.com/memenow/memenow-storage"
)

// Options configures the HTTP API.
type Options struct {
	// Service does the work; required.
	Service *storage.Service
	// Logger receives request logs and internal errors; slog.Default() when nil.
	Logger *slog.Logger
	// AllowedOrigins lists the origins browsers may call the API from; "*"
	// allows any. When empty: any with auth off, none (same origin only)
	// with auth on. Credentials (cookies) are never allowed: the API takes
	// bearer tokens.
	AllowedOrigins []string
	// Auth verifies bearer tokens; nil turns auth off (the Service must then
	// have RequireAuth false, and every caller may do everything).
	Auth Authenticator
	// Links signs share links and upload tokens; nil: neither is offered.
	Links LinkSigner
	// DownloadOrigin, e.g. "https://files.example.com", is where share
	// links point; the origin of the request when empty.
	DownloadOrigin string
	// UploadTokenTTL is how long an upload token lives;
	// DefaultUploadTokenTTL when 0.
	UploadTokenTTL time.Duration
	// TrustedProxies are the peers whose X-Forwarded-For and
	// CF-Connecting-IP headers name the client (clientip.go).
	TrustedProxies []netip.Prefix
	// Limits bound what one request may hold (limits.go).
	Limits RequestLimits
	// RateLimits are the token buckets per user and per client IP
	// (ratelimit.go); the zero value is off.
	RateLimits RateLimits
	// Audit, when not nil, takes the audit events that change no state
	// (downloads, shares, refusals; audit.go) to be written in batches.
	Audit AuditRecorder
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

	auth           Authenticator
	links          LinkSigner
	downloadOrigin string
	uploadTokenTTL time.Duration
	trusted        []netip.Prefix
	limits         RequestLimits
	rateLimits     RateLimits
	health         healthCache // handlers.go: the last /health report
	audit          AuditRecorder
}

// NewServer returns the HTTP handler of the whole API.
func NewServer(o Options) http.Handler {
	s := &server{svc: o.Service, log: o.Logger, page: o.Page, nowFunc: o.Now, mux: http.NewServeMux(),
		auth: o.Auth, links: o.Links, downloadOrigin: o.DownloadOrigin, uploadTokenTTL: o.UploadTokenTTL,
		trusted: o.TrustedProxies, limits: o.Limits, rateLimits: o.RateLimits, audit: o.Audit}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.uploadTokenTTL == 0 {
		s.uploadTokenTTL = DefaultUploadTokenTTL
	}
	origins := o.AllowedOrigins
	if len(origins) == 0 && o.Auth == nil {
		origins = []string{"*"}
	}
	s.origins = map[string]bool{}
	for _, origin := range origins {
		if origin == "*" {
			s.origins = nil
			break
		}
		s.origins[origin] = true
	}
	s.routes()
	var h http.Handler = http.HandlerFunc(s.dispatch)
	h = s.rateLimit(h) // after authenticate: per user when there is one
	h = s.authenticate(h)
	h = s.cors(h)
	// audit.go: the request id and client address in the context. Inside
	// limitRequests, which must see the server's own *http.Request (it
	// marks it to close the connection of a cut body).
	h = s.requestInfo(h)
	h = s.limitRequests(h) // before anything reads the request
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
