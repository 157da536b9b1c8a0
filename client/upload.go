package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"

	storage "github.com/memenow/memenow-storage"
)

// DefaultParallel is how many chunks Upload sends at once by default.
const DefaultParallel = 4

// UploadOptions describe an upload for Upload.
type UploadOptions struct {
	FileName string // required (UploadFile defaults it to the file's base name)
	// UserID and UserRole (creator, member or subscriber) name the owner:
	// required with auth off; with auth on they may be empty, and the
	// server takes them from the token.
	UserID      string
	UserRole    string
	ContentType string // optional; the server's default when empty
	// Visibility is VisibilityPublic or VisibilityPrivate; empty is the
	// server's default, private.
	Visibility string
	// ChunkSize asks the server for a chunk size; 0 lets it choose.
	ChunkSize int64
	// Parallel is how many chunks are sent at once; DefaultParallel when 0.
	Parallel int
	// ResumeID continues an earlier upload of the same bytes: only the
	// chunks the server has not recorded are sent.
	ResumeID string
	// RestartIfGone starts a new upload when the ResumeID upload is
	// unknown to the server or cancelled, instead of failing.
	RestartIfGone bool
	// OnInit, when set, is called with the id of a newly started upload
	// before any chunk is sent, so that the caller can save it for a later
	// resume. An error from it aborts the upload.
	OnInit func(uploadID string) error
	// Progress, when set, is called with the bytes stored so far (those of
	// a resumed upload included) and the total, from one goroutine at a time.
	Progress func(done, total int64)
	// MaxRetries overrides the client's RetryPolicy.MaxRetries when non-zero.
	MaxRetries int
}

// UploadResult describes a finished upload.
type UploadResult struct {
	UploadID string
	Key      string // where the file is stored (the API's r2_key)
	Size     int64
	// ChunksSent counts the chunks this call sent; a resumed upload sends
	// only those the server lacked.
	ChunksSent int
	// Resumed is true when ResumeID was continued rather than restarted.
	Resumed bool
}

// UploadFile uploads the open file f; opts.FileName defaults to its base name.
func (c *Client) UploadFile(ctx context.Context, f *os.File, opts UploadOptions) (*UploadResult, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if opts.FileName == "" {
		opts.FileName = filepath.Base(f.Name())
	}
	return c.Upload(ctx, f, fi.Size(), opts)
}

// Upload uploads size bytes read from r: it starts an upload (or resumes
// opts.ResumeID), sends the missing chunks in parallel, each streamed from an
// io.SectionReader and retried on transient failures, and completes the
// upload. An empty file (size 0) is sent as the server answers its init:
// with no chunk, or with one empty chunk; a server that refuses empty files
// answers the init with CodeInvalidField. When ctx is cancelled it stops and returns ctx's error; the upload
// can then be resumed with its id.
func (c *Client) Upload(ctx context.Context, r io.ReaderAt, size int64, opts UploadOptions) (*UploadResult, error) {
	cc := *c
	if opts.MaxRetries != 0 {
		cc.Retry.MaxRetries = opts.MaxRetries
	}
	st, resumed, err := cc.startUpload(ctx, size, opts)
	if err != nil {
		return nil, err
	}
	res := &UploadResult{UploadID: st.UploadID, Key: st.Key, Size: size, Resumed: resumed}
	if st.Status == string(storage.StatusCompleted) {
		return res, nil
	}
	// An empty file has no chunk, or one empty chunk, as the server decides.
	if st.ChunkSize <= 0 || st.TotalChunks < 0 || (st.TotalChunks == 0 && size != 0) {
		return nil, fmt.Errorf("client: server gave chunk_size %d and total_chunks %d", st.ChunkSize, st.TotalChunks)
	}
	up := &chunkUploader{c: &cc, r: r, st: st, parallel: opts.Parallel, progress: opts.Progress}
	if up.parallel <= 0 {
		up.parallel = DefaultParallel
	}
	have := make([]bool, st.TotalChunks)
	for _, i := range st.Chunks {
		if i >= 0 && i < st.TotalChunks && !have[i] {
			have[i] = true
			up.done.Add(up.chunkLen(i))
		}
	}
	var missing []int
	for i, ok := range have {
		if !ok {
			missing = append(missing, i)
		}
	}
	up.report()
	// A complete that finds chunks missing (lost by the server, say) gets
	// them sent again, a bounded number of times.
	for round := 0; ; round++ {
		if err := up.send(ctx, missing); err != nil {
			return nil, err
		}
		done, err := cc.Complete(ctx, st.UploadID)
		res.ChunksSent = up.sent
		var se *storage.Error
		switch {
		case err == nil:
			res.Key = done.Key
			up.done.Store(size)
			up.report()
			return res, nil
		case storage.HasCode(err, storage.CodeUploadCompleted):
			// An earlier complete succeeded but its answer was lost.
			s, serr := cc.Status(ctx, st.UploadID)
			if serr != nil {
				return nil, serr
			}
			res.Key = s.Key
			return res, nil
		case round < 2 && errors.As(err, &se) && se.Code == storage.CodeChunksMissing && len(se.Missing) > 0:
			missing = se.Missing
			for _, i := range missing {
				if i >= 0 && i < st.TotalChunks {
					up.done.Add(-up.chunkLen(i))
				}
			}
		default:
			return nil, err
		}
	}
}

