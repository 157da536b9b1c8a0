package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/memenow/memenow-storage/apitest"
	"github.com/memenow/memenow-storage/internal/netguard"
)

func TestNetLimitSettings(t *testing.T) {
	var out strings.Builder
	cfg, err := loadServeConfig(nil, func(string) string { return "" }, &out)
	if err != nil {
		t.Fatal(err)
	}
	want := netLimits{ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
		BodyIdleTimeout: 30 * time.Second, MinBodyRate: 16 << 10, MinBodyRateGrace: 30 * time.Second,
		WriteIdleTimeout: time.Minute, MaxConns: 0, MaxConnsPerIP: 256}
	if cfg.netLimits != want {
		t.Errorf("defaults %+v, want %+v", cfg.netLimits, want)
	}
	cfg, err = loadServeConfig([]string{"--body-idle-timeout", "0", "--min-body-rate", "0", "--write-idle-timeout", "5m",
		"--max-conns", "500", "--max-conns-per-ip", "0", "--max-header-bytes", "16KiB"},
		func(k string) string { return map[string]string{"MEMENOW_MIN_BODY_RATE_GRACE": "1m"}[k] }, &out)
	if err != nil {
		t.Fatal(err)
	}
	want = netLimits{ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10,
		WriteIdleTimeout: 5 * time.Minute, MinBodyRateGrace: time.Minute, MaxConns: 500}
	if cfg.netLimits != want {
		t.Errorf("set %+v, want %+v", cfg.netLimits, want)
	}
	if l := requestLimits(cfg); l.BodyIdleTimeout != 0 || l.MinBodyRate != 0 || l.WriteIdleTimeout != 5*time.Minute || l.MaxRanges != 64 || l.FramingProblem == nil {
		t.Errorf("request limits %+v", l)
	}
	for _, bad := range [][]string{
		{"--max-conns", "0"}, {"--max-conns", "many"}, {"--max-conns-per-ip", "-1"},
		{"--body-idle-timeout", "-1s"}, {"--min-body-rate-grace", "0"}, {"--read-header-timeout", "0"},
		{"--idle-timeout", "soon"}, {"--max-header-bytes", "1KiB"}, {"--min-body-rate", "fast"},
	} {
		if _, err := loadServeConfig(bad, func(string) string { return "" }, &out); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
}

// TestMaxConnsOverFileLimit checks that serve refuses a cap the
// descriptor limit cannot hold.
func TestMaxConnsOverFileLimit(t *testing.T) {
	limit, err := netguard.RaiseFileLimit()
	if err != nil || limit == 0 || limit > 1<<30 {
		t.Skipf("descriptor limit %d (%v)", limit, err)
	}
	var stderr strings.Builder
	code := run(t.Context(), []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--max-conns", fmt.Sprint(limit)},
		func(string) string { return "" }, nil, io.Discard, &stderr)
	if code == 0 || !strings.Contains(stderr.String(), "--max-conns") {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
}

// dialFrom connects to addr from a loopback address (all of 127/8 is the
// loopback interface on Linux), skipping the test where it cannot be bound.
func dialFrom(t *testing.T, from, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		if from != "127.0.0.1" && errors.Is(err, syscall.EADDRNOTAVAIL) {
			t.Skipf("cannot connect from %s: %v", from, err)
		}
		t.Fatalf("dial from %s: %v", from, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// slowConn is one connection of a slow-body flood.
type slowConn struct {
	c    net.Conn
	stop chan struct{}
	done chan slowResult
}

// slowResult is how a slow connection ended: refused before any byte
// (EOF or reset without a response), or answered.
type slowResult struct {
	refused bool
	status  int
	code    string
	at      time.Time
	err     error
}

// startSlow sends head and one byte from address from, then a byte every
// 100 ms (10 bytes/s) until the server answers or closes.
func startSlow(t *testing.T, from, addr, head string) *slowConn {
	s := &slowConn{c: dialFrom(t, from, addr), stop: make(chan struct{}), done: make(chan slowResult, 1)}
	io.WriteString(s.c, head+"x")
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-tick.C:
				if _, err := s.c.Write([]byte{'x'}); err != nil {
					return
				}
			}
		}
	}()
	go func() {
		defer close(s.stop)
		s.c.SetReadDeadline(time.Now().Add(20 * time.Second))
		br := bufio.NewReader(s.c)
		if _, err := br.Peek(1); err != nil {
			s.done <- slowResult{refused: errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET), err: err, at: time.Now()}
			return
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			s.done <- slowResult{err: err, at: time.Now()}
			return
		}
		var body struct {
			Error struct{ Code string } `json:"error"`
		}
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		s.done <- slowResult{status: resp.StatusCode, code: body.Error.Code, at: time.Now()}
	}()
	return s
}

