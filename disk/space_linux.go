//go:build linux

package disk

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// isHole reports whether the n bytes of f at off are all a hole (never
// written): the next data at or after off, if any, starts at off+n or
// later. A file system that does not know holes reports the whole file as
// data, and so does an error: the answer errs towards false.
func isHole(f *os.File, off, n int64) bool {
	next, err := unix.Seek(int(f.Fd()), off, unix.SEEK_DATA)
	if err == unix.ENXIO { // no data after off
		return true
	}
	return err == nil && next >= off+n
}

// allocate gives f n bytes of blocks from offset 0 (fallocate). Errors:
// errors.ErrUnsupported when the file system cannot.
func allocate(f *os.File, n int64) error {
	err := unix.Fallocate(int(f.Fd()), 0, 0, n)
	if err == unix.EOPNOTSUPP || err == unix.ENOSYS {
		return errors.ErrUnsupported
	}
	return err
}
