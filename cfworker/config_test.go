//go:build !(js && wasm)

package cfworker_test

import (
	"context"
	"testing"
	"time"

	storage "github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/cfworker"
)

// TestConfigSourceTTL checks that the settings are cached for the TTL and
// read again after it.
func TestConfigSourceTTL(t *testing.T) {
	kv := &memKV{values: map[string]string{"config": `{"chunk_size": 10485760}`}}
	now := time.Unix(1_700_000_000, 0)
	src := &cfworker.ConfigSource{KV: kv, TTL: 30 * time.Second, Now: func() time.Time { return now }}
	ctx := context.Background()
	if got := src.Settings(ctx).ChunkSize; got != 10485760 {
		t.Fatalf("first read: chunk size %d", got)
	}
	kv.mu.Lock()
	kv.values["config"] = `{"chunk_size": 20971520}`
	kv.mu.Unlock()
	now = now.Add(29 * time.Second)
	if got := src.Settings(ctx).ChunkSize; got != 10485760 {
		t.Fatalf("within the TTL: chunk size %d, want the cached 10485760", got)
	}
	now = now.Add(2 * time.Second)
	if got := src.Settings(ctx).ChunkSize; got != 20971520 {
		t.Fatalf("after the TTL: chunk size %d, want the new 20971520", got)
	}
}

func TestParseSettings(t *testing.T) {
	d := cfworker.DefaultSettings()
	tests := []struct {
		name    string
		raw     string
		want    cfworker.Settings
		wantErr bool
	}{
		{"empty object", `{}`, d, false},
		{"bad JSON", `{"chunk_size":`, d, true},
		{"wrong type", `{"chunk_size":"big"}`, d, true},
		{"database name only", `{"database_name":"db2"}`, with(d, func(s *cfworker.Settings) { s.DatabaseName = "db2" }), false},
		{"negative values", `{"max_file_size":-1,"chunk_size":-5,"max_open_uploads":-1,"max_open_bytes":-2,"user_quota":-3}`, d, false},
		{"chunk over 5 GiB", `{"chunk_size": 6442450944}`, d, false},
		{"too many chunks", `{"max_file_size": 536870912000, "chunk_size": 5242880}`, with(d, func(s *cfworker.Settings) { s.MaxFileSize = 536870912000 }), false},
		{"quota", `{"max_open_uploads": 7, "max_open_bytes": 1000, "user_quota": 5000}`, with(d, func(s *cfworker.Settings) {
			s.MaxOpenUploads, s.MaxOpenBytes, s.UserQuota = 7, 1000, 5000
		}), false},
		{"quota off", `{"max_open_uploads": 0, "max_open_bytes": 0}`, with(d, func(s *cfworker.Settings) { s.MaxOpenUploads, s.MaxOpenBytes = 0, 0 }), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := cfworker.ParseSettings(tt.raw)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("ParseSettings(%s) = %+v, %v; want %+v, error %v", tt.raw, got, err, tt.want, tt.wantErr)
			}
			if err := got.ServiceConfig().Validate(); err != nil {
				t.Fatalf("settings %+v give an invalid Service config: %v", got, err)
			}
		})
	}
}

// with returns s changed by f.
func with(s cfworker.Settings, f func(*cfworker.Settings)) cfworker.Settings {
	f(&s)
	return s
}

// TestDefaultQuota: the Worker's defaults are serve's, and the Service
// gets them.
func TestDefaultQuota(t *testing.T) {
	d := cfworker.DefaultSettings()
	if got, want := d.ServiceConfig().Quota, storage.DefaultQuota(); got != want {
		t.Errorf("default quota %+v, want serve's %+v", got, want)
	}
}
