package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	storage "github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/apitest"
	"github.com/memenow/memenow-storage/auth"
	"github.com/memenow/memenow-storage/disk"
	"github.com/memenow/memenow-storage/httpapi"
	"github.com/memenow/memenow-storage/sqlite"
)

// fakeClock is a settable clock: with it the token buckets refill only when
// a test moves time on, so the tests count requests, never time them.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// limitedServer is the real API on SQLite and disk with o's rate limits,
// trusted proxies and clock, and auth on with HS256 tokens of secret when
// secret is not nil. Requests are served in-process (ServeHTTP), so that
// each can come from any peer address.
type limitedServer struct {
	t      *testing.T
	h      http.Handler
	svc    *storage.Service
	secret []byte
}

func newLimitedServer(t *testing.T, o httpapi.Options, secret []byte) *limitedServer {
	t.Helper()
	meta, err := sqlite.Open(filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { meta.Close() })
	objects, err := disk.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if o.Service == nil {
		o.Service = &storage.Service{Objects: objects, Meta: meta, Config: storage.DefaultConfig()}
	}
	o.Service.RequireAuth = secret != nil
	o.Logger = quietLogger()
	if secret != nil {
		v, err := auth.NewVerifier(context.Background(), auth.Config{HMACSecrets: [][]byte{secret}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(v.Close)
		o.Auth = &auth.Authenticator{Verifier: v}
	}
	return &limitedServer{t: t, h: httpapi.NewServer(o), svc: o.Service, secret: secret}
}

// request describes one request to a limitedServer.
type request struct {
	method, path string
	body         string
	peer         string            // RemoteAddr; 192.0.2.1:1234 when empty
	user         string            // a user token's sub, or anonymous
	header       map[string]string // extra headers
}

func (s *limitedServer) do(r request) *httptest.ResponseRecorder {
	s.t.Helper()
	req := httptest.NewRequest(r.method, r.path, strings.NewReader(r.body))
	req.RemoteAddr = r.peer
	if req.RemoteAddr == "" {
		req.RemoteAddr = "192.0.2.1:1234"
	}
	if r.user != "" {
		req.Header.Set("Authorization", "Bearer "+apitest.MintToken(s.secret, apitest.Claims{Sub: r.user, Role: "creator"}))
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, req)
	return rec
}

// errorCode returns the code of an error answer, or "".
func errorCode(rec *httptest.ResponseRecorder) string {
	var body struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	return body.Error.Code
}

// wantLimited checks that rec is 429 RATE_LIMITED with Retry-After retry.
func wantLimited(t *testing.T, what string, rec *httptest.ResponseRecorder, retry string) {
	t.Helper()
	if rec.Code != http.StatusTooManyRequests || errorCode(rec) != "RATE_LIMITED" || rec.Header().Get("Retry-After") != retry {
		t.Errorf("%s: %d %s Retry-After %q, want 429 RATE_LIMITED Retry-After %q (%s)", what, rec.Code, errorCode(rec),
			rec.Header().Get("Retry-After"), retry, strings.TrimSpace(rec.Body.String()))
	}
}

// wantPassed checks that rec was not rate limited.
func wantPassed(t *testing.T, what string, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code == http.StatusTooManyRequests {
		t.Errorf("%s: %d %s, want it served (%s)", what, rec.Code, errorCode(rec), strings.TrimSpace(rec.Body.String()))
	}
}

var (
	me    = request{method: "GET", path: "/api/me"}
	chunk = request{method: "PUT", path: "/api/upload/chunk", body: "x",
		header: map[string]string{"X-Upload-Id": "1-00000000-0000-4000-8000-000000000000", "X-Chunk-Index": "0"}}
)

// from returns r sent from peer.
func from(r request, peer string) request { r.peer = peer; return r }

// as returns r sent with a token of user.
func as(r request, user string) request { r.user = user; return r }

// TestRateLimitPerIP: anonymous API calls and chunk PUTs each have their
// own bucket per client address; a full bucket refills with time; /health
// is never limited; other addresses are unaffected.
func TestRateLimitPerIP(t *testing.T) {
	clock := newFakeClock()
	s := newLimitedServer(t, httpapi.Options{Now: clock.Now, RateLimits: httpapi.RateLimits{
		API: httpapi.Rate{PerSecond: 1, Burst: 3}, Chunk: httpapi.Rate{PerSecond: 1.0 / 60, Burst: 2}}}, nil)

	for i := range 3 {
		wantPassed(t, fmt.Sprint("API call ", i), s.do(me))
	}
	wantLimited(t, "4th API call", s.do(me), "1")
	wantLimited(t, "5th API call", s.do(me), "1")

	// Chunk PUTs count apart: the client's API bucket is empty, its chunk
	// bucket is full.
	for i := range 2 {
		rec := s.do(chunk)
		if rec.Code != http.StatusNotFound { // an unknown upload, but served
			t.Errorf("chunk %d: %d %s, want 404 UPLOAD_NOT_FOUND", i, rec.Code, errorCode(rec))
		}
	}
	wantLimited(t, "3rd chunk", s.do(chunk), "60")

	for i := range 5 {
		if rec := s.do(request{method: "GET", path: "/health"}); rec.Code != http.StatusOK {
			t.Errorf("health %d: %d, want 200", i, rec.Code)
		}
	}
	other := "198.51.100.7:999"
	wantPassed(t, "API call from another address", s.do(from(me, other)))
	wantPassed(t, "chunk from another address", s.do(from(chunk, other)))

	clock.Advance(time.Second)
	wantPassed(t, "API call a second later", s.do(me))
	wantLimited(t, "the next one", s.do(me), "1")
	clock.Advance(59 * time.Second)
	wantPassed(t, "chunk a minute later", s.do(chunk))
	wantLimited(t, "the next chunk", s.do(chunk), "60")
}

// TestRateLimitPerUser: a user's requests draw from the user's bucket
// wherever they come from; another user and anonymous requests from the
// same address have their own; administrators are not limited.
func TestRateLimitPerUser(t *testing.T) {
	clock := newFakeClock()
	secret := []byte(strings.Repeat("k", 32))
	s := newLimitedServer(t, httpapi.Options{Now: clock.Now, RateLimits: httpapi.RateLimits{
		API: httpapi.Rate{PerSecond: 0.5, Burst: 2}, Chunk: httpapi.Rate{PerSecond: 0.5, Burst: 1}}}, secret)

	wantPassed(t, "alice 1", s.do(as(me, "alice")))
	wantPassed(t, "alice 2, another address", s.do(from(as(me, "alice"), "203.0.113.5:1")))
	wantLimited(t, "alice 3, a third address", s.do(from(as(me, "alice"), "203.0.113.6:1")), "2")
	wantPassed(t, "bob, alice's address", s.do(as(me, "bob")))
	wantPassed(t, "anonymous, alice's address", s.do(me))
	wantPassed(t, "alice's chunk", s.do(as(chunk, "alice")))
	wantLimited(t, "alice's 2nd chunk", s.do(as(chunk, "alice")), "2")
	wantPassed(t, "bob's chunk", s.do(as(chunk, "bob")))

	admin := func() request {
		r := me
		r.header = map[string]string{"Authorization": "Bearer " + apitest.MintToken(secret, apitest.Claims{Sub: "root", Admin: true})}
		return r
	}
	for i := range 5 {
		wantPassed(t, fmt.Sprint("administrator ", i), s.do(admin()))
	}
	// A refused token is refused before it is counted (401, not 429).
	bad := me
	bad.header = map[string]string{"Authorization": "Bearer not-a-token"}
	if rec := s.do(bad); rec.Code != http.StatusUnauthorized {
		t.Errorf("bad token: %d, want 401", rec.Code)
	}
}

// TestRateLimitTrustedProxies: X-Forwarded-For and CF-Connecting-IP name
// the client only when the peer is a trusted proxy; a client that writes
// them itself gains nothing.
func TestRateLimitTrustedProxies(t *testing.T) {
	clock := newFakeClock()
	s := newLimitedServer(t, httpapi.Options{Now: clock.Now,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		RateLimits:     httpapi.RateLimits{API: httpapi.Rate{PerSecond: 1, Burst: 1}}}, nil)
	via := func(peer string, header map[string]string) request {
		r := from(me, peer)
		r.header = header
		return r
	}

	// Behind the proxy, each client has its bucket.
	wantPassed(t, "client A via the proxy", s.do(via("10.1.1.1:5000", map[string]string{"X-Forwarded-For": "198.51.100.1"})))
	wantLimited(t, "client A again, via another proxy", s.do(via("10.2.2.2:5000", map[string]string{"X-Forwarded-For": "198.51.100.1, 10.1.1.1"})), "1")
	wantPassed(t, "client B via the proxy", s.do(via("10.1.1.1:5000", map[string]string{"X-Forwarded-For": "198.51.100.2"})))
	wantPassed(t, "client C by CF-Connecting-IP", s.do(via("10.1.1.1:5000", map[string]string{"CF-Connecting-IP": "198.51.100.3"})))
	// A client that writes its own X-Forwarded-For through the proxy: the
	// proxy appends the real address, and that is what counts.
	wantLimited(t, "client A claiming to be D", s.do(via("10.1.1.1:5000", map[string]string{"X-Forwarded-For": "198.51.100.4, 198.51.100.1"})), "1")

	// From an untrusted peer the headers are ignored: a new made-up
	// address each time is still the one peer.
	wantPassed(t, "direct client", s.do(via("203.0.113.9:4000", nil)))
	for i := range 5 {
		spoof := fmt.Sprintf("198.51.100.%d", 100+i)
		wantLimited(t, "direct client spoofing "+spoof, s.do(via("203.0.113.9:4001", map[string]string{
			"X-Forwarded-For": spoof, "CF-Connecting-IP": spoof})), "1")
	}

	// IPv6 clients are counted by their /64.
	wantPassed(t, "IPv6 client", s.do(via("[2001:db8:1:2::1]:443", nil)))
	wantLimited(t, "the same /64", s.do(via("[2001:db8:1:2:ffff::9]:443", nil)), "1")
	wantPassed(t, "another /64", s.do(via("[2001:db8:1:3::1]:443", nil)))
}

// TestRateLimitRetryAfter: Retry-After is the wait for the next token in
// whole seconds, rounded up.
func TestRateLimitRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		rate  string
		retry string
	}{{"2/s", "1"}, {"3/m", "20"}, {"7/h", "515"}, {"1/h:3", "3600"}} {
		t.Run(tc.rate, func(t *testing.T) {
			r, err := httpapi.ParseRate(tc.rate)
			if err != nil {
				t.Fatal(err)
			}
			s := newLimitedServer(t, httpapi.Options{Now: newFakeClock().Now, RateLimits: httpapi.RateLimits{API: r}}, nil)
			for range r.Burst {
				wantPassed(t, "within the burst", s.do(me))
			}
			wantLimited(t, "over the burst", s.do(me), tc.retry)
		})
	}
}

