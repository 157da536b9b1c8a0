package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	storage "github.com/memenow/memenow-storage"
)

func TestBackoff(t *testing.T) {
	base, max := 100*time.Millisecond, 2*time.Second
	tests := []struct {
		attempt  int
		rnd      float64
		want     time.Duration
		wantDesc string
	}{
		{0, 0, 50 * time.Millisecond, "first retry, lowest jitter: half of base"},
		{0, 0.999999, 100 * time.Millisecond, "first retry, highest jitter: base"},
		{1, 0, 100 * time.Millisecond, "doubles"},
		{3, 0.5, 600 * time.Millisecond, "800ms with mid jitter"},
		{5, 0, time.Second, "capped at max (3.2s > 2s): half of max"},
		{5, 0.999999, 2 * time.Second, "capped at max"},
		{100, 0, time.Second, "huge attempt does not overflow"},
	}
	for _, tt := range tests {
		t.Run(tt.wantDesc, func(t *testing.T) {
			got := backoff(tt.attempt, base, max, func() float64 { return tt.rnd })
			if got.Round(time.Millisecond) != tt.want {
				t.Errorf("backoff(%d, rnd=%v) = %v, want %v", tt.attempt, tt.rnd, got, tt.want)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name   string
		header string
		want   time.Duration
		ok     bool
	}{
		{"empty", "", 0, false},
		{"seconds", "5", 5 * time.Second, true},
		{"spaces", " 7 ", 7 * time.Second, true},
		{"zero", "0", 0, true},
		{"negative", "-3", 0, false},
		{"huge seconds are capped at a day", "999999999999", 24 * time.Hour, true},
		{"http date", now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{"date in the past", now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"garbage", "soon", 0, false},
		{"fraction", "1.5", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseRetryAfter(tt.header, now)
			if got != tt.want || ok != tt.ok {
				t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tt.header, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func apiErr(status int, code storage.Code) error {
	return &storage.Error{Code: code, Message: "x", Err: &StatusError{StatusCode: status}}
}

func TestRetryable(t *testing.T) {
	dialErr := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	readErr := &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}
	tests := []struct {
		name       string
		err        error
		idempotent bool
		want       bool
	}{
		{"503", apiErr(503, storage.CodeUnavailable), true, true},
		{"429 not idempotent", apiErr(429, storage.CodeUnavailable), false, true},
		{"503 not idempotent", apiErr(503, storage.CodeUnavailable), false, true},
		{"502 database", apiErr(502, storage.CodeDatabase), true, true},
		{"502 not idempotent", apiErr(502, storage.CodeDatabase), false, false},
		{"500", apiErr(500, storage.CodeInternal), true, true},
		{"423 chunk locked", apiErr(423, storage.CodeChunkLocked), true, true},
		{"400 validation", apiErr(400, storage.CodeInvalidField), true, false},
		{"400 chunk size", apiErr(400, storage.CodeChunkSize), true, false},
		{"404", apiErr(404, storage.CodeUploadNotFound), true, false},
		{"409", apiErr(409, storage.CodeUploadCancelled), true, false},
		{"413", apiErr(413, storage.CodeFileTooLarge), true, false},
		{"429 rate limited", apiErr(429, storage.CodeRateLimited), true, true},
		{"429 too many uploads", apiErr(429, storage.CodeTooManyUploads), false, false},
		{"413 quota exceeded", apiErr(413, storage.CodeQuotaExceeded), false, false},
		{"507 storage full", apiErr(507, storage.CodeInsufficientStorage), true, false},
		{"507 storage full, init", apiErr(507, storage.CodeInsufficientStorage), false, false},
		{"507 from a proxy", apiErr(507, storage.CodeInternal), true, false},
		{"network error", fmt.Errorf("Put: %w", readErr), true, true},
		{"unexpected EOF", io.ErrUnexpectedEOF, true, true},
		{"network error not idempotent", readErr, false, false},
		{"dial error not idempotent", fmt.Errorf("Post: %w", dialErr), false, true},
		{"cancelled", fmt.Errorf("Put: %w", context.Canceled), true, false},
		{"deadline", context.DeadlineExceeded, true, false},
		{"local validation", storage.Errorf(storage.CodeInvalidField, "bad"), true, false},
		{"nil", nil, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := retryable(tt.err, tt.idempotent); got != tt.want {
				t.Errorf("retryable(%v, %v) = %v, want %v", tt.err, tt.idempotent, got, tt.want)
			}
		})
	}
}

func TestRetryPolicyDelayHonoursRetryAfter(t *testing.T) {
	p := RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: 10 * time.Second}
	err := &storage.Error{Code: storage.CodeUnavailable, Err: &StatusError{StatusCode: 503, RetryAfter: 3 * time.Second}}
	if d := p.delay(0, err); d != 3*time.Second {
		t.Errorf("delay with Retry-After 3s = %v, want 3s", d)
	}
	err.Err.(*StatusError).RetryAfter = time.Hour
	if d := p.delay(0, err); d != 10*time.Second {
		t.Errorf("delay with Retry-After 1h = %v, want the 10s cap", d)
	}
	if d := p.delay(0, io.ErrUnexpectedEOF); d > time.Millisecond {
		t.Errorf("delay without Retry-After = %v, want at most the 1ms base", d)
	}
}

func TestRetryCountsAttempts(t *testing.T) {
	c := &Client{}
	tests := []struct {
		name  string
		p     RetryPolicy
		err   error
		calls int
	}{
		{"retryable error uses every retry", RetryPolicy{MaxRetries: 3, BaseDelay: time.Microsecond}, apiErr(503, storage.CodeUnavailable), 4},
		{"negative MaxRetries never retries", RetryPolicy{MaxRetries: -1}, apiErr(503, storage.CodeUnavailable), 1},
		{"validation error is not retried", RetryPolicy{MaxRetries: 3, BaseDelay: time.Microsecond}, apiErr(400, storage.CodeInvalidField), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			err := c.retry(context.Background(), tt.p, true, func() error { calls++; return tt.err })
			if calls != tt.calls || !errors.Is(err, tt.err) {
				t.Errorf("calls = %d, err = %v; want %d calls and %v", calls, err, tt.calls, tt.err)
			}
		})
	}
}

func TestParseContentRange(t *testing.T) {
	tests := []struct {
		h                string
		start, end, size int64
		ok               bool
	}{
		{"bytes 0-99/100", 0, 99, 100, true},
		{"bytes 50-99/100", 50, 99, 100, true},
		{"bytes */100", -1, -1, 100, true},
		{"bytes 50-100/100", 0, 0, 0, false},
		{"bytes 60-50/100", 0, 0, 0, false},
		{"items 0-1/2", 0, 0, 0, false},
		{"bytes 0-1/*", 0, 0, 0, false},
		{"", 0, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.h, func(t *testing.T) {
			s, e, n, ok := parseContentRange(tt.h)
			if s != tt.start || e != tt.end || n != tt.size || ok != tt.ok {
				t.Errorf("parseContentRange(%q) = %d, %d, %d, %v", tt.h, s, e, n, ok)
			}
		})
	}
}
