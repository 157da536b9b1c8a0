package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/memenow/memenow-storage/apitest"
)

// lineWatcher is an io.Writer that remembers output and reports the first
// match of a pattern.
type lineWatcher struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	re    *regexp.Regexp
	found chan string
	once  sync.Once
}

func newLineWatcher(pattern string) *lineWatcher {
	return &lineWatcher{re: regexp.MustCompile(pattern), found: make(chan string, 1)}
}

func (w *lineWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if m := w.re.FindStringSubmatch(w.buf.String()); m != nil {
		w.once.Do(func() { w.found <- m[1] })
	}
	return len(p), nil
}

func (w *lineWatcher) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

var addrPattern = `addr=http://(127\.0\.0\.1:\d+)`

// startRun runs `serve` through run() and returns its base URL and a stop
// function that cancels it and returns its exit status.
func startRun(t *testing.T, args []string, env map[string]string) (string, func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := newLineWatcher(addrPattern)
	done := make(chan int, 1)
	getenv := func(k string) string { return env[k] }
	go func() {
		done <- run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), getenv, nil, io.Discard, logs)
	}()
	select {
	case addr := <-logs.found:
		return "http://" + addr, func() int { cancel(); return <-done }
	case code := <-done:
		cancel()
		t.Fatalf("serve exited with %d: %s", code, logs.String())
	case <-time.After(20 * time.Second):
		cancel()
		t.Fatalf("serve did not start: %s", logs.String())
	}
	return "", nil
}

// TestRunServe drives the whole suite through run(), as main does.
func TestRunServe(t *testing.T) {
	url, stop := startRun(t, []string{"--data-dir", t.TempDir()}, nil)
	apitest.Run(t, apitest.Target{BaseURL: url, MaxFileSize: 10737418240})
	if code := stop(); code != 0 {
		t.Fatalf("exit status %d after cancel", code)
	}
}

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "config.json")
	// The original service's configuration example, verbatim.
	os.WriteFile(file, []byte(`{"database_name":"UPLOAD_DB","max_file_size":10737418240,"chunk_size":157286400}`), 0o644)
	fileOverrides := filepath.Join(dir, "override.json")
	os.WriteFile(fileOverrides, []byte(`{"chunk_size":"8MiB","max_file_size":1000000000,"allowed_origins":["https://a.example"]}`), 0o644)
	tests := []struct {
		name      string
		args      []string
		env       map[string]string
		chunk     int64
		maxSize   int64
		wantError string
	}{
		{"defaults", nil, nil, 157286400, 10737418240, ""},
		{"seed config file", []string{"--config", file}, nil, 157286400, 10737418240, ""},
		{"file over default", []string{"--config", fileOverrides}, nil, 8 << 20, 1000000000, ""},
		{"env over file", []string{"--config", fileOverrides}, map[string]string{"MEMENOW_CHUNK_SIZE": "16777216"}, 16 << 20, 1000000000, ""},
		{"flag over env", []string{"--config", fileOverrides, "--chunk-size", "32MiB"}, map[string]string{"MEMENOW_CHUNK_SIZE": "16777216"}, 32 << 20, 1000000000, ""},
		{"config from env", nil, map[string]string{"MEMENOW_CONFIG": fileOverrides}, 8 << 20, 1000000000, ""},
		{"bad size", []string{"--chunk-size", "lots"}, nil, 0, 0, "not a size"},
		{"missing file", []string{"--config", filepath.Join(dir, "nope.json")}, nil, 0, 0, "no such file"},
	}
	for _, tt := range tests {
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
			if cfg.ChunkSize != tt.chunk || cfg.MaxFileSize != tt.maxSize {
				t.Fatalf("chunk %d max %d, want %d %d", cfg.ChunkSize, cfg.MaxFileSize, tt.chunk, tt.maxSize)
			}
		})
	}
}

