// Package disk is a storage.ObjectStore on a local file system.
//
// Layout under the store's directory:
//
//	uploads/{uploadID}   one preallocated (sparse) file per upload in progress;
//	                     chunk i is written at offset i*ChunkSize
//	objects/{key}        completed objects: hard links to the upload's file
//
// An object's upload id, content type and entity tag live in an extended
// attribute of its file (user.memenow), set when the upload starts and
// completes, so they travel with the link and need no file of their own; the
// store refuses a file system without user extended attributes.
//
// Completing an upload never copies bytes: the upload's file is fsynced and
// linked to its key. Writers of the same chunk are kept apart by open file
// description byte-range locks, so several processes on one host may share
// the directory.
package disk

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/memenow/memenow-storage"
)

// Subdirectories of the store's directory.
const (
	uploadsDir = "uploads"
	objectsDir = "objects"
)

// bufSize is the size of the pooled copy buffers.
const bufSize = 1 << 20

// Store is an ObjectStore in a local directory. It is safe for concurrent use.
type Store struct {
	dir      string
	crc      *crc32.Table
	bufs     sync.Pool
	promises promiseCache // space.go: what the upload files may still take
}

var _ storage.ObjectStore = (*Store)(nil)

// New returns a Store in dir, creating the directory tree as needed.
func New(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	for _, sub := range []string{uploadsDir, objectsDir} {
		if err := os.MkdirAll(filepath.Join(abs, sub), 0o755); err != nil {
			return nil, err
		}
	}
	if err := probeXattr(filepath.Join(abs, uploadsDir)); err != nil {
		return nil, fmt.Errorf("%s: the file system must support user extended attributes: %w", abs, err)
	}
	s := &Store{dir: abs, crc: crc32.MakeTable(crc32.Castagnoli)}
	s.bufs.New = func() any { b := make([]byte, bufSize); return &b }
	if !s.haveReserve() {
		_ = s.makeReserve() // on a disk already full, made later, once there is room (checkRoom)
	}
	return s, nil
}

// Describe returns "disk:" and the store's absolute directory.
func (s *Store) Describe() string { return "disk:" + s.dir }

// sidecar is the metadata of an upload's file and of the object it becomes,
// kept as JSON in the file's user.memenow extended attribute.
type sidecar struct {
	UploadID    string `json:"upload_id"`
	ContentType string `json:"content_type"`
	ETag        string `json:"etag"`
}

// uploadPath returns the file of the upload with handle h, or false when h is
// not a plain file name.
func (s *Store) uploadPath(h string) (string, bool) {
	if h == "" || h == "." || len(h) > 255 || !filepath.IsLocal(h) || strings.ContainsAny(h, "/\\\x00") {
		return "", false
	}
	return filepath.Join(s.dir, uploadsDir, h), true
}

// validKey reports whether key is a well-formed key that stays inside the
// store: no backslashes, NUL, empty, "." or ".." segments.
func validKey(key string) bool {
	return storage.ValidKey(key) && !strings.ContainsRune(key, 0) && filepath.IsLocal(filepath.FromSlash(key))
}

// objectPath returns where the object at key lives.
func (s *Store) objectPath(key string) string {
	return filepath.Join(s.dir, objectsDir, filepath.FromSlash(key))
}

// chunkLen returns the length chunk index of m must have.
func chunkLen(m storage.MultipartInfo, index int) int64 {
	if index == m.TotalChunks-1 {
		return m.TotalSize - int64(m.TotalChunks-1)*m.ChunkSize
	}
	return m.ChunkSize
}

