package httpapi

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	storage "github.com/memenow/memenow-storage"
)

// pacedReader returns n bytes per read after sleeping delay.
type pacedReader struct {
	n     int
	delay time.Duration
}

func (r *pacedReader) Read(p []byte) (int, error) {
	time.Sleep(r.delay)
	return copy(p, strings.Repeat("x", min(r.n, len(p)))), nil
}

func (r *pacedReader) Close() error { return nil }

// newGuard returns a guard over body on a writer without read deadlines,
// so that only the rate check after each read acts.
func newGuard(body io.ReadCloser, rate int64, grace time.Duration) *bodyGuard {
	w := httptest.NewRecorder()
	return &bodyGuard{body: body, w: w, rc: http.NewResponseController(w), rate: rate, grace: grace, deadlines: true}
}

// TestBodyGuardRate checks that a body slower than the minimum is cut
// after the grace, and that time the server spends between reads is not
// held against the client.
func TestBodyGuardRate(t *testing.T) {
	t.Run("slow client", func(t *testing.T) {
		g := newGuard(&pacedReader{n: 1, delay: 5 * time.Millisecond}, 1000, 50*time.Millisecond) // 200 B/s
		buf := make([]byte, 64)
		start := time.Now()
		for time.Since(start) < 5*time.Second {
			if _, err := g.Read(buf); err != nil {
				if !storage.HasCode(err, storage.CodeIncompleteBody) || !strings.Contains(err.Error(), "under the minimum of 1000") {
					t.Fatalf("cut with %v", err)
				}
				if g.waited < 50*time.Millisecond {
					t.Errorf("cut after %s of waiting, before the grace", g.waited)
				}
				if _, again := g.Read(buf); again != err {
					t.Errorf("a read after the cut: %v", again)
				}
				if g.w.Header().Get("Connection") != "close" {
					t.Error("no Connection: close after the cut")
				}
				return
			}
		}
		t.Fatal("a 200 B/s body was not cut under a minimum of 1000 B/s")
	})
	t.Run("slow server", func(t *testing.T) {
		g := newGuard(&pacedReader{n: 100}, 10_000, 50*time.Millisecond)
		buf := make([]byte, 100)
		for range 20 { // 2,000 bytes over at least 400 ms: 5,000 B/s of wall time
			time.Sleep(20 * time.Millisecond)
			if _, err := g.Read(buf); err != nil {
				t.Fatalf("cut for the server's own pauses: %v", err)
			}
		}
	})
}

func TestBodyGuardAllowance(t *testing.T) {
	tests := []struct {
		name          string
		idle          time.Duration
		rate          int64
		grace, waited time.Duration
		got           int64
		want          time.Duration
		byRate        bool
	}{
		{"idle only", 30 * time.Second, 0, 0, time.Hour, 0, 30 * time.Second, false},
		{"grace first", 30 * time.Second, 1000, 10 * time.Second, 0, 0, 10 * time.Second, true},
		{"idle sooner than the grace", 2 * time.Second, 1000, 10 * time.Second, 0, 0, 2 * time.Second, false},
		{"ahead of the rate", 30 * time.Second, 1000, time.Second, 2 * time.Second, 5000, 3 * time.Second, true},
		{"behind the rate", 30 * time.Second, 1000, time.Second, 10 * time.Second, 5000, -5 * time.Second, true},
		{"rate only", 0, 1000, time.Second, 0, 100_000, 100 * time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &bodyGuard{idle: tt.idle, rate: tt.rate, grace: tt.grace, waited: tt.waited, got: tt.got}
			got, byRate := g.allowance()
			if got != tt.want || byRate != tt.byRate {
				t.Errorf("allowance = %s, %v; want %s, %v", got, byRate, tt.want, tt.byRate)
			}
		})
	}
}

func TestCountRanges(t *testing.T) {
	tests := []struct {
		values []string
		want   int
	}{
		{nil, 0},
		{[]string{""}, 0},
		{[]string{"bytes=0-1"}, 1},
		{[]string{"bytes=0-1,5-6, 9-"}, 3},
		{[]string{"bytes=0-1", "bytes=2-3,4-5"}, 3},
		{[]string{"bytes=" + strings.Repeat("0-0,", 60000) + "1-1"}, 60001},
	}
	for _, tt := range tests {
		if got := countRanges(tt.values); got != tt.want {
			t.Errorf("countRanges(%.40q) = %d, want %d", tt.values, got, tt.want)
		}
	}
}
