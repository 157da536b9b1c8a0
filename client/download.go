package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// FileInfo describes a downloaded file.
type FileInfo struct {
	Key          string
	Size         int64
	ContentType  string
	ETag         string
	LastModified time.Time
}

// DownloadOptions tune DownloadWith and DownloadFile.
type DownloadOptions struct {
	// Progress, when set, is called with the bytes received so far (those of
	// a resumed partial file included) and the total, or -1 when unknown.
	Progress func(done, total int64)
	// MaxRetries overrides the client's RetryPolicy.MaxRetries when
	// non-zero. It counts consecutive failures that brought no new bytes.
	MaxRetries int
	// NoOverwrite makes DownloadFile refuse a destination that exists, with
	// an error that matches fs.ErrExist: before the transfer, and again,
	// atomically where the file system allows, when the file is put in place.
	NoOverwrite bool
}

// Download writes the file at key to w. A transfer cut short is resumed
// with a Range request from where it stopped.
func (c *Client) Download(ctx context.Context, key string, w io.Writer) (*FileInfo, error) {
	return c.DownloadWith(ctx, key, w, DownloadOptions{})
}

// DownloadWith is Download with options.
func (c *Client) DownloadWith(ctx context.Context, key string, w io.Writer, opts DownloadOptions) (*FileInfo, error) {
	return c.download(ctx, key, w, 0, nil, opts)
}

// DownloadFile downloads the file at key into path. Bytes arrive in
// path+".part", which is renamed to path once complete; a ".part" file left
// by an interrupted download is resumed from its end. Stored files are never
// overwritten on the server, so the bytes already received stay valid.
// The ".part" file is created with the first byte that arrives, so a refusal
// (an unknown key, a missing token) leaves no file behind, and an empty one
// left by a failed attempt is removed. An existing path is replaced unless
// opts.NoOverwrite is set.
func (c *Client) DownloadFile(ctx context.Context, key, path string, opts DownloadOptions) (*FileInfo, error) {
	if opts.NoOverwrite {
		if err := refuseExisting(path); err != nil {
			return nil, err
		}
	}
	part := &partFile{path: path + ".part"}
	if err := part.openExisting(); err != nil {
		return nil, err
	}
	info, err := c.download(ctx, key, part, part.size, part.restart, opts)
	if err == nil {
		err = part.finish()
	}
	if err != nil {
		part.abandon()
		return nil, err
	}
	if opts.NoOverwrite {
		err = renameNoReplace(part.path, path)
	} else {
		err = os.Rename(part.path, path)
	}
	if err != nil {
		return nil, err
	}
	return info, nil
}

// refuseExisting returns an error matching fs.ErrExist when path exists.
func refuseExisting(path string) error {
	_, err := os.Lstat(path)
	switch {
	case err == nil:
		return &fs.PathError{Op: "download", Path: path, Err: fs.ErrExist}
	case errors.Is(err, fs.ErrNotExist):
		return nil
	}
	return err
}

// renameNoReplace moves from to to unless to exists: a hard link, which
// fails when to exists, then the removal of from. Where the file system
// has no hard links it checks, then renames.
func renameNoReplace(from, to string) error {
	err := os.Link(from, to)
	switch {
	case err == nil:
		return os.Remove(from)
	case errors.Is(err, fs.ErrExist):
		return &fs.PathError{Op: "download", Path: to, Err: fs.ErrExist}
	}
	if err := refuseExisting(to); err != nil {
		return err
	}
	return os.Rename(from, to)
}

// partFile is the ".part" file of a download. It is opened when it exists
// and created only when the first byte is written.
type partFile struct {
	path string
	f    *os.File
	size int64 // bytes it held when opened
}

// openExisting opens the file when it exists and records its size.
func (p *partFile) openExisting() error {
	f, err := os.OpenFile(p.path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	n, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return err
	}
	p.f, p.size = f, n
	return nil
}