// CreateMultipart creates the upload's file at its full size (sparse) and
// makes it durable. The handle is the upload id. An empty file (TotalSize
// 0, no chunk) is an empty upload file, completed with no chunk.
func (s *Store) CreateMultipart(ctx context.Context, m storage.MultipartInfo) (string, error) {
	if m.TotalSize < 0 || m.ChunkSize <= 0 || int64(m.TotalChunks) != (m.TotalSize+m.ChunkSize-1)/m.ChunkSize {
		return "", storage.Errorf(storage.CodeStorage, "invalid multipart layout: %d bytes in %d chunks of %d", m.TotalSize, m.TotalChunks, m.ChunkSize)
	}
	if !validKey(m.Key) {
		return "", storage.Errorf(storage.CodeStorage, "invalid object key %q", m.Key)
	}
	path, ok := s.uploadPath(m.UploadID)
	if !ok {
		return "", storage.Errorf(storage.CodeStorage, "invalid upload id %q", m.UploadID)
	}
	if err := s.checkRoom(0); err != nil {
		return "", err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", s.fsError(err, "creating the upload file failed")
	}
	err = errors.Join(setSidecar(f, sidecar{UploadID: m.UploadID, ContentType: m.ContentType}),
		f.Truncate(m.TotalSize), f.Sync(), f.Close())
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		_ = os.Remove(path)
		return "", s.fsError(err, "preparing the upload file failed")
	}
	s.promise(m.TotalSize)
	return m.UploadID, nil
}

// WriteChunk streams exactly size bytes of r to the chunk's place in the
// upload's file under a byte-range lock, syncs them, and returns the chunk's
// CRC-32C as its tag.
func (s *Store) WriteChunk(ctx context.Context, m storage.MultipartInfo, handle string, index int, size int64, r io.Reader) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", storage.Wrap(storage.CodeIncompleteBody, err, "chunk write cancelled")
	}
	if index < 0 || index >= m.TotalChunks || m.ChunkSize <= 0 || size != chunkLen(m, index) {
		return "", storage.Errorf(storage.CodeStorage, "chunk %d of %d bytes does not fit the upload's layout", index, size)
	}
	path, ok := s.uploadPath(handle)
	if !ok {
		return "", storage.Errorf(storage.CodeUploadNotFound, "no multipart upload %q", handle)
	}
	if err := s.checkRoom(size); err != nil {
		return "", err
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return "", storage.Wrap(storage.CodeUploadNotFound, err, "the multipart upload no longer exists")
	}
	if err != nil {
		return "", storage.Wrap(storage.CodeStorage, err, "opening the upload file failed")
	}
	defer f.Close()

	off := int64(index) * m.ChunkSize
	if err := lockRange(f, off, size); err != nil {
		return "", err
	}
	// A complete or abort that finished while we opened the file left it
	// unlinked or linked as the object: writing now would be lost or would
	// change a completed object.
	if err := stillUpload(f, path); err != nil {
		return "", err
	}
	if n, err := linkCount(f); err != nil || n != 1 { // linked as an object by a complete cut short
		return "", storage.Wrap(storage.CodeUploadNotFound, err, "the multipart upload is completed")
	}

	fresh := isHole(f, off, size) // its bytes were promised and are now taken
	src := &chunkReader{ctx: ctx, r: io.LimitReader(r, size), sum: crc32.New(s.crc)}
	n, err := s.copyChunk(io.NewOffsetWriter(f, off), src)
	switch {
	case src.err != nil:
		return "", readError(src.err, index, n, size)
	case err != nil:
		return "", s.fsError(err, fmt.Sprintf("writing chunk %d failed", index))
	case n != size:
		return "", storage.Errorf(storage.CodeIncompleteBody, "chunk %d ended after %d of %d bytes", index, n, size)
	}
	if err := datasync(f); err != nil {
		return "", s.fsError(err, fmt.Sprintf("syncing chunk %d failed", index))
	}
	if fresh {
		s.promise(-size)
	}
	return fmt.Sprintf("crc32c-%08x", src.sum.Sum32()), nil
}

// smallBufSize is the buffer a chunk body starts with: a client that trickles
// its body makes the server hold this much, not bufSize.
const smallBufSize = 64 << 10

