package main

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	storage "github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/auth"
)

// TestAuthTokens checks that the section's tokens and JWKS are what the
// server's verifier accepts, and that the keys stay cached.
func TestAuthTokens(t *testing.T) {
	keys, err := newAuthKeys()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := keys.jwks()
	if err != nil {
		t.Fatal(err)
	}
	jwks := startJWKS(doc)
	defer jwks.Close()
	v, err := auth.NewVerifier(t.Context(), auth.Config{HMACSecrets: [][]byte{[]byte(keys.secret)}, JWKSURL: jwks.url()})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	now := time.Now()
	for _, alg := range []string{"HS256", "RS256", "ES256"} {
		tok, err := keys.token(alg, now, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			p, err := v.Verify(t.Context(), tok)
			if err != nil {
				t.Fatalf("%s: %v", alg, err)
			}
			if p.UserID != authUser || p.Role != storage.RoleCreator || p.Admin {
				t.Errorf("%s: principal %+v", alg, p)
			}
		}
	}
	if got := jwks.fetches.Load(); got != 1 {
		t.Errorf("JWKS fetched %d times, want once", got)
	}
	if _, err := keys.token("EdDSA", now, time.Hour); err == nil {
		t.Error("a token for an algorithm without a key was signed")
	}
	expired, err := keys.token("ES256", now.Add(-time.Hour), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(t.Context(), expired); err == nil {
		t.Error("an expired token was accepted")
	}
}

func TestTimeInterleaved(t *testing.T) {
	var calls []string
	mk := func(name string) *probe {
		return &probe{name: name, call: func(context.Context) error { calls = append(calls, name); return nil }}
	}
	probes := []*probe{mk("a"), mk("b"), mk("c")}
	if err := timeInterleaved(t.Context(), probes, 1, 4); err != nil {
		t.Fatal(err)
	}
	want := "abc" + "abc" + "bca" + "cab" + "abc" // warm-up, then rounds starting at the next probe
	if got := strings.Join(calls, ""); got != want {
		t.Errorf("calls %q, want %q", got, want)
	}
	for _, p := range probes {
		if len(p.lat) != 4 {
			t.Errorf("%s: %d latencies, want 4", p.name, len(p.lat))
		}
	}

	boom := errors.New("boom")
	failing := []*probe{mk("a"), {name: "bad", call: func(context.Context) error { return boom }}}
	if err := timeInterleaved(t.Context(), failing, 0, 2); !errors.Is(err, boom) || !strings.Contains(err.Error(), "bad") {
		t.Errorf("error %v, want boom named after its probe", err)
	}
}

func TestAuthResults(t *testing.T) {
	ms := func(v ...float64) []time.Duration {
		var out []time.Duration
		for _, x := range v {
			out = append(out, time.Duration(x*float64(time.Millisecond)))
		}
		return out
	}
	probes := []*probe{
		{name: "bare handler", lat: ms(0.1, 0.1, 0.1)},
		{name: "no auth", baseline: true, lat: ms(0.3, 0.2, 0.4)},
		{name: "HS256", auth: true, lat: ms(0.32, 0.25, 0.41)}, // +0.02, +0.05, +0.01
		{name: "ES256", auth: true, lat: ms(0.5, 0.4, 0.6)},    // +0.2 each
	}
	res := authResults(probes, 3)
	var metrics []string
	for _, r := range res {
		metrics = append(metrics, r.Metric)
	}
	want := []string{"status, bare handler: p50", "status, bare handler: p99", "status, no auth: p50", "status, no auth: p99",
		"status, HS256: p50", "status, HS256: p99", "status, ES256: p50", "status, ES256: p99",
		"HS256 added (auth−no auth) p50", "ES256 added (auth−no auth) p50"}
	if !slices.Equal(metrics, want) {
		t.Fatalf("metrics %q\nwant %q", metrics, want)
	}
	if hs := res[8]; hs.Met == nil || !*hs.Met || hs.Value < 0.019 || hs.Value > 0.021 {
		t.Errorf("HS256 added = %+v, want 0.02 ms and met", hs)
	}
	if es := res[9]; es.Met == nil || *es.Met || es.Value < 0.19 || es.Value > 0.21 {
		t.Errorf("ES256 added = %+v, want 0.2 ms and missed", es)
	}
	if res[0].Note == "" || res[3].Value != 0.4 {
		t.Errorf("rows %+v", res[:4])
	}
}

// TestAuthSection runs the auth section as the quick run does, against the
// real server built from this module; it checks that every request
// succeeds and every row is there, never the timings.
func TestAuthSection(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the server")
	}
	ctx := t.Context()
	b, err := newBench(ctx, options{quick: true, tmp: t.TempDir()}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	b.sz.authOps = 20
	res, err := b.authCost(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// p50 and p99 of 8 probes, 6 added costs, the JWKS fetches.
	if len(res) != 23 {
		t.Fatalf("%d rows, want 23: %+v", len(res), res)
	}
	last := res[len(res)-1]
	if last.Metric != "JWKS fetches during the timed requests" || last.Value != 0 {
		t.Errorf("last row %+v, want no JWKS fetch", last)
	}
	for _, r := range res[:16] {
		if r.Value <= 0 {
			t.Errorf("%s = %v", r.Metric, r.Value)
		}
	}
}
