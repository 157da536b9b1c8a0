package netguard

import "bytes"

// Framing problems a headScanner reports.
const (
	ProblemLengthAndChunked = "the request has both Content-Length and Transfer-Encoding"
	ProblemChunkedHTTP10    = "Transfer-Encoding is not allowed in an HTTP/1.0 request"
	ProblemLost             = "the request's framing could not be followed"
)

// headScanner follows the framing of the HTTP/1.x requests a server reads
// from one connection, as net/http parses them, to see every request head
// and skip every body:
//
//   - a head is a request line and header lines up to an empty line; lines
//     end in LF, a CR before it is dropped (textproto's rule);
//   - the body of an HTTP/1.1 request with Transfer-Encoding is chunked
//     (net/http accepts only "chunked", and answers anything else itself
//     with 501 and a closed connection); HTTP/1.0 ignores Transfer-Encoding;
//     otherwise Content-Length bytes, and no body without it;
//   - a chunk-size line ends in CRLF; its hex size comes before any ";"
//     extension; chunk data is followed by CRLF; the last chunk (size 0)
//     by trailer lines up to an empty line.
//
// Where the bytes are not what net/http accepts, net/http answers 400 and
// closes the connection, so no later request is served; the scanner then
// stops and reports ProblemLost, so that a difference between the two
// parsers fails closed. It keeps a few hundred bytes of state whatever the
// input.
type headScanner struct {
	state   int
	line    []byte // the start of the current line (up to maxLine bytes)
	lineLen int    // the current line's whole length
	tail    []byte // the end of the request line (up to len(" HTTP/1.0"))

	http10    bool  // the request line names HTTP/1.0
	lengths   int   // Content-Length fields in this head
	length    int64 // their value
	badLength bool  // a Content-Length net/http would refuse
	chunked   bool  // a Transfer-Encoding field in this head
	lastField int   // fieldCL or fieldTE when the previous header line was one
	remaining int64 // body or chunk bytes still to skip

	problem string // the first problem; the scanner stops at ProblemLost
}

// Scanner states.
const (
	stRequestLine = iota
	stHeader
	stBody
	stChunkSize
	stChunkData
	stChunkCR
	stChunkLF
	stTrailer
	stLost
)

// Header fields the scanner tracks.
const (
	fieldOther = iota
	fieldCL
	fieldTE
)

// maxLine is how much of a line the scanner keeps: enough for any
// Content-Length or Transfer-Encoding field and chunk-size line a client
// sends. A longer one of those makes the scanner give up (ProblemLost).
const maxLine = 256

const http10Suffix = " HTTP/1.0"

// feed follows p, the next bytes read from the connection.
func (s *headScanner) feed(p []byte) {
	for len(p) > 0 {
		switch s.state {
		case stLost:
			return
		case stBody, stChunkData:
			n := int64(len(p))
			if n > s.remaining {
				n = s.remaining
			}
			p = p[n:]
			if s.remaining -= n; s.remaining == 0 {
				if s.state == stBody {
					s.state = stRequestLine
				} else {
					s.state = stChunkCR
				}
			}
		case stChunkCR, stChunkLF:
			want := byte('\r')
			if s.state == stChunkLF {
				want = '\n'
			}
			if p[0] != want {
				s.lose()
				return
			}
			p = p[1:]
			if s.state == stChunkCR {
				s.state = stChunkLF
			} else {
				s.state = stChunkSize
			}
		default: // a line: request line, header, chunk size or trailer
			i := bytes.IndexByte(p, '\n')
			part := p
			if i >= 0 {
				part = p[:i+1]
			}
			s.addToLine(part)
			p = p[len(part):]
			if i >= 0 {
				s.endLine()
				s.line, s.lineLen = s.line[:0], 0
				s.tail = s.tail[:0]
			}
		}
	}
}

// addToLine keeps the start of the current line and, on the request line,
// its end.
func (s *headScanner) addToLine(part []byte) {
	if room := maxLine - len(s.line); room > 0 {
		s.line = append(s.line, part[:min(room, len(part))]...)
	}
	s.lineLen += len(part)
	if s.state == stRequestLine {
		const keep = len(http10Suffix) + 2 // and "\r\n"
		if len(part) > keep {
			part = part[len(part)-keep:]
		}
		s.tail = append(s.tail, part...)
		if extra := len(s.tail) - keep; extra > 0 {
			s.tail = append(s.tail[:0], s.tail[extra:]...)
		}
	}
}

