// Package s3 is an ObjectStore on any S3-compatible service: AWS S3,
// Cloudflare R2, MinIO, Ceph, SeaweedFS or versitygw.
//
// An upload is an S3 multipart upload and chunk i is part i+1. Parts are
// streamed from the request body with a known Content-Length and an unsigned
// payload, so no chunk is ever held in memory or in a temporary file.
package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/memenow/memenow-storage"
)

// DefaultRegion is the region used when neither Options nor the environment
// name one; it is what Cloudflare R2 expects.
const DefaultRegion = "auto"

// uploadIDMeta is the user metadata that ties a completed object to the
// upload that produced it.
const uploadIDMeta = "memenow-upload-id"

// Options configures a Store. Credentials come from the AWS SDK's default
// chain only: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN,
// or the shared credentials file.
type Options struct {
	Bucket string // the bucket, required
	Prefix string // prepended to every key as "prefix/key"; optional
	// Endpoint is the service's URL, e.g. "https://ACCOUNT.r2.cloudflarestorage.com";
	// empty means AWS S3 (or AWS_ENDPOINT_URL_S3).
	Endpoint string
	// Region defaults to AWS_REGION, then DefaultRegion.
	Region string
	// PathStyle addresses the bucket as endpoint/bucket/key rather than
	// bucket.endpoint/key.
	PathStyle bool
	// HTTPClient replaces the SDK's HTTP client when not nil.
	HTTPClient *http.Client
}

// Store is an ObjectStore on an S3 bucket.
type Store struct {
	client   *s3.Client
	bucket   string
	prefix   string // "" or ending in "/"
	endpoint string

	mu      sync.Mutex
	writing map[string]bool // parts being written by this process: handle + "/" + index
}

var _ storage.ObjectStore = (*Store)(nil)

// New returns a Store for o. It does not contact the service; use Ping.
func New(ctx context.Context, o Options) (*Store, error) {
	if o.Bucket == "" {
		return nil, errors.New("s3: bucket is required")
	}
	prefix, err := cleanPrefix(o.Prefix)
	if err != nil {
		return nil, err
	}
	client, err := NewClient(ctx, o)
	if err != nil {
		return nil, err
	}
	return &Store{client: client, bucket: o.Bucket, prefix: prefix, endpoint: o.Endpoint, writing: map[string]bool{}}, nil
}

// NewClient returns an S3 client of o's service (o.Bucket and o.Prefix are
// not used), set up as the Store's: credentials from the default chain,
// checksums only where the API requires them.
func NewClient(ctx context.Context, o Options) (*s3.Client, error) {
	var opts []func(*config.LoadOptions) error
	if o.Region != "" {
		opts = append(opts, config.WithRegion(o.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3: load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	// Checksums only where the API requires them: no aws-chunked CRC
	// trailers, which R2 and others refuse, and no need to read a part twice.
	cfg.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
	cfg.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	cfg.HTTPClient = withBulkWrites(cfg.HTTPClient)
	client := s3.NewFromConfig(cfg, func(so *s3.Options) {
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Endpoint)
		}
		so.UsePathStyle = o.PathStyle
		if o.HTTPClient != nil { // here, not in the config: AWS_CA_BUNDLE cannot apply to it
			so.HTTPClient = o.HTTPClient
		}
	})
	return client, nil
}

// ParseURL splits "s3://BUCKET/optional/prefix" into its bucket and prefix
// (without leading or trailing slashes).
func ParseURL(s string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(s, "s3://")
	if !ok {
		return "", "", fmt.Errorf("s3 URL %q must start with s3://", s)
	}
	if strings.ContainsAny(rest, "?#") {
		return "", "", fmt.Errorf("s3 URL %q must not have a query or fragment", s)
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	if !validBucket(bucket) {
		return "", "", fmt.Errorf("s3 URL %q has an invalid bucket name %q", s, bucket)
	}
	p, err := cleanPrefix(prefix)
	if err != nil {
		return "", "", fmt.Errorf("s3 URL %q: %w", s, err)
	}
	return bucket, strings.TrimSuffix(p, "/"), nil
}

// validBucket accepts S3's bucket names: 3 to 63 lower-case letters, digits,
// dots and hyphens, starting and ending with a letter or digit.
func validBucket(b string) bool {
	if len(b) < 3 || len(b) > 63 {
		return false
	}
	for i, r := range b {
		alnum := r >= 'a' && r <= 'z' || r >= '0' && r <= '9'
		if !alnum && ((r != '.' && r != '-') || i == 0 || i == len(b)-1) {
			return false
		}
	}
	return true
}

// cleanPrefix trims the slashes around p and returns "" or "p/"; empty,
// "." and ".." segments are refused.
func cleanPrefix(p string) (string, error) {
	p = strings.Trim(p, "/")
	if p == "" {
		return "", nil
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", fmt.Errorf("invalid key prefix %q", p)
		}
	}
	return p + "/", nil
}

func (s *Store) key(k string) string { return s.prefix + k }

// Describe returns "s3://bucket/prefix (endpoint)".
func (s *Store) Describe() string {
	d := "s3://" + s.bucket + "/" + strings.TrimSuffix(s.prefix, "/")
	if s.endpoint != "" {
		d += " (" + redactURL(s.endpoint) + ")"
	}
	return d
}

// redactURL drops any user information from an endpoint URL.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	u.User = nil
	return u.String()
}

