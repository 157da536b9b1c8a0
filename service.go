package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Limits of the multipart protocol that every ObjectStore (S3 and R2
// included) can honour.
const (
	MinChunkSize = 5 << 20   // 5 MiB: S3/R2's smallest part but the last
	MaxChunkSize = 5 << 30   // 5 GiB: S3's largest part
	MaxChunks    = 10_000    // S3/R2's most parts in one upload
	DefaultChunk = 157286400 // 150 MB, the original service's default
	DefaultMax   = 10737418240
)

// Config holds the Service's limits.
type Config struct {
	MaxFileSize  int64 // largest total_size accepted
	ChunkSize    int64 // chunk size when the client asks for none
	MinChunkSize int64 // smallest chunk size a client may ask for
	MaxChunkSize int64 // largest chunk size a client may ask for
	// MaxShareTTL is the longest a share link may live.
	MaxShareTTL time.Duration
	// Quota limits each user's open uploads and bytes, checked at init in
	// the same transaction as the insert; zero fields (the default) are no
	// limit.
	Quota Quota
	// MinFreeSpace is the free space an object store that reports it
	// (SpaceReporter, space.go) keeps: init refuses an upload whose bytes
	// would eat into it (CodeInsufficientStorage), and Health reports a
	// store under it; 0 keeps none.
	MinFreeSpace int64
	// UploadTTL is how long an upload may go without a chunk before the
	// janitor expires it (see Sweep); DefaultUploadTTL when 0.
	UploadTTL time.Duration
	// AuditRetention is how long the janitor keeps audit rows;
	// DefaultAuditRetention when 0, forever when negative.
	AuditRetention time.Duration
}

// DefaultUploadTTL is how long an upload may go without a chunk before it
// expires, by default: 24 hours.
const DefaultUploadTTL = 24 * time.Hour

// DefaultMaxShareTTL is the default longest life of a share link: 7 days.
const DefaultMaxShareTTL = 7 * 24 * time.Hour

// DefaultConfig returns the original service's limits: 10 GB files in
// 150 MB chunks, and client-chosen chunks between 5 MiB and 5 GiB; share
// links of at most 7 days.
func DefaultConfig() Config {
	return Config{MaxFileSize: DefaultMax, ChunkSize: DefaultChunk, MinChunkSize: MinChunkSize, MaxChunkSize: MaxChunkSize,
		MaxShareTTL: DefaultMaxShareTTL, UploadTTL: DefaultUploadTTL}
}

// Validate checks that the limits can be honoured by every object store:
// chunk sizes within [MinChunkSize, MaxChunkSize] and no file of the largest
// size needing more than MaxChunks chunks.
func (c Config) Validate() error {
	switch {
	case c.MaxFileSize <= 0:
		return fmt.Errorf("max file size must be positive, got %d", c.MaxFileSize)
	case c.MaxShareTTL < time.Second:
		return fmt.Errorf("max share ttl must be at least 1s, got %s", c.MaxShareTTL)
	case c.UploadTTL != 0 && c.UploadTTL < time.Second:
		return fmt.Errorf("upload ttl must be at least 1s, got %s", c.UploadTTL)
	case c.MinChunkSize < MinChunkSize:
		return fmt.Errorf("minimum chunk size %d is under %d bytes (5 MiB)", c.MinChunkSize, MinChunkSize)
	case c.MaxChunkSize > MaxChunkSize:
		return fmt.Errorf("maximum chunk size %d is over %d bytes (5 GiB)", c.MaxChunkSize, int64(MaxChunkSize))
	case c.ChunkSize < c.MinChunkSize:
		return fmt.Errorf("chunk size %d is under %d bytes (5 MiB)", c.ChunkSize, c.MinChunkSize)
	case c.ChunkSize > c.MaxChunkSize:
		return fmt.Errorf("chunk size %d is over %d bytes (5 GiB)", c.ChunkSize, c.MaxChunkSize)
	case chunkCount(c.MaxFileSize, c.ChunkSize) > MaxChunks:
		return fmt.Errorf("max file size %d in chunks of %d needs %d chunks, more than %d",
			c.MaxFileSize, c.ChunkSize, chunkCount(c.MaxFileSize, c.ChunkSize), MaxChunks)
	}
	return nil
}

func chunkCount(total, chunk int64) int64 { return (total + chunk - 1) / chunk }

// Service is the upload service: it validates requests, reserves keys and
// moves uploads through their states, keeping the ObjectStore and the
// MetaStore consistent.
type Service struct {
	Objects ObjectStore
	Meta    MetaStore
	Config  Config
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
	// NewUUID returns a random UUID v4 string; uuid.NewString when nil.
	NewUUID func() string
	// RequireAuth turns access control on: every operation needs a verified
	// Principal in its context (see access.go); files are private unless
	// their upload made them public. Off, anyone may do anything, as in the
	// original service.
	RequireAuth bool
	// Logger receives the errors the Service handles without failing the
	// request, such as an abort that undoes a failed init; nil discards
	// them.
	Logger *slog.Logger
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) newUUID() string {
	if s.NewUUID != nil {
		return s.NewUUID()
	}
	return uuid.NewString()
}

// InitRequest is a request to start an upload. Fields are as the client sent
// them; the Service validates them.
type InitRequest struct {
	FileName    string
	TotalSize   int64
	UserID      string
	UserRole    string
	ContentType string
	// ChunkSize is the chunk size the client asks for; 0 means the default.
	ChunkSize int64
	// Visibility is "public", "private" or "" (private).
	Visibility string
}

// MaxContentTypeBytes is the longest content_type accepted at init: it is
// kept with the object (a disk xattr, an S3 header), whose room is small.
const MaxContentTypeBytes = 255

// maxKeyAttempts bounds the readable alternatives ("name-2.ext" …) tried
// before a name gets a suffix from the upload id.
const maxKeyAttempts = 20

// Init validates r, reserves a key and starts a multipart upload. With auth
// on, the user and role come from the caller's token; when r names them too
// they must match, unless the caller is an administrator acting for a user.
func (s *Service) Init(ctx context.Context, r InitRequest) (*Upload, error) {
	p, err := s.requireUser(ctx)
	if err != nil {
		return nil, err
	}
	if s.RequireAuth {
		if r, err = ownInitRequest(p, r); err != nil {
			return nil, err
		}
	}
	if r.FileName == "" {
		return nil, Errorf(CodeMissingField, "file_name is required")
	}
	if r.UserID == "" {
		return nil, Errorf(CodeMissingField, "user_id is required")
	}
	if r.UserRole == "" {
		return nil, Errorf(CodeMissingField, "user_role is required")
	}
	if r.TotalSize < 0 {
		return nil, Errorf(CodeInvalidField, "total_size must be a non-negative integer")
	}
	if r.TotalSize > s.Config.MaxFileSize {
		return nil, Errorf(CodeFileTooLarge, "total_size %d exceeds the limit of %d bytes", r.TotalSize, s.Config.MaxFileSize)
	}
	if !ValidUserID(r.UserID) {
		return nil, Errorf(CodeInvalidField, "user_id must be 1 to 64 characters of A-Z, a-z, 0-9, '_' or '-'")
	}
	role, ok := ParseRole(r.UserRole)
	if !ok {
		return nil, Errorf(CodeInvalidField, "user_role must be one of creator, member, subscriber")
	}
	if len(r.ContentType) > MaxContentTypeBytes {
		return nil, Errorf(CodeInvalidField, "content_type must be at most %d bytes", MaxContentTypeBytes)
	}
	contentType, ok := NormalizeContentType(r.ContentType)
	if !ok {
		return nil, Errorf(CodeInvalidField, "content_type %q is not a valid MIME type", truncate(r.ContentType, 100))
	}
	visibility, ok := ParseVisibility(r.Visibility)
	if !ok {
		return nil, Errorf(CodeInvalidField, "visibility must be public or private")
	}
	fileName := SanitizeFileName(r.FileName)
	if strings.TrimSpace(r.ContentType) == "" {
		contentType = ContentTypeByName(fileName)
	}
	chunkSize := s.Config.ChunkSize
	if r.ChunkSize != 0 {
		if r.ChunkSize < s.Config.MinChunkSize || r.ChunkSize > s.Config.MaxChunkSize {
			return nil, Errorf(CodeInvalidField, "chunk_size must be between %d and %d bytes", s.Config.MinChunkSize, s.Config.MaxChunkSize)
		}
		chunkSize = r.ChunkSize
	}
	if n := chunkCount(r.TotalSize, chunkSize); n > MaxChunks {
		return nil, Errorf(CodeInvalidField, "total_size %d in chunks of %d bytes needs %d chunks, more than %d; ask for a larger chunk_size",
			r.TotalSize, chunkSize, n, MaxChunks)
	}

	if err := s.guardSpace(ctx, r.TotalSize); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	u := &Upload{
		ID:          fmt.Sprintf("%d-%s", now.UnixMilli(), s.newUUID()),
		FileName:    fileName,
		TotalSize:   r.TotalSize,
		UserID:      r.UserID,
		UserRole:    role,
		ContentType: contentType,
		Visibility:  visibility,
		ChunkSize:   chunkSize,
		TotalChunks: int(chunkCount(r.TotalSize, chunkSize)),
		Status:      StatusInitiated,
		CreatedAt:   now,
		UpdatedAt:   now,
	}
	if err := s.reserveKey(ctx, u, now); err != nil {
		return nil, err
	}
	return u, nil
}

// reserveKey starts the multipart upload and inserts u with the first free
// key: the file name itself, then "name-2.ext" … "name-20.ext", then a name
// with a suffix from the upload id. A key is free when no upload holds it
// and no object is stored at it: a database that lost its rows must not
// hand out the key of a file it forgot, whose complete would then be stuck
// for good. The multipart upload is created first so that the row is
// complete in one insert; it is aborted when the key is taken, and a failed
// abort is logged (the janitor's orphan sweep removes what it leaves).
func (s *Service) reserveKey(ctx context.Context, u *Upload, day time.Time) error {
	base := u.FileName
	for attempt := 1; ; attempt++ {
		name := base
		switch {
		case attempt > maxKeyAttempts+1:
			return Errorf(CodeDatabase, "could not reserve a key for %q", base)
		case attempt == maxKeyAttempts+1:
			id := u.ID[strings.IndexByte(u.ID, '-')+1:]
			name = AlternativeFileName(base, id[:8])
		case attempt > 1:
			name = AlternativeFileName(base, fmt.Sprint(attempt))
		}
		u.FileName = name
		u.Key = ObjectKey(u.UserRole, u.UserID, day, u.ContentType, name)
		if taken, err := s.objectExists(ctx, u.Key); err != nil {
			return err
		} else if taken {
			if _, err := s.Meta.GetUploadByKey(ctx, u.Key); HasCode(err, CodeUploadNotFound) {
				s.logger().Warn("a stored object that no upload holds occupies a key; choosing another name (was the database replaced?)", "key", u.Key)
			}
			continue
		}
		handle, err := s.Objects.CreateMultipart(ctx, multipartOf(u))
		if err != nil {
			return err
		}
		u.StoreHandle = handle
		err = s.Meta.CreateUpload(ctx, u, s.Config.Quota, s.auditEvent(ctx, AuditInit, u))
		if err == nil {
			return nil
		}
		if aerr := s.Objects.AbortMultipart(context.WithoutCancel(ctx), multipartOf(u), handle); aerr != nil {
			s.logger().Error("aborting the multipart upload of a failed init failed; the janitor's orphan sweep will remove it",
				"upload_id", u.ID, "key", u.Key, "err", aerr)
		}
		if !HasCode(err, CodeKeyTaken) {
			return err
		}
	}
}

// objectExists reports whether an object is stored at key.
func (s *Service) objectExists(ctx context.Context, key string) (bool, error) {
	obj, err := s.Objects.Open(ctx, key)
	switch {
	case err == nil:
		_ = obj.Close()
		return true, nil
	case HasCode(err, CodeNotFound):
		return false, nil
	}
	return false, err
}

// logger returns the Service's logger, or one that discards.
func (s *Service) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// ownInitRequest fills the user and role of r from the caller p, and
// refuses a request that names another user or role unless p is an
// administrator.
func ownInitRequest(p *Principal, r InitRequest) (InitRequest, error) {
	if r.UserID == "" {
		r.UserID = p.UserID
	}
	if r.UserRole == "" {
		r.UserRole = string(p.Role)
	}
	if p.Admin {
		return r, nil
	}
	if r.UserID != p.UserID {
		return r, Errorf(CodeForbidden, "user_id does not match the token's user")
	}
	if r.UserRole != string(p.Role) {
		return r, Errorf(CodeForbidden, "user_role does not match the token's role")
	}
	return r, nil
}

func multipartOf(u *Upload) MultipartInfo {
	return MultipartInfo{
		UploadID: u.ID, Key: u.Key, ContentType: u.ContentType,
		TotalSize: u.TotalSize, ChunkSize: u.ChunkSize, TotalChunks: u.TotalChunks,
	}
}

// chunkStates are the states in which chunks are accepted.
var chunkStates = []Status{StatusInitiated, StatusInProgress}

// stateError explains why an upload in status st refuses an operation.
func stateError(u *Upload) error {
	switch u.Status {
	case StatusCompleted:
		return Errorf(CodeUploadCompleted, "upload %s is already completed", u.ID)
	case StatusDeleted:
		return Errorf(CodeUploadCompleted, "upload %s is completed and its file deleted", u.ID)
	case StatusCancelled:
		return Errorf(CodeUploadCancelled, "upload %s is cancelled", u.ID)
	case StatusCompleting:
		return Errorf(CodeUploadBusy, "upload %s is being completed; repeat complete to finish it", u.ID)
	case StatusCancelling:
		return Errorf(CodeUploadBusy, "upload %s is being cancelled; repeat cancel to finish it", u.ID)
	case StatusExpired:
		return Errorf(CodeUploadExpired, "upload %s expired: no chunk arrived for too long, and its chunks were freed; start a new upload", u.ID)
	}
	return Errorf(CodeUploadBusy, "upload %s is %s", u.ID, u.Status)
}

// conflict turns a CodeConflict from a compare-and-set into the error that
// explains it, by reading the upload's current state.
func (s *Service) conflict(ctx context.Context, id string, err error) error {
	if !HasCode(err, CodeConflict) {
		return err
	}
	u, gerr := s.Meta.GetUpload(ctx, id)
	if gerr != nil {
		return gerr
	}
	return stateError(u)
}

// PutChunk stores chunk index of upload id from body. length is the body's
// declared length, or -1 when unknown; a chunk must be exactly as long as its
// place in the file says. The chunk is recorded only once its bytes are durable.
func (s *Service) PutChunk(ctx context.Context, id string, index int, length int64, body io.Reader) (*Upload, error) {
	u, err := s.upload(ctx, id)
	if err != nil {
		return nil, err
	}
	if u.Status != StatusInitiated && u.Status != StatusInProgress {
		return nil, stateError(u)
	}
	if u.TotalChunks == 0 { // an empty file: complete it with no chunk
		return nil, Errorf(CodeInvalidField, "the upload is of an empty file and takes no chunk; complete it")
	}
	if index < 0 || index >= u.TotalChunks {
		return nil, Errorf(CodeInvalidField, "X-Chunk-Index must be an integer from 0 to %d", u.TotalChunks-1)
	}
	want := u.ChunkLen(index)
	if length >= 0 && length != want {
		return nil, Errorf(CodeChunkSize, "chunk %d must be exactly %d bytes, got %d", index, want, length)
	}
	if err := s.Meta.ForgetChunk(ctx, id, index, chunkStates); err != nil {
		return nil, s.conflict(ctx, id, err)
	}
	r := &exactReader{r: body, remaining: want, index: index, want: want}
	etag, err := s.Objects.WriteChunk(ctx, multipartOf(u), u.StoreHandle, index, want, r)
	if err != nil {
		if HasCode(err, CodeUploadNotFound) { // the store's upload went away under us
			return nil, s.conflict(ctx, id, Errorf(CodeConflict, "multipart upload gone"))
		}
		return nil, err
	}
	if err := r.expectEOF(); err != nil {
		return nil, err
	}
	if err := s.Meta.RecordChunk(ctx, id, Chunk{Index: index, Size: want, ETag: etag}, chunkStates); err != nil {
		return nil, s.conflict(ctx, id, err)
	}
	return u, nil
}

// exactReader passes through exactly `remaining` bytes and turns an early
// end of the body into CodeIncompleteBody.
type exactReader struct {
	r          io.Reader
	remaining  int64
	index      int
	want       int64
	overflowed bool
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.remaining <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > e.remaining {
		p = p[:e.remaining]
	}
	n, err := e.r.Read(p)
	e.remaining -= int64(n)
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		if e.remaining > 0 {
			return n, Errorf(CodeIncompleteBody, "chunk %d ended after %d of %d bytes", e.index, e.want-e.remaining, e.want)
		}
		err = nil
	}
	if err != nil && !HasCode(err, CodeIncompleteBody) {
		var de *Error
		if !errors.As(err, &de) {
			err = Wrap(CodeIncompleteBody, err, fmt.Sprintf("reading chunk %d failed after %d of %d bytes", e.index, e.want-e.remaining, e.want))
		}
	}
	return n, err
}

