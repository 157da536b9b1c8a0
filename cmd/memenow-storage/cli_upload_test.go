package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/memenow/memenow-storage/apitest"
	"github.com/memenow/memenow-storage/client"
)

// fetch downloads key from server.
func fetch(t *testing.T, server, key string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := client.New(server).Download(context.Background(), key, &buf); err != nil {
		t.Fatalf("download %s: %v", key, err)
	}
	return buf.Bytes()
}

func TestUploadCommand(t *testing.T) {
	var log putLog
	server := cliServer(t, &log, nil)
	getenv, cache := cliEnv(t, "")
	path, data := writeRandomFile(t, t.TempDir(), "clip.mp4", cliTestSize)

	code, stdout, stderr := cliRun(context.Background(), runUpload, getenv,
		path, "--server", server, "--user-id", "alice", "--user-role", "creator", "--parallel", "2")
	if code != cliExitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	key := strings.TrimSpace(stdout)
	if !strings.HasPrefix(key, "creator/alice/") || !strings.HasSuffix(key, "/video/clip.mp4") {
		t.Errorf("key %q: want creator/alice/…/video/clip.mp4 (content type guessed from .mp4)", key)
	}
	if !strings.Contains(stderr, "(100%)") {
		t.Errorf("stderr %q lacks a plain progress line at 100%%", stderr)
	}
	if got := log.take(); !slices.Equal(got, []int{0, 1, 2}) {
		t.Errorf("PUTs %v, want 0, 1, 2", got)
	}
	if files := stateFiles(t, cache); len(files) != 0 {
		t.Errorf("resume state left after success: %v", files)
	}
	if got := fetch(t, server, key); !bytes.Equal(got, data) {
		t.Fatal("uploaded file differs")
	}
}

func TestUploadCommandQuiet(t *testing.T) {
	server := cliServer(t, nil, nil)
	getenv, _ := cliEnv(t, server)
	path, _ := writeRandomFile(t, t.TempDir(), "notes.txt", 1000)
	code, stdout, stderr := cliRun(context.Background(), runUpload, getenv,
		"--quiet", "--user-id", "bob", "--user-role", "member", "--content-type", "application/pdf", path)
	if code != cliExitOK || stderr != "" {
		t.Fatalf("exit %d, stderr %q; want 0 and nothing", code, stderr)
	}
	if key := strings.TrimSpace(stdout); !strings.HasSuffix(key, "/document/notes.txt") {
		t.Errorf("key %q, want the document category of --content-type", key)
	}
}

func TestUploadCommandUsage(t *testing.T) {
	getenv, _ := cliEnv(t, "http://127.0.0.1:1")
	path, _ := writeRandomFile(t, t.TempDir(), "f.bin", 10)
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"no file", []string{"--user-id", "a", "--user-role", "member"}, cliExitUsage},
		{"two files", []string{path, path, "--user-id", "a", "--user-role", "member"}, cliExitUsage},
		{"no user id", []string{path, "--user-role", "member"}, cliExitUsage},
		{"no role", []string{path, "--user-id", "a"}, cliExitUsage},
		{"bad flag", []string{path, "--user-id", "a", "--user-role", "member", "--nope"}, cliExitUsage},
		{"bad chunk size", []string{path, "--user-id", "a", "--user-role", "member", "--chunk-size", "big"}, cliExitUsage},
		{"zero parallel", []string{path, "--user-id", "a", "--user-role", "member", "--parallel", "0"}, cliExitUsage},
		{"help", []string{"-h"}, cliExitOK},
		{"missing file", []string{filepath.Join(t.TempDir(), "none"), "--user-id", "a", "--user-role", "member"}, cliExitFail},
		{"no server", []string{path, "--user-id", "a", "--user-role", "member", "--retries", "0"}, cliExitFail},
		{"negative retries", []string{path, "--user-id", "a", "--user-role", "member", "--retries", "-1"}, cliExitUsage},
		{"role admin", []string{path, "--user-id", "a", "--user-role", "admin"}, cliExitUsage},
		{"invalid user id", []string{path, "--user-id", "a/b", "--user-role", "member"}, cliExitUsage},
		{"user id too long", []string{path, "--user-id", strings.Repeat("a", 65), "--user-role", "member"}, cliExitUsage},
		{"chunk size under 5 MiB", []string{path, "--user-id", "a", "--user-role", "member", "--chunk-size", "5mb"}, cliExitUsage},
		{"chunk size over 5 GiB", []string{path, "--user-id", "a", "--user-role", "member", "--chunk-size", "6GiB"}, cliExitUsage},
		{"ambiguous chunk size", []string{path, "--user-id", "a", "--user-role", "member", "--chunk-size", "8M"}, cliExitUsage},
		{"server that is no URL", []string{path, "--user-id", "a", "--user-role", "member", "--server", "ftp://x"}, cliExitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := cliRun(context.Background(), runUpload, getenv, tt.args...)
			if code != tt.want || stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d and no stdout", code, stdout, stderr, tt.want)
			}
		})
	}
}

