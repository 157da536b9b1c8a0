//go:build linux

package netguard

import "syscall"

// RaiseFileLimit raises the process's soft limit of open files
// (RLIMIT_NOFILE) to its hard limit when it is lower, and returns the soft
// limit in force afterwards. When raising fails it returns the limit as it
// is with the error.
func RaiseFileLimit() (uint64, error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, err
	}
	if r.Cur >= r.Max {
		return r.Cur, nil
	}
	raised := syscall.Rlimit{Cur: r.Max, Max: r.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil {
		return r.Cur, err
	}
	return r.Max, nil
}
