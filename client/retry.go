package client

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	storage "github.com/memenow/memenow-storage"
)

// RetryPolicy says how often and how patiently transient failures are
// retried: network errors, 5xx but 507, 429 RATE_LIMITED and 423 answers
// (honouring Retry-After). Validation errors (other 4xx answers), a full
// server (507) and a user's quota (TOO_MANY_UPLOADS, QUOTA_EXCEEDED) are
// never retried.
type RetryPolicy struct {
	// MaxRetries is how many times a failed request is repeated: 0 means
	// DefaultMaxRetries, a negative value means never.
	MaxRetries int
	// BaseDelay is the first backoff delay, doubled on every retry;
	// DefaultBaseDelay when 0.
	BaseDelay time.Duration
	// MaxDelay caps the backoff delay and a server's Retry-After;
	// DefaultMaxDelay when 0.
	MaxDelay time.Duration
	// OnRetry, when set, is called before each wait with the failure that
	// is retried and how long the wait is, so that a program can say why it
	// waits. It may be called from several goroutines at once.
	OnRetry func(err error, delay time.Duration)
}

// waitToRetry reports err and waits before retry number attempt (0 for
// the first), or until ctx ends.
func (p RetryPolicy) waitToRetry(ctx context.Context, attempt int, err error) error {
	d := p.delay(attempt, err)
	if p.OnRetry != nil {
		p.OnRetry(err, d)
	}
	return sleep(ctx, d)
}

// Defaults of RetryPolicy.
const (
	DefaultMaxRetries = 6
	DefaultBaseDelay  = 250 * time.Millisecond
	DefaultMaxDelay   = 30 * time.Second
)

func (p RetryPolicy) maxRetries() int {
	switch {
	case p.MaxRetries < 0:
		return 0
	case p.MaxRetries == 0:
		return DefaultMaxRetries
	}
	return p.MaxRetries
}

func (p RetryPolicy) baseDelay() time.Duration {
	if p.BaseDelay <= 0 {
		return DefaultBaseDelay
	}
	return p.BaseDelay
}

func (p RetryPolicy) maxDelay() time.Duration {
	if p.MaxDelay <= 0 {
		return DefaultMaxDelay
	}
	return p.MaxDelay
}

// delay returns how long to wait before retry number attempt (0 for the
// first retry) after err: the exponential backoff with jitter, or the
// server's Retry-After when that is longer, capped at MaxDelay.
func (p RetryPolicy) delay(attempt int, err error) time.Duration {
	d := backoff(attempt, p.baseDelay(), p.maxDelay(), rand.Float64)
	var se *StatusError
	if errors.As(err, &se) && se.RetryAfter > d {
		d = min(se.RetryAfter, p.maxDelay())
	}
	return d
}

// backoff returns the delay before retry number attempt: base·2^attempt
// capped at max, of which the upper half is random ("equal jitter"), so that
// clients failing together do not retry together. rnd returns a number in [0, 1).
func backoff(attempt int, base, max time.Duration, rnd func() float64) time.Duration {
	d := max
	if attempt < 62 {
		if exp := base << attempt; exp > 0 && exp < max {
			d = exp
		}
	}
	half := d / 2
	return half + time.Duration(rnd()*float64(d-half))
}

// parseRetryAfter reads a Retry-After header: a number of seconds or an
// HTTP date, relative to now. A date in the past gives 0.
func parseRetryAfter(h string, now time.Time) (time.Duration, bool) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(h, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(24*time.Hour/time.Second) {
			secs = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(h)
	if err != nil {
		return 0, false
	}
	if d := t.Sub(now); d > 0 {
		return d, true
	}
	return 0, true
}

// retryable reports whether err is worth repeating. When the request is not
// idempotent, only failures that prove the server did not act on it count:
// a refused connection, 429 and 503. Refusals that waiting does not cure
// are never repeated: 507 (the server's storage is full until someone frees
// space), and a user's quota (429 TOO_MANY_UPLOADS, 413 QUOTA_EXCEEDED)
// until the user finishes, cancels or deletes something.
func retryable(err error, idempotent bool) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if status := HTTPStatus(err); status != 0 {
		switch {
		case status == http.StatusInsufficientStorage, storage.HasCode(err, storage.CodeTooManyUploads),
			storage.HasCode(err, storage.CodeQuotaExceeded):
			return false
		case status == http.StatusTooManyRequests, status == http.StatusServiceUnavailable:
			return true
		case !idempotent:
			return false
		case status == http.StatusLocked, status >= 500:
			return true
		}
		return false
	}
	var se *storage.Error
	if errors.As(err, &se) {
		return false // a local validation error
	}
	if !idempotent {
		var op *net.OpError
		return errors.As(err, &op) && op.Op == "dial"
	}
	return true // a network error
}

// retry runs f until it succeeds, fails with an error that is not
// retryable, the policy's retries are used up or ctx ends.
func (c *Client) retry(ctx context.Context, p RetryPolicy, idempotent bool, f func() error) error {
	for attempt := 0; ; attempt++ {
		err := f()
		if err == nil || attempt >= p.maxRetries() || !retryable(err, idempotent) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := p.waitToRetry(ctx, attempt, err); err != nil {
			return err
		}
	}
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
