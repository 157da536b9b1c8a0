package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	storage "github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/httpapi"
)

// TestAbuseSettings: the rate limit and quota flags, their MEMENOW_*
// variables and config-file keys, and their defaults.
func TestAbuseSettings(t *testing.T) {
	file := filepath.Join(t.TempDir(), "config.json")
	os.WriteFile(file, []byte(`{"rate_limit":"10/s:20","max_open_uploads":7,"user_quota":"1GiB"}`), 0o644)
	for _, tt := range []struct {
		name      string
		args      []string
		env       map[string]string
		api       httpapi.Rate
		chunk     httpapi.Rate
		quota     storage.Quota
		wantError string
	}{
		{"defaults: no rate limit, the default quota", nil, nil, httpapi.Rate{}, httpapi.Rate{}, storage.DefaultQuota(), ""},
		{"flags", []string{"--rate-limit", "20/s:40", "--chunk-rate-limit", "120/m", "--max-open-uploads", "0", "--max-open-bytes", "1TiB", "--user-quota", "5GB"}, nil,
			httpapi.Rate{PerSecond: 20, Burst: 40}, httpapi.Rate{PerSecond: 2, Burst: 120}, storage.Quota{MaxOpenBytes: 1 << 40, MaxStoredBytes: 5e9}, ""},
		{"environment", nil, map[string]string{"MEMENOW_RATE_LIMIT": "5/s", "MEMENOW_MAX_OPEN_BYTES": "0"},
			httpapi.Rate{PerSecond: 5, Burst: 5}, httpapi.Rate{}, storage.Quota{MaxOpenUploads: 100}, ""},
		{"config file", []string{"--config", file}, nil,
			httpapi.Rate{PerSecond: 10, Burst: 20}, httpapi.Rate{}, storage.Quota{MaxOpenUploads: 7, MaxOpenBytes: 50 << 30, MaxStoredBytes: 1 << 30}, ""},
		{"bad rate", []string{"--rate-limit", "fast"}, nil, httpapi.Rate{}, httpapi.Rate{}, storage.Quota{}, "not a rate"},
		{"bad count", []string{"--max-open-uploads", "-1"}, nil, httpapi.Rate{}, httpapi.Rate{}, storage.Quota{}, "not a non-negative integer"},
		{"bad size", []string{"--user-quota", "lots"}, nil, httpapi.Rate{}, httpapi.Rate{}, storage.Quota{}, "not a size"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			cfg, err := loadServeConfig(tt.args, func(k string) string { return tt.env[k] }, &out)
			if tt.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantError) {
					t.Fatalf("err %v, want %q", err, tt.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.RateLimit != tt.api || cfg.ChunkRateLimit != tt.chunk || cfg.Quota != tt.quota {
				t.Errorf("rate %+v, chunk rate %+v, quota %+v; want %+v, %+v, %+v", cfg.RateLimit, cfg.ChunkRateLimit, cfg.Quota, tt.api, tt.chunk, tt.quota)
			}
			var limits storage.Config
			var opts httpapi.Options
			applyAbuseLimits(cfg, &limits, &opts)
			if limits.Quota != tt.quota || limits.MinFreeSpace != 1<<30 || opts.RateLimits.API != tt.api || opts.RateLimits.Chunk != tt.chunk {
				t.Errorf("applied: quota %+v, min free %d, rate limits %+v", limits.Quota, limits.MinFreeSpace, opts.RateLimits)
			}
		})
	}
}

// TestServeLimits drives serve through run() with a rate limit, a quota
// and a disk guard no disk can satisfy: each refuses as documented.
func TestServeLimits(t *testing.T) {
	url, stop := startRun(t, []string{"--data-dir", t.TempDir(), "--rate-limit", "3/h", "--max-open-uploads", "1"}, nil)
	post := func(path, body string) *http.Response {
		t.Helper()
		resp, err := http.Post(url+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	const init = `{"file_name":"a.bin","total_size":100,"user_id":"u1","user_role":"creator"}`
	if resp := post("/api/upload/init", init); resp.StatusCode != http.StatusOK {
		t.Fatalf("first init: %s", resp.Status)
	}
	if resp := post("/api/upload/init", init); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "" {
		t.Fatalf("second init: %s (Retry-After %q), want 429 TOO_MANY_UPLOADS without Retry-After", resp.Status, resp.Header.Get("Retry-After"))
	}
	post("/api/upload/init", init)
	if resp := post("/api/upload/init", init); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1200" {
		t.Fatalf("fourth request: %s (Retry-After %q), want 429 RATE_LIMITED, Retry-After 1200", resp.Status, resp.Header.Get("Retry-After"))
	}
	if code := stop(); code != 0 {
		t.Fatalf("exit status %d", code)
	}

	url, stop = startRun(t, []string{"--data-dir", t.TempDir(), "--min-free-space", "1000000TiB"}, nil)
	resp := post("/api/upload/init", init)
	if code := stop(); code != 0 {
		t.Fatalf("exit status %d", code)
	}
	if resp.StatusCode != http.StatusInsufficientStorage {
		t.Fatalf("init with 1,000,000 TiB to keep free: %s, want 507", resp.Status)
	}
}
