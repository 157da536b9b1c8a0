//go:build !linux

package disk

import (
	"errors"
	"os"
)

// isHole reports false: holes are only looked for on Linux (SEEK_DATA).
func isHole(f *os.File, off, n int64) bool { return false }

// allocate returns errors.ErrUnsupported: fallocate is Linux's.
func allocate(f *os.File, n int64) error { return errors.ErrUnsupported }
