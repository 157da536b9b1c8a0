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
	"strings"
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

// TestParseSize checks the one size parser of serve and the client
// commands: case-insensitive units, decimal KB/MB/GB, binary KiB/MiB/GiB.
func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr string
	}{
		{"5242880", 5 << 20, ""},
		{"8MiB", 8 << 20, ""},
		{"95mib", 95 << 20, ""},
		{"95 MiB", 95 << 20, ""},
		{"5mb", 5_000_000, ""},
		{"10MB", 10_000_000, ""},
		{"1GiB", 1 << 30, ""},
		{"2 KiB", 2048, ""},
		{"3kb", 3000, ""},
		{"1TB", 1e12, ""},
		{"12B", 12, ""},
		{"8M", 0, `write 8MiB (powers of 1024) or 8MB (powers of 1000)`},
		{"2g", 0, `write 2GiB (powers of 1024) or 2GB`},
		{"", 0, "not a size"},
		{"-1", 0, "not a size"},
		{"lots", 0, "not a size"},
		{"1.5GiB", 0, "not a size"},
		{"5 parsecs", 0, "not a size"},
		{"9999999999999GiB", 0, "too large"},
		{"99999999999999999999", 0, "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseSize(tt.in)
			if got != tt.want || (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("parseSize(%q) = %d, %v; want %d, error containing %q", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestCLIServerURL(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"127.0.0.1:8787", "http://127.0.0.1:8787", true},
		{"localhost:8787", "http://localhost:8787", true},
		{"[::1]:8787", "http://[::1]:8787", true},
		{"http://127.0.0.1:8787/", "http://127.0.0.1:8787", true},
		{"https://files.example.com/storage", "https://files.example.com/storage", true},
		{" example.com ", "http://example.com", true},
		{"", "", false},
		{"ftp://example.com", "", false},
		{"http://", "", false},
		{"http://example.com/?x=1", "", false},
		{"http://user:pw@example.com", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := cliServerURL(tt.in)
			if got != tt.want || (err == nil) != tt.ok {
				t.Errorf("cliServerURL(%q) = %q, %v; want %q, ok %v", tt.in, got, err, tt.want, tt.ok)
			}
		})
	}
}

func TestCLIMissingRanges(t *testing.T) {
	tests := []struct {
		have  []int
		total int
		want  string
	}{
		{nil, 1, "0"},
		{[]int{0, 1, 2, 8}, 11, "3-7,9-10"},
		{[]int{0, 1, 2, 8, 10}, 11, "3-7,9"},
		{[]int{1, 3}, 5, "0,2,4"},
		{[]int{0, 1}, 2, ""},
		{[]int{0, 2, 4, 6, 8}, 10, "1,3,5,… (5 chunks in 5 ranges)"},
	}
	for _, tt := range tests {
		if got := cliMissingRanges(tt.have, tt.total, 3); got != tt.want {
			t.Errorf("cliMissingRanges(%v, %d) = %q, want %q", tt.have, tt.total, got, tt.want)
		}
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
	tests := []struct {
		name string
		w    interface {
			io.Writer
			String() string
		}
	}{
		{"not a terminal", &bytes.Buffer{}},
		{"a terminal of 0 columns", &fakeTerm{cols: 0}},
		{"a terminal of 20 columns", &fakeTerm{cols: 20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newCLIProgress(tt.w, false, "uploading x")
			if p.bar != nil || !p.plain {
				t.Fatal("want plain progress lines")
			}
			p.update(0, 4<<20)
			p.update(4<<20, 4<<20)
			p.finish(true)
			if got := tt.w.String(); !strings.Contains(got, "uploading x: 4.0 MiB of 4.0 MiB (100%)\n") {
				t.Errorf("progress output %q lacks the final line", got)
			}
		})
	}
	wide := &fakeTerm{cols: 100}
	if p := newCLIProgress(wide, false, "x"); p.bar == nil {
		t.Error("a terminal of 100 columns gets no bar")
	}
	var quiet bytes.Buffer
	q := newCLIProgress(&quiet, true, "x")
	q.update(1, 2)
	q.finish(true)
	if quiet.Len() != 0 {
		t.Errorf("quiet progress printed %q", quiet.String())
	}
}

// fakeTerm is a terminal of cols columns for the client commands'
// stderr: it records what they print and calls onLine (when set) with
// each line as it ends up on the screen (after its last carriage return).
type fakeTerm struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	cols   int
	onLine func(line string)
	part   string
}

func (f *fakeTerm) Write(p []byte) (int, error) {
	f.mu.Lock()
	f.buf.Write(p)
	f.part += string(p)
	var lines []string
	for {
		i := strings.IndexByte(f.part, '\n')
		if i < 0 {
			break
		}
		line := f.part[:i]
		if j := strings.LastIndexByte(line, '\r'); j >= 0 {
			line = line[j+1:] // what the terminal shows after a carriage return
		}
		lines = append(lines, line)
		f.part = f.part[i+1:]
	}
	onLine := f.onLine
	f.mu.Unlock()
	if onLine != nil {
		for _, l := range lines {
			onLine(l)
		}
	}
	return len(p), nil
}

// TermWidth makes f a terminal of f.cols columns (cliTerm).
func (f *fakeTerm) TermWidth() (int, bool) { return f.cols, true }

func (f *fakeTerm) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.buf.String()
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
