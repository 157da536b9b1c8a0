// Package netguard bounds the connections a server holds and inspects what
// net/http hides from handlers.
//
// A Listener caps the connections open at once, in all and per client
// address, and refuses a connection over either cap by closing it right
// after accept, before reading a byte, so that a flood of slow clients
// cannot use up the process's file descriptors and starve everyone else.
// Its connections (*Conn) follow the HTTP/1.x framing of the bytes they
// read and remember a request head that carried both Content-Length and
// Transfer-Encoding: net/http honours the Transfer-Encoding and deletes the
// Content-Length before a handler runs, so only the connection can tell
// that a proxy in front, which may have trusted the Content-Length, saw
// another request boundary (request smuggling). Put ConnContext in
// http.Server.ConnContext and ask FramingProblem in the handler.
//
// RaiseFileLimit and AutoMaxConns size the global cap from the descriptor
// limit.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Limits are the caps of a Listener; the zero value caps nothing (the
// connections are still inspected).
type Limits struct {
	// MaxConns is how many connections may be open at once; 0: no cap.
	MaxConns int
	// MaxConnsPerIP is how many connections one client address may hold
	// at once (an IPv6 address counts with its whole /64, which one client
	// usually has); 0: no cap.
	MaxConnsPerIP int
	// Exempt lists the peers MaxConnsPerIP does not apply to: reverse
	// proxies, behind which every client shares one address. They still
	// count towards MaxConns.
	Exempt []netip.Prefix
	// Logger receives a warning, at most every LogEvery, while
	// connections are refused; nil: no log.
	Logger *slog.Logger
}

// LogEvery is the shortest time between two warnings about refused
// connections.
const LogEvery = 10 * time.Second

// Listener is a net.Listener that enforces Limits. Its Accept returns
// *Conn values.
type Listener struct {
	net.Listener
	limits Limits

	open    atomic.Int64 // connections accepted and not yet closed
	refused atomic.Int64 // connections refused since the start

	mu    sync.Mutex
	perIP map[netip.Addr]int // open connections per client key

	logMu        sync.Mutex
	lastLog      time.Time
	loggedGlobal int64 // refusals over MaxConns at the last warning
	loggedPerIP  int64
	overGlobal   atomic.Int64
	overPerIP    atomic.Int64
}

// NewListener returns inner with the caps of l.
func NewListener(inner net.Listener, l Limits) *Listener {
	return &Listener{Listener: inner, limits: l, perIP: map[netip.Addr]int{}}
}

// Accept waits for the next connection within the caps. A connection over
// a cap is closed at once, before any byte of it is read, and Accept waits
// for the next one.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if gc := l.admit(c); gc != nil {
			return gc, nil
		}
	}
}

// Open returns how many accepted connections are not closed yet.
func (l *Listener) Open() int { return int(l.open.Load()) }

// Refused returns how many connections were refused since the start.
func (l *Listener) Refused() int64 { return l.refused.Load() }

// admit returns c wrapped when it fits the caps; otherwise it closes c and
// returns nil.
func (l *Listener) admit(c net.Conn) *Conn {
	key, keyed := clientKey(c.RemoteAddr())
	perIP := l.limits.MaxConnsPerIP > 0 && keyed && !l.exempt(key)
	if n := l.open.Add(1); l.limits.MaxConns > 0 && n > int64(l.limits.MaxConns) {
		l.open.Add(-1)
		l.refuse(c, &l.overGlobal, key)
		return nil
	}
	if perIP {
		key = perIPKey(key)
		l.mu.Lock()
		if l.perIP[key] >= l.limits.MaxConnsPerIP {
			l.mu.Unlock()
			l.open.Add(-1)
			l.refuse(c, &l.overPerIP, key)
			return nil
		}
		l.perIP[key]++
		l.mu.Unlock()
	}
	gc := &Conn{Conn: c}
	gc.release = func() {
		if perIP {
			l.mu.Lock()
			if l.perIP[key]--; l.perIP[key] <= 0 {
				delete(l.perIP, key)
			}
			l.mu.Unlock()
		}
		l.open.Add(-1)
	}
	return gc
}

