package disk

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// xattrName is the extended attribute that holds a file's sidecar.
const xattrName = "user.memenow"

// setSidecar stores meta in f's extended attribute.
func setSidecar(f *os.File, meta sidecar) error {
	data, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	return unix.Fsetxattr(int(f.Fd()), xattrName, data, 0)
}

// readSidecar reads f's sidecar; a file without one has empty metadata.
func readSidecar(f *os.File) (sidecar, error) {
	return decodeSidecar(func(buf []byte) (int, error) { return unix.Fgetxattr(int(f.Fd()), xattrName, buf) })
}

// readSidecarPath reads the sidecar of the file at path, not following a
// final symbolic link.
func readSidecarPath(path string) (sidecar, error) {
	return decodeSidecar(func(buf []byte) (int, error) { return unix.Lgetxattr(path, xattrName, buf) })
}

func decodeSidecar(get func([]byte) (int, error)) (sidecar, error) {
	var meta sidecar
	buf := make([]byte, 4096)
	n, err := get(buf)
	if errors.Is(err, unix.ENODATA) {
		return meta, nil
	}
	if err != nil {
		return meta, err
	}
	return meta, json.Unmarshal(buf[:n], &meta)
}

// probeXattr checks that files in dir can carry user extended attributes.
func probeXattr(dir string) error {
	f, err := os.CreateTemp(dir, ".xattr-probe-*")
	if err != nil {
		return err
	}
	defer os.Remove(filepath.Clean(f.Name()))
	defer f.Close()
	return setSidecar(f, sidecar{})
}
