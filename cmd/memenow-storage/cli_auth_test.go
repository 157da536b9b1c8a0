package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	storage "github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/apitest"
)

// cliJWTSecret is the HS256 secret of the tests' identity provider.
var cliJWTSecret = []byte("cli-tests-hs256-secret-of-at-least-32-bytes")

// cliAuthServer starts the real API over SQLite and disk with share links
// and, when authOn, JWT authentication, and returns its URL.
func cliAuthServer(t *testing.T, authOn bool) string {
	t.Helper()
	cfg := storage.DefaultConfig()
	cfg.MaxFileSize, cfg.ChunkSize, cfg.MaxChunkSize = 1<<30, cliChunk, 64<<20
	o := apitest.LocalOptions{Config: &cfg}
	if authOn {
		o.Secret = cliJWTSecret
	}
	h, _ := apitest.NewLocal(t, o)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// cliMint returns an HS256 token for sub with role, valid for ttl (negative:
// expired); admin adds the administrator scope.
func cliMint(t *testing.T, sub, role string, admin bool, ttl time.Duration) string {
	return apitest.MintToken(cliJWTSecret, apitest.Claims{Sub: sub, Role: role, Admin: admin, Exp: ttl})
}

// withToken returns getenv with MEMENOW_TOKEN set to token.
func withToken(getenv func(string) string, token string) func(string) string {
	return func(k string) string {
		if k == "MEMENOW_TOKEN" {
			return token
		}
		return getenv(k)
	}
}

// runMain runs the whole program in-process, as main does.
func runMain(ctx context.Context, getenv func(string) string, args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(ctx, args, getenv, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// listJSON runs "list --json" and returns the uploads it printed.
func listJSON(t *testing.T, getenv func(string) string, args ...string) []map[string]any {
	t.Helper()
	code, stdout, stderr := runMain(context.Background(), getenv, append([]string{"list", "--json"}, args...)...)
	if code != cliExitOK {
		t.Fatalf("list --json %v: exit %d, %s", args, code, stderr)
	}
	var page struct {
		Uploads []map[string]any `json:"uploads"`
	}
	if err := json.Unmarshal([]byte(stdout), &page); err != nil {
		t.Fatalf("list --json printed %q: %v", stdout, err)
	}
	return page.Uploads
}

func TestListDeleteShareCommands(t *testing.T) {
	ctx := context.Background()
	server := cliAuthServer(t, true)
	anon, _ := cliEnv(t, server)
	aliceTok := cliMint(t, "alice", "creator", false, time.Hour)
	alice := withToken(anon, aliceTok)
	bob := withToken(anon, cliMint(t, "bob", "member", false, time.Hour))
	admin := withToken(anon, cliMint(t, "root", "", true, time.Hour))

	// Upload with the owner taken from the token: one private, one public.
	dir := t.TempDir()
	privPath, privData := writeRandomFile(t, dir, "private.bin", cliChunk+10)
	pubPath, _ := writeRandomFile(t, dir, "public.bin", 100)
	code, stdout, stderr := runMain(ctx, alice, "upload", "--quiet", privPath)
	if code != cliExitOK {
		t.Fatalf("upload: exit %d, %s", code, stderr)
	}
	privKey := strings.TrimSpace(stdout)
	code, stdout, stderr = runMain(ctx, alice, "upload", "--quiet", "--public", pubPath)
	if code != cliExitOK {
		t.Fatalf("upload --public: exit %d, %s", code, stderr)
	}
	pubKey := strings.TrimSpace(stdout)
	if !strings.HasPrefix(privKey, "creator/alice/") || !strings.HasPrefix(pubKey, "creator/alice/") {
		t.Fatalf("keys %q and %q, want them under creator/alice/", privKey, pubKey)
	}

	// list: a table, newest first.
	code, stdout, stderr = runMain(ctx, alice, "list")
	if code != cliExitOK {
		t.Fatalf("list: exit %d, %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "CREATED") || !strings.Contains(lines[0], "UPLOAD ID") ||
		!strings.Contains(lines[1], pubKey) || !strings.Contains(lines[2], privKey) ||
		!strings.Contains(lines[2], "completed") || !strings.Contains(lines[2], "5.0 MiB") {
		t.Errorf("list printed:\n%s", stdout)
	}
	uploads := listJSON(t, alice)
	if len(uploads) != 2 || uploads[0]["visibility"] != "public" || uploads[1]["visibility"] != "private" ||
		uploads[1]["r2_key"] != privKey {
		t.Errorf("list --json: %v", uploads)
	}
	code, stdout, stderr = runMain(ctx, alice, "list", "--limit", "1")
	if code != cliExitOK || strings.Count(stdout, "\n") != 2 || !strings.Contains(stderr, "--all") {
		t.Errorf("list --limit 1: exit %d, stdout %q, stderr %q; want one row and a hint at --all", code, stdout, stderr)
	}
	if got := listJSON(t, alice, "--limit", "1", "--all"); len(got) != 2 {
		t.Errorf("list --limit 1 --all listed %d uploads, want 2", len(got))
	}
	if got := listJSON(t, bob); len(got) != 0 {
		t.Errorf("bob lists %d uploads, want none of alice's", len(got))
	}
	if got := listJSON(t, admin, "--user", "alice", "--status", "completed"); len(got) != 2 {
		t.Errorf("admin lists %d of alice's uploads, want 2", len(got))
	}

	// share: a URL that reads the file without a token.
	code, stdout, stderr = runMain(ctx, alice, "share", privKey, "--expires", "10m", "--download")
	if code != cliExitOK || !strings.Contains(stderr, "the link works until") {
		t.Fatalf("share: exit %d, stderr %q", code, stderr)
	}
	link := strings.TrimSpace(stdout)
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, privData) {
		t.Errorf("GET of the shared link: %d, %d bytes; want 200 and the file", resp.StatusCode, len(got))
	}

	// Refusals exit 1; usage errors 2.
	tests := []struct {
		name       string
		getenv     func(string) string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{"list without a token", anon, []string{"list"}, cliExitFail, cliNeedToken + "\n"},
		{"share without a token", anon, []string{"share", privKey}, cliExitFail, cliNeedToken + "\n"},
		{"delete without a token", anon, []string{"delete", privKey}, cliExitFail, cliNeedToken + "\n"},
		{"status without a token", anon, []string{"status", "1-x"}, cliExitFail, cliNeedToken + "\n"},
		{"upload without a token", anon, []string{"upload", "--quiet", pubPath, "--user-id", "alice", "--user-role", "creator"}, cliExitFail, cliNeedToken + "\n"},
		{"download of a private file without a token", anon, []string{"download", privKey, "-o", filepath.Join(dir, "x")}, cliExitFail, "files that are not public need one"},
		{"expired token", withToken(anon, cliMint(t, "alice", "creator", false, -time.Hour)), []string{"list"}, cliExitFail, "memenow-storage: the server refused the token: token has expired"},
		{"bob shares alice's file", bob, []string{"share", privKey}, cliExitFail, "NOT_FOUND"},
		{"bob deletes alice's file", bob, []string{"delete", privKey}, cliExitFail, "NOT_FOUND"},
		{"bob lists alice's uploads", bob, []string{"list", "--user", "alice"}, cliExitFail, "FORBIDDEN"},
		{"list with an argument", alice, []string{"list", "x"}, cliExitUsage, "unexpected argument"},
		{"list with a bad limit", alice, []string{"list", "--limit", "5000"}, cliExitUsage, "--limit"},
		{"share without a key", alice, []string{"share"}, cliExitUsage, "expected one KEY"},
		{"share for no time", alice, []string{"share", privKey, "--expires", "0s"}, cliExitUsage, "--expires"},
		{"share for too long", alice, []string{"share", privKey, "--expires", "720h"}, cliExitFail, "INVALID_FIELD"},
		{"delete without a key", alice, []string{"delete"}, cliExitUsage, "expected one KEY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runMain(ctx, tt.getenv, tt.args...)
			if code != tt.wantCode || !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, tt.wantCode, tt.wantStderr)
			}
			if tt.wantCode != cliExitOK && stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
		})
	}
	// The public file needs no token.
	code, _, stderr = runMain(ctx, anon, "download", "--quiet", pubKey, "-o", filepath.Join(dir, "pub"))
	if code != cliExitOK {
		t.Errorf("anonymous download of a public file: exit %d, %s", code, stderr)
	}

	// delete: not bob's (above); alice's, twice.
	for range 2 {
		code, stdout, stderr = runMain(ctx, alice, "delete", privKey)
		if code != cliExitOK || !strings.Contains(stdout, `"status": "deleted"`) || !strings.Contains(stdout, privKey) {
			t.Fatalf("delete: exit %d, stdout %q, stderr %q", code, stdout, stderr)
		}
	}
	if got := listJSON(t, alice, "--status", "deleted"); len(got) != 1 || got[0]["r2_key"] != privKey {
		t.Errorf("deleted uploads %v, want the deleted file", got)
	}
	code, _, stderr = runMain(ctx, alice, "download", privKey, "-o", filepath.Join(dir, "gone"))
	if code != cliExitFail || !strings.Contains(stderr, "NOT_FOUND") {
		t.Errorf("download after delete: exit %d, %q", code, stderr)
	}
}

// TestTokenNeverPrinted checks that neither -h nor any message shows the token.
func TestTokenNeverPrinted(t *testing.T) {
	server := cliAuthServer(t, true)
	getenv, _ := cliEnv(t, server)
	expired := cliMint(t, "alice", "creator", false, -time.Hour)
	env := withToken(getenv, expired)
	path, _ := writeRandomFile(t, t.TempDir(), "f.bin", 10)
	runs := [][]string{
		{"list", "-h"}, {"upload", "-h"}, {"share", "-h"}, {"delete", "-h"}, {"download", "-h"}, {"status", "-h"},
		{"list"}, {"share", "a/b"}, {"delete", "a/b"}, {"status", "1-x"}, {"upload", path},
		{"list", "--token", expired}, {"list", "--bogus"},
	}
	for _, args := range runs {
		_, stdout, stderr := runMain(context.Background(), env, args...)
		if strings.Contains(stdout+stderr, expired) || strings.Contains(stdout+stderr, expired[len(expired)-20:]) {
			t.Errorf("%v printed the token:\n%s%s", args, stdout, stderr)
		}
	}
	for _, name := range []string{"list", "delete", "share"} {
		_, _, stderr := runMain(context.Background(), env, name, "-h")
		if !strings.Contains(stderr, "usage: memenow-storage "+name) || !strings.Contains(stderr, "flags:") ||
			!strings.Contains(stderr, "example:\n  memenow-storage "+name) {
			t.Errorf("%s -h lacks its synopsis, flags or example:\n%s", name, stderr)
		}
	}
}

// TestCommandsWithAuthOff checks list, delete and share without a token on
// a server that checks none, and that upload then needs --user-id.
func TestCommandsWithAuthOff(t *testing.T) {
	ctx := context.Background()
	server := cliAuthServer(t, false)
	getenv, _ := cliEnv(t, server)
	path, data := writeRandomFile(t, t.TempDir(), "open.bin", 1000)
	code, stdout, stderr := runMain(ctx, getenv, "upload", "--quiet", path, "--user-id", "carol", "--user-role", "member")
	if code != cliExitOK {
		t.Fatalf("upload: exit %d, %s", code, stderr)
	}
	key := strings.TrimSpace(stdout)
	if got := listJSON(t, getenv); len(got) != 1 || got[0]["r2_key"] != key {
		t.Errorf("list: %v", got)
	}
	code, stdout, stderr = runMain(ctx, getenv, "share", key)
	if code != cliExitOK {
		t.Fatalf("share: exit %d, %s", code, stderr)
	}
	resp, err := http.Get(strings.TrimSpace(stdout))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(got, data) {
		t.Errorf("shared link gave %d bytes, want the file", len(got))
	}
	if code, _, stderr = runMain(ctx, getenv, "delete", key); code != cliExitOK {
		t.Errorf("delete: exit %d, %s", code, stderr)
	}
	// A token given to a server without auth does not name the owner.
	code, _, stderr = runMain(ctx, withToken(getenv, "some-token"), "upload", "--quiet", path)
	if code != cliExitUsage || !strings.Contains(stderr, "does not check tokens") {
		t.Errorf("upload with a token but no --user-id on an auth-off server: exit %d, %q", code, stderr)
	}
}
