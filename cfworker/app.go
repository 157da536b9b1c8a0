package cfworker

import (
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
	// Now and NewUUID are passed to the Service; the defaults when nil.
	Now     func() time.Time
	NewUUID func() string

	mu       sync.Mutex
	settings Settings
	handler  http.Handler
}

// ServeHTTP serves one request.
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := a.Meta.Migrate(ctx); err != nil {
		// Requests go on: the store's own errors answer DATABASE_ERROR.
		a.log().Error("applying the D1 migrations failed", "err", err)
	}
	a.handlerFor(a.Config.Settings(ctx)).ServeHTTP(w, r)
}

func (a *App) handlerFor(s Settings) http.Handler {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.handler == nil || a.settings != s {
		svc := &storage.Service{Objects: a.Objects, Meta: a.Meta, Config: s.ServiceConfig(), Now: a.Now, NewUUID: a.NewUUID,
			RequireAuth: a.Auth != nil}
		a.handler = httpapi.NewServer(httpapi.Options{Service: svc, Logger: a.log(), AllowedOrigins: a.AllowedOrigins, Now: a.Now,
			Auth: a.Auth, Links: a.Links, DownloadOrigin: a.DownloadOrigin})
		a.settings = s
	}
	return a.handler
}

func (a *App) log() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.Default()
}