// copyChunk copies src to w like io.Copy, starting with a small buffer and
// moving to a pooled bufSize one once a read fills the small one: a fast
// client gets large writes, while each of many slow ones holds 64 KiB
// instead of 1 MiB. It returns the bytes written and the first error (a
// read error, or the write's), io.EOF excepted.
func (s *Store) copyChunk(w io.Writer, src io.Reader) (int64, error) {
	var small [smallBufSize]byte
	buf := small[:]
	var bigp *[]byte
	defer func() {
		if bigp != nil {
			s.bufs.Put(bigp)
		}
	}()
	var written int64
	for {
		nr, rerr := src.Read(buf)
		if nr > 0 {
			nw, werr := w.Write(buf[:nr])
			written += int64(nw)
			if werr != nil {
				return written, werr
			}
			if nw != nr {
				return written, io.ErrShortWrite
			}
			if nr == len(buf) && bigp == nil {
				bigp = s.bufs.Get().(*[]byte)
				buf = *bigp
			}
		}
		if rerr == io.EOF {
			return written, nil
		}
		if rerr != nil {
			return written, rerr
		}
	}
}

// chunkReader reads r, hashing what it reads, records r's errors apart from
// the writer's, and stops when ctx is done.
type chunkReader struct {
	ctx context.Context
	r   io.Reader
	sum hash.Hash32
	err error // the first error of r or ctx, not io.EOF
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		c.err = err
		return 0, err
	}
	n, err := c.r.Read(p)
	c.sum.Write(p[:n])
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}

// readError turns a failure of the chunk's reader into the error to return:
// domain errors unchanged, anything else as CodeIncompleteBody.
func readError(err error, index int, n, size int64) error {
	var de *storage.Error
	if errors.As(err, &de) {
		return err
	}
	return storage.Wrap(storage.CodeIncompleteBody, err, fmt.Sprintf("reading chunk %d failed after %d of %d bytes", index, n, size))
}

// stillUpload checks that f is still the upload file at path.
func stillUpload(f *os.File, path string) error {
	fi, err := f.Stat()
	if err != nil {
		return storage.Wrap(storage.CodeStorage, err, "inspecting the upload file failed")
	}
	pi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) || err == nil && !os.SameFile(fi, pi) {
		return storage.Errorf(storage.CodeUploadNotFound, "the multipart upload no longer exists")
	}
	if err != nil {
		return storage.Wrap(storage.CodeStorage, err, "inspecting the upload file failed")
	}
	return nil
}

// checkChunks checks that chunks lists every chunk of m once with its
// length. Its CodeInvalidPart lists in Missing the chunks not listed or
// listed with a wrong length, where that tells them.
func checkChunks(m storage.MultipartInfo, chunks []storage.Chunk) error {
	if len(chunks) != m.TotalChunks {
		return &storage.Error{Code: storage.CodeInvalidPart, Missing: absent(m, chunks),
			Message: fmt.Sprintf("%d chunks given, the upload has %d", len(chunks), m.TotalChunks)}
	}
	seen := make([]bool, m.TotalChunks)
	for _, c := range chunks {
		switch {
		case c.Index < 0 || c.Index >= m.TotalChunks:
			return storage.Errorf(storage.CodeInvalidPart, "chunk index %d is out of range", c.Index)
		case seen[c.Index]:
			return storage.Errorf(storage.CodeInvalidPart, "chunk %d is listed twice", c.Index)
		case c.Size != chunkLen(m, c.Index):
			return &storage.Error{Code: storage.CodeInvalidPart, Missing: []int{c.Index},
				Message: fmt.Sprintf("chunk %d has %d bytes, want %d", c.Index, c.Size, chunkLen(m, c.Index))}
		}
		seen[c.Index] = true
	}
	return nil
}

