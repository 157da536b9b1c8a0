package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHelp checks that "help COMMAND" and "COMMAND -h" print the command's
// own help, with its synopsis, flags and an example, for every command,
// and that only the commands with something to silence list --quiet.
func TestHelp(t *testing.T) {
	getenv := func(string) string { return "" }
	withQuiet := map[string]bool{"upload": true, "download": true, "list": true, "share": true}
	for name := range commands() {
		t.Run(name, func(t *testing.T) {
			for _, args := range [][]string{{"help", name}, {name, "-h"}, {name, "--help"}} {
				code, stdout, stderr := runMain(context.Background(), getenv, args...)
				if code != exitOK || stdout != "" {
					t.Errorf("%q: exit %d, stdout %q; want 0 and the help on stderr", args, code, stdout)
				}
				if !strings.HasPrefix(stderr, "usage: memenow-storage "+name) || !strings.Contains(stderr, "\nflags:\n") ||
					!strings.Contains(stderr, "\nexample:\n  ") || strings.Contains(stderr, "Usage of") {
					t.Errorf("%q lacks the synopsis, flags or example of %s:\n%s", args, name, stderr)
				}
				if got := strings.Contains(stderr, "  -quiet\n"); got != withQuiet[name] {
					t.Errorf("%q lists --quiet: %v, want %v", args, got, withQuiet[name])
				}
			}
		})
	}
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"help"}, exitOK, "usage: memenow-storage COMMAND"},
		{[]string{"help", "version"}, exitOK, "usage: memenow-storage version"},
		{[]string{"help", "nope"}, exitUsage, `unknown command "nope"`},
		{[]string{"help", "upload", "download"}, exitUsage, "usage: memenow-storage help [COMMAND]"},
		{nil, exitUsage, "usage: memenow-storage COMMAND"},
	}
	for _, tt := range tests {
		code, _, stderr := runMain(context.Background(), getenv, tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.want) {
			t.Errorf("%q: exit %d, stderr %q; want %d and %q", tt.args, code, stderr, tt.code, tt.want)
		}
	}
}

// TestMigrateDefaults checks that migrate without --database migrates
// serve's default database, saying so, and follows --data-dir,
// MEMENOW_DATA_DIR and the config file as serve does.
func TestMigrateDefaults(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	config := filepath.Join(dir, "serve.json")
	if err := os.WriteFile(config, []byte(`{"data_dir": "from-file", "chunk_size": 157286400}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		env        map[string]string
		args       []string
		wantFile   string
		wantStderr string
	}{
		{"default", nil, nil, "data/memenow.db", `migrating serve's default, sqlite:data/memenow.db (data dir "data" from default)`},
		{"--data-dir", nil, []string{"--data-dir", "d1"}, "d1/memenow.db", "sqlite:d1/memenow.db"},
		{"MEMENOW_DATA_DIR", map[string]string{"MEMENOW_DATA_DIR": "d2"}, nil, "d2/memenow.db", "from MEMENOW_DATA_DIR"},
		{"config file", map[string]string{"MEMENOW_CONFIG": config}, nil, "from-file/memenow.db", "from config file key data_dir"},
		{"MEMENOW_DATABASE", map[string]string{"MEMENOW_DATABASE": "sqlite:d3/x.db"}, nil, "d3/x.db", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv := func(k string) string { return tt.env[k] }
			code, stdout, stderr := runMain(context.Background(), getenv, append([]string{"migrate"}, tt.args...)...)
			if code != exitOK || !strings.Contains(stdout, "migrated sqlite:"+tt.wantFile) || !strings.Contains(stderr, tt.wantStderr) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 0, %s and %q", code, stdout, stderr, tt.wantFile, tt.wantStderr)
			}
			if tt.wantStderr == "" && stderr != "" {
				t.Errorf("stderr %q, want nothing when the database is named", stderr)
			}
			if _, err := os.Stat(tt.wantFile); err != nil {
				t.Errorf("no database at %s: %v", tt.wantFile, err)
			}
		})
	}
	for _, args := range [][]string{{"migrate", "extra"}, {"migrate", "--database", "mysql://x"}, {"migrate", "--bogus"}} {
		if code, _, _ := runMain(context.Background(), func(string) string { return "" }, args...); code != exitUsage {
			t.Errorf("%q: exit %d, want %d", args, code, exitUsage)
		}
	}
}