// TestInvalidConfigExits2 checks that bad configurations stop start-up
// with one clear line and exit status 2.
func TestInvalidConfigExits2(t *testing.T) {
	dir := t.TempDir()
	badJSON := filepath.Join(dir, "bad.json")
	os.WriteFile(badJSON, []byte(`{"chunk_size": `), 0o644)
	unknown := filepath.Join(dir, "unknown.json")
	os.WriteFile(unknown, []byte(`{"chunk_sise": 1}`), 0o644)
	unreadable := filepath.Join(dir, "unreadable.json")
	os.WriteFile(unreadable, []byte(`{}`), 0o000)
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"chunk under 5 MiB", []string{"--chunk-size", "1048576"}, nil, "under"},
		{"chunk over 5 GiB", []string{"--chunk-size", "6GiB", "--max-file-size", "6GiB"}, nil, "over"},
		{"too many chunks", []string{"--chunk-size", "5MiB", "--max-file-size", "100GB"}, nil, "more than 10000"},
		{"env chunk too small", nil, map[string]string{"MEMENOW_CHUNK_SIZE": "100"}, "under"},
		{"bad JSON file", []string{"--config", badJSON}, nil, "not a JSON object"},
		{"unknown key", []string{"--config", unknown}, nil, "unknown key"},
		{"missing file", []string{"--config", filepath.Join(dir, "absent.json")}, nil, "config file"},
		{"unknown flag", []string{"--nope"}, nil, "flag provided but not defined"},
		{"bad log level", []string{"--log-level", "loud"}, nil, "log-level"},
	}
	if os.Geteuid() != 0 { // root reads any file
		tests = append(tests, struct {
			name string
			args []string
			env  map[string]string
			want string
		}{"unreadable file", []string{"--config", unreadable}, nil, "permission denied"})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := run(context.Background(), append([]string{"serve", "--data-dir", t.TempDir()}, tt.args...),
				func(k string) string { return tt.env[k] }, nil, io.Discard, &stderr)
			if code != 2 {
				t.Fatalf("exit %d, want 2; stderr %s", code, stderr.String())
			}
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			last := lines[len(lines)-1]
			if !strings.HasPrefix(last, "memenow-storage: invalid configuration") || !strings.Contains(last, tt.want) {
				t.Fatalf("last line %q, want the error naming %q", last, tt.want)
			}
		})
	}
}

// binDir holds the binary buildBinary builds; TestMain removes it.
var binDir string

// TestMain runs the tests and then removes the binary they built.
func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// buildBinary builds memenow-storage once per test run, into a folder that
// TestMain removes.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "memenow-bin-")
	if err != nil {
		return "", err
	}
	binDir = dir
	bin := filepath.Join(dir, "memenow-storage")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// startBinary starts the real binary on a data dir and waits for its address.
func startBinary(t *testing.T, dataDir string, extra ...string) (*exec.Cmd, string) {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir}, extra...)...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		re := regexp.MustCompile(addrPattern)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case addr := <-found:
		return cmd, "http://" + addr
	case <-time.After(30 * time.Second):
		t.Fatal("binary did not start")
	}
	return nil, ""
}

// TestCrashMidChunkAndResume SIGKILLs the real binary while a chunk is
// streaming in, restarts it, and checks the upload resumes to a
// byte-identical file.
func TestCrashMidChunkAndResume(t *testing.T) {
	dataDir := t.TempDir()
	cmd, url := startBinary(t, dataDir)
	tt := &apitest.T{T: t, Target: apitest.Target{BaseURL: url}}
	data := apitest.RandomBytes(3*apitest.ChunkSize-7, 42)
	u := tt.Init("crash.bin", "", data, "crashuser")
	tt.SendChunk(u, 0)

	// Stream half of chunk 1, then kill the server mid-body.
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("PUT", url+"/api/upload/chunk", pr)
	req.ContentLength = int64(len(u.Chunk(1)))
	req.Header.Set("X-Upload-Id", u.ID)
	req.Header.Set("X-Chunk-Index", "1")
	reqDone := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		reqDone <- err
	}()
	if _, err := pw.Write(u.Chunk(1)[:apitest.ChunkSize/2]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // let the server write what it got
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	pw.Close()
	<-reqDone

	_, url = startBinary(t, dataDir)
	tt.Target.BaseURL = url
	st := tt.Status(u)
	if fmt.Sprint(st["chunks"]) != "[0]" {
		t.Fatalf("after the crash chunks = %v, want [0]", st["chunks"])
	}
	tt.SendChunk(u, 1)
	tt.SendChunk(u, 2)
	tt.WantOK(tt.Complete(u))
	got := tt.Do("GET", apitest.FilePath(u.Key), nil, nil)
	if !bytes.Equal(got.Body, data) {
		t.Fatalf("file after crash and resume differs (%d bytes)", len(got.Body))
	}
}

