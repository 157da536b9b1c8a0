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
	"strconv"
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
	if os.Getenv("MEMENOW_TEST_ROUTES") == "1" {
		cfworker.Serve(&testRoutes{app}, log)
		return
	}
	cfworker.Serve(app, log)
}

// testRoutes adds routes the end-to-end tests need to the App (its
// Scheduled method comes with the embedding). worker/test/start.mjs turns
// them on with MEMENOW_TEST_ROUTES=1; a deployed Worker never has them.
//
// GET /__test/stream?bytes=N answers N bytes (byte i is i mod 251) in
// 64 KiB writes without a Content-Length: a body of unknown length, longer
// than the bridge gathers before streaming.
type testRoutes struct{ *cfworker.App }

func (t *testRoutes) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || r.URL.Path != "/__test/stream" {
		t.App.ServeHTTP(w, r)
		return
	}
	n, err := strconv.Atoi(r.URL.Query().Get("bytes"))
	if err != nil || n < 0 || n > 64<<20 {
		http.Error(w, "bytes must be 0 to 64 MiB", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	piece := make([]byte, 64<<10)
	for off := 0; off < n; off += len(piece) {
		p := piece[:min(len(piece), n-off)]
		for i := range p {
			p[i] = byte((off + i) % 251)
		}
		if _, err := w.Write(p); err != nil {
			return
		}
	}
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
