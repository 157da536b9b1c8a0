package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	d := func(ns ...int) []time.Duration {
		var out []time.Duration
		for _, n := range ns {
			out = append(out, time.Duration(n))
		}
		return out
	}
	tests := []struct {
		name string
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", d(7), 99, 7},
		{"median of odd, unsorted", d(5, 1, 3), 50, 3},
		{"median of even is the lower", d(4, 1, 3, 2), 50, 2},
		{"p99 of 100 is the 99th", d(seq(100)...), 99, 99},
		{"p99 of 1000 is the 990th", d(seq(1000)...), 99, 990},
		{"p100 is the max", d(3, 9, 1), 100, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.in, tt.p); got != tt.want {
				t.Errorf("percentile(%v, %v) = %v, want %v", tt.in, tt.p, got, tt.want)
			}
		})
	}
}

// seq returns 1..n.
func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i + 1
	}
	return out
}

func TestParseKB(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"  34816 kB", 34816 << 10, false},
		{"0 kB", 0, false},
		{"12 MB", 0, true},
		{"", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseKB(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseKB(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestFieldOfProcStatus(t *testing.T) {
	status := "Name:\tmemenow-storage\nVmPeak:\t 1255664 kB\nVmHWM:\t   34816 kB\nVmRSS:\t   30000 kB\n"
	if got := fieldOf(strings.NewReader(status), "VmHWM"); got != "34816 kB" {
		t.Errorf("fieldOf VmHWM = %q", got)
	}
	if got := fieldOf(strings.NewReader(status), "VmSwap"); got != "" {
		t.Errorf("fieldOf VmSwap = %q, want empty", got)
	}
}

func TestAddrPattern(t *testing.T) {
	line := `time=2026-11-28T14:05:21.838Z level=INFO msg="memenow-storage listening" addr=http://127.0.0.1:35753 metadata=sqlite:/tmp/x/memenow.db storage=disk:/tmp/x`
	m := addrPattern.FindStringSubmatch(line)
	if m == nil || m[1] != "http://127.0.0.1:35753" {
		t.Fatalf("address of %q = %v", line, m)
	}
	if addrPattern.MatchString(`level=INFO msg=stopped`) {
		t.Error("a line without an address matched")
	}
}

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		only    []string
		wantErr bool
	}{
		{"defaults", nil, nil, false},
		{"only two", []string{"--only", "startup, memory"}, []string{"startup", "memory"}, false},
		{"unknown section", []string{"--only", "startup,speed"}, nil, true},
		{"stray argument", []string{"now"}, nil, true},
		{"profile with a prebuilt server", []string{"--cpuprofile", "p", "--server-bin", "x"}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseOptions(tt.args, io.Discard)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseOptions(%q) error = %v, want error %v", tt.args, err, tt.wantErr)
			}
			if err == nil && strings.Join(o.only, ",") != strings.Join(tt.only, ",") {
				t.Errorf("only = %q, want %q", o.only, tt.only)
			}
		})
	}
	if _, err := parseOptions([]string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: error %v, want flag.ErrHelp", err)
	}
}

func TestReportWrite(t *testing.T) {
	rep := &Report{Quick: true, Results: []Result{
		atMost("startup", "median", 60, "ms", 50),
		atLeast("throughput", "ours/bare", 0.95, "×", 0.9),
		info("memory", "a|b", 1.5, "MiB"),
	}, Errors: []string{"concurrency: 3 of 1000 uploads failed"}}
	dir := t.TempDir()
	var out bytes.Buffer
	if err := rep.write(&out, dir); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "results.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| startup | median | 60 | ms | ≤ 50 ms | MISSED |", "| ≥ 0.900 × | yes |", `a\|b`, "3 of 1000 uploads failed"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("results.md lacks %q:\n%s", want, md)
		}
	}
	if !strings.Contains(out.String(), "MISSED") {
		t.Errorf("table lacks MISSED:\n%s", out.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "results.json")); err != nil {
		t.Error(err)
	}
}

// TestBareUpload checks that the bare handler, driven by the same upload
// code as our server, writes every chunk at its offset.
func TestBareUpload(t *testing.T) {
	dir := t.TempDir()
	bare, err := startBare(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()
	tr := newTransport(4)
	defer tr.CloseIdleConnections()
	b := &bench{buf: []byte("0123456789abcdef"), hc: &http.Client{Transport: tr}}
	c := &bareClient{api: apiClient{base: bare.base, hc: b.hc}}
	// 3 chunks of 6 bytes and a last one of 2: each is a prefix of buf.
	if _, err := b.upload(context.Background(), c, "x", 20, 6, 3); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "1"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "012345012345012345" + "01"; string(got) != want {
		t.Errorf("file = %q, want %q", got, want)
	}
	if err := c.Put(context.Background(), "nope", 0, b.buf[:1]); err == nil {
		t.Error("a chunk of an unknown upload was accepted")
	}
	// Status and complete of a one-chunk upload (chunk 0 means one chunk).
	id, err := c.Init(context.Background(), "", 5, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Put(context.Background(), id, 0, b.buf[:5]); err != nil {
		t.Fatal(err)
	}
	if err := c.Status(context.Background(), id); err != nil {
		t.Errorf("status: %v", err)
	}
	if err := c.Complete(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(dir, id)); err != nil || string(got) != "01234" {
		t.Errorf("one-chunk upload = %q, %v", got, err)
	}
	if err := c.Status(context.Background(), "nope"); err == nil {
		t.Error("the status of an unknown upload was answered")
	}
}

func TestRemoveLargeFiles(t *testing.T) {
	dir := t.TempDir()
	files := map[string]int{"big": 2048, "exact": 1024, "small": 1023, "sub/big": 4096, "sub/deeper/small": 10, "sub/deeper/big": 1024}
	for name, size := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := removeLargeFiles(dir, 1024); err != nil {
		t.Fatal(err)
	}
	for name, size := range files {
		_, err := os.Stat(filepath.Join(dir, filepath.FromSlash(name)))
		if gone := errors.Is(err, fs.ErrNotExist); gone != (size >= 1024) {
			t.Errorf("%s (%d bytes): stat error %v", name, size, err)
		}
	}
	if err := removeLargeFiles(filepath.Join(dir, "missing"), 1); err == nil {
		t.Error("a missing folder should be an error")
	}
}
