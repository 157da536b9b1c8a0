package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// maxBatch bounds how many write transactions share one commit, so that the
// first writer of a batch does not wait behind an unbounded queue.
const maxBatch = 256

// errClosed is what a write gets after Close.
var errClosed = errors.New("sqlite: store is closed")

// writeFunc is one logical write transaction. It runs inside a savepoint of
// a shared transaction: returning an error rolls back its own changes only.
type writeFunc func(ctx context.Context, tx *sql.Tx) error

// write is a writeFunc waiting for its turn and the channel its result goes
// to once the batch it ran in is committed (or not).
type write struct {
	ctx  context.Context
	f    writeFunc
	done chan error
}

// groupCommitter runs write transactions on the single writer connection and
// commits the writes that queued up while the previous commit was syncing
// together (group commit): with synchronous=FULL every commit is an fsync,
// so N concurrent writers cost one fsync instead of N, and each writer still
// learns its own result only after its changes are durable.
type groupCommitter struct {
	db    *sql.DB
	queue chan *write
	mu    sync.RWMutex // held for reading while sending, for writing to close the queue
	shut  bool
	done  chan struct{}
}

func newGroupCommitter(db *sql.DB) *groupCommitter {
	g := &groupCommitter{db: db, queue: make(chan *write, maxBatch), done: make(chan struct{})}
	go g.loop()
	return g
}

// run queues f and waits until the batch it ran in is committed. A ctx that
// ends while f waits in the queue skips f; once f runs it is not
// interrupted, so that one cancelled request cannot roll back the others'
// writes.
func (g *groupCommitter) run(ctx context.Context, f writeFunc) error {
	w := &write{ctx: ctx, f: f, done: make(chan error, 1)}
	g.mu.RLock()
	if g.shut {
		g.mu.RUnlock()
		return errClosed
	}
	g.queue <- w
	g.mu.RUnlock()
	return <-w.done
}

// close stops taking writes, lets the queued ones finish and stops the loop.
func (g *groupCommitter) close() {
	g.mu.Lock()
	if !g.shut {
		g.shut = true
		close(g.queue)
	}
	g.mu.Unlock()
	<-g.done
}

func (g *groupCommitter) loop() {
	defer close(g.done)
	batch := make([]*write, 0, maxBatch)
	for first := range g.queue {
		batch = append(batch[:0], first)
	drain:
		for len(batch) < maxBatch {
			select {
			case w, ok := <-g.queue:
				if !ok {
					break drain
				}
				batch = append(batch, w)
			default:
				break drain
			}
		}
		g.commit(batch)
	}
}

// commit runs batch in one IMMEDIATE transaction, each write in a savepoint
// of its own, commits, and hands every write its result.
func (g *groupCommitter) commit(batch []*write) {
	results := make([]error, len(batch))
	err := g.runBatch(batch, results)
	for i, w := range batch {
		if err != nil && results[i] == nil {
			results[i] = err // its changes were not committed
		}
		w.done <- results[i]
	}
}

// runBatch fills results with each write's own error and returns an error
// that applies to the writes that succeeded: the batch was not committed.
func (g *groupCommitter) runBatch(batch []*write, results []error) error {
	bg := context.Background()
	tx, err := g.db.BeginTx(bg, nil)
	if err != nil {
		return err
	}
	if len(batch) == 1 { // alone: no savepoint needed
		w := batch[0]
		if results[0] = w.ctx.Err(); results[0] == nil {
			results[0] = w.f(context.WithoutCancel(w.ctx), tx)
		}
		if results[0] != nil {
			return tx.Rollback()
		}
		return tx.Commit()
	}
	for i, w := range batch {
		if err := w.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		if _, err := tx.ExecContext(bg, "SAVEPOINT w"); err != nil {
			_ = tx.Rollback()
			return err
		}
		results[i] = w.f(context.WithoutCancel(w.ctx), tx)
		var err error
		if results[i] != nil {
			_, err = tx.ExecContext(bg, "ROLLBACK TO w")
		}
		if err == nil {
			_, err = tx.ExecContext(bg, "RELEASE w")
		}
		if err != nil {
			// SQLite rolled the whole transaction back (disk full, I/O
			// error): nothing of this batch is kept.
			_ = tx.Rollback()
			return fmt.Errorf("write transaction lost: %w", err)
		}
	}
	return tx.Commit()
}
