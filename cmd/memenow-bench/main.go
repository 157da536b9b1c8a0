// Command memenow-bench measures the memenow-storage server: it builds the
// real binary, starts it on 127.0.0.1 with a fresh data folder for each
// section, drives its HTTP API, and compares it with a bare in-process Go
// handler that does the least the job needs (stream the body into a
// preallocated file at its offset, fsync, answer).
//
//	go run ./cmd/memenow-bench                     # the full run, a few minutes
//	go run ./cmd/memenow-bench --quick             # smoke test, under a minute
//	go run ./cmd/memenow-bench --only startup,memory --out /tmp/bench
//
// Sections: throughput, overhead, concurrency, startup, memory and complete
// on the default stores (SQLite and local disk); auth, what verifying a
// user's token (HS256, and RS256 and ES256 from a JWKS served by the
// benchmark) adds to a status request; slowloris, a normal upload's
// throughput while thousands of slow connections (chunk bodies trickled a
// byte every few seconds, from several loopback addresses) are held, and
// how long the server takes to cut them; ratelimit, what the rate limiter
// adds to init and status (limits set never to refuse); s3, our server on an S3
// server against the same multipart calls made straight to it, and its
// memory; scaleout, the concurrency workload on one server on SQLite, on
// three on PostgreSQL sharing a data folder and, with S3 named too, on three
// on PostgreSQL and S3.
//
// s3 needs MEMENOW_TEST_S3_ENDPOINT and MEMENOW_TEST_S3_BUCKET (with the AWS_*
// credentials; eval "$(.ci/s3-server.sh start /tmp/s3)" sets them all), and
// scaleout needs MEMENOW_TEST_POSTGRES_URL (eval "$(.ci/postgres.sh start
// /tmp/pg)"); it creates a database of its own there and drops it at the end,
// as s3 removes what it wrote under its own key prefix. Without them the
// section is reported as skipped, unless MEMENOW_REQUIRE_S3=1 (resp.
// MEMENOW_REQUIRE_POSTGRES=1) makes that an error.
//
// It prints a table and writes results.json and results.md to --out. Targets
// are printed next to the results and never asserted: the exit status is 0
// when every request succeeded and 1 when any failed, or a required server
// was missing (2 for bad flags).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// options are the command's flags.
type options struct {
	quick      bool
	only       []string // section names; empty means all
	out        string
	serverBin  string // a prebuilt server binary; empty means build one
	cpuProfile string // folder for the server's CPU profiles; empty means none
	tmp        string // parent of the temporary folders
}

// parseOptions parses the command line.
func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	var only string
	fs := flag.NewFlagSet("memenow-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&o.quick, "quick", false, "small sizes, whole run under a minute (CI smoke test; timings are never asserted)")
	fs.StringVar(&only, "only", "", "comma-separated sections to run: "+strings.Join(sectionNames(), ",")+
		" (s3 needs MEMENOW_TEST_S3_ENDPOINT and MEMENOW_TEST_S3_BUCKET, scaleout MEMENOW_TEST_POSTGRES_URL; skipped without them)")
	fs.StringVar(&o.out, "out", "bench-results", "folder for results.json and results.md")
	fs.StringVar(&o.serverBin, "server-bin", "", "use this memenow-storage binary instead of building ./cmd/memenow-storage")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "build the server with a CPU-profiling hook and write one profile per section to this folder")
	fs.StringVar(&o.tmp, "tmp", "", "parent folder of the temporary data folders (default: the system temp folder)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if only != "" {
		for _, name := range strings.Split(only, ",") {
			name = strings.TrimSpace(name)
			if !slices.Contains(sectionNames(), name) {
				return o, fmt.Errorf("unknown section %q; sections: %s", name, strings.Join(sectionNames(), ","))
			}
			o.only = append(o.only, name)
		}
	}
	if o.cpuProfile != "" && o.serverBin != "" {
		return o, errors.New("--cpuprofile builds its own server; it cannot be used with --server-bin")
	}
	return o, nil
}

// run runs the benchmark and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseOptions(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "memenow-bench: %v\n", err)
		return 2
	}
	limit := 45 * time.Minute
	if o.quick {
		limit = 5 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()

	b, err := newBench(ctx, o, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "memenow-bench: %v\n", err)
		return 1
	}
	defer b.close()

	rep := b.runSections(ctx)
	if err := rep.write(stdout, o.out); err != nil {
		fmt.Fprintf(stderr, "memenow-bench: writing results: %v\n", err)
		return 1
	}
	if len(rep.Errors) > 0 {
		fmt.Fprintf(stderr, "memenow-bench: %d section(s) had errors:\n", len(rep.Errors))
		for _, e := range rep.Errors {
			fmt.Fprintf(stderr, "  %s\n", e)
		}
		return 1
	}
	return 0
}