// create creates the file if it is not open yet.
func (p *partFile) create() error {
	if p.f != nil {
		return nil
	}
	f, err := os.OpenFile(p.path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	p.f = f
	return nil
}

func (p *partFile) Write(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	if err := p.create(); err != nil {
		return 0, err
	}
	return p.f.Write(b)
}

// restart empties the file, for a server that sends the whole file again.
func (p *partFile) restart() error {
	if p.f == nil {
		return nil
	}
	if err := p.f.Truncate(0); err != nil {
		return err
	}
	_, err := p.f.Seek(0, io.SeekStart)
	return err
}

// finish makes the complete file durable and closes it; an empty file is
// created now.
func (p *partFile) finish() error {
	if err := p.create(); err != nil {
		return err
	}
	err := p.f.Sync()
	if cerr := p.f.Close(); err == nil {
		err = cerr
	}
	p.f = nil
	return err
}

// abandon closes the file after a failure, keeping what arrived for a
// later resume, and removes it when it holds nothing.
func (p *partFile) abandon() {
	if p.f == nil {
		return
	}
	fi, err := p.f.Stat()
	_ = p.f.Close()
	p.f = nil
	if err == nil && fi.Size() == 0 {
		_ = os.Remove(p.path)
	}
}

// FileURL returns the URL of the file at key.
func (c *Client) FileURL(key string) string {
	return strings.TrimRight(c.BaseURL, "/") + "/api/files/" + escapeKey(key)
}

// writeError marks a failure to write to the destination, which no retry fixes.
type writeError struct{ err error }

func (e *writeError) Error() string { return "writing the download: " + e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

// trackingWriter counts the bytes written and marks write failures.
type trackingWriter struct {
	w       io.Writer
	n       int64
	onWrite func(n int64)
}

func (t *trackingWriter) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	t.n += int64(n)
	if n > 0 && t.onWrite != nil {
		t.onWrite(t.n)
	}
	if err != nil {
		return n, &writeError{err}
	}
	return n, nil
}

// download writes the file at key to w, which already holds its first
// offset bytes. restart, when set, empties w, for a server that sends the
// whole file again.
func (c *Client) download(ctx context.Context, key string, w io.Writer, offset int64, restart func() error, opts DownloadOptions) (*FileInfo, error) {
	p := c.Retry
	if opts.MaxRetries != 0 {
		p.MaxRetries = opts.MaxRetries
	}
	info := &FileInfo{Key: key, Size: -1}
	tw := &trackingWriter{w: w, n: offset}
	tw.onWrite = func(n int64) {
		if opts.Progress != nil {
			opts.Progress(n, info.Size)
		}
	}
	failures := 0
	for {
		before := tw.n
		done, err := c.downloadOnce(ctx, key, tw, info, restart)
		if done {
			return info, nil
		}
		if tw.n > before {
			failures = 0
		}
		var we *writeError
		if errors.As(err, &we) || !retryable(err, true) || failures >= p.maxRetries() {
			return nil, err
		}
		if err := p.waitToRetry(ctx, failures, err); err != nil {
			return nil, err
		}
		failures++
	}
}

// downloadOnce makes one GET of the file from tw.n on and copies it into
// tw. It reports whether the file is complete.
func (c *Client) downloadOnce(ctx context.Context, key string, tw *trackingWriter, info *FileInfo, restart func() error) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.FileURL(key), nil)
	if err != nil {
		return false, err
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	req.Header.Set("Accept-Encoding", "identity") // byte offsets must be the file's
	if tw.n > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", tw.n))
		if info.ETag != "" {
			req.Header.Set("If-Range", info.ETag)
		}
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return false, err
	}
	defer drainClose(resp.Body)

	switch resp.StatusCode {
	case http.StatusOK:
		if tw.n > 0 {
			if restart == nil {
				return false, fmt.Errorf("client: the server sent %s whole instead of resuming at byte %d", key, tw.n)
			}
			if err := restart(); err != nil {
				return false, &writeError{err}
			}
			tw.n = 0
		}
		info.Size = resp.ContentLength
	case http.StatusPartialContent:
		start, _, size, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != tw.n {
			return false, fmt.Errorf("client: unexpected Content-Range %q for a request from byte %d",
				resp.Header.Get("Content-Range"), tw.n)
		}
		info.Size = size
	case http.StatusRequestedRangeNotSatisfiable:
		_, _, size, ok := parseContentRange(resp.Header.Get("Content-Range"))
		switch {
		case ok && size == tw.n: // we already have every byte
			info.Size = size
			setInfo(info, resp.Header)
			return true, nil
		case ok && size < tw.n && restart != nil: // the local part is longer than the file
			if err := restart(); err != nil {
				return false, &writeError{err}
			}
			tw.n = 0
			return false, errRestart
		}
		return false, decodeError(resp)
	default:
		return false, decodeError(resp)
	}
	setInfo(info, resp.Header)
	if tw.onWrite != nil {
		tw.onWrite(tw.n)
	}
	if _, err := io.Copy(tw, resp.Body); err != nil {
		return false, err
	}
	if info.Size >= 0 && tw.n != info.Size {
		return false, io.ErrUnexpectedEOF
	}
	return true, nil
}

// errRestart asks download to try again at once after emptying the
// destination; it counts as a transient failure.
var errRestart = errors.New("client: restarting the download from the start")

func setInfo(info *FileInfo, h http.Header) {
	if ct := h.Get("Content-Type"); ct != "" {
		info.ContentType = ct
	}
	if et := h.Get("ETag"); et != "" {
		info.ETag = et
	}
	if lm, err := http.ParseTime(h.Get("Last-Modified")); err == nil {
		info.LastModified = lm
	}
}

// parseContentRange reads "bytes START-END/SIZE" or "bytes */SIZE" (start
// and end -1).
func parseContentRange(h string) (start, end, size int64, ok bool) {
	rest, found := strings.CutPrefix(h, "bytes ")
	if !found {
		return 0, 0, 0, false
	}
	rng, total, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, 0, false
	}
	size, err := strconv.ParseInt(total, 10, 64)
	if err != nil || size < 0 {
		return 0, 0, 0, false
	}
	if rng == "*" {
		return -1, -1, size, true
	}
	a, b, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, 0, false
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || end < start || end >= size {
		return 0, 0, 0, false
	}
	return start, end, size, true
}
