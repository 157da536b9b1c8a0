package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// slowParams are the sizes of the slowloris section.
type slowParams struct {
	conns    int           // slow connections held
	perAddr  int           // of them per client address (under the server's per-IP cap of 256)
	file     int64         // the normal upload
	chunk    int64         // its chunk size
	streams  int           // its parallel streams
	repeat   int           // runs per side; the best counts
	trickle  time.Duration // a slow connection sends one byte this often
	grace    time.Duration // the server's --min-body-rate-grace and --body-idle-timeout
	slowsMax int           // slow chunks per upload (each on a chunk of its own)
}

func slowSizes(quick bool) slowParams {
	if quick {
		return slowParams{conns: 200, perAddr: 200, file: 32 * mib, chunk: 8 * mib, streams: 4, repeat: 3,
			trickle: time.Second, grace: 5 * time.Second, slowsMax: 1000}
	}
	return slowParams{conns: 5000, perAddr: 200, file: 512 * mib, chunk: 64 * mib, streams: 4, repeat: 3,
		trickle: 5 * time.Second, grace: 30 * time.Second, slowsMax: 1000}
}

// slowlorisTarget is the least share of its unloaded throughput a normal
// upload keeps while the slow connections are held.
const slowlorisTarget = 0.8

// slowloris measures a normal upload's throughput on an unloaded server
// and while many slow connections are held, each a chunk PUT that
// trickles one byte every few seconds (the attack of issue 13), from
// several loopback addresses (127.0.0.2, …: each under the per-address
// cap, as from a botnet). It then waits for the server to cut them all
// (--min-body-rate after its grace) and reports /health's latency, the
// server's memory and descriptors during the flood.
func (b *bench) slowloris(ctx context.Context) (res []Result, err error) {
	p := slowSizes(b.opts.quick)
	limit, err := raiseOwnFileLimit()
	if err != nil {
		return nil, fmt.Errorf("raising the open-file limit: %w", err)
	}
	// The server inherits the hard limit: it may hold each slow connection's
	// socket and upload file ((limit-128)/2 connections); the bench holds the
	// client sides.
	if fit := int(limit/2) - 200; p.conns > fit {
		res = append(res, info("", "slow connections cut down to fit the open-file limit "+strconv.FormatUint(limit, 10), float64(fit), "conns"))
		p.conns = fit
	}
	if p.conns < 1 {
		return res, fmt.Errorf("the open-file limit (%d) leaves no room for slow connections", limit)
	}
	ctx, cancel := context.WithTimeout(ctx, p.grace+3*time.Minute)
	defer cancel()

	spread := canBind("127.0.0.2")
	extra := []string{"--max-file-size", "64GiB", "--min-body-rate-grace", p.grace.String(), "--body-idle-timeout", p.grace.String()}
	if !spread {
		extra = append(extra, "--max-conns-per-ip", "0") // every slow connection from 127.0.0.1
	}
	srv, ours, err := b.server(ctx, "slowloris", extra...)
	if err != nil {
		return res, err
	}
	defer b.stopServer(srv, &err)
	free := func() error { return removeContents(filepath.Join(srv.dataDir, "objects")) }

	best := func() (time.Duration, error) {
		var top time.Duration
		for i := range p.repeat {
			d, err := b.upload(ctx, ours, b.name("sl"), p.file, p.chunk, p.streams)
			if err != nil {
				return 0, err
			}
			if err := free(); err != nil {
				return 0, err
			}
			if i == 0 || d < top {
				top = d
			}
		}
		return top, nil
	}
	// A first upload warms the disk and the server up and is not counted;
	// the unloaded side is measured before the flood and again after the
	// server cut it, and the loaded one is compared with the mean of the two
	// times (against drift: writes into never-used disk blocks are slower
	// here, so the first runs alone would flatter the loaded ones).
	if _, err := b.upload(ctx, ours, b.name("sl"), p.file, p.chunk, p.streams); err != nil {
		return res, fmt.Errorf("warm-up: %w", err)
	}
	if err := free(); err != nil {
		return res, err
	}
	unloaded, err := best()
	if err != nil {
		return res, fmt.Errorf("unloaded: %w", err)
	}
	rssBefore, _ := memoryBytes(srv.pid(), "VmRSS")
	fdsBefore := countFDs(srv.pid())

	// The flood: one upload per slowsMax slow chunks, each chunk PUT on a
	// connection of its own.
	addr := srv.base[len("http://"):]
	var ids []string
	for left := p.conns; left > 0; left -= p.slowsMax {
		n := min(left, p.slowsMax)
		id, err := ours.Init(ctx, b.name("slow"), int64(n)*5*mib, 5*mib)
		if err != nil {
			return res, err
		}
		ids = append(ids, id)
	}
	f := &flood{trickle: p.trickle, ended: make(chan time.Time, p.conns)}
	defer f.close()
	floodStart := time.Now()
	if err := f.open(ctx, addr, p, ids, spread); err != nil {
		return res, err
	}
	// Wait until the server holds them: a socket and the upload file each.
	held := waitFDs(ctx, srv.pid(), fdsBefore+2*p.conns, 30*time.Second)
	setup := time.Since(floodStart)

	var healthTimes []time.Duration
	for range 20 {
		start := time.Now()
		if err := ours.Health(ctx); err != nil {
			return res, fmt.Errorf("/health during the flood: %w", err)
		}
		healthTimes = append(healthTimes, time.Since(start))
	}
	rssFlood, _ := memoryBytes(srv.pid(), "VmRSS")
	loaded, err := best()
	if err != nil {
		return res, fmt.Errorf("during the flood: %w", err)
	}
	stillHeld := int(f.live.Load())

	// The server cuts them once the grace has passed.
	cut, last := 0, time.Time{}
	wait := time.NewTimer(p.grace + 30*time.Second)
	defer wait.Stop()
collect:
	for cut < p.conns {
		select {
		case t := <-f.ended:
			cut++
			last = t
		case <-wait.C:
			break collect
		case <-ctx.Done():
			break collect
		}
	}

	after, err := best()
	if err != nil {
		return res, fmt.Errorf("unloaded, after the flood: %w", err)
	}
	label := fmt.Sprintf("%s upload, %s chunks, %s", sizeName(p.file), sizeName(p.chunk), plural(p.streams, "stream"))
	note := fmt.Sprintf("best of %d", p.repeat)
	res = append(res,
		Result{Metric: label + ": unloaded, before the flood", Value: mibPerSec(p.file, unloaded), Unit: "MiB/s", Note: note},
		Result{Metric: label + ": unloaded, after it was cut", Value: mibPerSec(p.file, after), Unit: "MiB/s", Note: note},
		Result{Metric: fmt.Sprintf("%s: with %d slow connections", label, p.conns), Value: mibPerSec(p.file, loaded), Unit: "MiB/s", Note: note},
		atLeast("", "with the slow connections / unloaded (mean of before and after)", (unloaded.Seconds()+after.Seconds())/2/loaded.Seconds(), "×", slowlorisTarget),
		info("", "slow connections still held after the loaded runs", float64(stillHeld), "conns"),
		info("", "time to open them and see them held", setup.Seconds(), "s"),
		info("", "/health during the flood: p50", ms(percentile(healthTimes, 50)), "ms"),
		info("", "/health during the flood: max", ms(percentile(healthTimes, 100)), "ms"),
		info("", "server RSS before the flood", float64(rssBefore)/mib, "MiB"),
		info("", "server RSS during the flood", float64(rssFlood)/mib, "MiB"),
		info("", "server descriptors during the flood", float64(held), "fds"),
		info("", fmt.Sprintf("slow connections cut by the server (grace %s)", p.grace), float64(cut), "conns"),
		info("", "slow connections closed without an answer", float64(f.refused.Load()), "conns"))
	if cut > 0 {
		res = append(res, info("", "last cut, after the flood began", last.Sub(floodStart).Seconds(), "s"))
	}
	if cut < p.conns {
		return res, fmt.Errorf("the server cut %d of %d slow connections within %s of its grace", cut, p.conns, 30*time.Second)
	}
	return res, nil
}

