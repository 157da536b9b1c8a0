package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/memenow/memenow-storage/apitest"
)

// runServeOnce runs serve through run() until it returns or timeout passes
// (then it is cancelled), and returns its exit status and log.
func runServeOnce(t *testing.T, timeout time.Duration, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var logs strings.Builder
	code := run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), func(string) string { return "" }, nil, io.Discard, &logs)
	return code, logs.String()
}

// TestSafeStart loses the database of a data folder that holds files:
// serve must refuse to start on the new, empty database unless
// --allow-empty-database is given.
func TestSafeStart(t *testing.T) {
	dir := t.TempDir()
	url, stop := startRun(t, []string{"--data-dir", dir}, nil)
	at := &apitest.T{T: t, Target: apitest.Target{BaseURL: url}}
	at.UploadAll(at.Init("kept.bin", "", apitest.RandomBytes(1000, 1), apitest.NewUserID()))
	if code := stop(); code != 0 {
		t.Fatalf("exit status %d", code)
	}

	// Restarting on the same database is fine.
	_, stop = startRun(t, []string{"--data-dir", dir}, nil)
	stop()

	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(filepath.Join(dir, dbFileName+suffix)); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	code, logs := runServeOnce(t, 20*time.Second, "--data-dir", dir)
	if code != exitFailure || !strings.Contains(logs, "refusing to start") || !strings.Contains(logs, "--allow-empty-database") {
		t.Fatalf("serve on a lost database: exit %d, log %q; want %d and a refusal naming --allow-empty-database", code, logs, exitFailure)
	}
	if strings.Contains(logs, "listening") {
		t.Errorf("serve listened before refusing: %s", logs)
	}

	// An upload file alone (no completed file) is data too.
	onlyUploads := t.TempDir()
	url, stop = startRun(t, []string{"--data-dir", onlyUploads}, nil)
	at = &apitest.T{T: t, Target: apitest.Target{BaseURL: url}}
	at.Init("pending.bin", "", apitest.RandomBytes(10, 2), apitest.NewUserID())
	stop()
	if err := os.Remove(filepath.Join(onlyUploads, dbFileName)); err != nil {
		t.Fatal(err)
	}
	if code, logs := runServeOnce(t, 20*time.Second, "--data-dir", onlyUploads, "--database", "sqlite:"+filepath.Join(t.TempDir(), "other.db")); code != exitFailure {
		t.Fatalf("serve on an empty database next to an upload file: exit %d, log %q", code, logs)
	}

	// The operator may accept it; the forgotten file's key is not reused.
	url, stop = startRun(t, []string{"--data-dir", dir, "--allow-empty-database"}, nil)
	at = &apitest.T{T: t, Target: apitest.Target{BaseURL: url}}
	u := at.Init("kept.bin", "", apitest.RandomBytes(10, 3), apitest.NewUserID())
	if strings.HasSuffix(u.Key, "/kept.bin") && fileExists(filepath.Join(dir, "objects", filepath.FromSlash(u.Key))) {
		t.Errorf("the new upload was given the key %s of a stored file", u.Key)
	}
	if code := stop(); code != 0 {
		t.Fatalf("exit status %d", code)
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// TestServeJanitor checks that serve runs the janitor: with a TTL of one
// second an upload that gets no chunk turns expired (polled for; nothing
// about timing is asserted).
func TestServeJanitor(t *testing.T) {
	url, stop := startRun(t, []string{"--data-dir", t.TempDir(), "--upload-ttl", "1s", "--janitor-interval", "100ms"}, nil)
	defer stop()
	at := &apitest.T{T: t, Target: apitest.Target{BaseURL: url}}
	u := at.Init("abandoned.bin", "", apitest.RandomBytes(10, 4), apitest.NewUserID())
	deadline := time.Now().Add(30 * time.Second)
	for at.Status(u)["status"] != "expired" {
		if time.Now().After(deadline) {
			t.Fatalf("the upload did not expire within 30 s: %v", at.Status(u))
		}
		time.Sleep(50 * time.Millisecond)
	}
	at.WantError(at.PutChunk(u, 0, u.Chunk(0)), 410, "UPLOAD_EXPIRED")
}

// TestExpirySettings checks the flags' validation and their variables.
func TestExpirySettings(t *testing.T) {
	var out strings.Builder
	cfg, err := loadServeConfig(nil, func(string) string { return "" }, &out)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.UploadTTL != 24*time.Hour || cfg.JanitorInterval != time.Minute || cfg.AllowEmptyDatabase {
		t.Errorf("defaults: %+v", cfg.expiryConfig)
	}
	env := map[string]string{"MEMENOW_UPLOAD_TTL": "7d", "MEMENOW_JANITOR_INTERVAL": "0", "MEMENOW_ALLOW_EMPTY_DATABASE": "true"}
	cfg, err = loadServeConfig(nil, func(k string) string { return env[k] }, &out)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.UploadTTL != 7*24*time.Hour || cfg.JanitorInterval != 0 || !cfg.AllowEmptyDatabase {
		t.Errorf("from the environment: %+v", cfg.expiryConfig)
	}
	for _, args := range [][]string{{"--upload-ttl", "0"}, {"--upload-ttl", "soon"}, {"--janitor-interval", "1ms"}} {
		if _, err := loadServeConfig(args, func(string) string { return "" }, &out); err == nil {
			t.Errorf("%v was accepted", args)
		}
	}
}
