package cfworker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	storage "github.com/memenow/memenow-storage"
)

// ObjectStore is the storage.ObjectStore on Cloudflare R2. A chunk is one
// part of an R2 multipart upload; the store handle is R2's upload id. The
// object's custom metadata names the upload it was completed from, which
// makes CompleteMultipart idempotent and keeps it from overwriting the
// object of another upload.
type ObjectStore struct {
	Bucket R2
	// Name is the binding's name, for Describe.
	Name string

	mu      sync.Mutex
	writing map[string]bool // "handle/index" of chunks being written in this isolate
}

var _ storage.ObjectStore = (*ObjectStore)(nil)

// ObjectServer is an optional capability of an R2 binding (JSR2 has it):
// handing a stored object's bytes to the client without reading them.
type ObjectServer interface {
	// ServeObject makes the object at key (of size bytes and ETag etag),
	// from offset, the body of the response of the request in ctx, when
	// the status and headers that response has so far say the body is
	// exactly a run of the object's bytes from offset (what
	// http.ServeContent sets before it copies). It returns false, having
	// done nothing, when they do not; the bytes must then be read and
	// written as usual.
	ServeObject(ctx context.Context, key, etag string, offset, size int64) (bool, error)
}

// servableRange reports whether a response of status and headers h whose
// body is not started has a body that is exactly length bytes of an object
// of size bytes from offset, as http.ServeContent makes them: 200 with a
// Content-Length of size from offset 0, or 206 with a Content-Length and a
// single Content-Range "bytes offset-last/size" that agree; no
// Content-Encoding; length more than 0. A multi-range answer
// (multipart/byteranges), a HEAD's or a 304's never reads the object.
func servableRange(status int, h http.Header, offset, size int64) (length int64, ok bool) {
	length, ok = contentLength(h)
	if !ok || length <= 0 || offset < 0 || offset+length > size || h.Get("Content-Encoding") != "" {
		return 0, false
	}
	switch status {
	case http.StatusOK:
		ok = offset == 0 && length == size && h.Get("Content-Range") == ""
	case http.StatusPartialContent:
		ok = h.Get("Content-Range") == fmt.Sprintf("bytes %d-%d/%d", offset, offset+length-1, size)
	default:
		ok = false
	}
	if !ok {
		return 0, false
	}
	return length, true
}

