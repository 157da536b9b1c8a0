package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// rateLimitAddedLimit is the target of what the rate limiter adds to a
// request at p50, in milliseconds.
const rateLimitAddedLimit = 0.05

// neverRefuse is a --rate-limit (and --chunk-rate-limit) so high that no
// request of the run is refused: the limiter does all its work (finding
// the client's bucket, taking a token) and never says no.
const neverRefuse = "1000000/s:1000000"

// oneClientAsMany are the flags of the servers of the concurrency and
// scaleout workloads, which stand for many users on many addresses but
// send everything as user "bench" from 127.0.0.1: no limit on one user's
// open uploads (the other quotas stay, so their check is still timed) nor
// on one address's connections.
var oneClientAsMany = []string{"--max-open-uploads", "0", "--max-conns-per-ip", "0"}

// rlProbe is one kind of request the ratelimit section times: call is
// timed, then after (when set) runs untimed.
type rlProbe struct {
	name     string
	op       string // "init" or "status"
	limited  bool   // the server has --rate-limit
	call     func(ctx context.Context) (string, error)
	after    func(ctx context.Context, id string) error
	lat      []time.Duration
	baseline *rlProbe // the same op on the server without limits
}

// rateLimitCost measures what the rate limiter adds to a request: init
// and status on a server without --rate-limit and on one with limits high
// enough never to refuse, interleaved so that the machine's noise hits
// each alike. Each init is cancelled (untimed) before the next round, so
// that the open uploads, and the quota and disk guard checks that count
// them, stay the same through the run.
func (b *bench) rateLimitCost(ctx context.Context) (res []Result, err error) {
	off, offAPI, err := b.server(ctx, "ratelimit-off")
	if err != nil {
		return nil, err
	}
	defer b.stopServer(off, &err)
	on, onAPI, err := b.server(ctx, "ratelimit-on", "--rate-limit", neverRefuse, "--chunk-rate-limit", neverRefuse)
	if err != nil {
		return nil, err
	}
	defer b.stopServer(on, &err)

	var probes []*rlProbe
	for _, s := range []struct {
		api     *apiClient
		limited bool
	}{{offAPI, false}, {onAPI, true}} {
		api := s.api
		id, err := b.oneChunkUpload(ctx, api)
		if err != nil {
			return nil, err
		}
		suffix := "without --rate-limit"
		if s.limited {
			suffix = "with --rate-limit " + neverRefuse
		}
		probes = append(probes,
			&rlProbe{name: "init, " + suffix, op: "init", limited: s.limited,
				call:  func(ctx context.Context) (string, error) { return api.Init(ctx, b.name("rl"), kib, 0) },
				after: func(ctx context.Context, id string) error { return cancelUpload(ctx, api, id) }},
			&rlProbe{name: "status, " + suffix, op: "status", limited: s.limited,
				call: func(ctx context.Context) (string, error) { _, err := api.Status(ctx, id); return "", err }})
	}
	for _, p := range probes {
		for _, q := range probes {
			if p.limited && !q.limited && p.op == q.op {
				p.baseline = q
			}
		}
	}
	n := b.sz.authOps // as many rounds as the auth section
	if err := timeRounds(ctx, probes, min(n, 20), n); err != nil {
		return nil, err
	}
	for i, p := range probes {
		res = append(res, info("", p.name+": p50", ms(percentile(p.lat, 50)), "ms"),
			info("", p.name+": p99", ms(percentile(p.lat, 99)), "ms"))
		if i == 0 {
			res[0].Note = fmt.Sprintf("%d rounds of each, interleaved; every init cancelled untimed", n)
		}
	}
	for _, p := range probes {
		if p.baseline == nil {
			continue
		}
		diffs := make([]time.Duration, n)
		for r := range diffs {
			diffs[r] = p.lat[r] - p.baseline.lat[r]
		}
		res = append(res, atMost("", p.op+": added by the rate limiter (with − without) p50", ms(percentile(diffs, 50)), "ms", rateLimitAddedLimit))
	}
	return res, nil
}

// timeRounds calls every probe warm times untimed, then n rounds in which
// each probe is called and timed once (its after step untimed); each round
// starts at the next probe, so that none always follows the same one.
func timeRounds(ctx context.Context, probes []*rlProbe, warm, n int) error {
	run := func(p *rlProbe) (time.Duration, error) {
		start := time.Now()
		id, err := p.call(ctx)
		d := time.Since(start)
		if err == nil && p.after != nil {
			err = p.after(ctx, id)
		}
		if err != nil {
			return d, fmt.Errorf("%s: %w", p.name, err)
		}
		return d, nil
	}
	for range warm {
		for _, p := range probes {
			if _, err := run(p); err != nil {
				return fmt.Errorf("warm-up: %w", err)
			}
		}
	}
	for _, p := range probes {
		p.lat = make([]time.Duration, n)
	}
	for r := range n {
		for j := range probes {
			p := probes[(r+j)%len(probes)]
			d, err := run(p)
			if err != nil {
				return err
			}
			p.lat[r] = d
		}
	}
	return nil
}

// cancelUpload cancels upload id through api.
func cancelUpload(ctx context.Context, api *apiClient, id string) error {
	js, _ := json.Marshal(map[string]string{"upload_id": id})
	return api.do(ctx, http.MethodPost, "/api/upload/cancel", bytes.NewReader(js), http.Header{"Content-Type": {"application/json"}}, nil)
}
