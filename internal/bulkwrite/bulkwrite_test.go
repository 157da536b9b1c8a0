package bulkwrite

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
)

// writeSizes is a connection that records the size of its largest write.
type writeSizes struct {
	net.Conn
	mu      sync.Mutex
	largest int
	writes  int
}

func (w *writeSizes) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.largest, w.writes = max(w.largest, len(p)), w.writes+1
	w.mu.Unlock()
	return w.Conn.Write(p)
}

// tcpPair returns the two ends of a loopback TCP connection; the far end's
// bytes are hashed by the returned function once the near end is closed.
func tcpPair(t *testing.T) (near net.Conn, farSum func() ([32]byte, int64)) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		sum [32]byte
		n   int64
	}
	done := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- result{}
			return
		}
		defer c.Close()
		h := sha256.New()
		n, _ := io.Copy(h, c)
		var r result
		copy(r.sum[:], h.Sum(nil))
		r.n = n
		done <- r
	}()
	near, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return near, func() ([32]byte, int64) { r := <-done; return r.sum, r.n }
}

func TestConnSendsEveryByteInLargeWrites(t *testing.T) {
	conn, farSum := tcpPair(t)
	counted := &writeSizes{Conn: conn}
	body := bytes.Repeat([]byte("memenow-bulk-"), 1<<20) // 13 MiB, not a multiple of the buffer
	// net/http hands the body over behind an io.LimitedReader, which hides
	// bytes.Reader's WriteTo.
	n, err := Conn{counted}.ReadFrom(io.LimitReader(bytes.NewReader(body), int64(len(body))))
	if err != nil || n != int64(len(body)) {
		t.Fatalf("ReadFrom = %d, %v; want %d, nil", n, err, len(body))
	}
	conn.Close()
	if sum, got := farSum(); got != int64(len(body)) || sum != sha256.Sum256(body) {
		t.Fatalf("the far end got %d bytes (hash match %v), want %d", got, sum == sha256.Sum256(body), len(body))
	}
	if counted.largest != Size || counted.writes != (len(body)+Size-1)/Size {
		t.Errorf("%d writes of at most %d bytes; want %d of at most %d", counted.writes, counted.largest,
			(len(body)+Size-1)/Size, Size)
	}
}

func TestConnReturnsTheReadError(t *testing.T) {
	conn, farSum := tcpPair(t)
	cut := errors.New("client went away")
	r := io.MultiReader(bytes.NewReader(make([]byte, 3<<20)), &failingReader{err: cut})
	n, err := Conn{conn}.ReadFrom(r)
	if !errors.Is(err, cut) || n != 3<<20 {
		t.Fatalf("ReadFrom = %d, %v; want %d, %v", n, err, 3<<20, cut)
	}
	conn.Close()
	if _, got := farSum(); got != 3<<20 {
		t.Errorf("the far end got %d bytes, want %d", got, 3<<20)
	}
}

type failingReader struct{ err error }

func (f *failingReader) Read([]byte) (int, error) { return 0, f.err }

func TestDialWrapsTheConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	var dialed int
	counting := func(ctx context.Context, network, addr string) (net.Conn, error) {
		dialed++
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	for name, dial := range map[string]DialFunc{"nil": nil, "given": counting} {
		conn, err := Dial(dial)(context.Background(), "tcp", ln.Addr().String())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, ok := conn.(Conn); !ok {
			t.Errorf("%s: dialed %T, want Conn", name, conn)
		}
		conn.Close()
	}
	if dialed != 1 {
		t.Errorf("the given dial function ran %d times, want 1", dialed)
	}
	if _, err := Dial(nil)(context.Background(), "tcp", "127.0.0.1:1"); err == nil {
		t.Error("dialing a closed port should fail")
	}
}