// contentLength returns the Content-Length of h, if it has a valid one.
func contentLength(h http.Header) (int64, bool) {
	v := h.Get("Content-Length")
	if v == "" {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil && n >= 0
}

// ErrBodyServed is what a stored object's Read returns once its bytes
// were handed to the response (see ObjectServer): the reader must stop,
// and has nothing more to write.
var ErrBodyServed = errors.New("cfworker: the object's bytes are streamed to the client by R2")

// r2Error translates a binding failure: R2's "no such upload" into
// CodeUploadNotFound, "invalid part" into CodeInvalidPart, anything else
// into CodeStorage. *storage.Error values pass through.
func r2Error(err error, message string) error {
	var se *storage.Error
	if err == nil || errors.As(err, &se) {
		return err
	}
	var be *BindingError
	if errors.As(err, &be) {
		switch be.Code {
		case R2NoSuchUpload:
			return storage.Wrap(storage.CodeUploadNotFound, err, "the multipart upload no longer exists")
		case R2InvalidPart:
			return storage.Wrap(storage.CodeInvalidPart, err, "the stored parts do not match the chunks")
		}
	}
	return storage.Wrap(storage.CodeStorage, err, message)
}

// CreateMultipart starts an R2 multipart upload. Errors: CodeStorage.
func (s *ObjectStore) CreateMultipart(ctx context.Context, m storage.MultipartInfo) (string, error) {
	id, err := s.Bucket.CreateMultipart(ctx, m.Key, m.ContentType, m.UploadID)
	if err != nil {
		return "", storage.Wrap(storage.CodeStorage, err, "the object store could not start the upload")
	}
	return id, nil
}

// WriteChunk uploads chunk index as part index+1. A second write of the
// same chunk in this isolate while one is in flight gets CodeChunkLocked.
// Errors: CodeChunkLocked, CodeIncompleteBody, CodeUploadNotFound,
// CodeStorage.
func (s *ObjectStore) WriteChunk(ctx context.Context, m storage.MultipartInfo, handle string, index int, size int64, r io.Reader) (string, error) {
	lock := fmt.Sprintf("%s/%d", handle, index)
	s.mu.Lock()
	if s.writing == nil {
		s.writing = map[string]bool{}
	}
	busy := s.writing[lock]
	s.writing[lock] = true
	s.mu.Unlock()
	if busy {
		return "", storage.Errorf(storage.CodeChunkLocked, "chunk %d is being written now", index)
	}
	defer func() {
		s.mu.Lock()
		delete(s.writing, lock)
		s.mu.Unlock()
	}()
	etag, err := s.Bucket.UploadPart(ctx, m.Key, handle, index+1, size, r)
	if err != nil {
		return "", r2Error(err, "the object store could not store the chunk")
	}
	return etag, nil
}

// CompleteMultipart completes the R2 upload. When the object already
// exists it returns its info if it came from this upload, and refuses
// otherwise. Errors: CodeUploadNotFound, CodeInvalidPart, CodeStorage.
//
// CodeInvalidPart names the chunks to send again in Missing. Chunks that
// are absent from chunks or of the wrong size are named exactly. When R2
// refuses the recorded ETags (two writes of one chunk in different
// isolates can leave the database with the ETag of the part R2 did not
// keep), Missing holds every chunk: R2's Workers binding cannot list the
// parts of a multipart upload (R2MultipartUpload has uploadPart, abort and
// complete only; ListParts is in R2's S3 API, which needs an API token the
// Worker does not hold), so the store cannot tell which part R2 kept, and
// only sending every chunk again makes the upload completable.
func (s *ObjectStore) CompleteMultipart(ctx context.Context, m storage.MultipartInfo, handle string, chunks []storage.Chunk) (storage.ObjectInfo, error) {
	if info, done, err := s.completed(ctx, m); done || err != nil {
		if done && m.TotalChunks == 0 { // an empty file put before a crash
			_ = s.AbortMultipart(ctx, m, handle)
		}
		return info, err
	}
	if m.TotalSize == 0 && m.TotalChunks == 0 && len(chunks) == 0 {
		return s.completeEmpty(ctx, m, handle)
	}
	parts, err := completedParts(m, chunks)
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	obj, err := s.Bucket.CompleteMultipart(ctx, m.Key, handle, parts)
	if err != nil {
		err = r2Error(err, "the object store could not complete the upload")
		if storage.HasCode(err, storage.CodeUploadNotFound) { // a concurrent complete may have won
			if info, done, cerr := s.completed(ctx, m); done || cerr != nil {
				return info, cerr
			}
		}
		if storage.HasCode(err, storage.CodeInvalidPart) {
			all := make([]int, m.TotalChunks)
			for i := range all {
				all[i] = i
			}
			return storage.ObjectInfo{}, &storage.Error{Code: storage.CodeInvalidPart, Missing: all, Err: err,
				Message: "R2 does not hold the parts recorded for the chunks, and cannot list the ones it holds: every chunk must be sent again"}
		}
		return storage.ObjectInfo{}, err
	}
	return infoOf(obj), nil
}

// completeEmpty completes the upload of an empty file, which has no part:
// R2 will not complete a multipart upload of none, so the object is put
// with an empty body and the multipart upload aborted. A repeat finds the
// object (CompleteMultipart's first check). Errors: CodeStorage.
func (s *ObjectStore) completeEmpty(ctx context.Context, m storage.MultipartInfo, handle string) (storage.ObjectInfo, error) {
	p, ok := s.Bucket.(R2Putter)
	if !ok {
		return storage.ObjectInfo{}, storage.Errorf(storage.CodeStorage, "this R2 binding cannot store an empty file")
	}
	obj, err := p.Put(ctx, m.Key, m.ContentType, m.UploadID, nil)
	if err != nil {
		return storage.ObjectInfo{}, r2Error(err, "the object store could not store the empty file")
	}
	if err := s.AbortMultipart(ctx, m, handle); err != nil {
		return storage.ObjectInfo{}, err
	}
	return infoOf(obj), nil
}

// completedParts checks chunks against the upload m and lists them as R2
// parts in order. Chunks that are missing or of the wrong size give
// CodeInvalidPart with their indices in Missing.
func completedParts(m storage.MultipartInfo, chunks []storage.Chunk) ([]R2Part, error) {
	byIndex := make(map[int]storage.Chunk, len(chunks))
	for _, c := range chunks {
		byIndex[c.Index] = c
	}
	var bad []int
	parts := make([]R2Part, 0, m.TotalChunks)
	for i := range m.TotalChunks {
		c, ok := byIndex[i]
		if !ok || c.Size != chunkLen(m, i) || c.ETag == "" {
			bad = append(bad, i)
			continue
		}
		parts = append(parts, R2Part{PartNumber: i + 1, ETag: c.ETag})
	}
	if len(bad) > 0 || len(byIndex) != m.TotalChunks {
		return nil, &storage.Error{Code: storage.CodeInvalidPart, Missing: bad,
			Message: fmt.Sprintf("%d chunks recorded for an upload of %d, %d of them missing or of the wrong size", len(chunks), m.TotalChunks, len(bad))}
	}
	return parts, nil
}

// chunkLen is the length chunk i of m must have.
func chunkLen(m storage.MultipartInfo, i int) int64 {
	if i == m.TotalChunks-1 {
		return m.TotalSize - int64(m.TotalChunks-1)*m.ChunkSize
	}
	return m.ChunkSize
}

// completed reports whether the object of m exists, and returns its info
// when it was completed from upload m.
func (s *ObjectStore) completed(ctx context.Context, m storage.MultipartInfo) (storage.ObjectInfo, bool, error) {
	obj, err := s.Bucket.Head(ctx, m.Key)
	if err != nil {
		return storage.ObjectInfo{}, false, storage.Wrap(storage.CodeStorage, err, "the object store could not be read")
	}
	if obj == nil {
		return storage.ObjectInfo{}, false, nil
	}
	if obj.UploadID != m.UploadID {
		return storage.ObjectInfo{}, false, storage.Errorf(storage.CodeStorage, "an object of another upload exists at the key")
	}
	return infoOf(obj), true, nil
}

func infoOf(o *R2Object) storage.ObjectInfo {
	return storage.ObjectInfo{Key: o.Key, Size: o.Size, ContentType: o.ContentType, ETag: o.HTTPETag,
		LastModified: time.UnixMilli(o.UploadedMS).UTC()}
}

// AbortMultipart aborts the R2 upload; one that is gone already is no
// error. Errors: CodeStorage.
func (s *ObjectStore) AbortMultipart(ctx context.Context, m storage.MultipartInfo, handle string) error {
	err := r2Error(s.Bucket.AbortMultipart(ctx, m.Key, handle), "the object store could not abort the upload")
	if storage.HasCode(err, storage.CodeUploadNotFound) {
		return nil
	}
	return err
}

// Open opens the object at key. Errors: CodeNotFound, CodeStorage.
func (s *ObjectStore) Open(ctx context.Context, key string) (storage.Object, error) {
	obj, err := s.Bucket.Head(ctx, key)
	if err != nil {
		return nil, storage.Wrap(storage.CodeStorage, err, "the object store could not be read")
	}
	if obj == nil {
		return nil, storage.Errorf(storage.CodeNotFound, "no file at that key")
	}
	return &object{ctx: ctx, bucket: s.Bucket, info: infoOf(obj)}, nil
}

// Delete removes the object at key. R2's delete succeeds when there is no
// object, so deleting twice is no error. Errors: CodeStorage.
func (s *ObjectStore) Delete(ctx context.Context, key string) error {
	if err := s.Bucket.Delete(ctx, key); err != nil {
		return storage.Wrap(storage.CodeStorage, err, "the object store could not delete the file")
	}
	return nil
}

// Ping lists one key. Errors: CodeStorage.
func (s *ObjectStore) Ping(ctx context.Context) error {
	if err := s.Bucket.Ping(ctx); err != nil {
		return storage.Wrap(storage.CodeStorage, err, "the object store is unreachable")
	}
	return nil
}

// Describe names the bucket binding.
func (s *ObjectStore) Describe() string { return "r2:" + s.Name }

// object reads a stored object with ranged gets: the first Read after a
// Seek starts a stream from the offset to the end. Before it starts one,
// Read offers the object to the response (when the bucket is an
// ObjectServer): when http.ServeContent has set the status and headers of
// a single range or the whole file, R2 streams those bytes to the client,
// and Read returns ErrBodyServed (which ServeContent ignores).
type object struct {
	ctx    context.Context
	bucket R2
	info   storage.ObjectInfo
	off    int64
	body   io.ReadCloser
	served bool // R2 streams it to the client
}

func (o *object) Info() storage.ObjectInfo { return o.info }

func (o *object) Read(p []byte) (int, error) {
	if o.served {
		return 0, ErrBodyServed
	}
	if o.off >= o.info.Size {
		return 0, io.EOF
	}
	if srv, ok := o.bucket.(ObjectServer); ok && o.body == nil {
		served, err := srv.ServeObject(o.ctx, o.info.Key, o.info.ETag, o.off, o.info.Size)
		if err != nil {
			return 0, storage.Wrap(storage.CodeStorage, err, "the object store could not be read")
		}
		if served {
			o.served = true
			return 0, ErrBodyServed
		}
	}
	if o.body == nil {
		body, err := o.bucket.Get(o.ctx, o.info.Key, o.off, o.info.Size-o.off)
		if err != nil {
			return 0, storage.Wrap(storage.CodeStorage, err, "the object store could not be read")
		}
		o.body = body
	}
	n, err := o.body.Read(p)
	o.off += int64(n)
	if err == io.EOF && o.off < o.info.Size {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (o *object) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = o.off + offset
	case io.SeekEnd:
		abs = o.info.Size + offset
	default:
		return 0, errors.New("seek: invalid whence")
	}
	if abs < 0 {
		return 0, errors.New("seek: negative position")
	}
	if abs != o.off && o.body != nil {
		_ = o.body.Close()
		o.body = nil
	}
	o.off = abs
	return abs, nil
}

func (o *object) Close() error {
	if o.body != nil {
		err := o.body.Close()
		o.body = nil
		return err
	}
	return nil
}
