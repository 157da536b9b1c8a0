package netguard

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// TestHeadScanner feeds request streams to the scanner whole, a byte at a
// time and in random pieces, and checks the problem it reports.
func TestHeadScanner(t *testing.T) {
	const get = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
	smuggled := "POST /api/upload/init HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
	// A body that looks like a smuggling head; only framing tells it from one.
	fakeHead := "GET / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
	tests := []struct {
		name   string
		stream string
		want   string
	}{
		{"one GET", get, ""},
		{"pipelined GETs", get + get + get, ""},
		{"HTTP/1.0 GET", "GET / HTTP/1.0\r\n\r\n", ""},
		{"bare LF heads", "GET / HTTP/1.1\nHost: x\n\n" + get, ""},
		{"Content-Length with Transfer-Encoding", smuggled, ProblemLengthAndChunked},
		{"Transfer-Encoding first", "PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n0\r\n\r\n", ProblemLengthAndChunked},
		{"names in any case", "PUT / HTTP/1.1\r\ncontent-LENGTH: 3\r\nTRANSFER-encoding: chunked\r\n\r\n", ProblemLengthAndChunked},
		{"after a clean request", get + smuggled, ProblemLengthAndChunked},
		{"Transfer-Encoding on HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", ProblemChunkedHTTP10},
		{"head-like Content-Length body", "POST / HTTP/1.1\r\nContent-Length: " + itoa(len(fakeHead)) + "\r\n\r\n" + fakeHead + get, ""},
		{"head-like HTTP/1.0 body", "POST / HTTP/1.0\r\nContent-Length: " + itoa(len(fakeHead)) + "\r\n\r\n" + fakeHead, ""},
		{"head-like chunked body", "PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" +
			hex(len(fakeHead)) + "\r\n" + fakeHead + "\r\n0\r\n\r\n" + get, ""},
		{"chunked body, then smuggling", "PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" + smuggled, ProblemLengthAndChunked},
		{"chunk extensions and trailers", "PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;name=\"v\"\r\nhello\r\n3 \r\nabc\r\n0\r\nX-Sum: 1\r\n\r\n" + get, ""},
		{"several Content-Length of one value", "POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length:  2 \r\n\r\nhi" + get, ""},
		{"Content-Length 0", "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n" + get, ""},
		{"a long URL and header", "GET /" + strings.Repeat("a", 5000) + " HTTP/1.1\r\nX-Long: " + strings.Repeat("b", 5000) + "\r\n\r\n" + get, ""},
		{"a long URL on HTTP/1.0 with Transfer-Encoding", "GET /" + strings.Repeat("a", 5000) + " HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", ProblemChunkedHTTP10},
		{"differing Content-Length", "POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nhi" + get, ProblemLost},
		{"bad Content-Length", "POST / HTTP/1.1\r\nContent-Length: +2\r\n\r\nhi", ProblemLost},
		{"Content-Length past what is kept", "POST / HTTP/1.1\r\nContent-Length:" + strings.Repeat(" ", 300) + "2\r\n\r\nhi", ProblemLost},
		{"folded Transfer-Encoding", "PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n  \r\n\r\n0\r\n\r\n", ProblemLost},
		{"bad chunk size", "PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", ProblemLost},
		{"chunk size line with bare LF", "PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", ProblemLost},
		{"chunk data without CRLF", "PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n", ProblemLost},
		{"chunk size over 16 digits", "PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n00000000000000005\r\nhello\r\n", ProblemLost},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var whole headScanner
			whole.feed([]byte(tt.stream))
			if whole.problem != tt.want {
				t.Errorf("whole: problem %q, want %q", whole.problem, tt.want)
			}
			var bytewise headScanner
			for i := range len(tt.stream) {
				bytewise.feed([]byte{tt.stream[i]})
			}
			if bytewise.problem != tt.want {
				t.Errorf("byte by byte: problem %q, want %q", bytewise.problem, tt.want)
			}
			rng := rand.New(rand.NewPCG(1, uint64(len(tt.stream))))
			for round := range 20 {
				var pieces headScanner
				for rest := tt.stream; rest != ""; {
					n := min(len(rest), 1+rng.IntN(40))
					pieces.feed([]byte(rest[:n]))
					rest = rest[n:]
				}
				if pieces.problem != tt.want {
					t.Fatalf("random pieces (round %d): problem %q, want %q", round, pieces.problem, tt.want)
				}
			}
		})
	}
}

// TestHeadScannerBoundedState checks that a long stream keeps the
// scanner's buffers small.
func TestHeadScannerBoundedState(t *testing.T) {
	var s headScanner
	s.feed([]byte("GET /" + strings.Repeat("a", 1<<20)))
	s.feed([]byte(" HTTP/1.1\r\nX: " + strings.Repeat("b", 1<<20) + "\r\n"))
	if cap(s.line) > 4*maxLine || cap(s.tail) > 64 {
		t.Errorf("buffers grew to %d and %d bytes", cap(s.line), cap(s.tail))
	}
	s.feed([]byte("\r\n"))
	if s.problem != "" || s.state != stRequestLine {
		t.Errorf("after the head: problem %q, state %d", s.problem, s.state)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func hex(n int) string { return strconv.FormatInt(int64(n), 16) }
