package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/memenow/memenow-storage/client"
)

func TestStatusAndCancelCommands(t *testing.T) {
	server := cliServer(t, nil, nil)
	getenv, _ := cliEnv(t, server)
	ctx := context.Background()
	c := client.New(server)
	in, err := c.Init(ctx, client.InitRequest{FileName: "s.bin", TotalSize: 2 * cliChunk, UserID: "gina", UserRole: "member"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutChunk(ctx, in.UploadID, 1, bytes.NewReader(make([]byte, cliChunk)), cliChunk); err != nil {
		t.Fatal(err)
	}

	code, stdout, stderr := cliRun(ctx, runStatus, getenv, in.UploadID, "--json")
	if code != cliExitOK {
		t.Fatalf("status: exit %d, %s", code, stderr)
	}
	var st map[string]any
	if err := json.Unmarshal([]byte(stdout), &st); err != nil {
		t.Fatalf("status output is not JSON: %v\n%s", err, stdout)
	}
	if st["upload_id"] != in.UploadID || st["status"] != "in_progress" || st["file_name"] != "s.bin" {
		t.Errorf("status %v", st)
	}
	if chunks, _ := st["chunks"].([]any); !slices.Equal(chunks, []any{1.0}) {
		t.Errorf("chunks %v, want [1]", st["chunks"])
	}

	code, stdout, stderr = cliRun(ctx, runCancel, getenv, in.UploadID)
	if code != cliExitOK || !strings.Contains(stdout, `"status": "cancelled"`) {
		t.Fatalf("cancel: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if code, stdout, _ = cliRun(ctx, runStatus, getenv, in.UploadID); code != cliExitOK || !strings.Contains(stdout, "\nstate    cancelled\n") {
		t.Errorf("status after cancel: exit %d, %s", code, stdout)
	}
	// Cancelling again succeeds with the same answer, whether the server
	// answers 200 or 409 UPLOAD_CANCELLED to a repeat.
	if code, stdout, stderr = cliRun(ctx, runCancel, getenv, in.UploadID); code != cliExitOK || !strings.Contains(stdout, `"status": "cancelled"`) {
		t.Errorf("second cancel: exit %d, stdout %q, stderr %q; want 0 and cancelled", code, stdout, stderr)
	}

	tests := []struct {
		name       string
		run        func(context.Context, []string, func(string) string, io.Writer, io.Writer) int
		args       []string
		wantCode   int
		wantStderr string
	}{
		{"status of an unknown upload", runStatus, []string{"1-unknown"}, cliExitFail, "UPLOAD_NOT_FOUND"},
		{"cancel of an unknown upload", runCancel, []string{"1-unknown"}, cliExitFail, "UPLOAD_NOT_FOUND"},
		{"status without an id", runStatus, nil, cliExitUsage, "expected one UPLOAD_ID"},
		{"cancel with two ids", runCancel, []string{"a", "b"}, cliExitUsage, "expected one UPLOAD_ID"},
		{"status has no --quiet", runStatus, []string{"--quiet", in.UploadID}, cliExitUsage, "flag provided but not defined: -quiet"},
		{"cancel has no --quiet", runCancel, []string{"--quiet", in.UploadID}, cliExitUsage, "flag provided but not defined: -quiet"},
		{"status with a bad --server", runStatus, []string{"--server", "ftp://x", in.UploadID}, cliExitUsage, "is not a server address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := cliRun(ctx, tt.run, getenv, tt.args...)
			if code != tt.wantCode || !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, tt.wantCode, tt.wantStderr)
			}
		})
	}
}

// TestStatusSummary checks status's summary: state, chunks n/N, bytes, the
// missing chunks as ranges, and once completed the key with a URL that
// works as is, for a key with a space, '#' and '?'.
func TestStatusSummary(t *testing.T) {
	server := cliServer(t, nil, nil)
	getenv, _ := cliEnv(t, server)
	ctx := context.Background()
	c := client.New(server)
	const size = 5*cliChunk + 100 // six chunks
	in, err := c.Init(ctx, client.InitRequest{FileName: "my clip #1?.bin", TotalSize: size, UserID: "gina", UserRole: "member"})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, size)
	for _, i := range []int{1, 5} {
		n := int64(cliChunk)
		if i == 5 {
			n = 100
		}
		if _, err := c.PutChunk(ctx, in.UploadID, i, bytes.NewReader(data[:n]), n); err != nil {
			t.Fatal(err)
		}
	}
	code, stdout, stderr := cliRun(ctx, runStatus, getenv, in.UploadID)
	if code != cliExitOK || stderr != "" {
		t.Fatalf("status: exit %d, stderr %q", code, stderr)
	}
	for _, want := range []string{
		"upload   " + in.UploadID + "\n",
		"file     my clip #1?.bin, application/octet-stream\n",
		"state    in_progress\n",
		"chunks   2/6 stored (5.0 MiB each)\n",
		"bytes    5.0 MiB of 25.0 MiB (20%)\n",
		"missing  0,2-4\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("status summary lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "[") || strings.Contains(stdout, "key ") {
		t.Errorf("summary of an unfinished upload shows a list or a key:\n%s", stdout)
	}

	for _, i := range []int{0, 2, 3, 4} {
		if _, err := c.PutChunk(ctx, in.UploadID, i, bytes.NewReader(data[:cliChunk]), cliChunk); err != nil {
			t.Fatal(err)
		}
	}
	done, err := c.Complete(ctx, in.UploadID)
	if err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = cliRun(ctx, runStatus, getenv, in.UploadID)
	if code != cliExitOK {
		t.Fatalf("status: exit %d, stderr %q", code, stderr)
	}
	if !strings.Contains(stdout, "state    completed\n") || !strings.Contains(stdout, "key      "+done.Key+"\n") || strings.Contains(stdout, "missing") {
		t.Errorf("summary of a completed upload:\n%s", stdout)
	}
	_, url, ok := strings.Cut(stdout, "url      ")
	url, _, _ = strings.Cut(url, "\n")
	if !ok || !strings.HasSuffix(url, "/my%20clip%20%231%3F.bin") {
		t.Fatalf("url %q: want the key's segments escaped", url)
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(got) != size {
		t.Errorf("GET %s: %d, %d bytes; want 200 and %d", url, resp.StatusCode, len(got), size)
	}
}

// TestStatusExpiry checks that status shows when an upload expires, for a
// server that says so.
func TestStatusExpiry(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	st := &client.UploadStatus{UploadID: "1-x", FileName: "a.bin", Status: "in_progress", TotalSize: 10, ChunkSize: 10, TotalChunks: 1,
		ExpiresAt: now.Add(26*time.Hour + 30*time.Minute).Format(time.RFC3339), CreatedAt: now.Format(time.RFC3339), UpdatedAt: now.Format(time.RFC3339)}
	var out bytes.Buffer
	if err := printStatus(&out, client.New("http://x"), st, now); err != nil {
		t.Fatal(err)
	}
	if want := "expires  2026-01-03 05:34:05 UTC, in 1d2h\n"; !strings.Contains(out.String(), want) {
		t.Errorf("summary lacks %q:\n%s", want, out.String())
	}
}
