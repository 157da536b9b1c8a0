package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	storage "github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/auth"
	"github.com/memenow/memenow-storage/httpapi"
	"github.com/memenow/memenow-storage/web"
)

// runServe runs the HTTP service until ctx is cancelled (SIGINT/SIGTERM),
// then stops accepting, lets in-flight requests finish within the shutdown
// timeout, and returns 0.
func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	var usageOut strings.Builder
	cfg, err := loadServeConfig(args, getenv, &usageOut)
	if err != nil {
		if errors.Is(err, flagHelp) {
			fmt.Fprint(stderr, usageOut.String())
			return exitOK
		}
		var ue errUsage
		if errors.As(err, &ue) {
			fmt.Fprint(stderr, usageOut.String())
		}
		fmt.Fprintf(stderr, "memenow-storage: invalid configuration: %v\n", err)
		return exitUsage
	}
	limits := storage.DefaultConfig()
	limits.MaxFileSize, limits.ChunkSize = cfg.MaxFileSize, cfg.ChunkSize
	if err := limits.Validate(); err != nil {
		fmt.Fprintf(stderr, "memenow-storage: invalid configuration: %v\n", err)
		return exitUsage
	}
	if !cfg.authOn() && !isLoopback(cfg.Addr) && !cfg.InsecureNoAuth {
		fmt.Fprintf(stderr, "memenow-storage: refusing to listen on %s without auth: anyone could act as any user and read every file.\n"+
			"Configure --jwt-secret, --jwt-secret-file or --jwks-url, or pass --insecure-no-auth to accept that.\n", cfg.Addr)
		return exitUsage
	}
	limits.MaxShareTTL = cfg.MaxShareTTL
	log := newLogger(stderr, cfg)
	if !cfg.authOn() && !isLoopback(cfg.Addr) {
		log.Warn("auth is off on a non-loopback address (--insecure-no-auth): anyone may act as any user and read every file", "addr", cfg.Addr)
	}

	verifier, signer, err := openAuth(ctx, cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "memenow-storage: %v\n", err)
		return exitFailure
	}
	var authenticator httpapi.Authenticator
	if verifier != nil {
		defer verifier.Close()
		authenticator = &auth.Authenticator{Verifier: verifier, Signer: signer}
	}

	svc, closeStores, err := openStores(ctx, cfg, limits)
	if err != nil {
		fmt.Fprintf(stderr, "memenow-storage: %v\n", err)
		return exitFailure
	}
	defer closeStores()
	svc.RequireAuth = authenticator != nil
	if err := checkSafeStart(ctx, cfg, svc); err != nil {
		fmt.Fprintf(stderr, "memenow-storage: %v\n", err)
		return exitFailure
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		fmt.Fprintf(stderr, "memenow-storage: %v\n", err)
		return exitFailure
	}
	if ln, err = guardListener(ln, cfg, log); err != nil {
		fmt.Fprintf(stderr, "memenow-storage: %v\n", err)
		return exitFailure
	}
	opts := httpapi.Options{
		Service: svc, Logger: log, AllowedOrigins: cfg.AllowedOrigins, Page: web.Handler(),
		Auth: authenticator, Links: signer, DownloadOrigin: cfg.DownloadOrigin, TrustedProxies: cfg.TrustedProxies,
	}
	// The audit events that change no state, written every second; closed
	// (flushed) after the server's requests end and before the stores
	// close (defers run last first).
	auditLog := storage.NewAuditBatcher(svc.Meta, storage.AuditBatcherOptions{Interval: time.Second, Logger: log})
	defer func() {
		if err := auditLog.Close(context.WithoutCancel(ctx)); err != nil {
			log.Error("writing the last audit events failed", "err", err)
		}
	}()
	opts.Audit = auditLog
	opts.Limits = requestLimits(cfg) // netlimits.go
	applyAbuseLimits(cfg, &svc.Config, &opts)
	srv := &http.Server{
		Handler:           httpapi.NewServer(opts),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	applyNetLimits(srv, cfg)
	stopJanitor := startJanitor(ctx, cfg, svc, log)
	defer stopJanitor()
	log.Info("memenow-storage listening", "addr", "http://"+ln.Addr().String(),
		"metadata", describeDatabase(cfg), "storage", svc.Objects.Describe(), "auth", cfg.authOn())

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		log.Error("server stopped", "err", err)
		return exitFailure
	case <-ctx.Done():
	}
	log.Info("shutting down: waiting for in-flight requests", "timeout", cfg.ShutdownTimeout)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Warn("shutdown timeout reached; closing remaining connections", "err", err)
		_ = srv.Close()
	}
	log.Info("stopped")
	return exitOK
}

// newLogger returns the service's logger.
func newLogger(w io.Writer, cfg *serveConfig) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