// Unwrap returns the body, so that an ObjectStore can recognise its own
// reader and hand a platform stream through; such a store must enforce the
// exact length itself.
func (e *exactReader) Unwrap() io.Reader { return e.r }

// expectEOF checks that the body has no bytes beyond the chunk's length.
func (e *exactReader) expectEOF() error {
	var one [1]byte
	for {
		n, err := e.r.Read(one[:])
		if n > 0 {
			return Errorf(CodeChunkSize, "chunk %d is longer than %d bytes", e.index, e.want)
		}
		if err != nil {
			return nil
		}
	}
}

// Complete checks that every chunk is stored and makes the file visible at
// its key. It is idempotent: repeating it after a crash half-way finishes
// the job, and repeating it on a completed upload returns that upload with
// no error (and writes no second audit row). A completed upload whose file
// was deleted, and a cancelled or expired one, refuse it.
func (s *Service) Complete(ctx context.Context, id string) (*Upload, error) {
	u, err := s.upload(ctx, id)
	if err != nil {
		return nil, err
	}
	switch u.Status {
	case StatusInitiated, StatusInProgress, StatusCompleting:
	case StatusCompleted: // a repeat: the same answer, and no second audit row
		return u, nil
	default:
		return nil, stateError(u)
	}
	u, err = s.Meta.Transition(ctx, id, []Status{StatusInitiated, StatusInProgress, StatusCompleting}, StatusCompleting)
	if err != nil {
		return nil, s.conflict(ctx, id, err)
	}
	chunks, err := s.Meta.ListChunks(ctx, id)
	if err != nil {
		return nil, err
	}
	if missing := missingChunks(u, chunks); len(missing) > 0 {
		back := StatusInProgress
		if len(chunks) == 0 {
			back = StatusInitiated
		}
		if _, err := s.Meta.Transition(ctx, id, []Status{StatusCompleting}, back); err != nil && !HasCode(err, CodeConflict) {
			return nil, err
		}
		return nil, &Error{Code: CodeChunksMissing, Missing: missing,
			Message: fmt.Sprintf("%d of %d chunks are missing: %s", len(missing), u.TotalChunks, listIndices(missing, 20))}
	}
	if _, err := s.Objects.CompleteMultipart(ctx, multipartOf(u), u.StoreHandle, chunks); err != nil {
		if HasCode(err, CodeInvalidPart) {
			return nil, s.refusedParts(ctx, u, chunks, err)
		}
		if HasCode(err, CodeUploadNotFound) { // another instance may be completing it right now
			if cur, gerr := s.Meta.GetUpload(ctx, id); gerr == nil {
				switch cur.Status {
				case StatusCompleted:
					return cur, nil
				case StatusCompleting:
					return nil, stateError(cur)
				}
			}
		}
		return nil, err
	}
	done, err := s.Meta.Transition(ctx, id, []Status{StatusCompleting}, StatusCompleted, s.auditEvent(ctx, AuditComplete, u))
	if HasCode(err, CodeConflict) { // a concurrent complete finished first
		if cur, gerr := s.Meta.GetUpload(ctx, id); gerr == nil && cur.Status == StatusCompleted {
			return cur, nil
		}
		return nil, s.conflict(ctx, id, err)
	}
	return done, err
}