// exempt reports whether addr is a peer MaxConnsPerIP does not apply to.
func (l *Listener) exempt(addr netip.Addr) bool {
	for _, p := range l.limits.Exempt {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// refuse closes c, counts it under over, and warns now and then.
func (l *Listener) refuse(c net.Conn, over *atomic.Int64, key netip.Addr) {
	_ = c.Close()
	l.refused.Add(1)
	over.Add(1)
	if l.limits.Logger == nil {
		return
	}
	l.logMu.Lock()
	defer l.logMu.Unlock()
	now := time.Now()
	if !l.lastLog.IsZero() && now.Sub(l.lastLog) < LogEvery {
		return
	}
	g, p := l.overGlobal.Load(), l.overPerIP.Load()
	l.limits.Logger.Warn("refusing new connections over the connection caps",
		"over_max_conns", g-l.loggedGlobal, "over_max_conns_per_ip", p-l.loggedPerIP,
		"open", l.open.Load(), "max_conns", l.limits.MaxConns, "max_conns_per_ip", l.limits.MaxConnsPerIP,
		"last_client", key.String(), "since", sinceText(l.lastLog, now))
	l.lastLog, l.loggedGlobal, l.loggedPerIP = now, g, p
}

// sinceText describes the period a warning covers.
func sinceText(last, now time.Time) string {
	if last.IsZero() {
		return "start"
	}
	return now.Sub(last).Round(time.Second).String() + " ago"
}

// clientKey returns the address of a TCP peer, IPv4-mapped addresses as
// IPv4.
func clientKey(a net.Addr) (netip.Addr, bool) {
	if a == nil {
		return netip.Addr{}, false
	}
	if ta, ok := a.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		return ap.Addr().Unmap(), ap.Addr().IsValid()
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}

// perIPKey is what MaxConnsPerIP counts: an IPv4 address, or the /64 of an
// IPv6 address.
func perIPKey(a netip.Addr) netip.Addr {
	if a.Is6() {
		if p, err := a.Prefix(64); err == nil {
			return p.Addr()
		}
	}
	return a
}

// Conn is a connection accepted by a Listener: it gives its slot back when
// closed, and follows the framing of the HTTP/1.x requests read from it.
type Conn struct {
	net.Conn
	release func()
	once    sync.Once

	mu   sync.Mutex
	scan headScanner
}

// Read reads from the connection and follows the request framing of what
// it read.
func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		c.scan.feed(p[:n])
		c.mu.Unlock()
	}
	return n, err
}

// Close closes the connection and frees its slot under the caps.
func (c *Conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		if c.release != nil {
			c.release()
		}
	})
	return err
}

// CloseWrite shuts down the writing side when the connection supports it
// (TCP does); net/http uses it to let a client read a last response before
// the connection closes.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// FramingProblem returns why a request head read so far on this
// connection has an ambiguous length (Content-Length with
// Transfer-Encoding, Transfer-Encoding on HTTP/1.0, or framing the
// connection could not follow), or "" when none has.
func (c *Conn) FramingProblem() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.scan.problem
}

// ctxKey keys the *Conn of a connection's context.
type ctxKey struct{}

// ConnContext is an http.Server.ConnContext hook: it keeps the connection,
// when it is a *Conn, in the context of its requests for FramingProblem.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if gc, ok := c.(*Conn); ok {
		return context.WithValue(ctx, ctxKey{}, gc)
	}
	return ctx
}

// FramingProblem returns the framing problem (see Conn.FramingProblem) of
// the connection a request's context came from, or "" when there is none
// or the connection is not a *Conn.
//
// A request is checked against every head read so far on its connection:
// a later pipelined request with a problem makes it answer too, which only
// a client that sends such heads sees.
func FramingProblem(ctx context.Context) string {
	if gc, ok := ctx.Value(ctxKey{}).(*Conn); ok {
		return gc.FramingProblem()
	}
	return ""
}

// ReservedFiles is the number of descriptors AutoMaxConns keeps for the
// database, the logs, outgoing connections to S3 or PostgreSQL, and the
// listener itself.
const ReservedFiles = 128

// UnknownLimitConns is AutoMaxConns's answer when the descriptor limit is
// not known.
const UnknownLimitConns = 4096

// AutoMaxConns returns the connection cap that fits in a descriptor limit:
// each connection may hold its socket and one file (an upload being
// written or a file being downloaded), and ReservedFiles stay free. It is
// at least 16, and UnknownLimitConns when the limit is 0 (unknown).
func AutoMaxConns(fileLimit uint64) int {
	if fileLimit == 0 {
		return UnknownLimitConns
	}
	if fileLimit < ReservedFiles+32 {
		return 16
	}
	n := (fileLimit - ReservedFiles) / 2
	if n > 1<<30 {
		n = 1 << 30
	}
	return int(n)
}

// CheckMaxConns checks a cap asked for against the descriptor limit (0:
// unknown, anything goes): the sockets alone must leave ReservedFiles
// descriptors free.
func CheckMaxConns(maxConns int, fileLimit uint64) error {
	if fileLimit == 0 || maxConns <= 0 {
		return nil
	}
	if fileLimit <= ReservedFiles || uint64(maxConns) > fileLimit-ReservedFiles {
		return fmt.Errorf("%d connections do not fit in the process's limit of %d open files (%d are kept for the database, logs and outgoing connections): "+
			"raise the hard limit (ulimit -Hn, systemd LimitNOFILE=) or ask for fewer", maxConns, fileLimit, ReservedFiles)
	}
	return nil
}
