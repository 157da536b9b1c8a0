package disk

import (
	"bytes"
	"io"
	"testing"
)

// trickle returns its data a few bytes per Read, as a slow client sends.
type trickle struct {
	data []byte
	per  int
}

func (t *trickle) Read(p []byte) (int, error) {
	if len(t.data) == 0 {
		return 0, io.EOF
	}
	n := min(t.per, len(p), len(t.data))
	copy(p, t.data[:n])
	t.data = t.data[n:]
	return n, nil
}

// TestCopyChunkTakesTheLargeBufferOnlyForFastBodies: a body that never fills
// the small buffer in one read is copied without the pooled 1 MiB buffer; a
// fast one gets it; both arrive whole.
func TestCopyChunkTakesTheLargeBufferOnlyForFastBodies(t *testing.T) {
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	taken := 0
	s.bufs.New = func() any { taken++; b := make([]byte, bufSize); return &b }
	data := bytes.Repeat([]byte("0123456789abcdef"), 3<<16) // 3 MiB

	var out bytes.Buffer
	n, err := s.copyChunk(&out, &trickle{data: data, per: 4096})
	if err != nil || n != int64(len(data)) || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("slow copy: %d bytes, %v, identical %v", n, err, bytes.Equal(out.Bytes(), data))
	}
	if taken != 0 {
		t.Fatalf("a slow body took the large buffer %d times", taken)
	}
	out.Reset()
	n, err = s.copyChunk(&out, bytes.NewReader(data))
	if err != nil || n != int64(len(data)) || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("fast copy: %d bytes, %v", n, err)
	}
	if taken != 1 {
		t.Fatalf("a fast body took the large buffer %d times, want 1", taken)
	}
}
