package main

import (
	storage "github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/httpapi"
)

// abuseLimits are the settings of rate limits, quotas and the disk guard.
type abuseLimits struct{}

// abuseSettings are the flags of abuseLimits.
func abuseSettings() []setting { return nil }

// applyAbuseLimits puts the quotas into the Service's limits and the rate
// limits into the HTTP API's options.
func applyAbuseLimits(cfg *serveConfig, limits *storage.Config, opts *httpapi.Options) {}
