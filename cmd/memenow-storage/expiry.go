package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	storage "github.com/memenow/memenow-storage"
)

// expiryConfig are the settings of upload expiry, the janitor, health and
// safe start.
type expiryConfig struct {
	// UploadTTL is how long an upload may go without a chunk before the
	// janitor expires it.
	UploadTTL time.Duration
	// JanitorInterval is the time between two sweeps of the janitor; 0
	// turns this instance's janitor off.
	JanitorInterval time.Duration
	// AllowEmptyDatabase lets serve start on a database without uploads
	// although the object store holds files or uploads.
	AllowEmptyDatabase bool
	// AuditRetention is how long the janitor keeps audit rows; 0 keeps
	// them forever.
	AuditRetention time.Duration
}

// expirySettings are the flags of expiryConfig.
func expirySettings() []setting {
	return []setting{
		{"upload-ttl", "an upload that gets no chunk for this long expires: its chunks are freed and its key released (e.g. 24h, 7d)", "24h", func(c *serveConfig, v string) (err error) {
			c.UploadTTL, err = parseDuration(v)
			if err == nil && c.UploadTTL < time.Second {
				err = errors.New("must be at least 1s")
			}
			return err
		}},
		{"janitor-interval", "time between two sweeps of the janitor (expiry, repair of interrupted completes and cancels, orphans); 0 turns it off on this instance", "1m", func(c *serveConfig, v string) (err error) {
			c.JanitorInterval, err = parseDuration(v)
			if err == nil && c.JanitorInterval != 0 && c.JanitorInterval < 100*time.Millisecond {
				err = errors.New("must be 0 (off) or at least 100ms")
			}
			return err
		}},
		{"audit-retention", "the janitor deletes audit log rows older than this (e.g. 90d, 720h); 0 keeps them forever", "90d", func(c *serveConfig, v string) (err error) {
			c.AuditRetention, err = parseDuration(v)
			if err == nil && c.AuditRetention < 0 {
				err = errors.New("must be 0 (forever) or positive")
			}
			return err
		}},
		{"allow-empty-database", "start even though the database has no uploads while the storage holds files or uploads (a lost or replaced database)", "false", func(c *serveConfig, v string) (err error) {
			c.AllowEmptyDatabase, err = strconv.ParseBool(v)
			return err
		}},
	}
}

// checkSafeStart gives the Service the upload TTL, then refuses to start on
// a database that has no upload while the object store holds files or
// multipart uploads, unless --allow-empty-database: a database that was
// lost, emptied or pointed at the wrong place must be noticed before the
// service hands out keys and accepts uploads into it.
func checkSafeStart(ctx context.Context, cfg *serveConfig, svc *storage.Service) error {
	svc.Config.UploadTTL = cfg.UploadTTL
	svc.Config.AuditRetention = cfg.AuditRetention
	if cfg.AuditRetention == 0 {
		svc.Config.AuditRetention = -1 // forever
	}
	if cfg.AllowEmptyDatabase {
		return nil
	}
	some, err := svc.Meta.ListUploads(ctx, storage.ListQuery{Limit: 1})
	if err != nil {
		return fmt.Errorf("safe start: reading the database: %v", err)
	}
	if len(some) > 0 {
		return nil
	}
	checker, ok := svc.Objects.(storage.DataChecker)
	if !ok {
		return nil
	}
	holds, err := checker.HoldsData(ctx)
	if err != nil {
		return fmt.Errorf("safe start: the database %s has no uploads, and whether %s holds files could not be checked: %v "+
			"(pass --allow-empty-database to start anyway)", describeDatabase(cfg), svc.Objects.Describe(), err)
	}
	if holds {
		return fmt.Errorf("refusing to start: the database %s has no uploads, but %s holds files or uploads. "+
			"Was the database lost, emptied or replaced? Restore it (or point --database at it); "+
			"pass --allow-empty-database to start anyway (the stored files then stay unreachable through the API)",
			describeDatabase(cfg), svc.Objects.Describe())
	}
	return nil
}

// orphanEvery is how many sweeps pass between two searches for orphaned
// multipart uploads (the first sweep searches too): listing every upload
// file or multipart upload is the janitor's one costly step.
const orphanEvery = 10

// startJanitor gives the Service the logger for the errors it handles in
// the background, then runs the janitor every --janitor-interval until ctx
// ends, the first time one interval after start (so that the listening line
// stays the first of the log). Instances on one database share a lease, so
// one of them sweeps at a time. stop ends it and waits for a sweep in
// progress.
func startJanitor(ctx context.Context, cfg *serveConfig, svc *storage.Service, log *slog.Logger) (stop func()) {
	if svc.Logger == nil {
		svc.Logger = log
	}
	if cfg.JanitorInterval <= 0 {
		log.Debug("the janitor is off on this instance (--janitor-interval 0): uploads expire only through another instance's janitor")
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	j := &janitor{svc: svc, log: log, interval: cfg.JanitorInterval, holder: janitorHolder()}
	var wg sync.WaitGroup
	wg.Go(func() { j.run(ctx) })
	return func() {
		cancel()
		wg.Wait()
	}
}

// janitor runs Service.Sweep on a schedule and logs what it did.
type janitor struct {
	svc      *storage.Service
	log      *slog.Logger
	interval time.Duration
	holder   string
	sweeps   int
}

func (j *janitor) run(ctx context.Context) {
	t := time.NewTicker(j.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		j.sweep(ctx)
	}
}

// sweep runs one Sweep, bounded by its lease, and logs its report.
func (j *janitor) sweep(ctx context.Context) {
	lease := max(2*j.interval, time.Minute)
	ctx, cancel := context.WithTimeout(ctx, lease)
	defer cancel()
	orphans := j.sweeps%orphanEvery == 0
	j.sweeps++
	r, err := j.svc.Sweep(ctx, storage.SweepOptions{Holder: j.holder, Lease: lease, Orphans: orphans})
	logSweep(j.log, r, err)
}

// logSweep logs a sweep's report: what it changed at info, each failure at
// warn (at most ten), and the sweep's own failure at error.
func logSweep(log *slog.Logger, r *storage.SweepReport, err error) {
	if err != nil && !errors.Is(err, context.Canceled) {
		log.Error("janitor: the sweep failed", "err", err)
	}
	if r == nil || r.Skipped || r.Empty() {
		return
	}
	if n := len(r.Expired) + len(r.Completed) + len(r.Cancelled) + len(r.Orphans); n > 0 {
		log.Info("janitor: sweep", "expired", len(r.Expired), "completed", len(r.Completed), "cancelled", len(r.Cancelled),
			"orphans_aborted", len(r.Orphans), "errors", len(r.Errors))
	}
	if r.AuditDeleted > 0 {
		log.Info("janitor: deleted audit rows past --audit-retention", "rows", r.AuditDeleted)
	}
	for i, e := range r.Errors {
		if i == 10 {
			log.Warn("janitor: more failures not shown", "count", len(r.Errors)-10)
			break
		}
		log.Warn("janitor: an upload could not be handled; the next sweep tries again", "err", e)
	}
}

// janitorHolder names this process in the janitor's lease.
func janitorHolder() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}
