package cfworker

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	storage "github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/httpapi"
)

// App is the Worker's HTTP handler: it applies the D1 migrations once per
// isolate, reads the settings from KV and serves the request with the
// httpapi handler of a storage.Service built for those settings (rebuilt
// only when they change).
type App struct {
	Objects        storage.ObjectStore
	Meta           *MetaStore
	Config         *ConfigSource
	Logger         *slog.Logger
	AllowedOrigins []string
	// Auth verifies bearer tokens; nil turns auth off.
	Auth httpapi.Authenticator
	// Links signs share links and upload tokens; nil: neither is offered.
	Links httpapi.LinkSigner
	// DownloadOrigin is where share links point (the request's origin when "").
	DownloadOrigin string
	// RateLimits are the token buckets per user and client address; they
	// live in the isolate, so each isolate counts for itself (and starts
	// afresh when the KV settings change).
	RateLimits httpapi.RateLimits
	// Now and NewUUID are passed to the Service; the defaults when nil.
	Now     func() time.Time
	NewUUID func() string
	// UploadTTL is how long an upload may go without a chunk before the
	// janitor (the Cron Trigger, see Scheduled) expires it;
	// storage.DefaultUploadTTL when 0.
	UploadTTL time.Duration
	// AuditRetention is how long the janitor keeps audit rows;
	// storage.DefaultAuditRetention when 0, forever when negative.
	AuditRetention time.Duration

	mu       sync.Mutex
	audit    *storage.AuditBatcher // the audit events that change no state
	settings Settings
	handler  http.Handler
	holder   string // this isolate's name in the janitor's lease
}

// ServeHTTP serves one request.
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := a.Meta.Migrate(ctx); err != nil {
		// Requests go on: the store's own errors answer DATABASE_ERROR.
		a.log().Error("applying the D1 migrations failed", "err", err)
	}
	a.handlerFor(a.Config.Settings(ctx)).ServeHTTP(w, r)
	// The audit events of this request (a download, a refusal) are
	// written before the request ends: an isolate may be evicted at any
	// time after it, so nothing is kept for later.
	if err := a.auditBatcher().Flush(context.WithoutCancel(ctx)); err != nil {
		a.log().Error("writing the audit events of a request failed", "err", err)
	}
}

// auditBatcher returns the isolate's AuditBatcher, flushed by ServeHTTP.
func (a *App) auditBatcher() *storage.AuditBatcher {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.audit == nil {
		a.audit = storage.NewAuditBatcher(a.Meta, storage.AuditBatcherOptions{Logger: a.log()})
	}
	return a.audit
}

func (a *App) handlerFor(s Settings) http.Handler {
	audit := a.auditBatcher()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.handler == nil || a.settings != s {
		svc := a.service(s, a.Now)
		a.handler = httpapi.NewServer(httpapi.Options{Service: svc, Logger: a.log(), AllowedOrigins: a.AllowedOrigins, Now: a.Now,
			Auth: a.Auth, Links: a.Links, DownloadOrigin: a.DownloadOrigin, RateLimits: a.RateLimits, Audit: audit})
		a.settings = s
	}
	return a.handler
}

// service returns a Service for the settings s with the clock now.
func (a *App) service(s Settings, now func() time.Time) *storage.Service {
	cfg := s.ServiceConfig()
	cfg.UploadTTL = a.UploadTTL
	cfg.AuditRetention = a.AuditRetention
	return &storage.Service{Objects: a.Objects, Meta: a.Meta, Config: cfg, Now: now, NewUUID: a.NewUUID,
		RequireAuth: a.Auth != nil, Logger: a.log()}
}

func (a *App) log() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.Default()
}