// Ping checks that the bucket exists and the credentials can reach it.
func (s *Store) Ping(ctx context.Context) error {
	if _, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.bucket}); err != nil {
		return storageErr(err)
	}
	return nil
}

// CreateMultipart starts an S3 multipart upload at m.Key and returns its
// upload id.
func (s *Store) CreateMultipart(ctx context.Context, m storage.MultipartInfo) (string, error) {
	out, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket:      &s.bucket,
		Key:         aws.String(s.key(m.Key)),
		ContentType: aws.String(m.ContentType),
		Metadata:    map[string]string{uploadIDMeta: m.UploadID},
	})
	if err != nil {
		return "", storageErr(err)
	}
	if out.UploadId == nil || *out.UploadId == "" {
		return "", storage.Errorf(storage.CodeStorage, "object storage returned no upload id")
	}
	return *out.UploadId, nil
}

// WriteChunk streams size bytes from r as part index+1 and returns its ETag.
func (s *Store) WriteChunk(ctx context.Context, m storage.MultipartInfo, handle string, index int, size int64, r io.Reader) (string, error) {
	if index < 0 || index >= storage.MaxChunks {
		return "", storage.Errorf(storage.CodeStorage, "chunk index %d is outside S3's part numbers", index)
	}
	lock := fmt.Sprintf("%s/%d", handle, index)
	s.mu.Lock()
	if s.writing[lock] {
		s.mu.Unlock()
		return "", storage.Errorf(storage.CodeChunkLocked, "chunk %d is being written now", index)
	}
	s.writing[lock] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.writing, lock)
		s.mu.Unlock()
	}()

	body := &partReader{ctx: ctx, r: r, remaining: size, size: size, index: index}
	out, err := s.client.UploadPart(ctx, &s3.UploadPartInput{
		Bucket:        &s.bucket,
		Key:           aws.String(s.key(m.Key)),
		UploadId:      &handle,
		PartNumber:    aws.Int32(int32(index + 1)),
		ContentLength: aws.Int64(size),
		Body:          body,
	}, StreamPart)
	if err != nil {
		var de *storage.Error
		if errors.As(err, &de) {
			return "", de
		}
		if body.err != nil {
			return "", body.err
		}
		if apiCode(err) == "NoSuchUpload" || s.uploadGone(ctx, m, handle, err) {
			return "", storage.Wrap(storage.CodeUploadNotFound, err, "the multipart upload no longer exists")
		}
		return "", storageErr(err)
	}
	if body.remaining > 0 { // a server that answered before reading it all
		return "", storage.Errorf(storage.CodeStorage, "object storage acknowledged chunk %d before reading all of it", index)
	}
	if out.ETag == nil {
		return "", storage.Errorf(storage.CodeStorage, "object storage returned no ETag for chunk %d", index)
	}
	return *out.ETag, nil
}