// chunkHead is the head of a PUT of chunk index of upload id with a 5 MiB
// body.
func chunkHead(id string, index int) string {
	return fmt.Sprintf("PUT /api/upload/chunk HTTP/1.1\r\nHost: test\r\nX-Upload-Id: %s\r\nX-Chunk-Index: %d\r\nContent-Length: %d\r\n\r\n", id, index, apitest.ChunkSize)
}

// tally waits for every connection's end and counts the refused ones and
// those cut with 400 INCOMPLETE_BODY; anything else fails the test.
func tally(t *testing.T, conns []*slowConn) (refused, cut int, firstAnswer time.Time) {
	t.Helper()
	for i, s := range conns {
		select {
		case r := <-s.done:
			switch {
			case r.refused:
				refused++
			case r.status == http.StatusBadRequest && r.code == "INCOMPLETE_BODY":
				cut++
				if firstAnswer.IsZero() || r.at.Before(firstAnswer) {
					firstAnswer = r.at
				}
			default:
				t.Errorf("slow connection %d ended with %+v", i, r)
			}
		case <-time.After(25 * time.Second):
			t.Fatalf("slow connection %d never ended", i)
		}
	}
	return refused, cut, firstAnswer
}

// TestSlowBodyFlood floods a server run through run() with slow chunk
// bodies: from one address, the per-address cap refuses all but 40 at
// accept while /health answers and a normal upload goes through, and the
// 40 are cut by the minimum rate, as is a chunk trickled by the real
// client, whose re-send then succeeds at once; from several addresses the
// global cap refuses new connections, /health included, until the cut
// frees the slots.
func TestSlowBodyFlood(t *testing.T) {
	const grace = 3 * time.Second
	base, stop := startRun(t, []string{"--data-dir", t.TempDir(), "--shutdown-timeout", "2s",
		"--max-conns", "60", "--max-conns-per-ip", "40",
		"--body-idle-timeout", "5s", "--min-body-rate", "1KiB", "--min-body-rate-grace", grace.String()}, nil)
	stopped := false
	defer func() {
		if !stopped {
			stop()
		}
	}()
	addr := strings.TrimPrefix(base, "http://")
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	at := &apitest.T{T: t, Target: apitest.Target{BaseURL: base, MaxFileSize: 10 << 30, Client: &http.Client{Transport: tr, Timeout: 10 * time.Second}}}

	// Phase 1: 300 slow chunks from 127.0.0.2, each on a chunk of its own.
	const flood = 300
	target := at.Init("target.bin", "", make([]byte, flood*apitest.ChunkSize), apitest.NewUserID())
	trickled := at.Init("trickled.bin", "", apitest.RandomBytes(1000, 7), apitest.NewUserID())
	tr.CloseIdleConnections() // idle keep-alive connections count too
	var conns []*slowConn
	for i := range flood {
		conns = append(conns, startSlow(t, "127.0.0.2", addr, chunkHead(target.ID, i)))
	}
	mine := startSlow(t, "127.0.0.1", addr, fmt.Sprintf("PUT /api/upload/chunk HTTP/1.1\r\nHost: test\r\nX-Upload-Id: %s\r\nX-Chunk-Index: 0\r\nContent-Length: 1000\r\n\r\n", trickled.ID))

	at.WantOK(at.Do("GET", "/health", nil, nil))
	normal := at.Init("normal.bin", "", apitest.RandomBytes(apitest.ChunkSize+1000, 8), apitest.NewUserID())
	key := at.UploadAll(normal)
	answered := time.Now()
	tr.CloseIdleConnections()

	refused, cut, first := tally(t, conns)
	if refused != flood-40 || cut != 40 {
		t.Errorf("from one address: %d refused at accept and %d cut, want %d and 40", refused, cut, flood-40)
	}
	if first.Before(answered) {
		t.Errorf("a slow body was cut (%s) before /health and the normal upload were done (%s): the test proves nothing", first, answered)
	}
	r := <-mine.done
	if r.status != http.StatusBadRequest || r.code != "INCOMPLETE_BODY" {
		t.Fatalf("trickled chunk ended with %+v", r)
	}
	at.SendChunk(trickled, 0) // its lock is free: 200, not 423
	if got := at.Do("GET", apitest.FilePath(key), nil, nil); string(got.Body) != string(normal.Data) {
		t.Errorf("the normal upload's file differs (%d bytes)", len(got.Body))
	}

	// Phase 2: 80 slow chunks from two more addresses fill the global cap
	// of 60; /health is refused at accept until the cut frees slots.
	tr.CloseIdleConnections()
	conns = conns[:0]
	for i := range 80 {
		from := []string{"127.0.0.3", "127.0.0.4"}[i%2]
		conns = append(conns, startSlow(t, from, addr, chunkHead(target.ID, i)))
	}
	health := dialFrom(t, "127.0.0.1", addr)
	io.WriteString(health, "GET /health HTTP/1.1\r\nHost: test\r\n\r\n")
	health.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := health.Read(make([]byte, 1)); n != 0 || !(errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)) {
		t.Errorf("over the global cap, /health got %d bytes, %v; want refused", n, err)
	}
	refused, cut, _ = tally(t, conns)
	if refused != 20 || cut != 60 {
		t.Errorf("from two addresses: %d refused and %d cut, want 20 and 60", refused, cut)
	}
	at.WantOK(at.Do("GET", "/health", nil, nil)) // the slots are free again

	tr.CloseIdleConnections()
	stopped = true
	if code := stop(); code != 0 {
		t.Errorf("exit status %d", code)
	}
}

