package disk

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/memenow/memenow-storage"
)

// Free space and the reserve.
//
// The store keeps a reserve file of ReserveBytes in its folder (.reserve,
// allocated, not sparse). When a write finds the file system full
// (ENOSPC, EDQUOT), the store removes the reserve, so that what shares the
// file system (the SQLite database of the default data folder) can still
// commit the cancels, expiries and deletions that free space: a full disk
// is repaired through the API, without a restart. While the reserve is
// gone, chunk writes and new uploads that would eat into its room answer
// CodeInsufficientStorage without writing; the reserve is made again once
// there is room for it twice over.

// ReserveBytes is the size of the reserve file.
const ReserveBytes = 16 << 20

// reserveName is the reserve file, in the store's folder (not in uploads/,
// whose files are uploads, nor in objects/).
const reserveName = ".reserve"

var (
	_ storage.SpaceReporter  = (*Store)(nil)
	_ storage.PromiseCounter = (*Store)(nil)
)

// promiseScanEvery is how often, at most, PromisedBytes reads the upload
// files again (or 100 times as long as the last scan took, when that is
// longer); between two scans it adds what this process changed since.
const promiseScanEvery = time.Second

// promiseCache is what the upload files may still take: the sum found by
// the last scan of uploads/, and what this process promised (new uploads)
// and took or gave back (chunks written into holes, aborted uploads)
// since. A chunk written over earlier bytes (a retry after a failure half
// way) is not taken off until the next scan: the count errs towards more.
type promiseCache struct {
	mu      sync.Mutex
	at      time.Time     // of the last scan; zero before the first
	took    time.Duration // the last scan's
	scanned int64
	since   int64
}

// promise adds delta bytes to what the upload files may still take.
func (s *Store) promise(delta int64) {
	s.promises.mu.Lock()
	s.promises.since += delta
	s.promises.mu.Unlock()
}

// unwritten returns the bytes the file of fi may still take: its size
// less the blocks allocated to it (an upload file is created sparse at
// its full size and takes blocks as its chunks are written).
func unwritten(fi fs.FileInfo) int64 {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0
	}
	return max(fi.Size()-int64(st.Blocks)*512, 0)
}

// PromisedBytes returns what the upload files in progress may still take
// of the file system: the sum over uploads/ of each file's size less the
// blocks allocated to it. Upload files are sparse, so the file system
// counts these bytes as free until they are written; the disk guard
// subtracts them. The files are read at most every promiseScanEvery (a
// scan of 1,000 files takes about a millisecond); in between, the uploads
// this process starts and aborts and the chunks it writes are counted at
// once. Other processes sharing the folder are seen at the next scan.
// Errors: CodeStorage.
func (s *Store) PromisedBytes(ctx context.Context) (int64, error) {
	c := &s.promises
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && time.Since(c.at) < max(promiseScanEvery, 100*c.took) {
		return max(c.scanned+c.since, 0), nil
	}
	start := time.Now()
	n, err := s.scanPromises(ctx)
	if err != nil {
		return 0, storage.Wrap(storage.CodeStorage, err, "reading the upload files failed")
	}
	c.at, c.took, c.scanned, c.since = time.Now(), time.Since(start), n, 0
	return n, nil
}

// scanPromises sums unwritten over the upload files (dot files are probes).
func (s *Store) scanPromises(ctx context.Context) (int64, error) {
	d, err := os.Open(filepath.Join(s.dir, uploadsDir))
	if err != nil {
		return 0, err
	}
	defer d.Close()
	var sum int64
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		entries, err := d.ReadDir(512)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".") || !e.Type().IsRegular() {
				continue
			}
			if fi, err := e.Info(); err == nil { // else removed meanwhile
				sum += unwritten(fi)
			}
		}
		if errors.Is(err, io.EOF) {
			return sum, nil
		}
		if err != nil {
			return 0, err
		}
	}
}

// statfsFree returns the bytes an unprivileged writer can still write to
// the file system of dir.
func statfsFree(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	free := uint64(st.Bavail) * uint64(st.Bsize)
	return int64(min(free, 1<<63-1)), nil
}

// FreeSpace returns the bytes uploads can still write to the file system
// of the store's folder: what statfs reports available, less the reserve's
// room while the reserve is released. Upload files are sparse, so the bytes
// promised to uploads in progress and not yet written are not subtracted:
// PromisedBytes counts them. Errors: CodeStorage.
func (s *Store) FreeSpace(ctx context.Context) (int64, error) {
	free, err := statfsFree(s.dir)
	if err != nil {
		return 0, storage.Wrap(storage.CodeStorage, err, "reading the free space of the store's folder failed")
	}
	if !s.haveReserve() {
		free = max(free-ReserveBytes, 0)
	}
	return free, nil
}

// haveReserve reports whether the reserve file is in place (made by this
// process or another one sharing the folder).
func (s *Store) haveReserve() bool {
	fi, err := os.Stat(filepath.Join(s.dir, reserveName))
	return err == nil && fi.Size() >= ReserveBytes
}

// makeReserve creates the reserve file, its blocks allocated. It leaves no
// partial file behind when the file system has no room for it.
func (s *Store) makeReserve() error {
	path := filepath.Join(s.dir, reserveName)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil // made by another writer meanwhile
	}
	if err != nil {
		return err
	}
	err = allocate(f, ReserveBytes)
	if errors.Is(err, errors.ErrUnsupported) {
		err = writeReserve(f) // a file system without fallocate
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
	}
	return err
}

// writeReserve fills f with ReserveBytes of non-zero bytes (zeros could be
// compressed or deduplicated away).
func writeReserve(f *os.File) error {
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i*7 + 1)
	}
	for n := 0; n < ReserveBytes; n += len(buf) {
		if _, err := f.Write(buf); err != nil {
			return err
		}
	}
	return nil
}

// checkRoom refuses a write of n bytes with CodeInsufficientStorage while
// the reserve is released and the write would eat into its room; it makes
// the reserve again when there is room for it twice over. With the reserve
// in place it costs one stat.
func (s *Store) checkRoom(n int64) error {
	if s.haveReserve() {
		return nil
	}
	free, err := statfsFree(s.dir)
	if err != nil {
		return storage.Wrap(storage.CodeStorage, err, "reading the free space of the store's folder failed")
	}
	if free >= 2*ReserveBytes && s.makeReserve() == nil {
		return nil
	}
	if free-n < ReserveBytes {
		return storage.Errorf(storage.CodeInsufficientStorage,
			"the server's storage is full: cancel or complete uploads, or delete files, to free space")
	}
	return nil
}

// fsError wraps a file system failure as CodeInsufficientStorage when the
// file system is full or the writer's disk quota is used up (ENOSPC,
// EDQUOT), releasing the reserve so that cancels and deletions can still
// be recorded, and as CodeStorage otherwise.
func (s *Store) fsError(err error, message string) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		if rerr := os.Remove(filepath.Join(s.dir, reserveName)); rerr == nil {
			_ = syncDir(s.dir)
		}
		return storage.Wrap(storage.CodeInsufficientStorage, err, message+": the server's storage is full")
	}
	return storage.Wrap(storage.CodeStorage, err, message)
}