// uploadGone tells, after an UploadPart that failed without an S3 error,
// whether the multipart upload is gone: a server may answer NoSuchUpload
// before reading the body and close the connection, which the client sees as
// a failed write.
func (s *Store) uploadGone(ctx context.Context, m storage.MultipartInfo, handle string, err error) bool {
	if apiCode(err) != "" || ctx.Err() != nil {
		return false
	}
	_, lerr := s.client.ListParts(ctx, &s3.ListPartsInput{
		Bucket: &s.bucket, Key: aws.String(s.key(m.Key)), UploadId: &handle, MaxParts: aws.Int32(1),
	})
	return apiCode(lerr) == "NoSuchUpload"
}

// StreamPart makes the SDK send a part as it reads it: an unsigned payload
// (the body is not read twice to hash it) and a single attempt (it cannot be
// rewound for a retry; the client retries the chunk instead).
func StreamPart(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
	o.RetryMaxAttempts = 1
}

// partReader passes exactly size bytes of a chunk to the SDK. It turns an
// early end into CodeIncompleteBody, stops when ctx is done (net/http does
// not check while it copies a body) and remembers the first error so that
// the caller's own *storage.Error comes back unchanged.
type partReader struct {
	ctx       context.Context
	r         io.Reader
	remaining int64
	size      int64
	index     int
	err       error
}

func (p *partReader) Read(b []byte) (int, error) {
	if p.err != nil {
		return 0, p.err
	}
	if err := p.ctx.Err(); err != nil {
		p.err = storage.Wrap(storage.CodeStorage, err, fmt.Sprintf("writing chunk %d was cancelled", p.index))
		return 0, p.err
	}
	if p.remaining <= 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.remaining {
		b = b[:p.remaining]
	}
	n, err := p.r.Read(b)
	p.remaining -= int64(n)
	switch {
	case err == nil:
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		if p.remaining > 0 {
			p.err = storage.Errorf(storage.CodeIncompleteBody, "chunk %d ended after %d of %d bytes", p.index, p.size-p.remaining, p.size)
			return n, p.err
		}
		return n, io.EOF
	default:
		var de *storage.Error
		if errors.As(err, &de) {
			p.err = de
		} else {
			p.err = storage.Wrap(storage.CodeIncompleteBody, err, fmt.Sprintf("reading chunk %d failed after %d of %d bytes", p.index, p.size-p.remaining, p.size))
		}
		return n, p.err
	}
	if p.remaining == 0 {
		return n, io.EOF
	}
	return n, nil
}

// CompleteMultipart completes the multipart upload from the chunks' ETags.
// A part list the store rejects is reconciled once with ListParts; an upload
// that is gone but whose object exists with the expected size (an earlier
// complete whose answer was lost) gives that object's info.
func (s *Store) CompleteMultipart(ctx context.Context, m storage.MultipartInfo, handle string, chunks []storage.Chunk) (storage.ObjectInfo, error) {
	if m.TotalSize == 0 && m.TotalChunks == 0 && len(chunks) == 0 {
		return s.completeEmpty(ctx, m, handle)
	}
	parts, err := completedParts(m, chunks)
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	err = s.complete(ctx, m, handle, parts)
	if isInvalidPart(err) {
		var rerr error
		if parts, rerr = s.reconcile(ctx, m, handle); rerr != nil {
			return storage.ObjectInfo{}, rerr
		}
		err = s.complete(ctx, m, handle, parts)
	}
	switch {
	case err == nil:
	case apiCode(err) == "NoSuchUpload":
		return s.completedEarlier(ctx, m, err)
	case isInvalidPart(err):
		return storage.ObjectInfo{}, storage.Wrap(storage.CodeInvalidPart, err, "the stored parts do not match the chunks")
	default:
		return storage.ObjectInfo{}, storageErr(err)
	}
	// Some servers (versitygw) also answer success for an upload id that is
	// gone when an object exists at the key: check that it is this upload's.
	return s.completedEarlier(ctx, m, nil)
}