// absent returns the indices of m's chunks that chunks does not list.
func absent(m storage.MultipartInfo, chunks []storage.Chunk) []int {
	seen := make([]bool, m.TotalChunks)
	for _, c := range chunks {
		if c.Index >= 0 && c.Index < m.TotalChunks {
			seen[c.Index] = true
		}
	}
	var out []int
	for i, ok := range seen {
		if !ok {
			out = append(out, i)
		}
	}
	return out
}

// multipartETag returns a quoted tag over the chunks' tags in order, with
// the chunk count after a dash, in the manner of S3.
func multipartETag(chunks []storage.Chunk) string {
	sorted := slices.SortedFunc(slices.Values(chunks), func(a, b storage.Chunk) int { return a.Index - b.Index })
	h := sha256.New()
	for _, c := range sorted {
		fmt.Fprintf(h, "%d:%d:%s\n", c.Index, c.Size, c.ETag)
	}
	return fmt.Sprintf(`"%x-%d"`, h.Sum(nil)[:16], len(chunks))
}

// CompleteMultipart checks chunks, syncs the upload's file and links it at
// m.Key, without copying. Repeating it after success, or after a crash
// between the link and the removal of the upload's name, returns the
// object's info.
func (s *Store) CompleteMultipart(ctx context.Context, m storage.MultipartInfo, handle string, chunks []storage.Chunk) (storage.ObjectInfo, error) {
	if !validKey(m.Key) {
		return storage.ObjectInfo{}, storage.Errorf(storage.CodeStorage, "invalid object key %q", m.Key)
	}
	path, ok := s.uploadPath(handle)
	if !ok {
		return storage.ObjectInfo{}, storage.Errorf(storage.CodeUploadNotFound, "no multipart upload %q", handle)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return s.completed(m)
	}
	if err != nil {
		return storage.ObjectInfo{}, storage.Wrap(storage.CodeStorage, err, "opening the upload file failed")
	}
	defer f.Close()
	if err := checkChunks(m, chunks); err != nil {
		return storage.ObjectInfo{}, err
	}
	// Wait for chunk writes in flight; later ones find the file gone.
	if err := lockAll(ctx, f); err != nil {
		return storage.ObjectInfo{}, err
	}
	if err := stillUpload(f, path); storage.HasCode(err, storage.CodeUploadNotFound) {
		return s.completed(m) // a concurrent complete finished first
	} else if err != nil {
		return storage.ObjectInfo{}, err
	}
	fi, err := f.Stat()
	if err != nil {
		return storage.ObjectInfo{}, storage.Wrap(storage.CodeStorage, err, "inspecting the upload file failed")
	}
	if fi.Size() != m.TotalSize {
		return storage.ObjectInfo{}, storage.Errorf(storage.CodeInvalidPart, "the upload file has %d bytes, want %d", fi.Size(), m.TotalSize)
	}
	meta := sidecar{UploadID: m.UploadID, ContentType: m.ContentType, ETag: multipartETag(chunks)}
	if err := setSidecar(f, meta); err != nil {
		return storage.ObjectInfo{}, s.fsError(err, "recording the object's metadata failed")
	}
	if err := f.Sync(); err != nil {
		return storage.ObjectInfo{}, s.fsError(err, "syncing the upload file failed")
	}

	final := s.objectPath(m.Key)
	switch oi, err := os.Lstat(final); {
	case err == nil && os.SameFile(fi, oi):
		// Linked before a crash; only the upload's name is left to remove.
	case err == nil:
		return storage.ObjectInfo{}, storage.Errorf(storage.CodeStorage, "another object exists at %q; not overwriting it", m.Key)
	case !errors.Is(err, fs.ErrNotExist):
		return storage.ObjectInfo{}, storage.Wrap(storage.CodeStorage, err, "inspecting the object failed")
	default:
		if err := s.publish(path, final); err != nil {
			return storage.ObjectInfo{}, s.fsError(err, "linking the object failed")
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return storage.ObjectInfo{}, storage.Wrap(storage.CodeStorage, err, "removing the upload file failed")
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return storage.ObjectInfo{}, storage.Wrap(storage.CodeStorage, err, "syncing the uploads folder failed")
	}
	return infoOf(m.Key, fi, meta), nil
}

// publish links the upload file at final, which must not exist, creating
// its folders, and makes the new entries durable.
func (s *Store) publish(upload, final string) error {
	if err := mkdirAllSync(filepath.Join(s.dir, objectsDir), filepath.Dir(final)); err != nil {
		return err
	}
	if err := os.Link(upload, final); err != nil {
		return err // EEXIST included: never overwrite
	}
	return syncDir(filepath.Dir(final))
}

// completed returns the info of m's object when an earlier complete of the
// same upload made it.
func (s *Store) completed(m storage.MultipartInfo) (storage.ObjectInfo, error) {
	fi, err := os.Lstat(s.objectPath(m.Key))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return storage.ObjectInfo{}, storage.Errorf(storage.CodeUploadNotFound, "no multipart upload or object for upload %s", m.UploadID)
	}
	if err != nil {
		return storage.ObjectInfo{}, storage.Wrap(storage.CodeStorage, err, "inspecting the object failed")
	}
	meta, err := readSidecarPath(s.objectPath(m.Key))
	if err != nil {
		return storage.ObjectInfo{}, storage.Wrap(storage.CodeStorage, err, "reading the object's metadata failed")
	}
	if meta.UploadID != m.UploadID {
		return storage.ObjectInfo{}, storage.Errorf(storage.CodeUploadNotFound, "no multipart upload %s; the object at its key is another upload's", m.UploadID)
	}
	return infoOf(m.Key, fi, meta), nil
}

