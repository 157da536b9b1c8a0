package httpapi

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	storage "github.com/memenow/memenow-storage"
)

// Rate is a token bucket: up to Burst requests at once, refilled at
// PerSecond requests a second. The zero Rate is no limit.
type Rate struct {
	PerSecond float64
	Burst     int
}

// On reports whether r limits anything.
func (r Rate) On() bool { return r.PerSecond > 0 }

// ParseRate reads a rate limit: "N/s", "N/m" or "N/h" (N requests a second,
// minute or hour, N a positive number), optionally followed by ":BURST", the
// most requests taken at once (default N, at least 1). "", "0" and "off"
// are no limit.
func ParseRate(v string) (Rate, error) {
	v = strings.TrimSpace(v)
	switch strings.ToLower(v) {
	case "", "0", "off":
		return Rate{}, nil
	}
	spec, burstText, hasBurst := strings.Cut(v, ":")
	num, unit, ok := strings.Cut(spec, "/")
	if !ok {
		return Rate{}, fmt.Errorf("%q is not a rate: write N/s, N/m or N/h, optionally with :BURST (e.g. 20/s:40)", v)
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || n <= 0 || math.IsInf(n, 0) || math.IsNaN(n) {
		return Rate{}, fmt.Errorf("%q is not a rate: the number of requests must be positive", v)
	}
	var per float64
	switch strings.ToLower(strings.TrimSpace(unit)) {
	case "s", "sec", "second":
		per = 1
	case "m", "min", "minute":
		per = 60
	case "h", "hour":
		per = 3600
	default:
		return Rate{}, fmt.Errorf("%q is not a rate: the unit must be s, m or h", v)
	}
	r := Rate{PerSecond: n / per, Burst: max(1, int(math.Ceil(n)))}
	if hasBurst {
		b, err := strconv.Atoi(strings.TrimSpace(burstText))
		if err != nil || b < 1 {
			return Rate{}, fmt.Errorf("%q is not a rate: the burst after ':' must be a positive integer", v)
		}
		r.Burst = b
	}
	return r, nil
}

// DefaultRateLimitKeys is how many clients each limit keeps a bucket for
// when RateLimits.MaxKeys is 0.
const DefaultRateLimitKeys = 100_000

// RateLimits are the token buckets per user and per client IP; the zero
// value is off. A request with a verified user (a user's token, or an
// upload token, which counts for the upload's user) is counted for that
// user; any other request for its client's address (clientIP): the address
// itself for IPv4, its /64 for IPv6, since one IPv6 client usually holds a
// whole /64. Administrators and GET /health are not limited. The buckets
// live in the process: every instance (and on Workers every isolate)
// counts for itself.
type RateLimits struct {
	// API limits every request but chunk PUTs.
	API Rate
	// Chunk limits PUT /api/upload/chunk, counted apart from the API calls.
	Chunk Rate
	// MaxKeys bounds the clients each limit keeps a bucket for;
	// DefaultRateLimitKeys when 0. A bucket idle long enough to be full
	// again is dropped (it would be made anew as it was); under a flood of
	// distinct clients that fills MaxKeys, the oldest half of the buckets
	// are dropped early, so memory stays bounded at the price of a fresh
	// bucket for the clients that lose theirs.
	MaxKeys int
}

// rateKey names whose bucket a request draws from: a user, or a client
// network.
type rateKey struct {
	user string
	net  netip.Prefix
}

// buckets are the token buckets of one limit. Buckets live in two
// generations: the current one and the one before; a lookup that finds a
// bucket in the old generation moves it to the current one, and a rotation
// (every period, or when the current generation holds half of maxKeys)
// drops the old generation and starts a new one. A bucket thus goes only
// after it was idle at least period, which is at least the time it takes to
// fill up again: dropping it loses nothing.
type buckets struct {
	limit   rate.Limit
	burst   int
	maxKeys int
	period  time.Duration

	mu      sync.Mutex
	cur     map[rateKey]*rate.Limiter
	old     map[rateKey]*rate.Limiter
	rotated time.Time
}

// minRotation is the shortest period between two rotations.
const minRotation = 10 * time.Second

// newBuckets returns the buckets of r, or nil when r is off.
func newBuckets(r Rate, maxKeys int) *buckets {
	if !r.On() {
		return nil
	}
	if maxKeys <= 0 {
		maxKeys = DefaultRateLimitKeys
	}
	refill := time.Duration(float64(max(r.Burst, 1)) / r.PerSecond * float64(time.Second))
	return &buckets{limit: rate.Limit(r.PerSecond), burst: max(r.Burst, 1), maxKeys: max(maxKeys, 2),
		period: max(refill, minRotation), cur: map[rateKey]*rate.Limiter{}, old: map[rateKey]*rate.Limiter{}}
}

// allow takes a token from key's bucket at now. When there is none it
// returns false and how long until there is one.
func (b *buckets) allow(key rateKey, now time.Time) (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if now.Sub(b.rotated) >= b.period || len(b.cur) >= b.maxKeys/2 {
		b.old, b.cur, b.rotated = b.cur, make(map[rateKey]*rate.Limiter, len(b.cur)), now
	}
	lim := b.cur[key]
	if lim == nil {
		if lim = b.old[key]; lim != nil {
			delete(b.old, key)
		} else {
			lim = rate.NewLimiter(b.limit, b.burst)
		}
		b.cur[key] = lim
	}
	if lim.AllowN(now, 1) {
		return true, 0
	}
	missing := 1 - lim.TokensAt(now)
	return false, time.Duration(missing / float64(b.limit) * float64(time.Second))
}

// size returns how many buckets are kept.
func (b *buckets) size() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.cur) + len(b.old)
}