// refusedParts handles a complete whose parts the object store refused
// (CodeInvalidPart, cause): it forgets the refused chunks, moves the upload
// back to taking chunks and answers CodeChunksMissing with their indices, so
// that a client sends them again and completes, instead of repeating a
// complete that would fail the same way forever. The refused chunks are
// those in the store's Error.Missing; a store that cannot tell which (no
// Missing) refuses them all, so every recorded chunk is forgotten.
func (s *Service) refusedParts(ctx context.Context, u *Upload, chunks []Chunk, cause error) error {
	var refused []int
	var se *Error
	if errors.As(cause, &se) {
		refused = se.Missing
	}
	if len(refused) == 0 {
		for _, c := range chunks {
			refused = append(refused, c.Index)
		}
	}
	refused = slices.Compact(slices.Sorted(slices.Values(refused)))
	s.logger().WarnContext(ctx, "the object store refused parts at complete; forgetting them",
		"upload_id", u.ID, "chunks", listIndices(refused, 20), "err", cause)
	for _, i := range refused {
		if err := s.Meta.ForgetChunk(ctx, u.ID, i, []Status{StatusCompleting}); err != nil {
			return s.conflict(ctx, u.ID, err)
		}
	}
	back := StatusInProgress
	if len(refused) >= len(chunks) {
		back = StatusInitiated
	}
	if _, err := s.Meta.Transition(ctx, u.ID, []Status{StatusCompleting}, back); err != nil && !HasCode(err, CodeConflict) {
		return err
	}
	return &Error{Code: CodeChunksMissing, Missing: refused, Err: cause,
		Message: fmt.Sprintf("the object store does not hold %d of %d chunks as recorded; send them again: %s",
			len(refused), u.TotalChunks, listIndices(refused, 20))}
}