// completeEmpty completes the upload of an empty file, which has no part:
// S3 refuses CompleteMultipartUpload with no parts, so the object is put
// with an empty body (the content type and upload id as for any upload)
// while the multipart upload exists, and the multipart upload is aborted
// after. A repeat finds the object of this upload and returns its info
// (aborting the multipart upload again, in case a crash came between);
// with neither the object nor the multipart upload it is
// CodeUploadNotFound, as for any upload.
func (s *Store) completeEmpty(ctx context.Context, m storage.MultipartInfo, handle string) (storage.ObjectInfo, error) {
	info, err := s.completedEarlier(ctx, m, nil)
	if err != nil {
		if !storage.HasCode(err, storage.CodeUploadNotFound) {
			return storage.ObjectInfo{}, err
		}
		// No object of this upload: the multipart upload must still exist.
		if _, lerr := s.client.ListParts(ctx, &s3.ListPartsInput{
			Bucket: &s.bucket, Key: aws.String(s.key(m.Key)), UploadId: &handle, MaxParts: aws.Int32(1),
		}); lerr != nil {
			if apiCode(lerr) == "NoSuchUpload" {
				return storage.ObjectInfo{}, err
			}
			return storage.ObjectInfo{}, storageErr(lerr)
		}
		if _, perr := s.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket:        &s.bucket,
			Key:           aws.String(s.key(m.Key)),
			Body:          bytes.NewReader(nil),
			ContentLength: aws.Int64(0),
			ContentType:   aws.String(m.ContentType),
			Metadata:      map[string]string{uploadIDMeta: m.UploadID},
		}); perr != nil {
			return storage.ObjectInfo{}, storageErr(perr)
		}
		if info, err = s.completedEarlier(ctx, m, nil); err != nil {
			return storage.ObjectInfo{}, err
		}
	}
	if err := s.AbortMultipart(ctx, m, handle); err != nil {
		return storage.ObjectInfo{}, err
	}
	return info, nil
}

func (s *Store) complete(ctx context.Context, m storage.MultipartInfo, handle string, parts []types.CompletedPart) error {
	_, err := s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          &s.bucket,
		Key:             aws.String(s.key(m.Key)),
		UploadId:        &handle,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	return err
}

// completedParts checks that chunks are exactly the upload's chunks and
// lists them as S3 parts in order.
func completedParts(m storage.MultipartInfo, chunks []storage.Chunk) ([]types.CompletedPart, error) {
	sorted := append([]storage.Chunk(nil), chunks...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Index < sorted[j].Index })
	if len(sorted) != m.TotalChunks {
		return nil, storage.Errorf(storage.CodeInvalidPart, "%d chunks given for an upload of %d", len(sorted), m.TotalChunks)
	}
	parts := make([]types.CompletedPart, len(sorted))
	for i, c := range sorted {
		if c.Index != i || c.Size != chunkLen(m, i) {
			return nil, storage.Errorf(storage.CodeInvalidPart, "chunk %d of %d bytes does not fit the upload", c.Index, c.Size)
		}
		parts[i] = types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: aws.String(c.ETag)}
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

