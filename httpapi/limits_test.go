package httpapi_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/memenow/memenow-storage/apitest"
	"github.com/memenow/memenow-storage/httpapi"
)

// startLimited serves the API with limits on a real TCP listener and
// returns a suite handle on it.
func startLimited(t *testing.T, limits httpapi.RequestLimits) (*apitest.T, string) {
	return startLimitedBuffer(t, limits, 0)
}

// startLimitedBuffer is startLimited with the send buffer of the server's
// connections set to sndbuf bytes (0: the kernel's, which grows to MiBs).
// A blocked write wakes when about half the buffer has drained, so a small
// one makes "the client takes no byte" show within a few KiB.
func startLimitedBuffer(t *testing.T, limits httpapi.RequestLimits, sndbuf int) (*apitest.T, string) {
	t.Helper()
	svc := newService(t)
	srv := httptest.NewUnstartedServer(httpapi.NewServer(httpapi.Options{Service: svc, Logger: quietLogger(), Limits: limits}))
	if sndbuf > 0 {
		srv.Listener = sndbufListener{srv.Listener, sndbuf}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return &apitest.T{T: t, Target: apitest.Target{BaseURL: srv.URL, MaxFileSize: svc.Config.MaxFileSize}}, srv.Listener.Addr().String()
}

// sndbufListener sets the send buffer of the connections it accepts.
type sndbufListener struct {
	net.Listener
	size int
}

func (l sndbufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(l.size)
	}
	return c, err
}

// rawChunk opens a connection and sends the head of a PUT of chunk i of u
// with its full Content-Length, and the first n bytes of its body.
func rawChunk(t *testing.T, addr string, u *apitest.Upload, i, n int) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	data := u.Chunk(i)
	fmt.Fprintf(c, "PUT /api/upload/chunk HTTP/1.1\r\nHost: test\r\nX-Upload-Id: %s\r\nX-Chunk-Index: %d\r\nContent-Length: %d\r\n\r\n", u.ID, i, len(data))
	if _, err := c.Write(data[:n]); err != nil {
		t.Fatal(err)
	}
	return c
}

// readResponse reads one response from c, waiting at most 10 s. Its
// header keeps "Connection: close" when the response had it (net/http's
// reader moves it to http.Response.Close).
func readResponse(t *testing.T, c net.Conn) *apitest.Response {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no response: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	if resp.Close {
		resp.Header.Set("Connection", "close")
	}
	return &apitest.Response{Status: resp.StatusCode, Header: resp.Header, Body: body}
}

// wantCutAndResend checks that the cut chunk was answered 400
// INCOMPLETE_BODY with the connection closing, was not recorded, and that
// sending it again right away succeeds (its lock is free).
func wantCutAndResend(at *apitest.T, u *apitest.Upload, resp *apitest.Response, message string) {
	at.Helper()
	e := at.WantError(resp, http.StatusBadRequest, "INCOMPLETE_BODY")
	if msg, _ := e["message"].(string); !strings.Contains(msg, message) {
		at.Errorf("message %q lacks %q", msg, message)
	}
	if resp.Header.Get("Connection") != "close" {
		at.Errorf("Connection: %q, want close", resp.Header.Get("Connection"))
	}
	if st := at.Status(u); st["chunks_uploaded"] != float64(0) {
		at.Fatalf("the cut chunk was recorded: %v", st)
	}
	at.SendChunk(u, 0) // 200, not 423 CHUNK_LOCKED
	key := at.WantOK(at.Complete(u))["r2_key"].(string)
	got := at.Do("GET", apitest.FilePath(key), nil, nil)
	if !bytes.Equal(got.Body, u.Data) {
		at.Fatalf("file after the re-send: %d bytes, want the %d sent", len(got.Body), len(u.Data))
	}
}

// TestBodyIdleTimeout stalls a chunk body: it is cut after the idle
// timeout, and its re-send succeeds at once.
func TestBodyIdleTimeout(t *testing.T) {
	at, addr := startLimited(t, httpapi.RequestLimits{BodyIdleTimeout: 200 * time.Millisecond})
	u := at.Init("stalled.bin", "", apitest.RandomBytes(1000, 1), apitest.NewUserID())
	c := rawChunk(t, addr, u, 0, 10) // and then nothing
	wantCutAndResend(at, u, readResponse(t, c), "no byte arrived for 200ms")
}

