//go:build js && wasm

// Command memenow-worker is MemeNow Storage on Cloudflare Workers: the
// storage.Service and httpapi handler over R2 (STORAGE_BUCKET), D1
// (UPLOAD_DB) and KV (STORAGE_CONFIG), compiled with GOOS=js GOARCH=wasm
// and run by worker/index.mjs. Build it with `go run ./cmd/memenow-worker/build`.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"syscall/js"
	"time"

	storage "github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/cfworker"
)

func main() {
	// The shim passes the Worker's text variables as process environment.
	level := slog.LevelInfo
	if strings.EqualFold(os.Getenv("LOG_LEVEL"), "debug") {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	var origins []string
	corsVar := os.Getenv("CORS_ORIGINS")
	if corsVar == "" {
		corsVar = os.Getenv("ALLOWED_ORIGINS") // the old name
	}
	for _, o := range strings.Split(corsVar, ",") {
		if o = strings.TrimSpace(o); o != "" {
			origins = append(origins, o)
		}
	}
	_ = js.Global() // the shim has set up the JavaScript side before main runs
	authenticator, links, err := workerAuth(context.Background(), log)
	if err != nil {
		// Refuse every request rather than serve without the configured auth.
		log.Error("auth configuration is invalid; every request is refused", "err", err)
		cfworker.Serve(refuseAll{}, log)
		return
	}
	rateLimits, err := workerRateLimits()
	if err != nil {
		log.Error("rate limit configuration is invalid; every request is refused", "err", err)
		cfworker.Serve(refuseAll{}, log)
		return
	}
	app := &cfworker.App{
		Objects:        &cfworker.ObjectStore{Bucket: cfworker.JSR2{}, Name: "STORAGE_BUCKET"},
		Meta:           &cfworker.MetaStore{DB: cfworker.JSD1{}},
		Config:         &cfworker.ConfigSource{KV: cfworker.JSKV{}, Logger: log},
		Logger:         log,
		AllowedOrigins: origins,
		Auth:           authenticator,
		Links:          links,
		DownloadOrigin: strings.TrimRight(os.Getenv("DOWNLOAD_ORIGIN"), "/"),
		UploadTTL:      uploadTTL(log),
		RateLimits:     rateLimits,
	}
	cfworker.Serve(app, log)
}

// uploadTTL reads the UPLOAD_TTL variable (a Go duration of at least 1s);
// the default (24h) when it is absent or invalid, with a log line for the
// latter.
func uploadTTL(log *slog.Logger) time.Duration {
	v := os.Getenv("UPLOAD_TTL")
	if v == "" {
		return storage.DefaultUploadTTL
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Second {
		log.Error("UPLOAD_TTL is not a duration of at least 1s; using the default", "value", v, "default", storage.DefaultUploadTTL)
		return storage.DefaultUploadTTL
	}
	return d
}

// refuseAll answers 503 to every request: the Worker's configuration is
// invalid, and serving without the auth it names would be unsafe.
type refuseAll struct{}

func (refuseAll) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = fmt.Fprintf(w, `{"error":{"code":"SERVICE_UNAVAILABLE","message":"the service is misconfigured; see the Worker's log","timestamp":%q}}`+"\n",
		time.Now().UTC().Format(time.RFC3339))
}
