package cfworker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	storage "github.com/memenow/memenow-storage"
)

// Scheduler is a Worker handler that also runs the Worker's scheduled
// events (Cron Triggers); Serve hands them to it.
type Scheduler interface {
	// Scheduled runs the event of cron scheduled for at. An error marks
	// the event as failed.
	Scheduled(ctx context.Context, cron string, at time.Time) error
}

var _ Scheduler = (*App)(nil)

// SweepLease bounds how long a sweep holds the janitor's lease: a sweep
// gives it up when it ends, and one that died with its isolate holds it
// for at most two periods of the every-minute Cron Trigger of
// wrangler.toml.
const SweepLease = 2 * time.Minute

// Sweep runs one pass of the janitor as of at (the event's scheduled time):
// it expires uploads that got no chunk for the upload TTL (D1
// compare-and-set, then the R2 multipart upload is aborted) and finishes
// completes and cancels interrupted for longer than the TTL. R2's Workers
// binding cannot list multipart uploads, so orphans (a multipart upload left
// by an isolate that died between creating it and recording its upload)
// are not searched for here: R2's own lifecycle rule for incomplete
// multipart uploads removes them (7 days by default).
func (a *App) Sweep(ctx context.Context, at time.Time) (*storage.SweepReport, error) {
	if err := a.Meta.Migrate(ctx); err != nil {
		return nil, fmt.Errorf("applying the D1 migrations: %w", err)
	}
	settings := a.Config.Settings(ctx)
	svc := a.service(settings, func() time.Time { return at })
	return svc.Sweep(ctx, storage.SweepOptions{Holder: a.leaseHolder(), Lease: SweepLease, Orphans: true})
}

// Scheduled runs the janitor for a Cron Trigger event and logs what it did.
// A sweep that failed, or that could not handle an upload, fails the event,
// so that the Workers dashboard shows it; the next event tries again.
func (a *App) Scheduled(ctx context.Context, cron string, at time.Time) error {
	r, err := a.Sweep(ctx, at)
	log := a.log()
	if err != nil {
		log.Error("janitor: the sweep failed", "cron", cron, "err", err)
		return err
	}
	if r.Skipped {
		log.Debug("janitor: another isolate holds the lease; nothing done", "cron", cron)
		return nil
	}
	level := slog.LevelInfo
	if r.Empty() {
		level = slog.LevelDebug // every minute: only sweeps that did something are worth a line
	}
	log.Log(ctx, level, "janitor: sweep", "cron", cron, "expired", len(r.Expired), "completed", len(r.Completed),
		"cancelled", len(r.Cancelled), "errors", len(r.Errors))
	for _, e := range r.Errors {
		log.Warn("janitor: an upload could not be handled; the next sweep tries again", "err", e)
	}
	if len(r.Errors) > 0 {
		return fmt.Errorf("janitor: %d uploads could not be handled: %w", len(r.Errors), errors.Join(r.Errors...))
	}
	return nil
}

// leaseHolder returns this isolate's name in the janitor's lease.
func (a *App) leaseHolder() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.holder == "" {
		a.holder = "worker/" + uuid.NewString()
	}
	return a.holder
}
