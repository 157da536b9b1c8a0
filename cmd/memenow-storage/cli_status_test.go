package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"testing"

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

	code, stdout, stderr := cliRun(ctx, runStatus, getenv, in.UploadID)
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
	if code, stdout, _ = cliRun(ctx, runStatus, getenv, in.UploadID); code != cliExitOK || !strings.Contains(stdout, `"status": "cancelled"`) {
		t.Errorf("status after cancel: exit %d, %s", code, stdout)
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
		{"cancel of a cancelled upload", runCancel, []string{in.UploadID}, cliExitFail, "UPLOAD_CANCELLED"},
		{"status without an id", runStatus, nil, cliExitUsage, "expected one UPLOAD_ID"},
		{"cancel with two ids", runCancel, []string{"a", "b"}, cliExitUsage, "expected one UPLOAD_ID"},
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
