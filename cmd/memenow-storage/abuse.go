package main

import (
	storage "github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/httpapi"
)

// abuseLimits are the settings of rate limits, quotas and the disk guard.
type abuseLimits struct {
	// MinFreeSpace is the free space the data folder keeps: init refuses
	// an upload that would eat into it, and /health reports 503 under it.
	MinFreeSpace int64
}

// abuseSettings are the flags of abuseLimits.
func abuseSettings() []setting {
	return []setting{
		{"min-free-space", "free space the data folder keeps: init answers 507 when an upload's bytes would eat into it, and /health 503 under it", "1GiB", func(c *serveConfig, v string) (err error) {
			c.MinFreeSpace, err = parseSize(v)
			return err
		}},
	}
}

// applyAbuseLimits puts the quotas into the Service's limits and the rate
// limits into the HTTP API's options.
func applyAbuseLimits(cfg *serveConfig, limits *storage.Config, opts *httpapi.Options) {}
