package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// sizes are the parameters of a run.
type sizes struct {
	tpFile     int64   // throughput: file size
	tpChunks   []int64 // throughput: chunk sizes
	tpStreams  []int   // throughput: parallel streams
	tpRepeat   int     // throughput: runs per configuration; the best counts
	ovChunks   int     // overhead: 5 MiB chunks sent to each server
	ovOps      int     // overhead: init/status/complete samples
	concurrent int     // concurrency: uploads at once
	startRuns  int     // start-up: runs per data folder
	populated  int     // start-up: completed uploads in the populated folder
	memStreams int     // memory: concurrent chunk PUTs
	memChunk   int64   // memory: their chunk size
	cpFile     int64   // complete: file size
	cpChunk    int64   // complete: chunk size
	s3Chunk    int64   // s3: throughput chunk size (tpFile, 4 streams)
	s3Mem      int     // s3: concurrent chunk PUTs for the memory peak
	s3MemChunk int64   // s3: their chunk size
	authOps    int     // auth: status requests of each kind
}

const (
	kib          = 1 << 10
	mib          = 1 << 20
	defaultChunk = 157286400 // the server's default, 150 MiB
)

func fullSizes() sizes {
	return sizes{tpFile: 1 << 30, tpChunks: []int64{64 * mib, defaultChunk}, tpStreams: []int{1, 4, 8}, tpRepeat: 3,
		ovChunks: 200, ovOps: 500, concurrent: 1000, startRuns: 7, populated: 100_000,
		memStreams: 16, memChunk: defaultChunk, cpFile: 4 << 30, cpChunk: defaultChunk,
		s3Chunk: 64 * mib, s3Mem: 8, s3MemChunk: 64 * mib, authOps: 5000}
}

func quickSizes() sizes {
	return sizes{tpFile: 48 * mib, tpChunks: []int64{5 * mib, 8 * mib}, tpStreams: []int{1, 4, 8}, tpRepeat: 1,
		ovChunks: 10, ovOps: 30, concurrent: 200, startRuns: 3, populated: 5_000,
		memStreams: 16, memChunk: 8 * mib, cpFile: 256 * mib, cpChunk: 16 * mib,
		s3Chunk: 8 * mib, s3Mem: 8, s3MemChunk: 8 * mib, authOps: 300}
}

// bench is one run's shared state.
type bench struct {
	opts    options
	sz      sizes
	log     io.Writer
	getenv  func(string) string // where the outside servers are named
	skipped []Skip              // what was not run for want of a server
	tmp     string              // removed by close
	bin     string
	buf     []byte // random bytes; every chunk body is a prefix of it
	tr      *http.Transport
	hc      *http.Client
	names   atomic.Int64
}

// newBench prepares a run: the temporary folder, the server binary and the
// random buffer.
func newBench(ctx context.Context, o options, log io.Writer) (*bench, error) {
	b := &bench{opts: o, sz: fullSizes(), log: log, getenv: os.Getenv}
	if o.quick {
		b.sz = quickSizes()
	}
	tmp, err := os.MkdirTemp(o.tmp, "memenow-bench-")
	if err != nil {
		return nil, err
	}
	b.tmp = tmp
	b.bin = o.serverBin
	if b.bin == "" {
		fmt.Fprintln(log, "building ./cmd/memenow-storage …")
		if b.bin, err = buildServer(ctx, tmp, o.cpuProfile != ""); err != nil {
			b.close()
			return nil, err
		}
	}
	if o.cpuProfile != "" {
		if err := os.MkdirAll(o.cpuProfile, 0o755); err != nil {
			b.close()
			return nil, err
		}
	}
	largest := slices.Max(append(slices.Clone(b.sz.tpChunks), 5*mib, b.sz.memChunk, b.sz.cpChunk, b.sz.s3Chunk, b.sz.s3MemChunk))
	b.buf = make([]byte, largest)
	rng := rand.NewChaCha8([32]byte{'m', 'e', 'm', 'e', 'n', 'o', 'w'})
	_, _ = rng.Read(b.buf)
	b.tr = newTransport(64)
	b.hc = &http.Client{Transport: b.tr}
	return b, nil
}

// close removes the temporary folder.
func (b *bench) close() {
	if b.tr != nil {
		b.tr.CloseIdleConnections()
	}
	if b.tmp != "" {
		if err := os.RemoveAll(b.tmp); err != nil {
			fmt.Fprintf(b.log, "memenow-bench: removing %s: %v\n", b.tmp, err)
		}
	}
}

// name returns a new unique file name.
func (b *bench) name(prefix string) string {
	return fmt.Sprintf("%s-%d.bin", prefix, b.names.Add(1))
}

// section is one measurement.
type section struct {
	name  string
	run   func(b *bench, ctx context.Context) ([]Result, error)
	needs []need // outside servers it cannot run without
}

func sections() []section {
	return []section{
		{"throughput", (*bench).throughput, nil},
		{"overhead", (*bench).overhead, nil},
		{"concurrency", (*bench).concurrency, nil},
		{"startup", (*bench).startup, nil},
		{"memory", (*bench).memory, nil},
		{"complete", (*bench).complete, nil},
		{"auth", (*bench).authCost, nil},
		{"ratelimit", (*bench).rateLimitCost, nil},
		{"slowloris", (*bench).slowloris, nil},
		{"s3", (*bench).s3Section, []need{s3Need()}},
		{"scaleout", (*bench).scaleout, []need{postgresNeed()}},
	}
}

func sectionNames() []string {
	var names []string
	for _, s := range sections() {
		names = append(names, s.name)
	}
	return names
}

