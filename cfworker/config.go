package cfworker

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	storage "github.com/memenow/memenow-storage"
)

// DefaultChunkSize is the chunk size on Workers: 95 MiB, under the 100 MB
// request body limit of the Free and Pro plans.
const DefaultChunkSize = 95 << 20

// DefaultMaxRequestBody is the largest request body, and so the largest
// chunk, the Worker accepts by default: 95 MiB (99,614,720 bytes), the 100 MB
// that Cloudflare accepts on the Free and Pro plans less 385 KB of headroom.
// Business (200 MB) and Enterprise (500 MB) accounts may raise it with the
// max_request_body setting.
const DefaultMaxRequestBody = 95 << 20

// ConfigKey is the KV key of the configuration.
const ConfigKey = "config"

// DefaultConfigTTL is how long a configuration read from KV is used.
const DefaultConfigTTL = 30 * time.Second

// Settings is the configuration kept in KV under ConfigKey, as JSON
// {"database_name", "max_file_size", "chunk_size", "max_request_body",
// "max_open_uploads", "max_open_bytes", "user_quota"}. Absent fields take
// their defaults, and so do zero or negative sizes; a zero quota field is
// no limit, as with serve's flags of the same names.
type Settings struct {
	DatabaseName string `json:"database_name"`
	MaxFileSize  int64  `json:"max_file_size"`
	ChunkSize    int64  `json:"chunk_size"`
	// MaxRequestBody is the largest request body Cloudflare accepts for the
	// account's plan (less headroom): no chunk may be larger, so it caps
	// the chunk_size a client may ask for at init. 5 MiB to 5 GiB;
	// DefaultMaxRequestBody when absent or out of that range.
	MaxRequestBody int64 `json:"max_request_body"`
	// MaxOpenUploads, MaxOpenBytes and UserQuota are the per-user quota
	// (storage.Quota's MaxOpenUploads, MaxOpenBytes, MaxStoredBytes),
	// checked by the D1 store in the statement that inserts an upload.
	MaxOpenUploads int   `json:"max_open_uploads"`
	MaxOpenBytes   int64 `json:"max_open_bytes"`
	UserQuota      int64 `json:"user_quota"`
}

// DefaultSettings returns the Workers defaults: 10 GB files in 95 MiB
// chunks, and serve's default quota (storage.DefaultQuota: 100 open uploads
// and 50 GiB of them per user).
func DefaultSettings() Settings {
	q := storage.DefaultQuota()
	return Settings{DatabaseName: "memenow-uploads", MaxFileSize: storage.DefaultMax, ChunkSize: DefaultChunkSize,
		MaxRequestBody: DefaultMaxRequestBody, MaxOpenUploads: q.MaxOpenUploads, MaxOpenBytes: q.MaxOpenBytes, UserQuota: q.MaxStoredBytes}
}

// ServiceConfig returns the Service limits of s. Client-chosen chunk sizes
// may range from 5 MiB up to MaxRequestBody, so that every chunk fits in a
// request body Cloudflare accepts: a larger chunk_size is refused at init
// with INVALID_FIELD naming the limit, instead of each of its chunks
// failing with Cloudflare's own 413 page.
func (s Settings) ServiceConfig() storage.Config {
	c := storage.DefaultConfig()
	c.MaxFileSize, c.ChunkSize = s.MaxFileSize, s.ChunkSize
	c.MaxChunkSize = min(c.MaxChunkSize, s.MaxRequestBody)
	c.Quota = storage.Quota{MaxOpenUploads: s.MaxOpenUploads, MaxOpenBytes: s.MaxOpenBytes, MaxStoredBytes: s.UserQuota}
	return c
}

// settingsJSON is the KV value as read: pointers tell an absent quota field
// (the default) from a zero one (no limit).
type settingsJSON struct {
	DatabaseName   string `json:"database_name"`
	MaxFileSize    int64  `json:"max_file_size"`
	ChunkSize      int64  `json:"chunk_size"`
	MaxRequestBody int64  `json:"max_request_body"`
	MaxOpenUploads *int   `json:"max_open_uploads"`
	MaxOpenBytes   *int64 `json:"max_open_bytes"`
	UserQuota      *int64 `json:"user_quota"`
}

