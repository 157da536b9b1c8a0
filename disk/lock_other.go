//go:build !linux

package disk

import (
	"os"

	"github.com/memenow/memenow-storage"
)

// lockRange is only implemented on Linux (open file description locks);
// elsewhere every chunk write fails.
func lockRange(f *os.File, off, n int64) error {
	return storage.Errorf(storage.CodeStorage, "the disk store needs Linux byte-range locks")
}

// datasync makes f's data durable.
func datasync(f *os.File) error { return f.Sync() }

// linkCount returns 1: the check that an upload's file is not yet an
// object is only made on Linux.
func linkCount(f *os.File) (uint64, error) { return 1, nil }