// TestUploadCommandFinishes checks what a finished upload prints: the
// upload id and a URL that works as is on stderr (for a key with a space,
// '#' and '?'), the key on stdout; it also takes a --server without a
// scheme and a --chunk-size in lower-case decimal units.
func TestUploadCommandFinishes(t *testing.T) {
	var log putLog
	server := cliServer(t, &log, nil)
	getenv, _ := cliEnv(t, "")
	path, data := writeRandomFile(t, t.TempDir(), "my clip #1?.mp4", cliTestSize)
	code, stdout, stderr := cliRun(context.Background(), runUpload, getenv, path,
		"--server", strings.TrimPrefix(server, "http://"), "--user-id", "alice", "--user-role", "creator", "--chunk-size", "6mb")
	if code != cliExitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	key := strings.TrimSuffix(stdout, "\n")
	if !strings.HasPrefix(key, "creator/alice/") || !strings.HasSuffix(key, "/video/my clip #1?.mp4") || strings.Contains(key, "\n") {
		t.Fatalf("stdout %q, want the key alone", stdout)
	}
	if got := log.take(); len(got) != 2 {
		t.Errorf("PUTs %v, want 2 chunks of 6 MB", got)
	}
	uploads, err := client.New(server).List(context.Background(), client.ListOptions{})
	if err != nil || len(uploads.Uploads) != 1 {
		t.Fatalf("list: %v, %v", uploads, err)
	}
	id := uploads.Uploads[0].UploadID
	if !strings.Contains(stderr, "uploaded my clip #1?.mp4 (10.0 MiB) as upload "+id+"\n") {
		t.Errorf("stderr %q does not name the upload id %s", stderr, id)
	}
	_, url, _ := strings.Cut(stderr, "\nurl: ")
	url = strings.TrimSuffix(url, "\n")
	if !strings.HasPrefix(url, server+"/api/files/creator/alice/") || !strings.HasSuffix(url, "/video/my%20clip%20%231%3F.mp4") {
		t.Fatalf("url %q, want the key's segments escaped under %s/api/files/", url, server)
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, data) {
		t.Errorf("GET %s: %d, %d bytes; want 200 and the file", url, resp.StatusCode, len(got))
	}
}