// reconcile lists the stored parts and returns them as the part list when
// every chunk has a part of the expected size; otherwise CodeInvalidPart
// with the indices of the absent or wrong-sized parts in Missing.
func (s *Store) reconcile(ctx context.Context, m storage.MultipartInfo, handle string) ([]types.CompletedPart, error) {
	stored := make(map[int32]types.Part, m.TotalChunks)
	pages := s3.NewListPartsPaginator(s.client, &s3.ListPartsInput{
		Bucket: &s.bucket, Key: aws.String(s.key(m.Key)), UploadId: &handle,
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			if apiCode(err) == "NoSuchUpload" {
				return nil, storage.Wrap(storage.CodeUploadNotFound, err, "the multipart upload no longer exists")
			}
			return nil, storageErr(err)
		}
		for _, p := range page.Parts {
			if p.PartNumber != nil {
				stored[*p.PartNumber] = p
			}
		}
	}
	parts := make([]types.CompletedPart, m.TotalChunks)
	var bad []string
	var missing []int
	for i := range parts {
		p, ok := stored[int32(i+1)]
		switch {
		case !ok:
			bad = append(bad, fmt.Sprintf("%d missing", i))
			missing = append(missing, i)
		case aws.ToInt64(p.Size) != chunkLen(m, i):
			bad = append(bad, fmt.Sprintf("%d has %d bytes, want %d", i, aws.ToInt64(p.Size), chunkLen(m, i)))
			missing = append(missing, i)
		}
		parts[i] = types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: p.ETag}
	}
	if len(bad) > 0 {
		if len(bad) > 10 {
			bad = append(bad[:10], fmt.Sprintf("and %d more", len(bad)-10))
		}
		return nil, &storage.Error{Code: storage.CodeInvalidPart, Missing: missing,
			Message: "stored parts do not match the chunks: chunk " + strings.Join(bad, ", ")}
	}
	return parts, nil
}

// completedEarlier returns the info of the object at m.Key if it is the
// result of upload m: it exists with the expected size (and upload id, when
// the store keeps metadata). It is how a complete whose multipart upload is
// gone (an earlier complete whose answer was lost) is answered; cause is the
// error that sent us here, nil after a complete that succeeded.
func (s *Store) completedEarlier(ctx context.Context, m storage.MultipartInfo, cause error) (storage.ObjectInfo, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: aws.String(s.key(m.Key))})
	if isNotFound(err) {
		if cause == nil {
			cause = err
		}
		return storage.ObjectInfo{}, storage.Wrap(storage.CodeUploadNotFound, cause, "neither the multipart upload nor the object exists")
	}
	if err != nil {
		return storage.ObjectInfo{}, storageErr(err)
	}
	id, tagged := out.Metadata[uploadIDMeta]
	if size := aws.ToInt64(out.ContentLength); size != m.TotalSize || (tagged && id != m.UploadID) {
		if cause == nil {
			cause = fmt.Errorf("object at %q has %d bytes and upload id %q, want %d and %q", m.Key, size, id, m.TotalSize, m.UploadID)
		}
		return storage.ObjectInfo{}, storage.Wrap(storage.CodeUploadNotFound, cause, "the multipart upload is gone and the object at its key is another one")
	}
	return infoOf(m.Key, out), nil
}

// AbortMultipart aborts the multipart upload; one that is already gone is
// not an error.
func (s *Store) AbortMultipart(ctx context.Context, m storage.MultipartInfo, handle string) error {
	if handle == "" {
		return nil
	}
	_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket: &s.bucket, Key: aws.String(s.key(m.Key)), UploadId: &handle,
	})
	if err != nil && apiCode(err) != "NoSuchUpload" {
		return storageErr(err)
	}
	return nil
}

// Open returns the object at key. Nothing is downloaded until the first
// Read; reads use ctx.
func (s *Store) Open(ctx context.Context, key string) (storage.Object, error) {
	info, err := s.head(ctx, key)
	if err != nil {
		return nil, err
	}
	return &object{ctx: ctx, s: s, info: info}, nil
}

// Delete removes the object at key under the store's prefix. S3 answers
// the delete of a missing key with success, and a NoSuchKey from a server
// that sends one is success too, so deleting twice is no error. A key that
// is not well-formed (storage.ValidKey) is refused before any request, so
// that a server that resolves "..", as some file-system backends do, is
// never asked to delete outside the prefix. Errors: CodeStorage.
func (s *Store) Delete(ctx context.Context, key string) error {
	if !storage.ValidKey(key) {
		return storage.Errorf(storage.CodeStorage, "invalid object key")
	}
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: aws.String(s.key(key))})
	if err != nil && !isNotFound(err) {
		return storageErr(err)
	}
	return nil
}

