package main

import (
	"io"
	"strings"
	"testing"
)

// TestRateLimitSection runs the ratelimit section as the quick run does,
// against the real server built from this module; it checks that every
// request succeeds (none refused by the limiter or by a quota) and every
// row is there, never the timings.
func TestRateLimitSection(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the server")
	}
	ctx := t.Context()
	b, err := newBench(ctx, options{quick: true, tmp: t.TempDir()}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	b.sz.authOps = 150 // more inits than the default quota's 100 open uploads: each is cancelled
	res, err := b.rateLimitCost(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// p50 and p99 of 4 probes, and 2 added costs.
	if len(res) != 10 {
		t.Fatalf("%d rows, want 10: %+v", len(res), res)
	}
	for _, r := range res[:8] {
		if r.Value <= 0 {
			t.Errorf("%s = %v", r.Metric, r.Value)
		}
	}
	for _, r := range res[8:] {
		if !strings.Contains(r.Metric, "added by the rate limiter") || r.Target == "" {
			t.Errorf("row %+v, want an added cost with a target", r)
		}
	}
}