// runSections runs the chosen sections in order and collects their results.
func (b *bench) runSections(ctx context.Context) *Report {
	rep := &Report{Machine: describeMachine(b.tmp), Quick: b.opts.quick, Started: time.Now().UTC(), Errors: []string{}}
	rep.Machine.ServerBuild = "go build ./cmd/memenow-storage"
	if b.opts.serverBin != "" {
		rep.Machine.ServerBuild = b.opts.serverBin
	}
	for _, s := range sections() {
		if len(b.opts.only) > 0 && !slices.Contains(b.opts.only, s.name) {
			continue
		}
		if ctx.Err() != nil {
			rep.Errors = append(rep.Errors, fmt.Sprintf("%s: not run: %v", s.name, ctx.Err()))
			continue
		}
		fmt.Fprintf(b.log, "== %s\n", s.name)
		if err := b.check(s.name, s.needs...); err != nil {
			if !errors.Is(err, errSkipped) {
				rep.Errors = append(rep.Errors, fmt.Sprintf("%s: %v", s.name, err))
				fmt.Fprintf(b.log, "   ERROR: %v\n", err)
			}
			continue
		}
		start := time.Now()
		res, err := s.run(b, ctx)
		for i := range res {
			res[i].Section = s.name
			fmt.Fprintf(b.log, "   %-46s %10s %s\n", res[i].Metric, formatValue(res[i].Value), res[i].Unit)
		}
		rep.Results = append(rep.Results, res...)
		rep.Sections = append(rep.Sections, s.name)
		if err != nil {
			rep.Errors = append(rep.Errors, fmt.Sprintf("%s: %v", s.name, err))
			fmt.Fprintf(b.log, "   ERROR: %v\n", err)
		}
		fmt.Fprintf(b.log, "   (%.1f s)\n", time.Since(start).Seconds())
	}
	rep.Skipped = append([]Skip{}, b.skipped...)
	rep.Seconds = time.Since(rep.Started).Seconds()
	rep.Machine.LoadEnd = loadAverage()
	return rep
}

// server starts a memenow-storage server on a fresh data folder for section
// and returns it with a client; stop it with b.stopServer.
func (b *bench) server(ctx context.Context, section string, extra ...string) (*serverProc, *apiClient, error) {
	ps, err := b.cluster(ctx, section, 1, extra...)
	if err != nil {
		return nil, nil, err
	}
	return ps[0], &apiClient{base: ps[0].base, hc: b.hc}, nil
}

// cluster starts k memenow-storage servers with the flags extra, sharing one
// fresh data folder, and waits until they all listen; stop them with
// b.stopCluster.
func (b *bench) cluster(ctx context.Context, section string, k int, extra ...string) ([]*serverProc, error) {
	dir, err := os.MkdirTemp(b.tmp, section+"-")
	if err != nil {
		return nil, err
	}
	var ps []*serverProc
	for i := range k {
		name := section
		if k > 1 {
			name = fmt.Sprintf("%s-%d", section, i)
		}
		p, err := b.startIn(ctx, dir, name, extra...)
		if err != nil {
			b.stopCluster(ps, &err)
			os.RemoveAll(dir)
			return nil, err
		}
		ps = append(ps, p)
	}
	return ps, nil
}

// startIn starts a server on dir and waits until it listens; name names its
// CPU profile.
func (b *bench) startIn(ctx context.Context, dir, name string, extra ...string) (*serverProc, error) {
	profile := ""
	if b.opts.cpuProfile != "" {
		abs, err := filepath.Abs(b.opts.cpuProfile)
		if err != nil {
			return nil, err
		}
		profile = filepath.Join(abs, name+".pprof")
	}
	p, err := startServerProc(b.bin, "127.0.0.1:0", dir, profile, extra...)
	if err != nil {
		return nil, err
	}
	if err := p.waitReady(ctx); err != nil {
		_ = p.stop()
		return nil, err
	}
	return p, nil
}

// stopServer stops p as stopCluster does: its large files go, its small ones
// stay until the run ends.
func (b *bench) stopServer(p *serverProc, errp *error) { b.stopCluster([]*serverProc{p}, errp) }

// stopCluster stops the servers ps, then frees the disk their data folders
// take; the first bad exit goes to *errp unless it holds an error already.
//
// The small files stay until close removes the whole run's folder: ext4
// without a journal skips, when it creates a file, every inode freed in the
// last minutes, so deleting one section's thousand uploads would slow the
// next section's file creation (seen with perf as ext4_create →
// recently_deleted).
func (b *bench) stopCluster(ps []*serverProc, errp *error) {
	b.tr.CloseIdleConnections()
	var errs []error
	for _, p := range ps {
		errs = append(errs, p.stop())
	}
	for _, p := range ps {
		errs = append(errs, removeLargeFiles(p.dataDir, mib))
	}
	if err := errors.Join(errs...); err != nil && *errp == nil {
		*errp = err
	}
}

// upload sends a whole file through u: init, chunks over streams parallel
// connections, complete. It returns the time from init to complete's answer.
func (b *bench) upload(ctx context.Context, u uploader, name string, size, chunk int64, streams int) (time.Duration, error) {
	start := time.Now()
	id, err := u.Init(ctx, name, size, chunk)
	if err != nil {
		return 0, err
	}
	if err := b.putAll(ctx, u, id, size, chunk, streams); err != nil {
		return 0, err
	}
	if err := u.Complete(ctx, id); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// putAll sends every chunk of upload id over streams parallel workers.
func (b *bench) putAll(ctx context.Context, u uploader, id string, size, chunk int64, streams int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	n := int(chunkCount(size, chunk))
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for range min(streams, n) {
		wg.Go(func() {
			for i := range next {
				if err := u.Put(ctx, id, i, b.buf[:chunkLen(size, chunk, i)]); err != nil {
					once.Do(func() { first = fmt.Errorf("chunk %d: %w", i, err); cancel() })
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}