// infoOf returns the info of the object at key with file info fi.
func infoOf(key string, fi fs.FileInfo, meta sidecar) storage.ObjectInfo {
	info := storage.ObjectInfo{Key: key, Size: fi.Size(), ContentType: meta.ContentType, ETag: meta.ETag, LastModified: fi.ModTime()}
	if info.ContentType == "" {
		info.ContentType = storage.DefaultContentType
	}
	if info.ETag == "" {
		info.ETag = fmt.Sprintf(`"%x-%x"`, fi.ModTime().UnixNano(), fi.Size())
	}
	return info
}

// AbortMultipart removes the upload's file; a missing one is fine.
func (s *Store) AbortMultipart(ctx context.Context, m storage.MultipartInfo, handle string) error {
	path, ok := s.uploadPath(handle)
	if !ok {
		return nil // no such upload can exist
	}
	fi, serr := os.Stat(path)
	err := os.Remove(path)
	if err == nil && serr == nil {
		s.promise(-unwritten(fi))
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		return storage.Wrap(storage.CodeStorage, err, "removing the upload file failed")
	}
	return nil
}

// object is an open completed object.
type object struct {
	*os.File
	info storage.ObjectInfo
}

// Info returns the object's info.
func (o *object) Info() storage.ObjectInfo { return o.info }

// Open opens the completed object at key. Keys that could leave the store
// are not found.
func (s *Store) Open(ctx context.Context, key string) (storage.Object, error) {
	if !validKey(key) {
		return nil, storage.Errorf(storage.CodeNotFound, "no object at that key")
	}
	f, err := os.OpenInRoot(filepath.Join(s.dir, objectsDir), filepath.FromSlash(key))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) || escapes(err) {
		return nil, storage.Wrap(storage.CodeNotFound, err, "no object at that key")
	}
	if err != nil {
		return nil, storage.Wrap(storage.CodeStorage, err, "opening the object failed")
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, storage.Wrap(storage.CodeNotFound, err, "no object at that key")
	}
	meta, err := readSidecar(f)
	if err != nil {
		f.Close()
		return nil, storage.Wrap(storage.CodeStorage, err, "reading the object's metadata failed")
	}
	return &object{File: f, info: infoOf(key, fi, meta)}, nil
}

