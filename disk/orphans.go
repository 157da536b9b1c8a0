package disk

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/memenow/memenow-storage"
)

// The janitor's capabilities: listing upload files and telling whether the
// store holds anything.

var (
	_ storage.MultipartLister = (*Store)(nil)
	_ storage.DataChecker     = (*Store)(nil)
)

// ListMultipart calls fn for each upload file (a multipart upload whose
// handle and upload id are its name) started before startedBefore, until fn
// returns false. An upload id starts with its creation time in unix
// milliseconds ("{unix_ms}-{uuid}"); a file whose name does not is dated by
// its modification time. Dot files (probes) are skipped. Errors:
// CodeStorage, or ctx's error.
func (s *Store) ListMultipart(ctx context.Context, startedBefore time.Time, fn func(storage.Multipart) bool) error {
	d, err := os.Open(filepath.Join(s.dir, uploadsDir))
	if err != nil {
		return storage.Wrap(storage.CodeStorage, err, "opening the uploads folder failed")
	}
	defer d.Close()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		entries, err := d.ReadDir(512)
		for _, e := range entries {
			name := e.Name()
			if strings.HasPrefix(name, ".") || !e.Type().IsRegular() {
				continue
			}
			started, ok := uploadIDTime(name)
			if !ok {
				fi, err := e.Info()
				if err != nil {
					continue // removed meanwhile
				}
				started = fi.ModTime()
			}
			if !started.Before(startedBefore) {
				continue
			}
			if !fn(storage.Multipart{Handle: name, UploadID: name, Started: started}) {
				return nil
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return storage.Wrap(storage.CodeStorage, err, "listing the uploads folder failed")
		}
	}
}

// uploadIDTime returns the creation time at the start of an upload id
// ("{unix_ms}-{uuid}").
func uploadIDTime(id string) (time.Time, bool) {
	ms, _, ok := strings.Cut(id, "-")
	if !ok {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}, false
	}
	return time.UnixMilli(n), true
}

// errFound stops a walk at the first file.
var errFound = errors.New("found")

// HoldsData reports whether the store holds an upload file or a completed
// object. It stops at the first one it finds. Errors: CodeStorage.
func (s *Store) HoldsData(ctx context.Context) (bool, error) {
	found := false
	err := s.ListMultipart(ctx, time.Unix(1<<40, 0), func(storage.Multipart) bool {
		found = true
		return false
	})
	if err != nil || found {
		return found, err
	}
	err = filepath.WalkDir(filepath.Join(s.dir, objectsDir), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if d.Type().IsRegular() {
			return errFound
		}
		return nil
	})
	switch {
	case errors.Is(err, errFound):
		return true, nil
	case err != nil && ctx.Err() != nil:
		return false, err
	case err != nil:
		return false, storage.Wrap(storage.CodeStorage, err, "listing the objects folder failed")
	}
	return false, nil
}
