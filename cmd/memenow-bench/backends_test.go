package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// envOf returns a getenv that knows only vars.
func envOf(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestCheck(t *testing.T) {
	const endpoint, bucket = "MEMENOW_TEST_S3_ENDPOINT", "MEMENOW_TEST_S3_BUCKET"
	tests := []struct {
		name     string
		env      map[string]string
		wantErr  error // nil, errSkipped, or errRequired for any other error
		wantText string
	}{
		{"all set", map[string]string{endpoint: "http://127.0.0.1:9000", bucket: "b"}, nil, ""},
		{"none set", nil, errSkipped, "needs MEMENOW_TEST_S3_ENDPOINT, MEMENOW_TEST_S3_BUCKET (start one with: eval"},
		{"one missing", map[string]string{endpoint: "http://x"}, errSkipped, "needs MEMENOW_TEST_S3_BUCKET ("},
		{"required", map[string]string{"MEMENOW_REQUIRE_S3": "1"}, errRequired, "(MEMENOW_REQUIRE_S3=1)"},
		{"required but only 0", map[string]string{"MEMENOW_REQUIRE_S3": "0"}, errSkipped, "needs"},
		{"other server required", map[string]string{"MEMENOW_REQUIRE_POSTGRES": "1"}, errSkipped, "needs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log bytes.Buffer
			b := &bench{getenv: envOf(tt.env), log: &log}
			err := b.check("s3", s3Need())
			switch {
			case tt.wantErr == errRequired:
				if err == nil || errors.Is(err, errSkipped) {
					t.Fatalf("check = %v, want an error that is not a skip", err)
				}
				if !strings.Contains(err.Error(), tt.wantText) || len(b.skipped) != 0 {
					t.Errorf("check = %v, skipped %v; want %q and nothing skipped", err, b.skipped, tt.wantText)
				}
			case !errors.Is(err, tt.wantErr):
				t.Fatalf("check = %v, want %v", err, tt.wantErr)
			case tt.wantErr == nil:
				if len(b.skipped) != 0 || log.Len() != 0 {
					t.Errorf("nothing should be skipped: %v, log %q", b.skipped, log.String())
				}
			default:
				if len(b.skipped) != 1 || b.skipped[0].Section != "s3" || !strings.Contains(b.skipped[0].Reason, tt.wantText) {
					t.Errorf("skipped = %v, want s3 with %q", b.skipped, tt.wantText)
				}
				if !strings.HasPrefix(log.String(), "   skipped: needs ") {
					t.Errorf("log = %q", log.String())
				}
			}
		})
	}
}

// errRequired stands for "an error other than errSkipped" in TestCheck.
var errRequired = errors.New("required")

func TestPostgresNeed(t *testing.T) {
	n := postgresNeed()
	if got := n.unmet(envOf(map[string]string{"MEMENOW_TEST_POSTGRES_URL": "postgres://x"})); got != "" {
		t.Errorf("unmet with the URL set = %q", got)
	}
	if got := n.unmet(envOf(nil)); !strings.Contains(got, "MEMENOW_TEST_POSTGRES_URL") || !strings.Contains(got, ".ci/postgres.sh start") {
		t.Errorf("unmet = %q", got)
	}
	if n.require != "MEMENOW_REQUIRE_POSTGRES" {
		t.Errorf("require = %q", n.require)
	}
}

func TestInstanceFor(t *testing.T) {
	tests := []struct {
		g, k int
		want [3]int // init, chunk, complete
	}{
		{0, 1, [3]int{0, 0, 0}},
		{7, 1, [3]int{0, 0, 0}},
		{0, 3, [3]int{0, 1, 2}},
		{1, 3, [3]int{1, 2, 0}},
		{2, 3, [3]int{2, 0, 1}},
		{5, 3, [3]int{2, 0, 1}},
		{3, 2, [3]int{1, 0, 1}},
	}
	for _, tt := range tests {
		var got [3]int
		for step := range got {
			got[step] = instanceFor(tt.g, step, tt.k)
		}
		if got != tt.want {
			t.Errorf("upload %d of %d servers goes to %v, want %v", tt.g, tt.k, got, tt.want)
		}
	}
	// Over k consecutive uploads, every server gets as many of each request.
	counts := make([][3]int, 3)
	for g := range 300 {
		for step := range 3 {
			counts[instanceFor(g, step, 3)][step]++
		}
	}
	for i, c := range counts {
		if c != [3]int{100, 100, 100} {
			t.Errorf("server %d got %v requests (init, chunk, complete)", i, c)
		}
	}
}

func TestReportWithSkipped(t *testing.T) {
	rep := &Report{Sections: []string{"memory"}, Results: []Result{info("memory", "peak", 20, "MiB")},
		Skipped: []Skip{{Section: "s3", Reason: "needs MEMENOW_TEST_S3_ENDPOINT (start one with: x | y)"},
			{Section: "scaleout: 3×PostgreSQL+S3", Reason: "needs MEMENOW_TEST_S3_BUCKET"}},
		Errors: []string{}}
	dir := t.TempDir()
	var out bytes.Buffer
	if err := rep.write(&out, dir); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "SKIPPED: s3: needs MEMENOW_TEST_S3_ENDPOINT") {
		t.Errorf("table lacks the skipped section:\n%s", out.String())
	}
	md, err := os.ReadFile(filepath.Join(dir, "results.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## Skipped (not run)", `- s3: needs MEMENOW_TEST_S3_ENDPOINT (start one with: x \| y)`, "- scaleout: 3×PostgreSQL+S3: needs"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("results.md lacks %q:\n%s", want, md)
		}
	}
	js, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Skipped) != 2 || back.Skipped[0].Section != "s3" || back.Skipped[1].Reason != "needs MEMENOW_TEST_S3_BUCKET" {
		t.Errorf("results.json skipped = %+v", back.Skipped)
	}
}

// TestRunSectionsSkips checks that a section whose server is not named is
// recorded as skipped, not run and not an error; and an error when required.
func TestRunSectionsSkips(t *testing.T) {
	for _, require := range []string{"", "1"} {
		b := &bench{opts: options{only: []string{"s3", "scaleout"}}, log: io.Discard,
			getenv: envOf(map[string]string{"MEMENOW_REQUIRE_POSTGRES": require})}
		rep := b.runSections(t.Context())
		if len(rep.Sections) != 0 || len(rep.Results) != 0 {
			t.Errorf("require %q: sections %v ran", require, rep.Sections)
		}
		wantSkipped, wantErrors := 2, 0
		if require == "1" {
			wantSkipped, wantErrors = 1, 1
		}
		if len(rep.Skipped) != wantSkipped || len(rep.Errors) != wantErrors {
			t.Errorf("require %q: skipped %v, errors %v; want %d and %d", require, rep.Skipped, rep.Errors, wantSkipped, wantErrors)
		}
	}
}

func TestCompared(t *testing.T) {
	res := compared("x", 100*mib, 2e9, 1e9, "n", 0.8)
	if len(res) != 3 || res[0].Value != 50 || res[1].Value != 100 || res[2].Value != 0.5 {
		t.Fatalf("compared = %+v", res)
	}
	if res[2].Met == nil || *res[2].Met || res[0].Note != "n" {
		t.Errorf("ratio %+v should miss its target of 0.8", res[2])
	}
	if res := compared("x", mib, 1e9, 1e9, "", 0); res[2].Met != nil {
		t.Errorf("without a target the ratio has Met %v", *res[2].Met)
	}
}
