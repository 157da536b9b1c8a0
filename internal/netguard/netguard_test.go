package netguard

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// dialFrom connects to addr from the loopback address from (127.0.0.x:
// all of 127/8 is the loopback interface on Linux), skipping the test
// where that address cannot be bound.
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

// refused reports whether the server closed c without a byte: a read ends
// with EOF or a reset within wait. An accepted connection, to which the
// test server never writes, times out instead.
func refused(t *testing.T, c net.Conn, wait time.Duration) bool {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(wait))
	n, err := c.Read(make([]byte, 1))
	if n > 0 {
		t.Fatalf("the server wrote to %s", c.LocalAddr())
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return err == io.EOF || errors.Is(err, syscall.ECONNRESET)
}

// acceptor accepts from a Listener and keeps the connections.
type acceptor struct {
	mu    sync.Mutex
	conns []net.Conn
	got   chan net.Conn
}

func startAcceptor(t *testing.T, l *Listener) *acceptor {
	a := &acceptor{got: make(chan net.Conn, 100)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			a.mu.Lock()
			a.conns = append(a.conns, c)
			a.mu.Unlock()
			a.got <- c
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		a.mu.Lock()
		for _, c := range a.conns {
			c.Close()
		}
		a.mu.Unlock()
	})
	return a
}

// next waits for the next accepted connection.
func (a *acceptor) next(t *testing.T) net.Conn {
	t.Helper()
	select {
	case c := <-a.got:
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no connection accepted")
		return nil
	}
}

func listen(t *testing.T, l Limits) *Listener {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return NewListener(inner, l)
}

// TestListenerCaps checks the per-address and the global cap on real TCP
// connections: over either, a connection is closed at accept and never
// handed to the server; closing one frees its slot.
func TestListenerCaps(t *testing.T) {
	l := listen(t, Limits{MaxConns: 3, MaxConnsPerIP: 2})
	a := startAcceptor(t, l)
	addr := l.Addr().String()

	c1 := dialFrom(t, "127.0.0.1", addr)
	s1 := a.next(t)
	dialFrom(t, "127.0.0.1", addr)
	a.next(t)
	over := dialFrom(t, "127.0.0.1", addr)
	if !refused(t, over, 5*time.Second) {
		t.Fatal("a third connection from 127.0.0.1 (per-IP cap 2) was kept")
	}
	other := dialFrom(t, "127.0.0.2", addr)
	a.next(t)
	if refused(t, other, 50*time.Millisecond) {
		t.Fatal("a connection from another address was refused under the caps")
	}
	if l.Open() != 3 {
		t.Errorf("open = %d, want 3", l.Open())
	}
	global := dialFrom(t, "127.0.0.3", addr)
	if !refused(t, global, 5*time.Second) {
		t.Fatal("a fourth connection (global cap 3) was kept")
	}
	if l.Refused() != 2 {
		t.Errorf("refused = %d, want 2", l.Refused())
	}

	// Closing one (twice: the slot is given back once) frees its slot.
	s1.Close()
	s1.Close()
	c1.Close()
	again := dialFrom(t, "127.0.0.1", addr)
	a.next(t)
	if refused(t, again, 50*time.Millisecond) {
		t.Fatal("a connection was refused after a slot was freed")
	}
	if l.Open() != 3 {
		t.Errorf("open = %d, want 3", l.Open())
	}
	select {
	case c := <-a.got:
		t.Fatalf("a refused connection from %s reached the server", c.RemoteAddr())
	default:
	}
}