// endLine acts on a whole line (its LF included).
func (s *headScanner) endLine() {
	whole := s.lineLen <= maxLine
	line := bytes.TrimSuffix(s.line, []byte("\n"))
	switch s.state {
	case stRequestLine:
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			return // an empty line before a request: net/http refuses it
		}
		end := bytes.TrimSuffix(bytes.TrimSuffix(s.tail, []byte("\n")), []byte("\r"))
		s.http10 = bytes.HasSuffix(end, []byte(http10Suffix))
		s.lengths, s.length, s.badLength, s.chunked, s.lastField = 0, 0, false, false, fieldOther
		s.state = stHeader
	case stHeader:
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			s.endHead()
			return
		}
		s.header(line, whole)
	case stChunkSize:
		// net/http: CRLF, no other CR; trailing blanks, then the extension.
		if !whole || !bytes.HasSuffix(line, []byte("\r")) || bytes.IndexByte(line, '\r') != len(line)-1 {
			s.lose()
			return
		}
		line = bytes.TrimRight(line[:len(line)-1], " \t")
		line, _, _ = bytes.Cut(line, []byte(";"))
		n, ok := parseHex(line)
		if !ok {
			s.lose()
			return
		}
		if n == 0 {
			s.state = stTrailer
			return
		}
		s.remaining, s.state = n, stChunkData
	case stTrailer:
		if len(bytes.TrimSuffix(line, []byte("\r"))) == 0 {
			s.state = stRequestLine
		}
	}
}

// header acts on one header line (without its line end); whole is false
// when only its start was kept.
func (s *headScanner) header(line []byte, whole bool) {
	if line[0] == ' ' || line[0] == '\t' { // obs-fold: continues the previous field
		if s.lastField != fieldOther {
			s.lose() // a folded Content-Length or Transfer-Encoding
		}
		return
	}
	name, value, ok := bytes.Cut(line, []byte(":"))
	s.lastField = fieldOther
	switch {
	case !ok:
		return // net/http refuses the head
	case asciiEqualFold(name, "Content-Length"):
		s.lastField = fieldCL
		if !whole {
			s.lose()
			return
		}
		n, valid := parseDecimal(bytes.Trim(value, " \t"))
		switch {
		case !valid:
			s.badLength = true
		case s.lengths > 0 && n != s.length:
			s.badLength = true // net/http refuses differing values
		}
		s.lengths++
		s.length = n
	case asciiEqualFold(name, "Transfer-Encoding"):
		s.lastField = fieldTE
		s.chunked = true
	}
}

// endHead checks the head just ended and starts its body.
func (s *headScanner) endHead() {
	switch {
	case s.chunked && s.lengths > 0:
		s.report(ProblemLengthAndChunked)
	case s.chunked && s.http10:
		s.report(ProblemChunkedHTTP10)
	}
	switch {
	case s.chunked && !s.http10:
		s.state = stChunkSize
	case s.badLength:
		s.lose() // net/http answers 400 and closes
	case s.lengths > 0 && s.length > 0:
		s.remaining, s.state = s.length, stBody
	default:
		s.state = stRequestLine
	}
}

// report keeps the first problem.
func (s *headScanner) report(problem string) {
	if s.problem == "" {
		s.problem = problem
	}
}

// lose stops the scanner: it can no longer tell heads from bodies.
func (s *headScanner) lose() {
	s.report(ProblemLost)
	s.state = stLost
	s.line, s.tail = nil, nil
}

// parseHex parses a chunk size as net/http does: 1 to 16 hex digits.
func parseHex(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 16 {
		return 0, false
	}
	var n uint64
	for _, b := range v {
		switch {
		case '0' <= b && b <= '9':
			b -= '0'
		case 'a' <= b && b <= 'f':
			b = b - 'a' + 10
		case 'A' <= b && b <= 'F':
			b = b - 'A' + 10
		default:
			return 0, false
		}
		n = n<<4 | uint64(b)
	}
	if n > 1<<62 { // more than any body; net/http would fail later anyway
		return 0, false
	}
	return int64(n), true
}

// parseDecimal parses a Content-Length as net/http does: digits only.
func parseDecimal(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, b := range v {
		if b < '0' || b > '9' {
			return 0, false
		}
		n = n*10 + int64(b-'0')
	}
	return n, true
}

// asciiEqualFold reports whether b is s, ignoring ASCII case.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