// TestMinBodyRate trickles a chunk body a byte at a time, steadily but
// under the minimum rate: it is cut once the grace has passed.
func TestMinBodyRate(t *testing.T) {
	at, addr := startLimited(t, httpapi.RequestLimits{BodyIdleTimeout: 5 * time.Second, MinBodyRate: 1000, MinRateGrace: 300 * time.Millisecond})
	u := at.Init("trickled.bin", "", apitest.RandomBytes(1000, 2), apitest.NewUserID())
	c := rawChunk(t, addr, u, 0, 1)
	stop := make(chan struct{})
	defer close(stop)
	go func() { // about 25 bytes/s, until cut
		for i := 1; i < len(u.Data); i++ {
			select {
			case <-stop:
				return
			case <-time.After(40 * time.Millisecond):
			}
			if _, err := c.Write(u.Data[i : i+1]); err != nil {
				return
			}
		}
	}()
	wantCutAndResend(at, u, readResponse(t, c), "under the minimum of 1000")
}

// TestSteadyBodyPasses sends a body in pieces with pauses shorter than the
// idle timeout and faster than the minimum rate, over several idle
// timeouts in all: it is stored.
func TestSteadyBodyPasses(t *testing.T) {
	at, addr := startLimited(t, httpapi.RequestLimits{BodyIdleTimeout: time.Second, MinBodyRate: 1000, MinRateGrace: 100 * time.Millisecond})
	u := at.Init("steady.bin", "", apitest.RandomBytes(60<<10, 3), apitest.NewUserID())
	c := rawChunk(t, addr, u, 0, 0)
	for off := 0; off < len(u.Data); off += 512 { // 512 bytes every 25 ms: 20 KiB/s for 3 s
		time.Sleep(25 * time.Millisecond)
		if _, err := c.Write(u.Data[off : off+512]); err != nil {
			t.Fatal(err)
		}
	}
	at.WantOK(readResponse(t, c))
	if st := at.Status(u); st["chunks_uploaded"] != float64(1) {
		t.Fatalf("status after the steady chunk: %v", st)
	}
}

// storeFile stores data through the API and returns its download path.
func storeFile(at *apitest.T, name string, data []byte) string {
	at.Helper()
	return apitest.FilePath(at.UploadAll(at.Init(name, "application/octet-stream", data, apitest.NewUserID())))
}

// rawGet sends a GET of path on a connection with a receive buffer of
// 256 KiB, so that the server's writes block soon after the client stops
// reading. (Under the loopback MSS of 64 KiB, a smaller buffer makes TCP
// wait for zero-window probes and crawl.)
func rawGet(t *testing.T, addr, path string) (net.Conn, *http.Response) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.(*net.TCPConn).SetReadBuffer(256 << 10)
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: test\r\n\r\n", path)
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReaderSize(c, 4<<10), nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %v %v", path, resp, err)
	}
	return c, resp
}

// TestWriteIdleTimeout checks both sides of the write deadline: a client
// that stops reading a download is cut, one that reads slowly but steadily
// for many times the timeout gets the whole file.
func TestWriteIdleTimeout(t *testing.T) {
	const idle = time.Second
	at, addr := startLimitedBuffer(t, httpapi.RequestLimits{WriteIdleTimeout: idle}, 64<<10)
	data := apitest.RandomBytes(24<<20, 4) // far more than the socket buffers hold
	path := storeFile(at, "download.bin", data)

	t.Run("stalled reader is cut", func(t *testing.T) {
		_, resp := rawGet(t, addr, path)
		time.Sleep(3 * idle)
		n, err := io.Copy(io.Discard, resp.Body)
		if err == nil || n >= int64(len(data)) {
			t.Fatalf("a client that read nothing for %s got %d of %d bytes (err %v)", 3*idle, n, len(data), err)
		}
		t.Logf("cut after %d of %d bytes: %v", n, len(data), err)
	})
	t.Run("slow steady reader gets it all", func(t *testing.T) {
		_, resp := rawGet(t, addr, path)
		start := time.Now()
		var got bytes.Buffer
		buf := make([]byte, 64<<10)
		for {
			time.Sleep(5 * time.Millisecond) // at most 12.8 MiB/s: about 2 s for 24 MiB
			n, err := io.ReadFull(resp.Body, buf)
			got.Write(buf[:n])
			if err == io.EOF || err == io.ErrUnexpectedEOF && got.Len() == len(data) {
				break
			}
			if err != nil {
				t.Fatalf("after %d bytes in %s: %v", got.Len(), time.Since(start), err)
			}
		}
		if !bytes.Equal(got.Bytes(), data) {
			t.Fatalf("got %d bytes, want the %d stored", got.Len(), len(data))
		}
		t.Logf("%d MiB in %s with a write idle timeout of %s", len(data)>>20, time.Since(start).Round(time.Millisecond), idle)
	})
}

