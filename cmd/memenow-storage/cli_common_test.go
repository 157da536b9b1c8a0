package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	storage "github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/apitest"
)

// cliChunk is the chunk size of the test server: the smallest allowed.
const cliChunk = storage.MinChunkSize

// cliTestSize makes three chunks, the last one short.
const cliTestSize = 2*cliChunk + 4321

// putLog records the chunk indices of the PUTs that reach the server and
// counts the other requests by path.
type putLog struct {
	mu    sync.Mutex
	puts  []int
	paths map[string]int
}

func (l *putLog) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		if r.Method == http.MethodPut {
			i, _ := strconv.Atoi(r.Header.Get("X-Chunk-Index"))
			l.puts = append(l.puts, i)
		} else {
			if l.paths == nil {
				l.paths = map[string]int{}
			}
			l.paths[r.URL.Path]++
		}
		l.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

// take returns the sorted PUT indices so far and forgets them.
func (l *putLog) take() []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := slices.Sorted(slices.Values(l.puts))
	l.puts = nil
	return p
}

func (l *putLog) count(path string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.paths[path]
}

// cliServer starts the real API over SQLite and disk, behind log and then
// wrap (when not nil), and returns its URL.
func cliServer(t *testing.T, log *putLog, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	h, _ := apitest.NewLocal(t, apitest.LocalOptions{Config: &storage.Config{MaxFileSize: 1 << 30, ChunkSize: cliChunk,
		MinChunkSize: cliChunk, MaxChunkSize: 64 << 20, MaxShareTTL: storage.DefaultMaxShareTTL}})
	if wrap != nil {
		h = wrap(h)
	}
	if log != nil {
		h = log.wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// cliEnv is a getenv with the server and a private cache folder.
func cliEnv(t *testing.T, server string) (getenv func(string) string, cacheDir string) {
	cacheDir = t.TempDir()
	env := map[string]string{"MEMENOW_SERVER": server, "MEMENOW_CACHE_DIR": cacheDir}
	return func(k string) string { return env[k] }, cacheDir
}

// cliRun runs one client subcommand in-process.
func cliRun(ctx context.Context, f func(context.Context, []string, func(string) string, io.Writer, io.Writer) int,
	getenv func(string) string, args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = f(ctx, args, getenv, &out, &errOut)
	return code, out.String(), errOut.String()
}

// writeRandomFile writes n random bytes to dir/name.
func writeRandomFile(t *testing.T, dir, name string, n int) (string, []byte) {
	t.Helper()
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(n), 7))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, b
}

// stateFiles lists the resume state files in a cache folder.
func stateFiles(t *testing.T, cacheDir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(cacheDir, "uploads", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCLIParse(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantPos []string
		wantN   int
		ok      bool
	}{
		{"flags after the argument", []string{"file", "--n", "3"}, []string{"file"}, 3, true},
		{"flags before", []string{"-n=4", "a", "b"}, []string{"a", "b"}, 4, true},
		{"interspersed", []string{"a", "-n", "5", "b"}, []string{"a", "b"}, 5, true},
		{"double dash", []string{"-n", "1", "--", "-x", "y"}, []string{"-x", "y"}, 1, true},
		{"unknown flag", []string{"a", "--bogus"}, nil, 0, false},
		{"none", nil, nil, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			n := fs.Int("n", 0, "")
			pos, code, ok := cliParse(fs, tt.args)
			if ok != tt.ok || (ok && (!slices.Equal(pos, tt.wantPos) || *n != tt.wantN)) || (!ok && code != cliExitUsage) {
				t.Errorf("cliParse(%q) = %q, %d, %v (n=%d)", tt.args, pos, code, ok, *n)
			}
		})
	}
}

func TestCLIParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"5242880", 5 << 20, true},
		{"8MiB", 8 << 20, true},
		{"8M", 8 << 20, true},
		{"10MB", 10_000_000, true},
		{"1GiB", 1 << 30, true},
		{"2 KiB", 2048, true},
		{"12B", 12, true},
		{"", 0, false},
		{"-1", 0, false},
		{"lots", 0, false},
		{"9999999999999GiB", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := cliParseSize(tt.in)
			if got != tt.want || (err == nil) != tt.ok {
				t.Errorf("cliParseSize(%q) = %d, %v", tt.in, got, err)
			}
		})
	}
}

func TestCLICacheDir(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"explicit", map[string]string{"MEMENOW_CACHE_DIR": "/c", "XDG_CACHE_HOME": "/x"}, "/c"},
		{"xdg", map[string]string{"XDG_CACHE_HOME": "/x", "HOME": "/h"}, "/x/memenow-storage"},
		{"home", map[string]string{"HOME": "/h"}, "/h/.cache/memenow-storage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := cliCacheDir(func(k string) string { return tt.env[k] })
			if err != nil || got != tt.want {
				t.Errorf("cliCacheDir = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestCLIPlainProgress(t *testing.T) {
	var buf bytes.Buffer
	p := newCLIProgress(&buf, false, "uploading x")
	if p.bar != nil || !p.plain {
		t.Fatal("a buffer is not a terminal: want plain progress")
	}
	p.update(0, 4<<20)
	p.update(4<<20, 4<<20)
	p.finish(true)
	if got := buf.String(); !bytes.Contains([]byte(got), []byte("uploading x: 4.0 MiB of 4.0 MiB (100%)")) {
		t.Errorf("progress output %q lacks the final line", got)
	}
	var quiet bytes.Buffer
	q := newCLIProgress(&quiet, true, "x")
	q.update(1, 2)
	q.finish(true)
	if quiet.Len() != 0 {
		t.Errorf("quiet progress printed %q", quiet.String())
	}
}

// waitFor polls cond every 10 ms until it holds or 30 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}