// flood is a set of slow connections.
type flood struct {
	trickle time.Duration
	ended   chan time.Time // one per connection the server answered or closed
	live    atomic.Int64   // connections not ended yet
	refused atomic.Int64   // connections closed without an answer (refused at accept, or reset)
	mu      sync.Mutex
	conns   []net.Conn
	wg      sync.WaitGroup
}

// open dials p.conns connections, p.perAddr from each of 127.0.0.2, …
// (from 127.0.0.1 when spread is false), sends each the head of a chunk
// PUT of 5 MiB and its first byte, and keeps each trickling.
func (f *flood) open(ctx context.Context, addr string, p slowParams, ids []string, spread bool) error {
	jobs := make(chan int)
	errc := make(chan error, 1)
	var dialers sync.WaitGroup
	for range 64 {
		dialers.Go(func() {
			for i := range jobs {
				from := "127.0.0.1"
				if spread {
					from = "127.0.0." + strconv.Itoa(2+i/p.perAddr)
				}
				d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 10 * time.Second}
				c, err := d.DialContext(ctx, "tcp", addr)
				if err == nil {
					head := fmt.Sprintf("PUT /api/upload/chunk HTTP/1.1\r\nHost: %s\r\nX-Upload-Id: %s\r\nX-Chunk-Index: %d\r\nContent-Length: %d\r\n\r\nx",
						addr, ids[i/p.slowsMax], i%p.slowsMax, 5*mib)
					_, err = io.WriteString(c, head)
				}
				if err != nil {
					select {
					case errc <- fmt.Errorf("slow connection %d from %s: %w", i, from, err):
					default:
					}
					if c != nil {
						c.Close()
					}
					continue
				}
				f.mu.Lock()
				f.conns = append(f.conns, c)
				f.mu.Unlock()
				f.live.Add(1)
				f.wg.Go(func() { f.hold(ctx, c) })
			}
		})
	}
	for i := range p.conns {
		jobs <- i
	}
	close(jobs)
	dialers.Wait()
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