// ParseSettings reads the JSON of the KV value over the defaults. Fields
// that are absent, zero, or make an invalid configuration keep their
// defaults; err reports JSON that could not be read at all (the defaults
// are returned with it).
func ParseSettings(raw string) (Settings, error) {
	s := DefaultSettings()
	var in settingsJSON
	if err := json.Unmarshal([]byte(raw), &in); err != nil {
		return s, err
	}
	if in.MaxOpenUploads != nil && *in.MaxOpenUploads >= 0 {
		s.MaxOpenUploads = *in.MaxOpenUploads
	}
	if in.MaxOpenBytes != nil && *in.MaxOpenBytes >= 0 {
		s.MaxOpenBytes = *in.MaxOpenBytes
	}
	if in.UserQuota != nil && *in.UserQuota >= 0 {
		s.UserQuota = *in.UserQuota
	}
	if in.DatabaseName != "" {
		s.DatabaseName = in.DatabaseName
	}
	if in.MaxFileSize > 0 {
		s.MaxFileSize = in.MaxFileSize
	}
	if in.ChunkSize > 0 {
		s.ChunkSize = in.ChunkSize
	}
	if in.MaxRequestBody >= storage.MinChunkSize && in.MaxRequestBody <= storage.MaxChunkSize {
		s.MaxRequestBody = in.MaxRequestBody
	}
	// An invalid combination falls back one field at a time: the chunk size
	// (the default, within the request body limit), then the file size,
	// then the request body limit.
	d := DefaultSettings()
	if s.ServiceConfig().Validate() != nil {
		s.ChunkSize = min(d.ChunkSize, s.MaxRequestBody)
	}
	if s.ServiceConfig().Validate() != nil {
		s.MaxFileSize = d.MaxFileSize
	}
	if s.ServiceConfig().Validate() != nil {
		s.MaxFileSize, s.ChunkSize, s.MaxRequestBody = d.MaxFileSize, d.ChunkSize, d.MaxRequestBody
	}
	return s, nil
}

// ConfigSource reads Settings from KV and caches them for TTL. Concurrent
// requests never wait for each other: while one refreshes, others use the
// cached value (or read KV themselves when there is none yet).
type ConfigSource struct {
	KV     KV
	TTL    time.Duration // DefaultConfigTTL when 0
	Logger *slog.Logger
	// Now returns the current time; time.Now when nil.
	Now func() time.Time

	mu         sync.Mutex
	cached     Settings
	have       bool
	expires    time.Time
	refreshing bool
}

func (c *ConfigSource) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Settings returns the current settings. A KV failure or bad JSON gives
// the defaults and a log line, never an error.
func (c *ConfigSource) Settings(ctx context.Context) Settings {
	c.mu.Lock()
	now := c.now()
	fresh := c.have && now.Before(c.expires)
	if fresh || (c.have && c.refreshing) {
		s := c.cached
		c.mu.Unlock()
		return s
	}
	c.refreshing = true
	c.mu.Unlock()

	s := c.load(ctx)

	c.mu.Lock()
	defer c.mu.Unlock()
	ttl := c.TTL
	if ttl == 0 {
		ttl = DefaultConfigTTL
	}
	c.cached, c.have, c.expires, c.refreshing = s, true, c.now().Add(ttl), false
	return s
}

func (c *ConfigSource) load(ctx context.Context) Settings {
	log := c.Logger
	if log == nil {
		log = slog.Default()
	}
	raw, ok, err := c.KV.Get(ctx, ConfigKey)
	if err != nil {
		log.Error("reading the configuration from KV failed; using the defaults", "key", ConfigKey, "err", err)
		return DefaultSettings()
	}
	if !ok {
		return DefaultSettings()
	}
	s, err := ParseSettings(raw)
	if err != nil {
		log.Error("the configuration in KV is not valid JSON; using the defaults", "key", ConfigKey, "err", err)
	}
	return s
}