// startUpload resumes opts.ResumeID or starts a new upload, and returns its
// status.
func (c *Client) startUpload(ctx context.Context, size int64, opts UploadOptions) (st *UploadStatus, resumed bool, err error) {
	if opts.ResumeID != "" {
		st, err = c.Status(ctx, opts.ResumeID)
		gone := storage.HasCode(err, storage.CodeUploadNotFound) ||
			(err == nil && (st.Status == string(storage.StatusCancelled) || st.Status == string(storage.StatusCancelling)))
		switch {
		case gone && opts.RestartIfGone:
		case err != nil:
			return nil, false, err
		case gone:
			return nil, false, storage.Errorf(storage.CodeUploadCancelled, "upload %s is cancelled", opts.ResumeID)
		case st.TotalSize != size:
			return nil, false, storage.Errorf(storage.CodeInvalidField,
				"upload %s is of %d bytes, not %d: the file changed; start a new upload", opts.ResumeID, st.TotalSize, size)
		default:
			return st, true, nil
		}
	}
	if size < 0 {
		return nil, false, storage.Errorf(storage.CodeInvalidField, "cannot upload %d bytes", size)
	}
	in, err := c.Init(ctx, InitRequest{FileName: opts.FileName, TotalSize: size, UserID: opts.UserID,
		UserRole: opts.UserRole, ContentType: opts.ContentType, ChunkSize: opts.ChunkSize,
		Visibility: opts.Visibility})
	if err != nil {
		return nil, false, err
	}
	if opts.OnInit != nil {
		if err := opts.OnInit(in.UploadID); err != nil {
			return nil, false, err
		}
	}
	return &UploadStatus{UploadID: in.UploadID, TotalSize: size, ChunkSize: in.ChunkSize,
		TotalChunks: in.TotalChunks, Key: in.Key, Status: in.Status}, false, nil
}

// chunkUploader sends the chunks of one upload.
type chunkUploader struct {
	c        *Client
	r        io.ReaderAt
	st       *UploadStatus
	parallel int
	progress func(done, total int64)

	done atomic.Int64 // bytes sent or already on the server
	mu   sync.Mutex   // serialises progress calls
	sent int          // chunks acknowledged, written only by send
}

func (u *chunkUploader) chunkLen(i int) int64 {
	if i == u.st.TotalChunks-1 {
		return u.st.TotalSize - int64(u.st.TotalChunks-1)*u.st.ChunkSize
	}
	return u.st.ChunkSize
}

func (u *chunkUploader) report() {
	if u.progress == nil {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.progress(u.done.Load(), u.st.TotalSize)
}

// send uploads the chunks of indices with u.parallel workers; the first
// failure stops the others.
func (u *chunkUploader) send(parent context.Context, indices []int) error {
	indices = slices.Clone(indices)
	slices.Sort(indices)
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	next := make(chan int)
	var (
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
		sent     atomic.Int64
	)
	for range min(u.parallel, len(indices)) {
		wg.Go(func() {
			for i := range next {
				if err := u.sendChunk(ctx, i); err != nil {
					once.Do(func() { firstErr = err; cancel() })
					return
				}
				sent.Add(1)
			}
		})
	}
feed:
	for _, i := range indices {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	u.sent += int(sent.Load())
	if err := parent.Err(); err != nil {
		return err
	}
	return firstErr
}

// sendChunk uploads chunk i, retrying transient failures, each attempt
// streaming afresh from the file.
func (u *chunkUploader) sendChunk(ctx context.Context, i int) error {
	n := u.chunkLen(i)
	off := int64(i) * u.st.ChunkSize
	p := u.c.Retry
	return u.c.retry(ctx, p, true, func() error {
		cr := &countingReader{r: io.NewSectionReader(u.r, off, n), u: u}
		_, err := u.c.putChunkOnce(ctx, u.st.UploadID, i, cr, n)
		if err != nil {
			u.done.Add(-cr.retire()) // the attempt's bytes were not stored
			u.report()
			return err
		}
		return nil
	})
}

// errAttemptOver stops a transport still reading the body of a failed attempt.
var errAttemptOver = errors.New("client: chunk attempt is over")

// countingReader reports the bytes read from it as progress. The transport
// may go on reading a body after a failed request returns (when the server
// answered early), so retire stops it and counting under a lock.
type countingReader struct {
	mu      sync.Mutex
	r       io.Reader
	u       *chunkUploader
	n       int64
	retired bool
}

func (c *countingReader) Read(p []byte) (int, error) {
	c.mu.Lock()
	if c.retired {
		c.mu.Unlock()
		return 0, errAttemptOver
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if n > 0 {
		c.u.done.Add(int64(n))
	}
	c.mu.Unlock()
	if n > 0 {
		c.u.report()
	}
	return n, err
}

// retire ends the attempt and returns the bytes it counted.
func (c *countingReader) retire() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.retired = true
	return c.n
}