// TestRateLimitOff: the zero RateLimits limit nothing.
func TestRateLimitOff(t *testing.T) {
	s := newLimitedServer(t, httpapi.Options{Now: newFakeClock().Now}, nil)
	for i := range 200 {
		if rec := s.do(me); rec.Code != http.StatusOK {
			t.Fatalf("request %d: %d", i, rec.Code)
		}
	}
}

func TestParseRate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want httpapi.Rate
		bad  bool
	}{
		{"", httpapi.Rate{}, false},
		{"off", httpapi.Rate{}, false},
		{"0", httpapi.Rate{}, false},
		{"20/s", httpapi.Rate{PerSecond: 20, Burst: 20}, false},
		{"20/s:40", httpapi.Rate{PerSecond: 20, Burst: 40}, false},
		{" 120 / m ", httpapi.Rate{PerSecond: 2, Burst: 120}, false},
		{"3600/h:10", httpapi.Rate{PerSecond: 1, Burst: 10}, false},
		{"0.5/s", httpapi.Rate{PerSecond: 0.5, Burst: 1}, false},
		{"20", httpapi.Rate{}, true},
		{"20/d", httpapi.Rate{}, true},
		{"-1/s", httpapi.Rate{}, true},
		{"0/s", httpapi.Rate{}, true},
		{"x/s", httpapi.Rate{}, true},
		{"20/s:0", httpapi.Rate{}, true},
		{"20/s:x", httpapi.Rate{}, true},
		{"NaN/s", httpapi.Rate{}, true},
	} {
		got, err := httpapi.ParseRate(tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("ParseRate(%q) = %+v, %v; want %+v, error %v", tc.in, got, err, tc.want, tc.bad)
		}
	}
}
