package httpapi

import (
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"
)

// TestBucketsStayBounded: a flood of distinct clients never makes the
// limiter keep more than MaxKeys buckets, and a client that keeps sending
// keeps its (empty) bucket through the flood as long as the flood leaves
// it in the current generation.
func TestBucketsStayBounded(t *testing.T) {
	const maxKeys = 1000
	b := newBuckets(Rate{PerSecond: 1, Burst: 1}, maxKeys)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	peak := 0
	for i := range 200_000 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		b.allow(rateKey{net: netip.PrefixFrom(a, 32)}, now)
		peak = max(peak, b.size())
	}
	if peak > maxKeys {
		t.Errorf("%d buckets kept during a flood of 200,000 clients, want at most %d", peak, maxKeys)
	}
}

// TestBucketsDropIdleOnlyWhenFull: a bucket is dropped only after it was
// idle long enough to be full again, so dropping it never forgives a
// client: a bucket used within the period is kept, however empty.
func TestBucketsDropIdleOnlyWhenFull(t *testing.T) {
	b := newBuckets(Rate{PerSecond: 1.0 / 60, Burst: 2}, 0) // full again after 2 minutes
	if b.period != 2*time.Minute {
		t.Fatalf("period = %v, want the refill time, 2m", b.period)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	key := rateKey{user: "u"}
	allow := func(k rateKey, when time.Duration) bool {
		ok, _ := b.allow(k, at(when))
		return ok
	}
	if !allow(key, 0) || !allow(key, 0) || allow(key, 0) {
		t.Fatal("a bucket of 2 did not allow exactly 2")
	}
	if !allow(key, 60*time.Second) { // one token back: used at once
		t.Fatal("a request a minute later refused")
	}
	allow(rateKey{user: "other"}, 121*time.Second) // a rotation: u's bucket is in the old generation
	// 90 s after its last use the bucket holds 1.5 tokens: one request,
	// not the two a new bucket would allow.
	if !allow(key, 150*time.Second) {
		t.Error("a request with 1.5 tokens refused")
	}
	if ok, wait := b.allow(key, at(150*time.Second)); ok || wait != 30*time.Second {
		t.Errorf("the next request: allowed %v, wait %v; want refused, 30s", ok, wait)
	}
	// Idle for more than two periods, it is dropped.
	allow(rateKey{user: "other"}, 300*time.Second)
	allow(rateKey{user: "other"}, 450*time.Second)
	_, inCur := b.cur[key]
	_, inOld := b.old[key]
	if inCur || inOld {
		t.Error("a bucket idle for 300 s (2.5 periods) was kept")
	}
}

func TestClientIP(t *testing.T) {
	s := &server{trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}}
	for _, tc := range []struct {
		name   string
		remote string
		xff    []string
		cf     string
		want   string
	}{
		{"untrusted peer", "203.0.113.1:1234", nil, "", "203.0.113.1"},
		{"untrusted peer's headers ignored", "203.0.113.1:1234", []string{"198.51.100.1"}, "198.51.100.2", "203.0.113.1"},
		{"trusted peer, no header", "10.0.0.1:1234", nil, "", "10.0.0.1"},
		{"trusted peer, one hop", "10.0.0.1:1234", []string{"198.51.100.1"}, "", "198.51.100.1"},
		{"right-most untrusted", "10.0.0.1:1234", []string{"1.1.1.1, 198.51.100.1, 10.0.0.2"}, "", "198.51.100.1"},
		{"several header lines", "10.0.0.1:1234", []string{"1.1.1.1", "198.51.100.1", "10.0.0.2"}, "", "198.51.100.1"},
		{"every hop trusted", "10.0.0.1:1234", []string{"10.0.0.3, 10.0.0.2"}, "", "10.0.0.3"},
		{"garbage stops the walk", "10.0.0.1:1234", []string{"1.1.1.1, unknown, 10.0.0.2"}, "", "10.0.0.2"},
		{"hop with a port", "10.0.0.1:1234", []string{"198.51.100.1:5555"}, "", "198.51.100.1"},
		{"IPv6 hop", "10.0.0.1:1234", []string{"[2001:db8::1]:443"}, "", "2001:db8::1"},
		{"CF-Connecting-IP without X-Forwarded-For", "10.0.0.1:1234", nil, "198.51.100.9", "198.51.100.9"},
		{"X-Forwarded-For wins over CF-Connecting-IP", "10.0.0.1:1234", []string{"198.51.100.1"}, "198.51.100.9", "198.51.100.1"},
		{"bad CF-Connecting-IP", "10.0.0.1:1234", nil, "nonsense", "10.0.0.1"},
		{"mapped IPv4 peer", "[::ffff:203.0.113.1]:1", nil, "", "203.0.113.1"},
		{"trusted IPv6 peer", "[fd00::1]:1", []string{"198.51.100.1"}, "", "198.51.100.1"},
		{"bare address (Workers)", "198.51.100.4", nil, "", "198.51.100.4"},
		{"no address", "", nil, "", "invalid IP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if tc.cf != "" {
				r.Header.Set("CF-Connecting-IP", tc.cf)
			}
			if got := s.clientIP(r).String(); got != tc.want {
				t.Errorf("clientIP = %s, want %s", got, tc.want)
			}
		})
	}
}

// BenchmarkRateLimiter measures a request's cost in the limiter: finding
// the client's bucket and taking a token, for one client, for 50,000
// clients in turn, and for one client from every core at once.
//
//	go test -run - -bench RateLimiter ./httpapi
func BenchmarkRateLimiter(b *testing.B) {
	now := time.Now()
	never := Rate{PerSecond: 1e9, Burst: 1 << 30}
	b.Run("one client", func(b *testing.B) {
		bk := newBuckets(never, 0)
		key := rateKey{user: "u"}
		for b.Loop() {
			bk.allow(key, now)
		}
	})
	b.Run("50000 clients", func(b *testing.B) {
		bk := newBuckets(never, 0)
		keys := make([]rateKey, 50_000)
		for i := range keys {
			keys[i] = rateKey{net: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 32)}
		}
		i := 0
		for b.Loop() {
			bk.allow(keys[i%len(keys)], now)
			i++
		}
	})
	b.Run("one client, parallel", func(b *testing.B) {
		bk := newBuckets(never, 0)
		key := rateKey{user: "u"}
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				bk.allow(key, now)
			}
		})
	})
}
