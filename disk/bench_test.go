package disk_test

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/memenow/memenow-storage/disk"
)

// benchChunk is the chunk size of the benchmarks.
const benchChunk = 64 << 20

// source returns a reader of benchChunk bytes that repeats block, so that
// neither side holds a whole chunk in memory. Like an HTTP request body it
// has only a Read method.
func source(block []byte) io.Reader { return io.LimitReader(&repeat{block: block}, benchChunk) }

// repeat reads block over and over.
type repeat struct {
	block []byte
	off   int
}

func (r *repeat) Read(p []byte) (int, error) {
	n := copy(p, r.block[r.off:])
	r.off = (r.off + n) % len(r.block)
	return n, nil
}

func benchBlock() []byte {
	block := make([]byte, 1<<20)
	_, _ = rand.NewChaCha8([32]byte{1}).Read(block)
	return block
}

// BenchmarkWriteChunk writes 64 MiB chunks through the disk store: a new
// upload per chunk, streamed, range-locked, CRC-32C'd and synced.
func BenchmarkWriteChunk(b *testing.B) {
	s, err := disk.New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	block := benchBlock()
	b.SetBytes(benchChunk)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		m := layout(fmt.Sprint("1-bench-", i), benchChunk, benchChunk)
		h, err := s.CreateMultipart(b.Context(), m)
		if err != nil {
			b.Fatal(err)
		}
		r := source(block)
		b.StartTimer()
		if _, err := s.WriteChunk(b.Context(), m, h, 0, benchChunk, r); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := s.AbortMultipart(b.Context(), m, h); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkBareWriteFsync is the bare limit WriteChunk is measured against:
// a plain io.Copy of 64 MiB into a new file, then fsync.
func BenchmarkBareWriteFsync(b *testing.B) {
	dir := b.TempDir()
	block := benchBlock()
	b.SetBytes(benchChunk)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		path := filepath.Join(dir, fmt.Sprint("bare-", i))
		r := source(block)
		b.StartTimer()
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(f, r); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := os.Remove(path); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