// Delete removes the completed object at key and fsyncs its folder, so the
// removal is durable. The object's metadata is an extended attribute of its
// file and goes with it. A missing object is no error, and neither is a key
// that cannot name an object of this store: a malformed one, one that
// leaves the store (through a symbolic link, say) or a folder of other
// keys; nothing outside the objects folder is ever touched. Errors:
// CodeStorage.
func (s *Store) Delete(ctx context.Context, key string) error {
	if !validKey(key) {
		return nil // no object can live there
	}
	root, err := os.OpenRoot(filepath.Join(s.dir, objectsDir))
	if err != nil {
		return storage.Wrap(storage.CodeStorage, err, "opening the objects folder failed")
	}
	defer root.Close()
	name := filepath.FromSlash(key)
	fi, err := root.Lstat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) || escapes(err):
		return nil
	case err != nil:
		return storage.Wrap(storage.CodeStorage, err, "inspecting the object failed")
	case fi.IsDir():
		return nil // a folder of other objects' keys, not an object
	}
	if err := root.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return storage.Wrap(storage.CodeStorage, err, "removing the object failed")
	}
	dir, err := root.Open(filepath.Dir(name))
	if err == nil {
		err = errors.Join(dir.Sync(), dir.Close())
	}
	if err != nil {
		return storage.Wrap(storage.CodeStorage, err, "syncing the object's folder failed")
	}
	return nil
}

// escapes reports whether err is os.Root's refusal of a path that leaves
// the root (through a symbolic link, say): a PathError without an errno.
func escapes(err error) bool {
	var pe *fs.PathError
	var errno syscall.Errno
	return errors.As(err, &pe) && !errors.As(err, &errno)
}

// Ping checks that the store's folders exist and can be written: it writes,
// syncs and removes a probe file (a dot file, which the janitor ignores), so
// that a read-only, full or failing file system is noticed.
func (s *Store) Ping(ctx context.Context) error {
	for _, sub := range []string{uploadsDir, objectsDir} {
		if fi, err := os.Stat(filepath.Join(s.dir, sub)); err != nil || !fi.IsDir() {
			return storage.Wrap(storage.CodeStorage, err, "the store's "+sub+" folder is missing")
		}
	}
	f, err := os.CreateTemp(filepath.Join(s.dir, uploadsDir), ".ping-*")
	if err != nil {
		return storage.Wrap(storage.CodeStorage, err, "the store's folder is not writable")
	}
	_, werr := f.Write([]byte{'.'})
	if werr == nil {
		werr = f.Sync()
	}
	if err := errors.Join(werr, f.Close(), os.Remove(f.Name())); err != nil {
		return storage.Wrap(storage.CodeStorage, err, "the store's folder cannot be written")
	}
	return nil
}

// lockAll takes a write lock on the whole of f, waiting while chunk writes
// hold parts of it, until ctx is done.
func lockAll(ctx context.Context, f *os.File) error {
	for delay := time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		err := lockRange(f, 0, 0)
		if !storage.HasCode(err, storage.CodeChunkLocked) {
			return err
		}
		select {
		case <-ctx.Done():
			return storage.Wrap(storage.CodeChunkLocked, ctx.Err(), "a chunk of the upload is being written")
		case <-time.After(delay):
		}
	}
}

// syncDir fsyncs a folder, making the entries created in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// mkdirAllSync creates dir and its missing parents below root, and fsyncs
// the parent of every folder it created, so the new chain is durable.
// Folders that already exist cost one stat.
func mkdirAllSync(root, dir string) error {
	var missing []string
	for d := dir; d != root && len(d) > len(root); d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		missing = append(missing, d)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := os.Mkdir(missing[i], 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		if err := syncDir(filepath.Dir(missing[i])); err != nil {
			return err
		}
	}
	return nil
}
