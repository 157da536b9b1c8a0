package main

import (
	"fmt"
	"strconv"

	storage "github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/httpapi"
)

// abuseLimits are the settings of rate limits, quotas and the disk guard.
type abuseLimits struct {
	// MinFreeSpace is the free space the data folder keeps: init refuses
	// an upload that would eat into it, and /health reports 503 under it.
	MinFreeSpace int64
	// RateLimit limits each user's (or anonymous client address's) API
	// requests, ChunkRateLimit their chunk PUTs; the zero Rate is off.
	RateLimit, ChunkRateLimit httpapi.Rate
	// Quota limits what each user holds: open uploads, their bytes, and
	// optionally the bytes of completed files and open uploads together.
	Quota storage.Quota
}

// abuseSettings are the flags of abuseLimits.
func abuseSettings() []setting {
	def := storage.DefaultQuota()
	return []setting{
		{"min-free-space", "free space the data folder keeps: init answers 507 when an upload's bytes would eat into it, and /health 503 under it", "1GiB", func(c *serveConfig, v string) (err error) {
			c.MinFreeSpace, err = parseSize(v)
			return err
		}},
		{"rate-limit", "API requests per user (per client IP for anonymous requests) and instance: N/s, N/m or N/h, optionally :BURST (default burst N), e.g. 20/s:40; over it 429 RATE_LIMITED (default off)", "", func(c *serveConfig, v string) (err error) {
			c.RateLimit, err = httpapi.ParseRate(v)
			return err
		}},
		{"chunk-rate-limit", "chunk uploads per user (per client IP for anonymous requests) and instance, counted apart from --rate-limit: N/s, N/m or N/h, optionally :BURST (default off)", "", func(c *serveConfig, v string) (err error) {
			c.ChunkRateLimit, err = httpapi.ParseRate(v)
			return err
		}},
		{"max-open-uploads", "most uploads a user may have open (not yet completed or cancelled) at once; over it 429 TOO_MANY_UPLOADS (0: no limit)", strconv.Itoa(def.MaxOpenUploads), func(c *serveConfig, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return fmt.Errorf("%q is not a non-negative integer", v)
			}
			c.Quota.MaxOpenUploads = n
			return nil
		}},
		{"max-open-bytes", "most bytes a user's open uploads may promise (the sum of their total_size); over it 413 QUOTA_EXCEEDED (0: no limit)", "50GiB", func(c *serveConfig, v string) (err error) {
			c.Quota.MaxOpenBytes, err = parseSize(v)
			return err
		}},
		{"user-quota", "most bytes a user's completed files and open uploads may hold together; over it 413 QUOTA_EXCEEDED (0: no limit)", "0", func(c *serveConfig, v string) (err error) {
			c.Quota.MaxStoredBytes, err = parseSize(v)
			return err
		}},
	}
}

// applyAbuseLimits puts the quotas and the free space to keep into the
// Service's limits and the rate limits into the HTTP API's options.
func applyAbuseLimits(cfg *serveConfig, limits *storage.Config, opts *httpapi.Options) {
	limits.Quota = cfg.Quota
	limits.MinFreeSpace = cfg.MinFreeSpace
	opts.RateLimits = httpapi.RateLimits{API: cfg.RateLimit, Chunk: cfg.ChunkRateLimit}
}