// TestUploadCommandEmptyFile checks that an empty file uploads, with no
// chunk, to the real server and downloads back empty, leaving no state.
func TestUploadCommandEmptyFile(t *testing.T) {
	server := cliServer(t, nil, nil)
	getenv, cache := cliEnv(t, server)
	dir := t.TempDir()
	path, _ := writeRandomFile(t, dir, "empty.txt", 0)
	code, stdout, stderr := cliRun(context.Background(), runUpload, getenv, path, "--user-id", "a", "--user-role", "member")
	key := strings.TrimSuffix(stdout, "\n")
	if code != 0 || !strings.HasPrefix(key, "member/a/") || !strings.HasSuffix(key, "/document/empty.txt") ||
		!strings.Contains(stderr, "uploaded empty.txt (0 B) as upload ") {
		t.Fatalf("exit %d, stdout %q, stderr %q; want 0 and the key", code, stdout, stderr)
	}
	if files := stateFiles(t, cache); len(files) != 0 {
		t.Errorf("state left after a finished upload: %v", files)
	}
	out := filepath.Join(dir, "back.txt")
	if code, stdout, stderr := cliRun(context.Background(), runDownload, getenv, key, "-o", out); code != 0 {
		t.Fatalf("download: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if fi, err := os.Stat(out); err != nil || fi.Size() != 0 {
		t.Fatalf("downloaded file: %v, %v; want an empty file", fi, err)
	}
}

// TestUploadCommandEmptyFileRefused checks that an empty file a server
// refuses is reported as such, with the server's reason, and leaves no state.
func TestUploadCommandEmptyFileRefused(t *testing.T) {
	server := cliServer(t, nil, apitest.RefuseEmptyFiles)
	getenv, cache := cliEnv(t, server)
	path, _ := writeRandomFile(t, t.TempDir(), "empty.txt", 0)
	code, stdout, stderr := cliRun(context.Background(), runUpload, getenv, path, "--user-id", "a", "--user-role", "member")
	if code != cliExitFail || stdout != "" || !strings.Contains(stderr, path+" is empty, and this server does not accept empty files") ||
		!strings.Contains(stderr, "total_size") {
		t.Errorf("exit %d, stdout %q, stderr %q; want 1 and a message about the empty file with the server's reason", code, stdout, stderr)
	}
	if files := stateFiles(t, cache); len(files) != 0 {
		t.Errorf("state saved for a refused upload: %v", files)
	}
}

// downServer returns the URL of a port where nothing listens.
func downServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// TestRetriesShownOnATerminal checks that upload and status, with the
// server down, say on a terminal why they wait, each retry with its wait
// and cause; and that they do not when stderr is no terminal or with
// --quiet.
func TestRetriesShownOnATerminal(t *testing.T) {
	getenv, _ := cliEnv(t, downServer(t))
	path, _ := writeRandomFile(t, t.TempDir(), "f.bin", 10)
	retryLine := regexp.MustCompile(`^retrying in [0-9.]+m?s: connection refused$`)
	tests := []struct {
		name string
		cols int
		run  func(context.Context, []string, func(string) string, io.Writer, io.Writer) int
		args []string
	}{
		{"upload", 0, runUpload, []string{path, "--user-id", "a", "--user-role", "member", "--retries", "2"}},
		{"upload with a progress bar", 100, runUpload, []string{path, "--user-id", "a", "--user-role", "member", "--retries", "2"}},
		// status retries 6 times: it is interrupted after the second.
		{"status", 0, runStatus, []string{"1-x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var mu sync.Mutex
			var retries []string
			term := &fakeTerm{cols: tt.cols, onLine: func(line string) {
				if strings.HasPrefix(line, "retrying") {
					mu.Lock()
					retries = append(retries, line)
					if len(retries) == 2 {
						cancel()
					}
					mu.Unlock()
				}
			}}
			var stdout bytes.Buffer
			if code := tt.run(ctx, tt.args, getenv, &stdout, term); code != cliExitFail {
				t.Fatalf("exit %d, want 1; stderr:\n%s", code, term.String())
			}
			mu.Lock()
			defer mu.Unlock()
			if len(retries) != 2 {
				t.Fatalf("retry lines %q, want 2; stderr:\n%s", retries, term.String())
			}
			for _, l := range retries {
				if !retryLine.MatchString(l) {
					t.Errorf("retry line %q, want %q", l, retryLine)
				}
			}
		})
	}
	for _, tt := range []struct {
		name   string
		stderr io.Writer
		args   []string
	}{
		{"not a terminal", &bytes.Buffer{}, []string{path, "--user-id", "a", "--user-role", "member", "--retries", "1"}},
		{"quiet", &fakeTerm{cols: 80}, []string{path, "--quiet", "--user-id", "a", "--user-role", "member", "--retries", "1"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if code := runUpload(context.Background(), tt.args, getenv, io.Discard, tt.stderr); code != cliExitFail {
				t.Fatalf("exit %d, want 1", code)
			}
			s := fmt.Sprint(tt.stderr)
			if strings.Contains(s, "retrying") {
				t.Errorf("stderr %q shows retries", s)
			}
			if want := "memenow-storage upload: cannot reach the server at " + getenv("MEMENOW_SERVER") + ": connection refused"; !strings.Contains(s, want) {
				t.Errorf("stderr %q lacks %q", s, want)
			}
		})
	}
}

func TestUploadCommandRejectedByServer(t *testing.T) {
	var log putLog
	server := cliServer(t, &log, nil)
	getenv, cache := cliEnv(t, server)
	path, _ := writeRandomFile(t, t.TempDir(), "f.bin", 10)
	// The test server takes chunks of 5 to 64 MiB: 100 MiB is within what
	// the CLI knows of every server (5 MiB to 5 GiB), so this server says no.
	code, _, stderr := cliRun(context.Background(), runUpload, getenv, path, "--user-id", "a", "--user-role", "member", "--chunk-size", "100MiB")
	if code != cliExitFail || !strings.Contains(stderr, "INVALID_FIELD") || !strings.Contains(stderr, "HTTP 400") {
		t.Errorf("exit %d, stderr %q; want 1 with INVALID_FIELD (HTTP 400)", code, stderr)
	}
	if n := log.count("/api/upload/init"); n != 1 {
		t.Errorf("init sent %d times, want once (no retry on 400)", n)
	}
	if files := stateFiles(t, cache); len(files) != 0 {
		t.Errorf("state saved for a refused upload: %v", files)
	}
}

// interruptAt returns a wrapper that, the first time chunk index arrives,
// cancels the CLI's context (as Ctrl-C would) and lets the request die.
func interruptAt(index string, cancel context.CancelFunc) func(http.Handler) http.Handler {
	var once sync.Once
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hit := false
			if r.Method == http.MethodPut && r.Header.Get("X-Chunk-Index") == index {
				once.Do(func() { hit = true })
			}
			if !hit {
				next.ServeHTTP(w, r)
				return
			}
			cancel()
			_, _ = io.Copy(io.Discard, r.Body) // fails once the client hangs up
		})
	}
}

