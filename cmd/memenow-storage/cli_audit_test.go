package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/memenow/memenow-storage/apitest"
)

// auditRows runs the audit command with args and returns its JSON lines.
func auditRows(t *testing.T, args ...string) []map[string]any {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := run(context.Background(), append([]string{"audit", "--json"}, args...), func(string) string { return "" }, nil, &out, &errOut); code != exitOK {
		t.Fatalf("audit %v: exit %d, %s", args, code, errOut.String())
	}
	var rows []map[string]any
	dec := json.NewDecoder(&out)
	for {
		var m map[string]any
		if err := dec.Decode(&m); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("audit --json output: %v", err)
		}
		rows = append(rows, m)
	}
	return rows
}

// TestAuditLog drives serve with auth on through run(): the state changes,
// a download, an auth failure and a forbidden init are audited; GET
// /api/audit is for administrators only; after a clean shutdown (which
// flushes the batched events) the audit command reads every row from the
// database, and no token is in any of them.
func TestAuditLog(t *testing.T) {
	dir := t.TempDir()
	secret := randomSecret(t)
	base, logs, stop := startRunLogs(t, []string{"--data-dir", dir}, map[string]string{"MEMENOW_JWT_SECRET": secret})
	a := apitest.AuthTarget{Target: apitest.Target{BaseURL: base}, Secret: []byte(secret)}
	anon := &apitest.T{T: t, Target: a.Target}
	alice := apitest.NewUserID()
	aliceTok := a.User(alice)
	at := anon.As(aliceTok)

	done := at.Init("audited.bin", "", apitest.RandomBytes(1000, 7), alice)
	key := at.UploadAll(done)
	cancelled := at.Init("cancelled.bin", "", apitest.RandomBytes(10, 8), alice)
	at.WantOK(at.Cancel(cancelled))
	got := at.Do("GET", apitest.FilePath(key), map[string]string{"X-Request-Id": "req-audit-1"}, nil)
	if got.Status != http.StatusOK || got.Header.Get("X-Request-Id") != "req-audit-1" {
		t.Fatalf("download: %d, X-Request-Id %q", got.Status, got.Header.Get("X-Request-Id"))
	}
	if id := at.Do("GET", "/health", nil, nil).Header.Get("X-Request-Id"); len(id) != 32 {
		t.Errorf("a generated request id %q, want 32 hex digits", id)
	}
	anon.As("not-a-token").Do("GET", "/api/uploads", nil, nil) // 401
	at.WantError(at.PostJSON("/api/upload/init", map[string]any{"file_name": "x.bin", "total_size": 10,
		"user_id": "someone_else", "user_role": "creator"}), http.StatusForbidden, "FORBIDDEN")

	// GET /api/audit: anonymous 401, a user 403, an administrator sees the
	// state changes at once (they are committed with the change).
	anon.WantError(anon.Do("GET", "/api/audit", nil, nil), http.StatusUnauthorized, "UNAUTHORIZED")
	at.WantError(at.Do("GET", "/api/audit", nil, nil), http.StatusForbidden, "FORBIDDEN")
	admin := anon.As(a.Admin())
	page := admin.WantOK(admin.Do("GET", "/api/audit?action=init&user_id="+alice, nil, nil))
	if events, _ := page["events"].([]any); len(events) != 2 {
		t.Errorf("GET /api/audit?action=init: %d events, want 2: %v", len(events), page)
	}
	admin.WantError(admin.Do("GET", "/api/audit?action=nonsense", nil, nil), http.StatusBadRequest, "INVALID_FIELD")

	if code := stop(); code != 0 {
		t.Fatalf("exit status %d", code)
	}

	rows := auditRows(t, "--data-dir", dir, "--user", alice)
	count := map[string]int{}
	for _, r := range rows {
		count[r["action"].(string)]++
		if r["action"] == "download" {
			if r["request_id"] != "req-audit-1" || r["bytes"] != float64(1000) || r["key"] != key || r["actor"] != "user" || r["client_ip"] != "127.0.0.1" {
				t.Errorf("download row %v", r)
			}
		}
		if r["action"] == "complete" && (r["upload_id"] != done.ID || r["outcome"] != "ok") {
			t.Errorf("complete row %v", r)
		}
	}
	want := map[string]int{"init": 2, "complete": 1, "cancel": 1, "download": 1, "forbidden": 2} // the init for another user, the GET /api/audit
	for action, n := range want {
		if count[action] != n {
			t.Errorf("%s rows of %s: %d, want %d (all: %v)", action, alice, count[action], n, count)
		}
	}
	failures := auditRows(t, "--data-dir", dir, "--action", "auth_failure")
	if len(failures) == 0 || failures[0]["actor"] != "anonymous" || failures[0]["outcome"] != "UNAUTHORIZED" {
		t.Errorf("auth_failure rows %v", failures)
	}
	for _, r := range auditRows(t, "--data-dir", dir) {
		if b, _ := json.Marshal(r); strings.Contains(string(b), "eyJ") || strings.Contains(string(b), "not-a-token") {
			t.Errorf("a token reached the audit log: %s", b)
		}
	}
	if strings.Contains(logs.String(), "eyJ") {
		t.Error("a token reached the log")
	}

	var table bytes.Buffer
	if code := run(context.Background(), []string{"audit", "--data-dir", dir, "--since", "1h", "--action", "download"},
		func(string) string { return "" }, nil, &table, io.Discard); code != exitOK {
		t.Fatalf("audit table: exit %d", code)
	}
	if lines := strings.Split(strings.TrimSpace(table.String()), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[0], "TIME") {
		t.Errorf("audit table:\n%s", table.String())
	}
	var errOut bytes.Buffer
	if code := run(context.Background(), []string{"audit", "--data-dir", dir, "--action", "nope"}, func(string) string { return "" }, nil, io.Discard, &errOut); code != exitUsage {
		t.Errorf("audit --action nope: exit %d, want %d", code, exitUsage)
	}
}
