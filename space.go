package storage

import (
	"context"
	"fmt"
)

// The disk guard: an object store on a file system of limited size (the
// disk store) reports its free space and what its uploads in progress may
// still take of it, and init refuses an upload whose bytes, added to those,
// would leave less than Config.MinFreeSpace free. Stores without a notion
// of free space (S3, R2) report neither, and the guard is skipped for them.

// SpaceReporter is an optional capability of an ObjectStore, found by type
// assertion: the free space of the file system that holds its bytes.
type SpaceReporter interface {
	// FreeSpace returns the bytes an unprivileged writer can still write
	// to the store's file system now. It counts only space actually
	// allocated: bytes that uploads in progress will write but have not
	// are not subtracted (see PromiseCounter). Errors: CodeStorage.
	FreeSpace(ctx context.Context) (int64, error)
}

// PromiseCounter is an optional capability of an ObjectStore that
// reports its free space, found by type assertion: the bytes its uploads
// in progress may still take of it. The disk store creates an upload's
// file sparse at its full size, so the file system counts the bytes not
// yet written as free; the guard must not count them twice either, so the
// count is what is unwritten, not the uploads' whole size. A store without
// it counts as having promised nothing.
type PromiseCounter interface {
	// PromisedBytes returns the bytes the store's uploads in progress may
	// still write. It may be a little stale, erring towards more. Errors:
	// CodeStorage.
	PromisedBytes(ctx context.Context) (int64, error)
}

// guardSpace refuses an upload of size bytes with CodeInsufficientStorage
// when the object store reports its free space and that space, less the
// bytes its uploads in progress may still write and less size, would fall
// under Config.MinFreeSpace. The check reads the free space and the
// promises just before the upload is created, not in the same transaction:
// inits running at the same moment may together overshoot by their own
// sizes, and a chunk that then finds the disk full answers 507 too.
func (s *Service) guardSpace(ctx context.Context, size int64) error {
	sr, ok := s.Objects.(SpaceReporter)
	if !ok {
		return nil
	}
	free, err := sr.FreeSpace(ctx)
	if err != nil {
		return err
	}
	var promised int64
	if pc, ok := s.Objects.(PromiseCounter); ok {
		if promised, err = pc.PromisedBytes(ctx); err != nil {
			return err
		}
	}
	if left := free - promised - size; left < s.Config.MinFreeSpace {
		// The numbers go to the server's log (the cause), not to clients.
		return Wrap(CodeInsufficientStorage,
			fmt.Errorf("%d bytes free, %d promised to open uploads; %d more would leave %d, under the %d kept free",
				free, promised, size, left, s.Config.MinFreeSpace),
			"the server is short of storage for an upload of this size; try again later")
	}
	return nil
}