func (s *Store) head(ctx context.Context, key string) (storage.ObjectInfo, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: aws.String(s.key(key))})
	if isNotFound(err) {
		return storage.ObjectInfo{}, storage.Wrap(storage.CodeNotFound, err, "no file at that key")
	}
	if err != nil {
		return storage.ObjectInfo{}, storageErr(err)
	}
	return infoOf(key, out), nil
}

func infoOf(key string, out *s3.HeadObjectOutput) storage.ObjectInfo {
	etag := aws.ToString(out.ETag)
	if etag != "" && !strings.HasPrefix(etag, `"`) && !strings.HasPrefix(etag, `W/"`) {
		etag = `"` + etag + `"`
	}
	return storage.ObjectInfo{
		Key:          key,
		Size:         aws.ToInt64(out.ContentLength),
		ContentType:  aws.ToString(out.ContentType),
		ETag:         etag,
		LastModified: aws.ToTime(out.LastModified).UTC(),
	}
}

// object reads a stored object lazily: Seek only moves the offset, and Read
// opens a GetObject with "Range: bytes=OFFSET-" when it has no body open at
// that offset. If-Match ties every read to the version Open saw.
type object struct {
	ctx  context.Context
	s    *Store
	info storage.ObjectInfo
	off  int64
	body io.ReadCloser // open at off, or nil
}

func (o *object) Info() storage.ObjectInfo { return o.info }

func (o *object) Read(p []byte) (int, error) {
	if o.off >= o.info.Size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if o.body == nil {
		in := &s3.GetObjectInput{
			Bucket: &o.s.bucket,
			Key:    aws.String(o.s.key(o.info.Key)),
			Range:  aws.String(fmt.Sprintf("bytes=%d-", o.off)),
		}
		if o.info.ETag != "" {
			in.IfMatch = aws.String(o.info.ETag)
		}
		out, err := o.s.client.GetObject(o.ctx, in)
		if err != nil {
			if isNotFound(err) || apiCode(err) == "PreconditionFailed" {
				return 0, storage.Wrap(storage.CodeNotFound, err, "the file changed or went away while being read")
			}
			return 0, storageErr(err)
		}
		o.body = out.Body
	}
	n, err := o.body.Read(p)
	o.off += int64(n)
	if err == io.EOF && o.off < o.info.Size {
		err = storage.Errorf(storage.CodeStorage, "object storage ended the file after %d of %d bytes", o.off, o.info.Size)
	} else if err != nil && err != io.EOF {
		err = storageErr(err)
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
		return 0, errors.New("s3: invalid whence")
	}
	if abs < 0 {
		return 0, errors.New("s3: negative position")
	}
	if abs != o.off && o.body != nil {
		o.body.Close()
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

// apiCode returns the S3 error code of err, or "".
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// isNotFound reports whether err says the key does not exist.
func isNotFound(err error) bool {
	if err == nil {
		return false
	}
	var nf *types.NotFound
	var nk *types.NoSuchKey
	if errors.As(err, &nf) || errors.As(err, &nk) {
		return true
	}
	switch apiCode(err) {
	case "NotFound", "NoSuchKey":
		return true
	}
	var re *smithyhttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound && apiCode(err) != "NoSuchBucket"
}

// isInvalidPart reports whether err says the part list does not match the
// stored parts.
func isInvalidPart(err error) bool {
	switch apiCode(err) {
	case "InvalidPart", "InvalidPartOrder", "EntityTooSmall", "BadDigest":
		return true
	}
	return false
}

// storageErr turns any other SDK error into CodeStorage with a clean message.
func storageErr(err error) error {
	var de *storage.Error
	if errors.As(err, &de) {
		return de
	}
	return storage.Wrap(storage.CodeStorage, err, "object storage error")
}
