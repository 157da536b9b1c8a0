package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/memenow/memenow-storage/client"
)

func TestDownloadCommand(t *testing.T) {
	var mu sync.Mutex
	var ranges []string
	logRanges := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/api/files/") {
				mu.Lock()
				ranges = append(ranges, r.Header.Get("Range"))
				mu.Unlock()
			}
			next.ServeHTTP(w, r)
		})
	}
	server := cliServer(t, nil, logRanges)
	getenv, _ := cliEnv(t, server)
	data := bytes.Repeat([]byte("memenow!"), (cliChunk+1000)/8)
	res, err := client.New(server).Upload(context.Background(), bytes.NewReader(data), int64(len(data)),
		client.UploadOptions{FileName: "movie.bin", UserID: "frank", UserRole: "creator"})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name      string
		part      []byte // left by an interrupted download, or nil
		wantRange string
	}{
		{"fresh", nil, ""},
		{"resumes a partial file", data[:123456], "bytes=123456-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "movie.bin")
			if tt.part != nil {
				if err := os.WriteFile(out+".part", tt.part, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			mu.Lock()
			ranges = nil
			mu.Unlock()
			code, stdout, stderr := cliRun(context.Background(), runDownload, getenv, res.Key, "-o", out)
			if code != cliExitOK || strings.TrimSpace(stdout) != out {
				t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
			}
			if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
				t.Fatal("downloaded file differs")
			}
			if _, err := os.Stat(out + ".part"); !errors.Is(err, os.ErrNotExist) {
				t.Errorf(".part left: %v", err)
			}
			if len(ranges) != 1 || ranges[0] != tt.wantRange {
				t.Errorf("Range headers %q, want [%q]", ranges, tt.wantRange)
			}
			if !strings.Contains(stderr, "(100%)") {
				t.Errorf("stderr %q lacks the final progress line", stderr)
			}
		})
	}

	t.Run("to stdout", func(t *testing.T) {
		code, stdout, stderr := cliRun(context.Background(), runDownload, getenv, res.Key, "-o", "-")
		if code != cliExitOK || stdout != string(data) || stderr != "" {
			t.Fatalf("exit %d, %d bytes on stdout, stderr %q", code, len(stdout), stderr)
		}
	})
	t.Run("default name in the working folder", func(t *testing.T) {
		t.Chdir(t.TempDir())
		code, stdout, stderr := cliRun(context.Background(), runDownload, getenv, "--quiet", res.Key)
		if code != cliExitOK || strings.TrimSpace(stdout) != "movie.bin" || stderr != "" {
			t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
		}
		if got, _ := os.ReadFile("movie.bin"); !bytes.Equal(got, data) {
			t.Fatal("downloaded file differs")
		}
	})
	t.Run("missing file", func(t *testing.T) {
		dir := t.TempDir()
		out := filepath.Join(dir, "x")
		code, _, stderr := cliRun(context.Background(), runDownload, getenv, "creator/frank/20260101/other/none.bin", "-o", out)
		if code != cliExitFail || !strings.Contains(stderr, "NOT_FOUND") {
			t.Fatalf("exit %d, stderr %q; want 1 and NOT_FOUND", code, stderr)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("files left by a refused download: %v", entries)
		}
	})
	t.Run("existing file", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "movie.bin")
		if err := os.WriteFile(out, []byte("mine"), 0o644); err != nil {
			t.Fatal(err)
		}
		code, stdout, stderr := cliRun(context.Background(), runDownload, getenv, res.Key, "-o", out)
		if code != cliExitFail || stdout != "" || !strings.Contains(stderr, out+" already exists: pass --force to replace it") {
			t.Fatalf("exit %d, stdout %q, stderr %q; want 1 and a refusal naming --force", code, stdout, stderr)
		}
		if got, _ := os.ReadFile(out); string(got) != "mine" {
			t.Errorf("the existing file now holds %d bytes", len(got))
		}
		if _, err := os.Stat(out + ".part"); !errors.Is(err, os.ErrNotExist) {
			t.Errorf(".part made for a refused download: %v", err)
		}
		code, stdout, stderr = cliRun(context.Background(), runDownload, getenv, "--force", res.Key, "-o", out)
		if code != cliExitOK || strings.TrimSpace(stdout) != out {
			t.Fatalf("--force: exit %d, stdout %q, stderr %q", code, stdout, stderr)
		}
		if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
			t.Error("--force did not replace the file")
		}
	})
	t.Run("into a folder", func(t *testing.T) {
		dir := t.TempDir()
		code, stdout, stderr := cliRun(context.Background(), runDownload, getenv, "--quiet", res.Key, "-o", dir)
		want := filepath.Join(dir, "movie.bin")
		if code != cliExitOK || strings.TrimSpace(stdout) != want {
			t.Fatalf("exit %d, stdout %q, stderr %q; want %s", code, stdout, stderr, want)
		}
		if got, _ := os.ReadFile(want); !bytes.Equal(got, data) {
			t.Fatal("downloaded file differs")
		}
	})
	t.Run("usage", func(t *testing.T) {
		for _, args := range [][]string{nil, {"a", "b"}, {"--bogus", "k"}, {"a/..", "-o", t.TempDir()}} {
			if code, _, _ := cliRun(context.Background(), runDownload, getenv, args...); code != cliExitUsage {
				t.Errorf("download %q: exit %d, want %d", args, code, cliExitUsage)
			}
		}
	})
}