// TestGracefulShutdown sends SIGTERM while a chunk streams in: the chunk
// completes, and the process exits 0.
func TestGracefulShutdown(t *testing.T) {
	cmd, url := startBinary(t, t.TempDir())
	tt := &apitest.T{T: t, Target: apitest.Target{BaseURL: url}}
	data := apitest.RandomBytes(apitest.ChunkSize+10, 7)
	u := tt.Init("term.bin", "", data, "termuser")
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("PUT", url+"/api/upload/chunk", pr)
	req.ContentLength = int64(len(u.Chunk(0)))
	req.Header.Set("X-Upload-Id", u.ID)
	req.Header.Set("X-Chunk-Index", "0")
	status := make(chan int, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			status <- -1
			return
		}
		resp.Body.Close()
		status <- resp.StatusCode
	}()
	half := len(u.Chunk(0)) / 2
	pw.Write(u.Chunk(0)[:half])
	time.Sleep(100 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(100 * time.Millisecond)
	pw.Write(u.Chunk(0)[half:])
	pw.Close()
	if s := <-status; s != 200 {
		t.Fatalf("in-flight chunk answered %d during shutdown", s)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
}

// TestStartupLogLine checks the one start-up line names the address and the stores.
func TestStartupLogLine(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	w := newLineWatcher(addrPattern)
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir()}, func(string) string { return "" }, nil, io.Discard, w)
	}()
	<-w.found
	cancel()
	<-done
	first := strings.SplitN(w.String(), "\n", 2)[0]
	for _, want := range []string{"addr=http://127.0.0.1:", "metadata=sqlite:", "storage=disk:"} {
		if !strings.Contains(first, want) {
			t.Fatalf("first log line %q lacks %q", first, want)
		}
	}
}

// needServer returns the value of env var name, skipping the test when it
// is unset, or failing it when require (e.g. MEMENOW_REQUIRE_S3) is "1", as
// in CI.
func needServer(t *testing.T, name, require, howTo string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		if os.Getenv(require) == "1" {
			t.Fatalf("%s is not set but %s=1: the server for this test did not start", name, require)
		}
		t.Skipf("%s is not set; to run this test: %s", name, howTo)
	}
	return v
}

// TestRunServeOnS3 runs the whole API suite through run() with the s3
// backend on a real S3 server.
func TestRunServeOnS3(t *testing.T) {
	endpoint := needServer(t, "MEMENOW_TEST_S3_ENDPOINT", "MEMENOW_REQUIRE_S3", `eval "$(.ci/s3-server.sh start /tmp/memenow-s3)"`)
	bucket := os.Getenv("MEMENOW_TEST_S3_BUCKET")
	prefix := fmt.Sprintf("e2e-%d", time.Now().UnixNano())
	url, stop := startRun(t, []string{"--data-dir", t.TempDir(), "--storage", "s3://" + bucket + "/" + prefix,
		"--s3-endpoint", endpoint, "--s3-path-style", "--s3-region", "us-east-1"}, nil)
	apitest.Run(t, apitest.Target{BaseURL: url, MaxFileSize: 10737418240})
	if code := stop(); code != 0 {
		t.Fatalf("exit status %d", code)
	}
}

// TestRunServeOnPostgres runs the whole API suite through run() with
// PostgreSQL metadata.
func TestRunServeOnPostgres(t *testing.T) {
	pg := needServer(t, "MEMENOW_TEST_POSTGRES_URL", "MEMENOW_REQUIRE_POSTGRES", `eval "$(.ci/postgres.sh start /tmp/memenow-pg)"`)
	url, stop := startRun(t, []string{"--data-dir", t.TempDir(), "--database", pg}, nil)
	apitest.Run(t, apitest.Target{BaseURL: url, MaxFileSize: 10737418240})
	if code := stop(); code != 0 {
		t.Fatalf("exit status %d", code)
	}
}

func TestMigrateCommand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"migrate", "--database", "sqlite:" + path}, func(string) string { return "" }, nil, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if _, err := os.Stat(path); err != nil || !strings.Contains(out.String(), "migrated") {
		t.Fatalf("no database after migrate (%v); output %q", err, out.String())
	}
	if code := run(context.Background(), []string{"migrate", "--database", "mysql://x"}, func(string) string { return "" }, nil, &out, &errOut); code != 2 {
		t.Fatalf("bad database: exit %d, want 2", code)
	}
}