func missingChunks(u *Upload, chunks []Chunk) []int {
	have := make([]bool, u.TotalChunks)
	for _, c := range chunks {
		if c.Index >= 0 && c.Index < u.TotalChunks && c.Size == u.ChunkLen(c.Index) {
			have[c.Index] = true
		}
	}
	var missing []int
	for i, ok := range have {
		if !ok {
			missing = append(missing, i)
		}
	}
	return missing
}

// listIndices formats up to max indices, then "and N more".
func listIndices(idx []int, max int) string {
	var b strings.Builder
	for i, v := range idx {
		if i == max {
			fmt.Fprintf(&b, " and %d more", len(idx)-max)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprint(&b, v)
	}
	return b.String()
}

// Cancel abandons an upload and frees its stored chunks. It is idempotent:
// repeating it after a crash half-way finishes the job, and repeating it on
// a cancelled upload returns that upload with no error (and writes no
// second audit row). A completed or expired upload refuses it. The upload
// returned counts no chunks, as none is stored any more.
func (s *Service) Cancel(ctx context.Context, id string) (*Upload, error) {
	u, err := s.upload(ctx, id)
	if err != nil {
		return nil, err
	}
	switch u.Status {
	case StatusInitiated, StatusInProgress, StatusCancelling:
	case StatusCancelled: // a repeat: the same answer, and no second audit row
		return freed(u), nil
	default:
		return nil, stateError(u)
	}
	if _, err := s.Meta.Transition(ctx, id, []Status{StatusInitiated, StatusInProgress, StatusCancelling}, StatusCancelling); err != nil {
		return nil, s.conflict(ctx, id, err)
	}
	if err := s.Objects.AbortMultipart(ctx, multipartOf(u), u.StoreHandle); err != nil {
		return nil, err
	}
	done, err := s.Meta.Transition(ctx, id, []Status{StatusCancelling}, StatusCancelled, s.auditEvent(ctx, AuditCancel, u))
	if HasCode(err, CodeConflict) {
		if cur, gerr := s.Meta.GetUpload(ctx, id); gerr == nil && cur.Status == StatusCancelled {
			return freed(cur), nil
		}
		return nil, s.conflict(ctx, id, err)
	}
	if err != nil {
		return nil, err
	}
	return freed(done), nil
}

// freed returns u as a client should see it: an upload that is cancelled
// or expired has had its stored chunks freed, so it counts none, whatever
// the chunk rows and counters of the MetaStore still say (they are kept as
// they were at the transition; the Service hides them). Other uploads are
// returned unchanged.
func freed(u *Upload) *Upload {
	if u == nil || !chunksFreed(u.Status) {
		return u
	}
	c := *u
	c.ChunksUploaded, c.BytesUploaded = 0, 0
	return &c
}

// chunksFreed reports whether an upload in status st has no stored chunks.
func chunksFreed(st Status) bool { return st == StatusCancelled || st == StatusExpired }

// Status returns an upload and its stored chunks. A cancelled or expired
// upload has none: its chunks were freed, so it lists no chunk and counts
// no chunk and no byte.
func (s *Service) Status(ctx context.Context, id string) (*Upload, []Chunk, error) {
	u, err := s.upload(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if chunksFreed(u.Status) {
		return freed(u), nil, nil
	}
	chunks, err := s.Meta.ListChunks(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	return u, chunks, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