func TestUploadCommandInterruptedThenResumed(t *testing.T) {
	var log putLog
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	server := cliServer(t, &log, interruptAt("1", cancel))
	getenv, cache := cliEnv(t, server)
	path, data := writeRandomFile(t, t.TempDir(), "big.bin", cliTestSize)
	args := []string{path, "--user-id", "carol", "--user-role", "subscriber", "--parallel", "1"}

	code, stdout, stderr := cliRun(ctx, runUpload, getenv, args...)
	if code != cliExitFail || stdout != "" || !strings.Contains(stderr, "run the same command again") {
		t.Fatalf("interrupted run: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if files := stateFiles(t, cache); len(files) != 1 {
		t.Fatalf("state files %v, want one", files)
	}
	if got := log.take(); !slices.Equal(got, []int{0, 1}) {
		t.Fatalf("first run PUTs %v, want 0 and the interrupted 1", got)
	}

	code, stdout, stderr = cliRun(context.Background(), runUpload, getenv, args...)
	if code != cliExitOK {
		t.Fatalf("resumed run: exit %d, stderr %s", code, stderr)
	}
	if !strings.Contains(stderr, "resuming upload") {
		t.Errorf("stderr %q does not say it resumes", stderr)
	}
	if got := log.take(); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("resumed run PUTs %v, want only the missing 1 and 2", got)
	}
	if n := log.count("/api/upload/init"); n != 1 {
		t.Errorf("init sent %d times, want once", n)
	}
	if files := stateFiles(t, cache); len(files) != 0 {
		t.Errorf("state left after success: %v", files)
	}
	if got := fetch(t, server, strings.TrimSpace(stdout)); !bytes.Equal(got, data) {
		t.Fatal("resumed upload differs")
	}
}