// rawExchange sends req on a new connection and returns the first
// response and whether the server closed the connection after it: within
// 10 s when wantClosed, else within a moment (an open connection would
// keep the test waiting).
func rawExchange(t *testing.T, addr, req string, wantClosed bool) (*apitest.Response, bool) {
	t.Helper()
	c := dialFrom(t, "127.0.0.1", addr)
	io.WriteString(c, req)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no response: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !wantClosed {
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	}
	_, err = br.Peek(1)
	closed := errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
	return &apitest.Response{Status: resp.StatusCode, Header: resp.Header, Body: body}, closed
}

// TestAmbiguousLengthRefused sends, over raw TCP to a server run through
// run(), requests whose length a proxy in front could read otherwise than
// net/http: each gets 400 INVALID_FIELD in the JSON shape and the
// connection closes, so a request smuggled behind it is never served.
func TestAmbiguousLengthRefused(t *testing.T) {
	base, stop := startRun(t, []string{"--data-dir", t.TempDir()}, nil)
	defer stop()
	addr := strings.TrimPrefix(base, "http://")
	at := &apitest.T{T: t, Target: apitest.Target{BaseURL: base}}
	smuggled := "GET /api/me HTTP/1.1\r\nHost: test\r\n\r\n"
	tests := []struct {
		name, req, message string
	}{
		{"Content-Length and Transfer-Encoding",
			"POST /api/upload/cancel HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
			"both Content-Length and Transfer-Encoding"},
		{"Transfer-Encoding first, other case",
			"PUT /api/upload/chunk HTTP/1.1\r\nHost: test\r\ntransfer-encoding: chunked\r\nCONTENT-LENGTH: 100\r\n\r\n0\r\n\r\n",
			"both Content-Length and Transfer-Encoding"},
		{"Transfer-Encoding on HTTP/1.0",
			"POST /api/upload/init HTTP/1.0\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n" + smuggled,
			"HTTP/1.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, closed := rawExchange(t, addr, tt.req, true)
			e := at.WantError(r, http.StatusBadRequest, "INVALID_FIELD")
			if msg, _ := e["message"].(string); !strings.Contains(msg, tt.message) {
				t.Errorf("message %q lacks %q", msg, tt.message)
			}
			if !closed {
				t.Error("the connection stayed open after the refusal")
			}
		})
	}
	// Clean chunked and Content-Length requests on one connection still work.
	r, closed := rawExchange(t, addr, "GET /health HTTP/1.1\r\nHost: test\r\n\r\n", false)
	if r.Status != http.StatusOK || closed {
		t.Errorf("a clean request: %d, closed %v", r.Status, closed)
	}
	u := at.Init("chunked.bin", "", apitest.RandomBytes(100, 9), apitest.NewUserID())
	r, _ = rawExchange(t, addr, fmt.Sprintf("PUT /api/upload/chunk HTTP/1.1\r\nHost: test\r\nX-Upload-Id: %s\r\nX-Chunk-Index: 0\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n%s\r\n0\r\n\r\n", u.ID, u.Data), false)
	if r.Status != http.StatusOK {
		t.Errorf("a chunked chunk: %d %s", r.Status, r.Body)
	}
	at.WantOK(at.Complete(u))
}
