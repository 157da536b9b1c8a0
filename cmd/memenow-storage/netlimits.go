package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/memenow/memenow-storage/httpapi"
	"github.com/memenow/memenow-storage/internal/netguard"
)

// netLimits are the settings of timeouts and connection caps.
type netLimits struct {
	// ReadHeaderTimeout is how long a client may take to send a request's
	// head; IdleTimeout how long a kept-alive connection may wait for the
	// next request; MaxHeaderBytes how large a head may be.
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
	// BodyIdleTimeout, MinBodyRate and MinBodyRateGrace cut slow request
	// bodies; WriteIdleTimeout responses nobody reads (httpapi.RequestLimits).
	BodyIdleTimeout  time.Duration
	MinBodyRate      int64
	MinBodyRateGrace time.Duration
	WriteIdleTimeout time.Duration
	// MaxConns caps the open connections; 0 means derived from the
	// descriptor limit (netguard.AutoMaxConns). MaxConnsPerIP caps them per
	// client address; 0: no cap.
	MaxConns      int
	MaxConnsPerIP int
}

// netLimitSettings are the flags of netLimits.
func netLimitSettings() []setting {
	return []setting{
		{"read-header-timeout", "how long a client may take to send a request's headers", "10s", durationSetting(func(c *serveConfig) *time.Duration { return &c.ReadHeaderTimeout }, time.Millisecond)},
		{"idle-timeout", "how long an idle kept-alive connection stays open", "2m", durationSetting(func(c *serveConfig) *time.Duration { return &c.IdleTimeout }, time.Millisecond)},
		{"max-header-bytes", "largest request head (request line and headers)", "64KiB", func(c *serveConfig, v string) error {
			n, err := parseSize(v)
			if err == nil && (n < 4<<10 || n > 16<<20) {
				err = errors.New("must be between 4KiB and 16MiB")
			}
			c.MaxHeaderBytes = int(n)
			return err
		}},
		{"body-idle-timeout", "cut a request body that sends no byte for this long (0: never)", "30s", durationSetting(func(c *serveConfig) *time.Duration { return &c.BodyIdleTimeout }, 0)},
		{"min-body-rate", "cut a request body that averages fewer bytes per second once --min-body-rate-grace has passed (0: no minimum)", "16KiB", func(c *serveConfig, v string) (err error) {
			c.MinBodyRate, err = parseSize(v)
			return err
		}},
		{"min-body-rate-grace", "how long a request body may be slower than --min-body-rate at first", "30s", durationSetting(func(c *serveConfig) *time.Duration { return &c.MinBodyRateGrace }, time.Millisecond)},
		{"write-idle-timeout", "cut a response (a download) whose client takes no byte for this long (0: never)", "60s", durationSetting(func(c *serveConfig) *time.Duration { return &c.WriteIdleTimeout }, 0)},
		{"max-conns", "connections open at once; over it new ones are closed at accept (auto: (open-file limit - 128) / 2)", "auto", func(c *serveConfig, v string) error {
			if v == "auto" {
				c.MaxConns = 0
				return nil
			}
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n < 1 {
				return fmt.Errorf("must be auto or a positive number, got %q", v)
			}
			c.MaxConns = n
			return nil
		}},
		{"max-conns-per-ip", "connections open at once from one client address, an IPv6 /64 (0: no cap; --trusted-proxies are exempt)", "256", func(c *serveConfig, v string) error {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n < 0 {
				return fmt.Errorf("must be a number, 0 for no cap, got %q", v)
			}
			c.MaxConnsPerIP = n
			return nil
		}},
	}
}

// durationSetting applies a duration setting to the field field returns;
// a duration under least (other than 0 when least is 0) is refused.
func durationSetting(field func(*serveConfig) *time.Duration, least time.Duration) func(*serveConfig, string) error {
	return func(c *serveConfig, v string) error {
		d, err := parseDuration(v)
		if err != nil {
			return err
		}
		if d < 0 {
			return fmt.Errorf("must not be negative, got %q", v)
		}
		if d < least {
			return fmt.Errorf("must be at least %s, got %q", least, v)
		}
		*field(c) = d
		return nil
	}
}

// requestLimits returns the HTTP API's limits of one request.
func requestLimits(cfg *serveConfig) httpapi.RequestLimits {
	return httpapi.RequestLimits{
		BodyIdleTimeout:  cfg.BodyIdleTimeout,
		MinBodyRate:      cfg.MinBodyRate,
		MinRateGrace:     cfg.MinBodyRateGrace,
		WriteIdleTimeout: cfg.WriteIdleTimeout,
		MaxRanges:        httpapi.DefaultMaxRanges,
		FramingProblem:   func(r *http.Request) string { return netguard.FramingProblem(r.Context()) },
	}
}

// applyNetLimits sets the server's timeouts and header limits, and lets
// the HTTP API see the connection a request came on (for
// RequestLimits.FramingProblem).
func applyNetLimits(srv *http.Server, cfg *serveConfig) {
	srv.ReadHeaderTimeout = cfg.ReadHeaderTimeout
	srv.IdleTimeout = cfg.IdleTimeout
	srv.MaxHeaderBytes = cfg.MaxHeaderBytes
	srv.ConnContext = netguard.ConnContext
}

// guardListener raises the descriptor limit, checks the connection cap
// against it, and wraps the listener with the connection caps. On error
// it closes ln.
func guardListener(ln net.Listener, cfg *serveConfig, log *slog.Logger) (net.Listener, error) {
	limit, err := netguard.RaiseFileLimit()
	if err != nil && !errors.Is(err, errors.ErrUnsupported) {
		log.Warn("could not raise the open-file limit to its hard limit", "limit", limit, "err", err)
	}
	maxConns := cfg.MaxConns
	if maxConns == 0 {
		maxConns = netguard.AutoMaxConns(limit)
	} else if err := netguard.CheckMaxConns(maxConns, limit); err != nil {
		ln.Close()
		return nil, fmt.Errorf("--max-conns: %v", err)
	}
	if limit > 0 && limit < 1024 {
		log.Warn("the open-file limit is low: raise it (ulimit -Hn, systemd LimitNOFILE=) to serve more connections", "limit", limit, "max_conns", maxConns)
	}
	log.Debug("connection limits", "max_conns", maxConns, "max_conns_per_ip", cfg.MaxConnsPerIP,
		"open_file_limit", limit, "body_idle_timeout", cfg.BodyIdleTimeout, "min_body_rate", cfg.MinBodyRate,
		"write_idle_timeout", cfg.WriteIdleTimeout)
	return netguard.NewListener(ln, netguard.Limits{
		MaxConns: maxConns, MaxConnsPerIP: cfg.MaxConnsPerIP, Exempt: cfg.TrustedProxies, Logger: log,
	}), nil
}
