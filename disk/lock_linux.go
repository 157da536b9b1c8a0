//go:build linux

package disk

import (
	"errors"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"github.com/memenow/memenow-storage"
)

// lockRange takes a non-blocking write lock on n bytes of f from off (n == 0:
// to the end and beyond). It is an open file description lock: it conflicts
// with every other open of the file, in this process or another, and is
// released when f is closed. A held lock gives CodeChunkLocked.
func lockRange(f *os.File, off, n int64) error {
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: io.SeekStart, Start: off, Len: n}
	err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EACCES):
		return storage.Errorf(storage.CodeChunkLocked, "the chunk is being written by another request")
	}
	return storage.Wrap(storage.CodeStorage, err, "locking the upload file failed")
}

// datasync makes f's data durable: its size never changes after creation,
// so fdatasync suffices.
func datasync(f *os.File) error { return unix.Fdatasync(int(f.Fd())) }

// linkCount returns the number of names f has.
func linkCount(f *os.File) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return 0, err
	}
	return st.Nlink, nil
}