// rangeHeader returns a Range header of n one-byte ranges.
func rangeHeader(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = strconv.Itoa(2*i) + "-" + strconv.Itoa(2*i)
	}
	return "bytes=" + strings.Join(parts, ",")
}

// TestMaxRanges refuses a Range header over the limit in the JSON error
// shape, serves one at the limit, and serves any without the limit.
func TestMaxRanges(t *testing.T) {
	at, _ := startLimited(t, httpapi.RequestLimits{MaxRanges: 64})
	path := storeFile(at, "ranges.bin", apitest.RandomBytes(1000, 5))
	at.WantError(at.Do("GET", path, map[string]string{"Range": rangeHeader(65)}, nil), http.StatusBadRequest, "INVALID_FIELD")
	if r := at.Do("GET", path, map[string]string{"Range": rangeHeader(64)}, nil); r.Status != http.StatusPartialContent {
		t.Fatalf("64 ranges: status %d", r.Status)
	}
	if r := at.Do("GET", path, map[string]string{"Range": rangeHeader(65) + ",", "If-Range": "x"}, nil); r.Status != http.StatusBadRequest {
		t.Fatalf("65 ranges with If-Range: status %d", r.Status)
	}

	off, _ := startLimited(t, httpapi.RequestLimits{})
	path = storeFile(off, "ranges.bin", apitest.RandomBytes(1000, 5))
	if r := off.Do("GET", path, map[string]string{"Range": rangeHeader(65)}, nil); r.Status != http.StatusPartialContent {
		t.Fatalf("65 ranges without limits: status %d", r.Status)
	}
}

// TestFramingProblemRefused checks the answer to a request whose
// connection reports an ambiguous head: 400 INVALID_FIELD, connection
// closed, the handler not run.
func TestFramingProblemRefused(t *testing.T) {
	at, addr := startLimited(t, httpapi.RequestLimits{FramingProblem: func(r *http.Request) string {
		if r.Header.Get("X-Test-Ambiguous") != "" {
			return "the request has both Content-Length and Transfer-Encoding"
		}
		return ""
	}})
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST /api/upload/init HTTP/1.1\r\nHost: test\r\nX-Test-Ambiguous: 1\r\nContent-Length: 2\r\n\r\n{}")
	r := readResponse(t, c)
	e := at.WantError(r, http.StatusBadRequest, "INVALID_FIELD")
	if !strings.Contains(e["message"].(string), "Transfer-Encoding") || r.Header.Get("Connection") != "close" {
		t.Errorf("answer %v, Connection %q", e, r.Header.Get("Connection"))
	}
	if r := at.Do("GET", "/health", nil, nil); r.Status != http.StatusOK {
		t.Errorf("a clean request: %d", r.Status)
	}
}

// TestBodyGuardBehindBuffering checks that a body cut shows through the
// JSON body reader too (init), as INCOMPLETE_BODY.
func TestBodyGuardBehindBuffering(t *testing.T) {
	at, addr := startLimited(t, httpapi.RequestLimits{BodyIdleTimeout: 200 * time.Millisecond})
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST /api/upload/init HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"file_name\":")
	at.WantError(readResponse(t, c), http.StatusBadRequest, "INCOMPLETE_BODY")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("after the cut the connection gave %d bytes, %v; want it closed", n, err)
	}
}