func TestUploadCommandRestartAndGone(t *testing.T) {
	tests := []struct {
		name string
		// between runs the upload from the first run is cancelled on the
		// server by another client (gone), or by the cancel command (which
		// forgets the resume state), or abandoned with --restart.
		cancelBetween, cancelCommand bool
		extra                        []string
		wantStderr, notStderr        string
	}{
		{"restart", false, false, []string{"--restart"}, "", "resuming"},
		{"upload cancelled on the server", true, false, nil, "is gone on the server", ""},
		{"upload cancelled by the cancel command", true, true, nil, "", "resuming"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log putLog
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			server := cliServer(t, &log, interruptAt("1", cancel))
			getenv, cache := cliEnv(t, server)
			path, data := writeRandomFile(t, t.TempDir(), "r.bin", cliTestSize)
			args := []string{path, "--user-id", "dave", "--user-role", "member", "--parallel", "1"}
			if code, _, stderr := cliRun(ctx, runUpload, getenv, args...); code != cliExitFail {
				t.Fatalf("interrupted run: exit %d, %s", code, stderr)
			}
			st, err := (&uploadStates{dir: filepath.Join(cache, "uploads")}).loadOnly(t)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tt.cancelCommand:
				code, out, stderr := cliRun(context.Background(), runCancel, getenv, st.UploadID)
				if code != cliExitOK || !strings.Contains(out, `"cancelled"`) || !strings.Contains(stderr, "forgot the resume state of "+path) {
					t.Fatalf("cancel: exit %d, %q, %q", code, out, stderr)
				}
				if files := stateFiles(t, cache); len(files) != 0 {
					t.Errorf("resume state left after the cancel command: %v", files)
				}
			case tt.cancelBetween:
				if _, err := client.New(server).Cancel(context.Background(), st.UploadID); err != nil {
					t.Fatal(err)
				}
			}
			log.take()
			code, stdout, stderr := cliRun(context.Background(), runUpload, getenv, append(args, tt.extra...)...)
			if code != cliExitOK || !strings.Contains(stderr, tt.wantStderr) || (tt.notStderr != "" && strings.Contains(stderr, tt.notStderr)) {
				t.Fatalf("second run: exit %d, stderr %q (want it to contain %q and not %q)", code, stderr, tt.wantStderr, tt.notStderr)
			}
			if got := log.take(); !slices.Equal(got, []int{0, 1, 2}) {
				t.Errorf("second run PUTs %v, want a whole new upload", got)
			}
			if n := log.count("/api/upload/init"); n != 2 {
				t.Errorf("init sent %d times, want 2", n)
			}
			old, err := client.New(server).Status(context.Background(), st.UploadID)
			if err != nil || old.Status != "cancelled" {
				t.Errorf("the abandoned upload is %+v, %v; want cancelled", old, err)
			}
			if got := fetch(t, server, strings.TrimSpace(stdout)); !bytes.Equal(got, data) {
				t.Fatal("new upload differs")
			}
		})
	}
}

// loadOnly reads the one state file of a test's cache folder.
func (s *uploadStates) loadOnly(t *testing.T) (uploadState, error) {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(s.dir, "*.json"))
	if len(m) != 1 {
		t.Fatalf("state files %v, want one", m)
	}
	return s.load(uploadID{hash: strings.TrimSuffix(filepath.Base(m[0]), ".json")})
}

// TestUploadBinaryKilledThenResumed SIGKILLs the real binary while it
// uploads chunk 1, runs the same command again, and checks it finishes the
// upload sending only the chunks the server had not recorded.
func TestUploadBinaryKilledThenResumed(t *testing.T) {
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	var log putLog
	arrived := make(chan struct{})
	var once sync.Once
	gate := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hit := false
			if r.Method == http.MethodPut && r.Header.Get("X-Chunk-Index") == "1" {
				once.Do(func() { hit = true })
			}
			if !hit {
				next.ServeHTTP(w, r)
				return
			}
			close(arrived)
			_, _ = io.Copy(io.Discard, r.Body) // until the process dies
		})
	}
	server := cliServer(t, &log, gate)
	cache := t.TempDir()
	path, data := writeRandomFile(t, t.TempDir(), "killed.bin", cliTestSize)
	command := func() *exec.Cmd {
		cmd := exec.Command(bin, "upload", path, "--user-id", "erin", "--user-role", "creator", "--parallel", "1")
		cmd.Env = append(os.Environ(), "MEMENOW_SERVER="+server, "MEMENOW_CACHE_DIR="+cache)
		return cmd
	}

	first := command()
	var firstErr bytes.Buffer
	first.Stderr = &firstErr
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	<-arrived // chunk 0 is recorded: chunks go one at a time
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	if files := stateFiles(t, cache); len(files) != 1 {
		t.Fatalf("state files after the kill %v, want one; stderr:\n%s", files, firstErr.String())
	}
	if got := log.take(); !slices.Equal(got, []int{0, 1}) {
		t.Fatalf("first run PUTs %v, want 0 and the cut 1", got)
	}

	second := command()
	var out, errOut bytes.Buffer
	second.Stdout, second.Stderr = &out, &errOut
	if err := second.Run(); err != nil {
		t.Fatalf("second run: %v\n%s", err, errOut.String())
	}
	if got := log.take(); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("second run PUTs %v, want only 1 and 2", got)
	}
	if files := stateFiles(t, cache); len(files) != 0 {
		t.Errorf("state left after success: %v", files)
	}
	if got := fetch(t, server, strings.TrimSpace(out.String())); !bytes.Equal(got, data) {
		t.Fatal("uploaded file differs")
	}
}