// rateLimiter holds the buckets of the RateLimits.
type rateLimiter struct {
	api, chunk *buckets
}

// newRateLimiter returns the limiter of l, or nil when l limits nothing.
func newRateLimiter(l RateLimits) *rateLimiter {
	rl := &rateLimiter{api: newBuckets(l.API, l.MaxKeys), chunk: newBuckets(l.Chunk, l.MaxKeys)}
	if rl.api == nil && rl.chunk == nil {
		return nil
	}
	return rl
}

// errRateLimited is what a refused request is told.
var errRateLimited = errors.New("rate limited")

// rateLimit enforces the RateLimits: a request over its limit answers 429
// RATE_LIMITED with Retry-After, the seconds (rounded up) until its bucket
// holds a token again, and goes no further.
func (s *server) rateLimit(next http.Handler) http.Handler {
	rl := newRateLimiter(s.rateLimits)
	if rl == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := rl.api
		switch {
		case r.Method == http.MethodPut && r.URL.Path == "/api/upload/chunk":
			b = rl.chunk
		case r.URL.Path == "/health":
			b = nil
		}
		p := storage.PrincipalFromContext(r.Context())
		if b == nil || (p != nil && p.Admin) {
			next.ServeHTTP(w, r)
			return
		}
		ok, wait := b.allow(s.rateKey(r, p), s.now())
		if ok {
			next.ServeHTTP(w, r)
			return
		}
		secs := max(1, int64(math.Ceil(wait.Seconds())))
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		what := "requests"
		if b == rl.chunk {
			what = "chunk uploads"
		}
		s.writeError(w, r, storage.Wrap(storage.CodeRateLimited, errRateLimited,
			fmt.Sprintf("too many %s; retry in %d s", what, secs)))
	})
}

// rateKey returns whose bucket r draws from: its verified user's, else its
// client's address (IPv4) or /64 (IPv6).
func (s *server) rateKey(r *http.Request, p *storage.Principal) rateKey {
	if p != nil && p.UserID != "" {
		return rateKey{user: p.UserID}
	}
	ip := s.clientIP(r)
	if !ip.IsValid() {
		return rateKey{}
	}
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	pfx, _ := ip.Prefix(bits)
	return rateKey{net: pfx}
}
