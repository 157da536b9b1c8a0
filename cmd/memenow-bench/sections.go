package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	storage "github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/sqlite"
)

// sizeName prints a byte count in MiB or KiB.
func sizeName(n int64) string {
	switch {
	case n%mib == 0:
		return fmt.Sprintf("%d MiB", n/mib)
	case n%kib == 0:
		return fmt.Sprintf("%d KiB", n/kib)
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/mib)
}

// removeLargeFiles removes the regular files of at least min bytes in the
// tree under dir, and nothing else.
func removeLargeFiles(dir string, min int64) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil || info.Size() < min {
			return err
		}
		return os.Remove(path)
	})
}

// removeContents removes everything inside dir.
func removeContents(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// plural returns "1 stream", "4 streams".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// mibPerSec is size bytes over d in MiB/s.
func mibPerSec(size int64, d time.Duration) float64 { return float64(size) / mib / d.Seconds() }

// throughput uploads one file through our API and through the bare handler
// with each chunk size and number of streams, and compares them.
func (b *bench) throughput(ctx context.Context) (res []Result, err error) {
	srv, ours, err := b.server(ctx, "throughput")
	if err != nil {
		return nil, err
	}
	defer b.stopServer(srv, &err)
	bare, err := startBare(filepath.Join(b.tmp, "bare-throughput"))
	if err != nil {
		return nil, err
	}
	defer bare.Close()
	bc := &bareClient{api: apiClient{base: bare.base, hc: b.hc}}

	size := b.sz.tpFile
	run := 0
	note := fmt.Sprintf("best of %d, end to end incl. init and complete", b.sz.tpRepeat)
	// Free the disk between runs: the server never reads these files again.
	free := func() error {
		return errors.Join(removeContents(bare.dir), removeContents(filepath.Join(srv.dataDir, "objects")))
	}
	for _, chunk := range b.sz.tpChunks {
		for _, streams := range b.sz.tpStreams {
			label := fmt.Sprintf("%s file, %s chunks, %s", sizeName(size), sizeName(chunk), plural(streams, "stream"))
			od, bd, err := b.race(ctx, ours, bc, size, chunk, streams, run, free)
			if err != nil {
				return res, fmt.Errorf("%s: %w", label, err)
			}
			run++
			target := 0.0
			if streams == 4 {
				target = 0.9
			}
			res = append(res, compared(label, size, od, bd, note, target)...)
		}
	}
	return res, nil
}

// race uploads a file of size bytes through ours and through bare
// b.sz.tpRepeat times each, alternating who goes first (against drift; run
// numbers the comparison), calls free after each pair, and returns the best
// time of each.
func (b *bench) race(ctx context.Context, ours, bare uploader, size, chunk int64, streams, run int, free func() error) (od, bd time.Duration, err error) {
	ups := [2]uploader{ours, bare}
	for rep := range b.sz.tpRepeat {
		order := [2]int{0, 1}
		if (run+rep)%2 == 1 {
			order = [2]int{1, 0}
		}
		var d [2]time.Duration
		for _, i := range order {
			if d[i], err = b.upload(ctx, ups[i], b.name("tp"), size, chunk, streams); err != nil {
				return 0, 0, err
			}
		}
		if err := free(); err != nil {
			return 0, 0, err
		}
		if rep == 0 || d[0] < od { // keep the best of the repeats
			od = d[0]
		}
		if rep == 0 || d[1] < bd {
			bd = d[1]
		}
	}
	return od, bd, nil
}

// compared returns the rows of one comparison of upload times: ours and
// bare in MiB/s, and ours/bare, whose target is at least target when it is
// above 0.
func compared(label string, size int64, od, bd time.Duration, note string, target float64) []Result {
	ratio := info("", label+": ours/bare", bd.Seconds()/od.Seconds(), "×")
	if target > 0 {
		ratio = atLeast("", label+": ours/bare", ratio.Value, "×", target)
	}
	return []Result{{Metric: label + ": ours", Value: mibPerSec(size, od), Unit: "MiB/s", Note: note},
		info("", label+": bare", mibPerSec(size, bd), "MiB/s"), ratio}
}

// overhead measures what our chunk request costs over the bare handler's
// for the same 5 MiB, interleaved, and the latency of init, status and
// complete alone.
func (b *bench) overhead(ctx context.Context) (res []Result, err error) {
	srv, ours, err := b.server(ctx, "overhead")
	if err != nil {
		return nil, err
	}
	defer b.stopServer(srv, &err)
	bare, err := startBare(filepath.Join(b.tmp, "bare-overhead"))
	if err != nil {
		return nil, err
	}
	defer bare.Close()
	bc := &bareClient{api: apiClient{base: bare.base, hc: b.hc}}

	const chunk = 5 * mib
	n := b.sz.ovChunks
	size := int64(n) * chunk
	oid, err := ours.Init(ctx, b.name("ov"), size, chunk)
	if err != nil {
		return nil, err
	}
	bid, err := bc.Init(ctx, "", size, chunk)
	if err != nil {
		return nil, err
	}
	timed := func(u uploader, id string, i int) (time.Duration, error) {
		start := time.Now()
		err := u.Put(ctx, id, i, b.buf[:chunk])
		return time.Since(start), err
	}
	var diffs, od, bd []time.Duration
	for i := range n {
		var o, bb time.Duration
		var err1, err2 error
		if i%2 == 0 {
			o, err1 = timed(ours, oid, i)
			bb, err2 = timed(bc, bid, i)
		} else {
			bb, err2 = timed(bc, bid, i)
			o, err1 = timed(ours, oid, i)
		}
		if err1 != nil || err2 != nil {
			return res, fmt.Errorf("chunk %d: ours: %v, bare: %v", i, err1, err2)
		}
		diffs, od, bd = append(diffs, o-bb), append(od, o), append(bd, bb)
	}
	if err := ours.Complete(ctx, oid); err != nil {
		return res, err
	}
	label := fmt.Sprintf("%d×5 MiB chunks, sequential", n)
	res = append(res,
		info("", label+": ours p50", ms(percentile(od, 50)), "ms"),
		info("", label+": bare p50", ms(percentile(bd, 50)), "ms"),
		info("", "chunk overhead (ours−bare) p50", ms(percentile(diffs, 50)), "ms"),
		atMost("", "chunk overhead (ours−bare) p99", ms(percentile(diffs, 99)), "ms", 10))

	// The same small uploads through ours and the bare handler, interleaved.
	oursOps := &opSeries{u: ours, status: func(ctx context.Context, id string) error {
		_, err := ours.Status(ctx, id)
		return err
	}}
	bareOps := &opSeries{u: bc, status: bc.Status}
	for i := range b.sz.ovOps {
		first, second := oursOps, bareOps
		if i%2 == 1 {
			first, second = second, first
		}
		if err := b.timeOps(ctx, first); err != nil {
			return res, err
		}
		if err := b.timeOps(ctx, second); err != nil {
			return res, err
		}
	}
	for _, op := range []struct {
		name       string
		ours, bare []time.Duration
	}{{"init", oursOps.init, bareOps.init}, {"status", oursOps.st, bareOps.st},
		{"complete (1 KiB upload)", oursOps.complete, bareOps.complete}} {
		res = append(res, info("", op.name+" p50", ms(percentile(op.ours, 50)), "ms"),
			atMost("", op.name+" p99", ms(percentile(op.ours, 99)), "ms", 5),
			info("", op.name+": bare p50", ms(percentile(op.bare, 50)), "ms"),
			info("", op.name+": bare p99", ms(percentile(op.bare, 99)), "ms"))
	}
	return res, nil
}

// opSeries is the latency of every init, status and complete of a series
// of one-chunk uploads of 1 KiB through u.
type opSeries struct {
	u                  uploader
	status             func(ctx context.Context, id string) error
	init, st, complete []time.Duration
}

// timeOps runs one upload of s: init, the chunk, status and complete, and
// records how long init, status and complete took.
func (b *bench) timeOps(ctx context.Context, s *opSeries) error {
	start := time.Now()
	id, err := s.u.Init(ctx, b.name("op"), kib, 0)
	s.init = append(s.init, time.Since(start))
	if err != nil {
		return err
	}
	if err := s.u.Put(ctx, id, 0, b.buf[:kib]); err != nil {
		return err
	}
	start = time.Now()
	err = s.status(ctx, id)
	s.st = append(s.st, time.Since(start))
	if err != nil {
		return err
	}
	start = time.Now()
	err = s.u.Complete(ctx, id)
	s.complete = append(s.complete, time.Since(start))
	return err
}

// concurrency runs many small uploads at once, each on its own connection.
func (b *bench) concurrency(ctx context.Context) (res []Result, err error) {
	srv, _, err := b.server(ctx, "concurrency", oneClientAsMany...)
	if err != nil {
		return nil, err
	}
	defer b.stopServer(srv, &err)
	l := b.concurrentUploads(ctx, []*serverProc{srv}, "c")
	return l.results(fmt.Sprintf("%d uploads at once", l.n), "server peak RSS"), l.err()
}

// load is the outcome of concurrentUploads.
type load struct {
	n        int             // uploads
	total    time.Duration   // from the start to the last answer
	reqs     []time.Duration // every request's latency, 3 per upload
	uploads  []time.Duration // every upload's, init to complete's answer
	failed   int64
	firstErr error
	peakRSS  int64 // the largest VmHWM of the servers, in bytes
	rssErr   error
}

// instanceFor returns which of k servers gets request step (0 init, 1
// chunk, 2 complete) of upload g: round robin, each request on the next.
func instanceFor(g, step, k int) int { return (g + step) % k }

// concurrentUploads runs b.sz.concurrent uploads at once (init, one 1 KiB
// chunk, complete), each on its own connection, spread over the servers by
// instanceFor; file names start with prefix.
func (b *bench) concurrentUploads(ctx context.Context, servers []*serverProc, prefix string) *load {
	n := b.sz.concurrent
	tr := newTransport(n)
	defer tr.CloseIdleConnections()
	apis := make([]*apiClient, len(servers))
	for i, p := range servers {
		apis[i] = &apiClient{base: p.base, hc: &http.Client{Transport: tr}}
	}
	l := &load{n: n, reqs: make([]time.Duration, 3*n), uploads: make([]time.Duration, n)}
	var mu sync.Mutex
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if l.failed++; l.firstErr == nil {
			l.firstErr = err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	startGate := make(chan struct{})
	var wg sync.WaitGroup
	for g := range n {
		api := func(step int) *apiClient { return apis[instanceFor(g, step, len(apis))] }
		wg.Go(func() {
			<-startGate
			begin := time.Now()
			if err := b.smallUpload(ctx, api, fmt.Sprintf("%s-%d.bin", prefix, g), l.reqs[3*g:3*g+3]); err != nil {
				fail(err)
			}
			l.uploads[g] = time.Since(begin)
		})
	}
	time.Sleep(50 * time.Millisecond) // let the goroutines reach the gate
	start := time.Now()
	close(startGate)
	wg.Wait()
	l.total = time.Since(start)
	for _, p := range servers {
		hwm, err := memoryBytes(p.pid(), "VmHWM")
		l.peakRSS, l.rssErr = max(l.peakRSS, hwm), errors.Join(l.rssErr, err)
	}
	return l
}

// smallUpload sends init, one 1 KiB chunk and complete, request step to
// api(step), and writes each request's latency into laps.
func (b *bench) smallUpload(ctx context.Context, api func(step int) *apiClient, name string, laps []time.Duration) error {
	t := time.Now()
	lap := func(step int) {
		now := time.Now()
		laps[step], t = now.Sub(t), now
	}
	id, err := api(0).Init(ctx, name, kib, 0)
	lap(0)
	if err != nil {
		return err
	}
	err = api(1).Put(ctx, id, 0, b.buf[:kib])
	lap(1)
	if err != nil {
		return err
	}
	err = api(2).Complete(ctx, id)
	lap(2)
	return err
}

// results returns the measurements of l, each metric named after label;
// rssName names the peak RSS.
func (l *load) results(label, rssName string) []Result {
	res := []Result{
		info("", label+": total time", l.total.Seconds(), "s"),
		info("", label+": requests/s", l.reqPerSec(), "req/s"),
		info("", label+": request p50", ms(percentile(l.reqs, 50)), "ms"),
		atMost("", label+": request p99", ms(percentile(l.reqs, 99)), "ms", 1000),
		info("", label+": request max", ms(slices.Max(l.reqs)), "ms"),
		info("", label+": upload (3 requests) p99", ms(percentile(l.uploads, 99)), "ms"),
		atMost("", label+": errors", float64(l.failed), "", 0)}
	if l.rssErr == nil {
		res = append(res, atMost("", label+": "+rssName, float64(l.peakRSS)/mib, "MiB", 200))
	}
	return res
}

// reqPerSec is the rate of requests over the whole run.
func (l *load) reqPerSec() float64 { return float64(len(l.reqs)) / l.total.Seconds() }

// err tells whether any upload failed, or the peak RSS could not be read.
func (l *load) err() error {
	if l.failed > 0 {
		return fmt.Errorf("%d of %d uploads failed; first: %v", l.failed, l.n, l.firstErr)
	}
	return l.rssErr
}

// startup measures process start to the first 200 from /health, on an empty
// data folder and on one with many completed uploads.
func (b *bench) startup(ctx context.Context) (res []Result, err error) {
	measure := func(dir string, fresh bool) ([]time.Duration, error) {
		var ds []time.Duration
		for range b.sz.startRuns {
			d := dir
			if fresh {
				var err error
				if d, err = os.MkdirTemp(b.tmp, "startup-empty-"); err != nil {
					return ds, err
				}
			}
			t, err := b.startOnce(ctx, d)
			if fresh {
				os.RemoveAll(d)
			}
			if err != nil {
				return ds, err
			}
			ds = append(ds, t)
		}
		return ds, nil
	}
	report := func(label string, ds []time.Duration) {
		res = append(res, atMost("", label+": median", ms(percentile(ds, 50)), "ms", 50),
			info("", label+": min", ms(slices.Min(ds)), "ms"),
			info("", label+": max", ms(slices.Max(ds)), "ms"))
	}
	ds, err := measure("", true)
	if err != nil {
		return res, err
	}
	report(fmt.Sprintf("empty data dir, %d runs", len(ds)), ds)

	dir, err := os.MkdirTemp(b.tmp, "startup-populated-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	begin := time.Now()
	probe, err := populate(ctx, filepath.Join(dir, "memenow.db"), b.sz.populated)
	if err != nil {
		return res, fmt.Errorf("populating: %w", err)
	}
	fmt.Fprintf(b.log, "   populated %d uploads in %.1f s\n", b.sz.populated, time.Since(begin).Seconds())
	if err := b.checkPopulated(ctx, dir, probe); err != nil {
		return res, err
	}
	ds, err = measure(dir, false)
	if err != nil {
		return res, err
	}
	report(fmt.Sprintf("%d completed uploads, %d runs", b.sz.populated, len(ds)), ds)
	res[len(res)-3].Note = "rows inserted with the server's own schema (sqlite.Open migrations)"
	return res, nil
}

// startOnce starts the server on dir at a known port and returns the time
// from starting the process to its first 200 from /health.
func (b *bench) startOnce(ctx context.Context, dir string) (time.Duration, error) {
	port, err := freePort()
	if err != nil {
		return 0, err
	}
	tr := newTransport(1)
	defer tr.CloseIdleConnections()
	api := &apiClient{base: fmt.Sprintf("http://127.0.0.1:%d", port), hc: &http.Client{Transport: tr}}
	start := time.Now()
	p, err := startServerProc(b.bin, fmt.Sprintf("127.0.0.1:%d", port), dir, "")
	if err != nil {
		return 0, err
	}
	var took time.Duration
	for deadline := start.Add(20 * time.Second); ; {
		actx, cancel := context.WithTimeout(ctx, time.Second)
		err = api.Health(actx)
		cancel()
		if err == nil {
			took = time.Since(start)
			break
		}
		select {
		case <-p.exited:
			return 0, fmt.Errorf("server exited before /health answered (%v); log:\n%s", p.waitErr, p.tail.String())
		default:
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			_ = p.stop()
			return 0, fmt.Errorf("/health not 200 within 20 s: %v", err)
		}
		time.Sleep(200 * time.Microsecond)
	}
	return took, p.stop()
}

// checkPopulated starts the server on dir once and checks that it sees the
// populated upload probe as completed.
func (b *bench) checkPopulated(ctx context.Context, dir, probe string) error {
	p, err := startServerProc(b.bin, "127.0.0.1:0", dir, "")
	if err != nil {
		return err
	}
	defer p.stop()
	if err := p.waitReady(ctx); err != nil {
		return err
	}
	st, err := (&apiClient{base: p.base, hc: b.hc}).Status(ctx, probe)
	if err == nil && st != string(storage.StatusCompleted) {
		err = fmt.Errorf("populated upload %s is %q, want completed", probe, st)
	}
	b.tr.CloseIdleConnections()
	return err
}

// populate creates the server's database at path with its own migrations
// (sqlite.Open) and inserts n completed one-chunk uploads of 1 KiB; it
// returns the id of one of them.
func populate(ctx context.Context, path string, n int) (string, error) {
	st, err := sqlite.Open(path)
	if err != nil {
		return "", err
	}
	if err := st.Close(); err != nil {
		return "", err
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)")
	if err != nil {
		return "", err
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return "", err
	}
	defer tx.Rollback()
	up, err := tx.PrepareContext(ctx, `INSERT INTO uploads (id, file_name, total_size, user_id, user_role,
		content_type, chunk_size, total_chunks, status, r2_key, store_handle, chunks_uploaded,
		bytes_uploaded, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return "", err
	}
	ch, err := tx.PrepareContext(ctx, `INSERT INTO chunks (upload_id, idx, size, etag) VALUES (?, ?, ?, ?)`)
	if err != nil {
		return "", err
	}
	const ct = "application/octet-stream"
	base := time.Now().Add(-time.Duration(n) * time.Second).UTC()
	var probe string
	for i := range n {
		at := base.Add(time.Duration(i) * time.Second)
		id := fmt.Sprintf("%d-%s", at.UnixMilli(), uuid.NewString())
		name := fmt.Sprintf("populated-%d.bin", i)
		key := storage.ObjectKey(storage.RoleCreator, "bench", at, ct, name)
		if _, err := up.ExecContext(ctx, id, name, kib, "bench", string(storage.RoleCreator), ct,
			defaultChunk, 1, string(storage.StatusCompleted), key, id, 1, kib, at.UnixMilli(), at.UnixMilli()); err != nil {
			return "", err
		}
		if _, err := ch.ExecContext(ctx, id, 0, kib, fmt.Sprintf("crc32c-%08x", i)); err != nil {
			return "", err
		}
		if i == n/2 {
			probe = id
		}
	}
	if err := tx.Commit(); err != nil {
		return "", err
	}
	_, err = db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
	return probe, err
}

// memory measures the server's peak RSS while chunks stream in at once.
func (b *bench) memory(ctx context.Context) (res []Result, err error) {
	srv, ours, err := b.server(ctx, "memory")
	if err != nil {
		return nil, err
	}
	defer b.stopServer(srv, &err)
	return b.chunksAtOnce(ctx, srv, ours, b.sz.memStreams, b.sz.memChunk)
}

// chunksAtOnce starts n one-chunk uploads of chunk bytes on srv, sends
// their chunks all at once, and reports srv's peak RSS before and after.
func (b *bench) chunksAtOnce(ctx context.Context, srv *serverProc, api *apiClient, n int, chunk int64) (res []Result, err error) {
	ids := make([]string, n)
	for i := range ids {
		if ids[i], err = api.Init(ctx, b.name("mem"), chunk, chunk); err != nil {
			return nil, err
		}
	}
	before, err := memoryBytes(srv.pid(), "VmHWM")
	if err != nil {
		return nil, err
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i, id := range ids {
		wg.Go(func() { errs[i] = api.Put(ctx, id, 0, b.buf[:chunk]) })
	}
	wg.Wait()
	took := time.Since(start)
	peak, merr := memoryBytes(srv.pid(), "VmHWM")
	label := fmt.Sprintf("%d×%s chunks at once", n, sizeName(chunk))
	res = append(res,
		info("", "peak RSS before the chunks", float64(before)/mib, "MiB"),
		atMost("", label+": server peak RSS", float64(peak)/mib, "MiB", 100),
		info("", label+": aggregate", mibPerSec(int64(n)*chunk, took), "MiB/s"))
	for i, e := range errs {
		if e != nil {
			return res, fmt.Errorf("chunk of upload %d: %w", i, e)
		}
	}
	return res, merr
}

// complete measures the complete request of a large upload whose chunks
// are all stored.
func (b *bench) complete(ctx context.Context) (res []Result, err error) {
	srv, ours, err := b.server(ctx, "complete")
	if err != nil {
		return nil, err
	}
	defer b.stopServer(srv, &err)
	size, chunk := b.sz.cpFile, b.sz.cpChunk
	id, err := ours.Init(ctx, b.name("big"), size, chunk)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := b.putAll(ctx, ours, id, size, chunk, 4); err != nil {
		return nil, err
	}
	sent := time.Since(start)
	start = time.Now()
	if err := ours.Complete(ctx, id); err != nil {
		return nil, err
	}
	took := time.Since(start)
	st, err := ours.Status(ctx, id)
	if err == nil && st != string(storage.StatusCompleted) {
		err = fmt.Errorf("after complete the upload is %q", st)
	}
	label := fmt.Sprintf("%s upload (%d×%s chunks)", sizeName(size), chunkCount(size, chunk), sizeName(chunk))
	res = append(res, info("", label+": chunks sent, 4 streams", mibPerSec(size, sent), "MiB/s"),
		atMost("", label+": complete request", ms(took), "ms", 50))
	return res, err
}
