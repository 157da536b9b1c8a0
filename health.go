package storage

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// HealthReport is the outcome of Service.Health: each field is nil when its
// check passed.
type HealthReport struct {
	// Database is set when the metadata store cannot commit a write (not
	// only when it cannot answer a query).
	Database error
	// Storage is set when the object store cannot be written.
	Storage error
	// Space is set when the object store's free space is under
	// Config.MinFreeSpace (CodeInsufficientStorage).
	Space error
	// SpaceChecked says whether free space was checked at all: only
	// stores that report it (SpaceReporter) can be.
	SpaceChecked bool
}

// OK reports whether every check passed.
func (r HealthReport) OK() bool { return r.Database == nil && r.Storage == nil && r.Space == nil }

// healthTimeout bounds one run of the checks, so that a hung database or
// disk makes the health check fail instead of hanging too.
const healthTimeout = 5 * time.Second

// Health checks that the service can do its work: the metadata store
// commits a write (CheckWrite; the SQLite store also checks that its file
// is still the one it opened), the object store can be written (Ping: on
// disk a probe file is written, synced and removed), and, when the object
// store reports it, that its free space is at least Config.MinFreeSpace.
// Each check costs a commit or an fsync: callers polled often should reuse
// the result for a few seconds, as the HTTP API does.
func (s *Service) Health(ctx context.Context) HealthReport {
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	var r HealthReport
	var wg sync.WaitGroup
	wg.Go(func() { r.Database = s.Meta.CheckWrite(ctx, s.now()) })
	wg.Go(func() { r.Storage = s.Objects.Ping(ctx) })
	wg.Wait()
	r.SpaceChecked, r.Space = s.checkSpace(ctx)
	return r
}

// checkSpace checks the object store's free space against
// Config.MinFreeSpace, when the store reports it (SpaceReporter); checked
// is false when it does not. The bytes promised to open uploads are not
// subtracted: init's guard does that; health says whether the disk is
// nearly full now.
func (s *Service) checkSpace(ctx context.Context) (checked bool, err error) {
	sr, ok := s.Objects.(SpaceReporter)
	if !ok {
		return false, nil
	}
	free, err := sr.FreeSpace(ctx)
	if err != nil {
		return true, err
	}
	if free < s.Config.MinFreeSpace {
		return true, Wrap(CodeInsufficientStorage, fmt.Errorf("%d bytes free, under the %d kept free", free, s.Config.MinFreeSpace),
			"the storage is nearly full")
	}
	return true, nil
}
