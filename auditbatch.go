package storage

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// AuditBatcher collects the audit events that change no state (downloads,
// shares, refusals) and writes them with MetaStore.AppendAudit in batches:
// every Interval, when MaxBuffer events are waiting, and on Flush and Close.
// Record never blocks a request: when the buffer is full (the database is
// slow or failing) the event is dropped, counted (Dropped) and logged.
// Only these batched events can ever be dropped; the rows of state changes
// are written by the MetaStore in the transaction of the change.
type AuditBatcher struct {
	meta     MetaStore
	log      *slog.Logger
	max      int
	interval time.Duration

	mu      sync.Mutex
	buf     []AuditEvent
	dropped int64
	closed  bool

	kick chan struct{} // a full batch is waiting
	stop chan struct{}
	done chan struct{}
	// flushMu keeps two flushes from writing at once, so that Close's
	// final flush waits for one in progress.
	flushMu sync.Mutex
}

// AuditBatcherOptions configures an AuditBatcher.
type AuditBatcherOptions struct {
	// Interval is the time between two background flushes; 0 starts no
	// background flusher (the owner calls Flush, as the Worker does at the
	// end of each request).
	Interval time.Duration
	// MaxBuffer is the most events held; DefaultAuditBuffer when 0. A
	// background flush starts when half of it is used.
	MaxBuffer int
	// Logger receives the dropped events' counts and the failed flushes;
	// nil discards them.
	Logger *slog.Logger
}

// flushTimeout bounds one background flush.
const flushTimeout = 30 * time.Second

// DefaultAuditBuffer is the default MaxBuffer of an AuditBatcher.
const DefaultAuditBuffer = 10000

// NewAuditBatcher returns a batcher writing to meta, with its background
// flusher started when o.Interval > 0. Close it before meta is closed.
func NewAuditBatcher(meta MetaStore, o AuditBatcherOptions) *AuditBatcher {
	b := &AuditBatcher{meta: meta, log: o.Logger, max: o.MaxBuffer, interval: o.Interval,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	if b.max <= 0 {
		b.max = DefaultAuditBuffer
	}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if b.interval > 0 {
		go b.loop()
	} else {
		close(b.done)
	}
	return b
}

// Record queues e. It never blocks: a full buffer drops e and counts it.
func (b *AuditBatcher) Record(e AuditEvent) {
	b.mu.Lock()
	if b.closed || len(b.buf) >= b.max {
		b.dropped++
		n := b.dropped
		b.mu.Unlock()
		if n == 1 || n%1000 == 0 {
			b.log.Warn("audit: an event was dropped: the buffer is full or closed (only downloads, shares and refusals are batched; state changes are never dropped)",
				"action", e.Action, "dropped_total", n)
		}
		return
	}
	b.buf = append(b.buf, e)
	half := len(b.buf) >= b.max/2
	b.mu.Unlock()
	if half {
		select {
		case b.kick <- struct{}{}:
		default:
		}
	}
}

// Dropped returns how many events Record dropped.
func (b *AuditBatcher) Dropped() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.dropped
}

// Flush writes the queued events in one AppendAudit. When it fails the
// events are queued again (as many as the buffer holds) for the next flush.
func (b *AuditBatcher) Flush(ctx context.Context) error {
	b.flushMu.Lock()
	defer b.flushMu.Unlock()
	b.mu.Lock()
	batch := b.buf
	b.buf = nil
	b.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	err := b.meta.AppendAudit(ctx, batch)
	if err == nil {
		return nil
	}
	b.mu.Lock()
	room := b.max - len(b.buf)
	keep := batch[:min(room, len(batch))]
	b.buf = append(keep, b.buf...)
	b.dropped += int64(len(batch) - len(keep))
	b.mu.Unlock()
	return err
}

// Close stops the background flusher and writes what is queued; events
// recorded afterwards are dropped. Call it on shutdown, after the HTTP
// server has finished its requests and before the MetaStore is closed.
func (b *AuditBatcher) Close(ctx context.Context) error {
	b.mu.Lock()
	already := b.closed
	b.closed = true
	b.mu.Unlock()
	if !already && b.interval > 0 {
		close(b.stop)
	}
	<-b.done
	return b.Flush(ctx)
}

// loop flushes every interval and when a batch is half full.
func (b *AuditBatcher) loop() {
	defer close(b.done)
	t := time.NewTicker(b.interval)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
		case <-b.kick:
		}
		ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
		err := b.Flush(ctx)
		cancel()
		if err != nil {
			b.log.Error("audit: writing a batch of events failed; it is retried at the next flush", "err", err)
		}
	}
}
