package main

import (
	"context"
	"log/slog"

	storage "github.com/memenow/memenow-storage"
)

// expiryConfig are the settings of upload expiry, the janitor, health and
// safe start.
type expiryConfig struct{}

// expirySettings are the flags of expiryConfig.
func expirySettings() []setting { return nil }

// checkSafeStart refuses to start on a database that lost its uploads.
func checkSafeStart(ctx context.Context, cfg *serveConfig, svc *storage.Service) error { return nil }

// startJanitor runs the janitor until ctx ends; stop waits for it.
func startJanitor(ctx context.Context, cfg *serveConfig, svc *storage.Service, log *slog.Logger) (stop func()) {
	return func() {}
}
