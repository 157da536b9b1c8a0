//go:build js && wasm

package main

import (
	"fmt"
	"os"

	"github.com/memenow/memenow-storage/httpapi"
)

// workerRateLimits reads the rate limits from the Worker's variables
// RATE_LIMIT (API requests) and CHUNK_RATE_LIMIT (chunk PUTs), written as
// serve's --rate-limit and --chunk-rate-limit: N/s, N/m or N/h, optionally
// :BURST. Absent variables are no limit. Each isolate keeps its own
// buckets, and the client address is CF-Connecting-IP.
func workerRateLimits() (httpapi.RateLimits, error) {
	var l httpapi.RateLimits
	var err error
	if l.API, err = httpapi.ParseRate(os.Getenv("RATE_LIMIT")); err != nil {
		return l, fmt.Errorf("RATE_LIMIT: %v", err)
	}
	if l.Chunk, err = httpapi.ParseRate(os.Getenv("CHUNK_RATE_LIMIT")); err != nil {
		return l, fmt.Errorf("CHUNK_RATE_LIMIT: %v", err)
	}
	return l, nil
}