// TestListenerExempt checks that trusted proxies are not held to the
// per-address cap, but still to the global one.
func TestListenerExempt(t *testing.T) {
	l := listen(t, Limits{MaxConns: 4, MaxConnsPerIP: 1, Exempt: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	a := startAcceptor(t, l)
	addr := l.Addr().String()
	for i := range 4 {
		c := dialFrom(t, "127.0.0.1", addr)
		a.next(t)
		if refused(t, c, 50*time.Millisecond) {
			t.Fatalf("connection %d from the exempt proxy was refused", i+1)
		}
	}
	if c := dialFrom(t, "127.0.0.1", addr); !refused(t, c, 5*time.Second) {
		t.Fatal("the exempt proxy went over the global cap")
	}
}

func TestPerIPKey(t *testing.T) {
	a := perIPKey(netip.MustParseAddr("2001:db8:1:2:aaaa::1"))
	b := perIPKey(netip.MustParseAddr("2001:db8:1:2:bbbb::2"))
	c := perIPKey(netip.MustParseAddr("2001:db8:1:3::1"))
	if a != b || a == c {
		t.Errorf("IPv6 keys: %v %v %v; want one /64 per key", a, b, c)
	}
	if v4 := perIPKey(netip.MustParseAddr("192.0.2.7")); v4.String() != "192.0.2.7" {
		t.Errorf("IPv4 key = %v", v4)
	}
	k, ok := clientKey(&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.7"), Port: 1})
	if !ok || k.String() != "192.0.2.7" {
		t.Errorf("mapped address key = %v, %v", k, ok)
	}
}

// seen is what a handler saw of a request.
type seen struct {
	contentLength    string
	length           int64
	transferEncoding []string
	problem          string
	body             string
}

// serveRaw runs net/http on a Listener with ConnContext and records what
// its handler sees.
func serveRaw(t *testing.T) (string, chan seen) {
	t.Helper()
	l := listen(t, Limits{})
	got := make(chan seen, 10)
	srv := &http.Server{
		ConnContext: ConnContext,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			got <- seen{r.Header.Get("Content-Length"), r.ContentLength, r.TransferEncoding, FramingProblem(r.Context()), string(body)}
			io.WriteString(w, "ok")
		}),
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String(), got
}

// TestNetHTTPHidesContentLength documents what net/http (this Go) does
// with a request that has both Content-Length and Transfer-Encoding: it
// serves it, framed as chunked, with the Content-Length deleted, so a
// handler cannot tell; the connection can.
func TestNetHTTPHidesContentLength(t *testing.T) {
	addr, got := serveRaw(t)
	c := dialFrom(t, "127.0.0.1", addr)
	io.WriteString(c, "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	s := <-got
	t.Logf("%s: handler saw Content-Length header %q, ContentLength %d, TransferEncoding %q, body %q; status %d",
		runtime.Version(), s.contentLength, s.length, s.transferEncoding, s.body, resp.StatusCode)
	if resp.StatusCode != 200 || s.contentLength != "" || s.length != -1 || strings.Join(s.transferEncoding, ",") != "chunked" || s.body != "abc" {
		t.Errorf("net/http no longer serves CL+TE as chunked with the Content-Length deleted: %+v, status %d; revisit netguard", s, resp.StatusCode)
	}
	if s.problem != ProblemLengthAndChunked {
		t.Errorf("FramingProblem = %q, want %q", s.problem, ProblemLengthAndChunked)
	}
}

// TestFramingKeepAlive sends clean requests of every framing on one
// connection and checks that none is taken for a problem.
func TestFramingKeepAlive(t *testing.T) {
	addr, got := serveRaw(t)
	c := dialFrom(t, "127.0.0.1", addr)
	br := bufio.NewReader(c)
	fake := "GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"
	for i, req := range []string{
		"GET /a HTTP/1.1\r\nHost: a\r\n\r\n",
		"PUT /b HTTP/1.1\r\nHost: a\r\nContent-Length: " + itoa(len(fake)) + "\r\n\r\n" + fake,
		"PUT /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + hex(len(fake)) + "\r\n" + fake + "\r\n0\r\nX-T: 1\r\n\r\n",
		"POST /d HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi",
	} {
		io.WriteString(c, req)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusContinue {
				break
			}
		}
		if s := <-got; s.problem != "" {
			t.Fatalf("request %d: problem %q", i, s.problem)
		}
	}
}

func TestAutoMaxConns(t *testing.T) {
	tests := []struct {
		limit uint64
		want  int
	}{{0, UnknownLimitConns}, {100, 16}, {1024, 448}, {20000, 9936}, {1 << 20, (1<<20 - 128) / 2}}
	for _, tt := range tests {
		if got := AutoMaxConns(tt.limit); got != tt.want {
			t.Errorf("AutoMaxConns(%d) = %d, want %d", tt.limit, got, tt.want)
		}
		if err := CheckMaxConns(AutoMaxConns(tt.limit), tt.limit); err != nil && tt.limit >= 1024 {
			t.Errorf("the automatic cap of %d does not pass its own check: %v", tt.limit, err)
		}
	}
	if err := CheckMaxConns(5000, 4096); err == nil || !strings.Contains(err.Error(), "4096") {
		t.Errorf("5000 connections under a limit of 4096: %v", err)
	}
	if err := CheckMaxConns(5000, 0); err != nil {
		t.Errorf("an unknown limit refused a cap: %v", err)
	}
}

func TestRaiseFileLimit(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("read on Linux only")
	}
	limit, err := RaiseFileLimit()
	if err != nil {
		t.Fatal(err)
	}
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		t.Fatal(err)
	}
	if limit != r.Cur || r.Cur != r.Max {
		t.Errorf("RaiseFileLimit = %d; rlimit now %d of %d", limit, r.Cur, r.Max)
	}
}