// hold trickles a byte every f.trickle until the server answers or closes
// the connection (or ctx ends), and reports when.
func (f *flood) hold(ctx context.Context, c net.Conn) {
	var one [1]byte
	for ctx.Err() == nil {
		c.SetReadDeadline(time.Now().Add(f.trickle))
		n, err := c.Read(one[:])
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			if _, err := c.Write([]byte{'x'}); err == nil {
				continue
			}
			n = 0 // a write error: closed under us
		}
		if n == 0 && err != nil && ctx.Err() == nil {
			f.refused.Add(1) // closed without an answer
		}
		break
	}
	f.live.Add(-1)
	if ctx.Err() == nil {
		f.ended <- time.Now()
	}
}

// close closes every connection and waits for their goroutines.
func (f *flood) close() {
	f.mu.Lock()
	for _, c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

// raiseOwnFileLimit raises this process's soft limit of open files to its
// hard limit and returns it.
func raiseOwnFileLimit() (uint64, error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, err
	}
	if r.Cur < r.Max {
		r.Cur = r.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
			return 0, err
		}
	}
	return r.Cur, nil
}

// canBind reports whether a connection can be made from the loopback
// address ip (Linux routes all of 127/8 to the loopback interface).
func canBind(ip string) bool {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return false
	}
	defer ln.Close()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// countFDs returns how many descriptors process pid has open (0 when it
// cannot tell).
func countFDs(pid int) int {
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0
	}
	return len(entries)
}

// waitFDs waits until process pid has at least want descriptors open, or
// for at most limit, and returns the last count.
func waitFDs(ctx context.Context, pid, want int, limit time.Duration) int {
	deadline := time.Now().Add(limit)
	n := countFDs(pid)
	for n < want && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
		n = countFDs(pid)
	}
	return n
}
