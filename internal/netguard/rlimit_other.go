//go:build !linux

package netguard

import "errors"

// RaiseFileLimit reports the descriptor limit as unknown (0) outside
// Linux, where it is not read.
func RaiseFileLimit() (uint64, error) {
	return 0, errors.ErrUnsupported
}
