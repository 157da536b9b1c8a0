//go:build js && wasm

// Command memenow-worker is MemeNow Storage on Cloudflare Workers: the
// storage.Service and httpapi handler over R2 (STORAGE_BUCKET), D1
// (UPLOAD_DB) and KV (STORAGE_CONFIG), compiled with GOOS=js GOARCH=wasm
// and run by worker/index.mjs. Build it with `go run ./cmd/memenow-worker/build`.
package main

import (
	"log/slog"
	"os"
	"strings"
	"syscall/js"

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
	for _, o := range strings.Split(os.Getenv("ALLOWED_ORIGINS"), ",") {
		if o = strings.TrimSpace(o); o != "" {
			origins = append(origins, o)
		}
	}
	_ = js.Global() // the shim has set up the JavaScript side before main runs
	app := &cfworker.App{
		Objects:        &cfworker.ObjectStore{Bucket: cfworker.JSR2{}, Name: "STORAGE_BUCKET"},
		Meta:           &cfworker.MetaStore{DB: cfworker.JSD1{}},
		Config:         &cfworker.ConfigSource{KV: cfworker.JSKV{}, Logger: log},
		Logger:         log,
		AllowedOrigins: origins,
	}
	cfworker.Serve(app, log)
}
