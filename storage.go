// Package storage is the domain of MemeNow Storage: resumable, parallel,
// chunked uploads of large files.
//
// It defines the Upload and Chunk types, the Service that validates requests
// and drives the upload state machine, the key layout of stored files, and the
// two ports the service needs: an ObjectStore for bytes and a MetaStore for
// metadata. Adapters live in sibling packages (disk, s3, sqlite, postgres) and
// the HTTP API in httpapi. This package imports no net/http, os or database/sql.
package storage

import (
	"context"
	"io"
	"time"
)

// Status is the state of an upload.
//
// The machine is: initiated → in_progress → completing → completed →
// deleted, any of initiated/in_progress/cancelling → cancelling →
// cancelled, and initiated/in_progress → expired (the janitor, after the
// upload TTL without a chunk). completing and cancelling are transient: a crash leaves the
// upload there, and repeating the complete or cancel request finishes the
// job. A deleted upload keeps its key reserved, so that an old link can
// never point at another upload's file.
type Status string

// The states of an upload.
const (
	StatusInitiated  Status = "initiated"
	StatusInProgress Status = "in_progress"
	StatusCompleting Status = "completing"
	StatusCompleted  Status = "completed"
	StatusCancelling Status = "cancelling"
	StatusCancelled  Status = "cancelled"
	StatusDeleted    Status = "deleted"
	// StatusExpired uploads were not completed within the upload TTL of
	// their last chunk: the janitor freed their bytes and their key.
	StatusExpired Status = "expired"
)

// OpenStatuses are the states of an upload that still takes chunks or is
// being finished: it holds its key, its stored chunks and its user's quota.
var OpenStatuses = []Status{StatusInitiated, StatusInProgress, StatusCompleting, StatusCancelling}

// ParseStatus returns the Status named by s, or false.
func ParseStatus(s string) (Status, bool) {
	switch st := Status(s); st {
	case StatusInitiated, StatusInProgress, StatusCompleting, StatusCompleted,
		StatusCancelling, StatusCancelled, StatusDeleted, StatusExpired:
		return st, true
	}
	return "", false
}

// Visibility says who may read a completed file when auth is on.
type Visibility string

// The visibilities of a file.
const (
	// VisibilityPrivate files are read by their owner, an administrator or
	// a share link. The default.
	VisibilityPrivate Visibility = "private"
	// VisibilityPublic files are read by anyone, without a token.
	VisibilityPublic Visibility = "public"
)

// ParseVisibility returns the Visibility named by s ("" is private), or false.
func ParseVisibility(s string) (Visibility, bool) {
	switch v := Visibility(s); v {
	case "":
		return VisibilityPrivate, true
	case VisibilityPrivate, VisibilityPublic:
		return v, true
	}
	return "", false
}

// Role is the role of the user who owns an upload; it is the first segment of
// the stored file's key.
type Role string

// The accepted user roles.
const (
	RoleCreator    Role = "creator"
	RoleMember     Role = "member"
	RoleSubscriber Role = "subscriber"
)

// Upload is one upload session and the file it produces.
type Upload struct {
	ID          string // "{unix_ms}-{uuid v4}"
	FileName    string // sanitised file name, as stored in Key
	TotalSize   int64  // bytes of the whole file, > 0
	UserID      string
	UserRole    Role
	ContentType string
	Visibility  Visibility
	ChunkSize   int64 // bytes of every chunk but the last
	TotalChunks int   // ceil(TotalSize / ChunkSize)
	Status      Status
	// Key is where the completed file lives in the object store. It is
	// reserved (unique among uploads that are not cancelled) at init.
	Key string
	// StoreHandle is the object store's handle for the multipart upload
	// (the S3 upload id, for example); opaque to the domain.
	StoreHandle string
	// ChunksUploaded and BytesUploaded count the recorded chunks.
	ChunksUploaded int
	BytesUploaded  int64
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// ChunkLen returns the exact length chunk index must have.
func (u *Upload) ChunkLen(index int) int64 {
	if index == u.TotalChunks-1 {
		return u.TotalSize - int64(u.TotalChunks-1)*u.ChunkSize
	}
	return u.ChunkSize
}

// Chunk is one recorded (durably stored) chunk of an upload.
type Chunk struct {
	Index int    // 0-based
	Size  int64  // bytes
	ETag  string // the object store's tag for the part, opaque to the domain
}

// ObjectInfo describes a stored, completed object.
type ObjectInfo struct {
	Key          string
	Size         int64
	ContentType  string
	ETag         string // quoted entity tag, as sent in the ETag header
	LastModified time.Time
}

// Object is an open, completed object. Read and Seek work as on a file, so
// that an HTTP layer can serve ranges and conditional requests from it.
type Object interface {
	io.ReadSeekCloser
	Info() ObjectInfo
}

// Quota limits what one user may hold. Zero fields are no limit.
type Quota struct {
	// MaxOpenUploads is the most uploads in OpenStatuses a user may have.
	MaxOpenUploads int
	// MaxOpenBytes is the most total_size a user's open uploads may add up to.
	MaxOpenBytes int64
	// MaxStoredBytes is the most bytes a user's completed files and open
	// uploads may add up to.
	MaxStoredBytes int64
}

// ListQuery selects uploads for MetaStore.ListUploads.
type ListQuery struct {
	// UserID, when set, keeps only that user's uploads.
	UserID string
	// Status, when set, keeps only uploads in that state.
	Status Status
	// Limit is the most uploads returned; at least 1.
	Limit int
	// After, when set, keeps only uploads that come after it in the order
	// (created earlier, or at the same time with a smaller ID): the cursor
	// of the next page.
	After *ListCursor
}

// ListCursor is a position in the newest-first order of uploads.
type ListCursor struct {
	CreatedAt time.Time // compared in unix milliseconds
	ID        string
}

// MultipartInfo is what an ObjectStore needs to know to start a multipart upload.
type MultipartInfo struct {
	UploadID    string
	Key         string
	ContentType string
	TotalSize   int64
	ChunkSize   int64
	TotalChunks int
}

// ObjectStore keeps bytes: the chunks of uploads in progress and the completed
// objects. Implementations translate their own errors into *Error values with
// the codes listed on each method; any other failure is reported as CodeStorage.
type ObjectStore interface {
	// CreateMultipart prepares storage for the chunks of an upload and
	// returns an opaque handle for the later calls. Errors: CodeStorage.
	CreateMultipart(ctx context.Context, m MultipartInfo) (handle string, err error)

	// WriteChunk stores chunk index (0-based) of the upload, reading exactly
	// size bytes from r, and returns the part's tag once the bytes are
	// durable. A chunk that fails mid-way leaves nothing a later WriteChunk of
	// the same index would trip over. Errors: CodeChunkLocked when another
	// write of the same chunk is in flight, CodeIncompleteBody when r ends
	// early, CodeUploadNotFound when the multipart upload no longer exists,
	// CodeStorage.
	WriteChunk(ctx context.Context, m MultipartInfo, handle string, index int, size int64, r io.Reader) (etag string, err error)

	// CompleteMultipart assembles the given chunks, in order, into the object
	// at m.Key and makes it visible atomically. It is idempotent: when the
	// object was already completed by an earlier call it returns its info.
	// It never overwrites an object of another upload. Errors:
	// CodeUploadNotFound when neither the multipart upload nor the object
	// exists, CodeInvalidPart when the stored parts do not match chunks
	// (with the indices of the chunks it does not hold as given in the
	// Error's Missing, where the store can tell; the Service forgets those
	// chunks, or all of them when Missing is empty, and answers
	// CodeChunksMissing), CodeStorage.
	CompleteMultipart(ctx context.Context, m MultipartInfo, handle string, chunks []Chunk) (ObjectInfo, error)

	// AbortMultipart frees the stored chunks of an upload. It is idempotent:
	// aborting an upload that is already gone succeeds. Errors: CodeStorage.
	AbortMultipart(ctx context.Context, m MultipartInfo, handle string) error

	// Open opens the completed object at key. Errors: CodeNotFound, CodeStorage.
	Open(ctx context.Context, key string) (Object, error)

	// Delete removes the completed object at key. It is idempotent:
	// deleting an object that is already gone succeeds. Errors: CodeStorage.
	Delete(ctx context.Context, key string) error

	// Ping checks that the store is reachable and usable. Errors: CodeStorage.
	Ping(ctx context.Context) error

	// Describe names the store for logs, e.g. "disk:/var/lib/memenow".
	Describe() string
}

// Multipart is a multipart upload an ObjectStore holds, as a
// MultipartLister reports it.
type Multipart struct {
	// Handle is what CreateMultipart returned for it.
	Handle string
	// Key is the key it was started for; "" when the store does not
	// record it.
	Key string
	// UploadID is the upload it was started for; "" when the store does
	// not record it.
	UploadID string
	// Started is when it was started, or for a store that cannot tell,
	// when it was last written.
	Started time.Time
}

// MultipartLister is an optional capability of an ObjectStore, found by
// type assertion: listing the multipart uploads it holds, so that the
// janitor can abort those that no open upload owns (left by a crash between
// CreateMultipart and CreateUpload, or by an expiry whose abort failed). The
// disk and S3 stores have it; R2's Workers binding cannot list multipart
// uploads, so the Worker's store does not.
type MultipartLister interface {
	// ListMultipart calls fn for each multipart upload the store holds that
	// was started before startedBefore, in no particular order, until fn
	// returns false. Errors: CodeStorage, or ctx's error.
	ListMultipart(ctx context.Context, startedBefore time.Time, fn func(Multipart) bool) error
}

// DataChecker is an optional capability of an ObjectStore, found by type
// assertion: telling whether the store holds anything, so that a server can
// refuse to start on an empty database next to a store full of files (a
// lost database must be noticed, not papered over).
type DataChecker interface {
	// HoldsData reports whether the store holds any completed object or any
	// multipart upload. Errors: CodeStorage.
	HoldsData(ctx context.Context) (bool, error)
}

// MetaStore keeps the metadata of uploads and their chunks. Every state
// change is a compare-and-set: it happens only when the upload is in one of
// the expected states. Implementations translate their own errors into
// *Error values with the codes listed; any other failure is CodeDatabase.
type MetaStore interface {
	// CreateUpload inserts a new upload, provided that q still holds for
	// its user with it counted, checked in the same transaction as the
	// insert so that the limits hold across instances. Errors: CodeKeyTaken
	// when another upload that is not cancelled or expired holds u.Key,
	// CodeTooManyUploads, CodeQuotaExceeded, CodeDatabase. The audit
	// events given are written in the same transaction, only when the
	// upload is inserted.
	CreateUpload(ctx context.Context, u *Upload, q Quota, audit ...AuditEvent) error

	// GetUpload returns the upload with its chunk counters. Errors:
	// CodeUploadNotFound, CodeDatabase.
	GetUpload(ctx context.Context, id string) (*Upload, error)

	// GetUploadByKey returns the upload that holds key: the one upload with
	// that key that is neither cancelled nor expired. Errors:
	// CodeUploadNotFound, CodeDatabase.
	GetUploadByKey(ctx context.Context, key string) (*Upload, error)

	// ListUploads returns up to q.Limit uploads, newest first (by CreatedAt,
	// then by ID, both descending), filtered by q. Errors: CodeDatabase.
	ListUploads(ctx context.Context, q ListQuery) ([]*Upload, error)

	// ListChunks returns the recorded chunks of an upload sorted by index.
	// Errors: CodeDatabase (an unknown id gives an empty list).
	ListChunks(ctx context.Context, id string) ([]Chunk, error)

	// ForgetChunk removes the record of a chunk before it is written again,
	// provided the upload is in one of the states from. Errors:
	// CodeUploadNotFound, CodeConflict when it is in another state,
	// CodeDatabase.
	ForgetChunk(ctx context.Context, id string, index int, from []Status) error

	// RecordChunk records (or replaces) a stored chunk and moves the upload
	// to StatusInProgress, provided it is in one of the states from. Errors:
	// as ForgetChunk.
	RecordChunk(ctx context.Context, id string, c Chunk, from []Status) error

	// Transition moves the upload to status to, provided it is in one of the
	// states from, and returns it as it is afterwards. The audit events
	// given are written in the same transaction, only when the upload
	// moves: a refused compare-and-set writes none. Errors: as ForgetChunk.
	Transition(ctx context.Context, id string, from []Status, to Status, audit ...AuditEvent) (*Upload, error)

	// Ping checks that the database is reachable. Errors: CodeDatabase.
	Ping(ctx context.Context) error

	// CheckWrite commits a small write (the one row of a health table,
	// stamped with now) and returns once it is durable, so that a database
	// that answers reads but cannot commit, or whose file was deleted under
	// the running process, is noticed. Errors: CodeDatabase.
	CheckWrite(ctx context.Context, now time.Time) error

	// ListStale returns up to limit uploads in one of statuses whose
	// UpdatedAt is before updatedBefore, the least recently updated first.
	// An index on (status, updated_at) serves it. Errors: CodeDatabase.
	ListStale(ctx context.Context, statuses []Status, updatedBefore time.Time, limit int) ([]*Upload, error)

	// Expire moves the upload to StatusExpired, provided it is initiated or
	// in progress and was last updated before updatedBefore, in one
	// compare-and-set, stamps it with now and returns it as it is
	// afterwards. Its key is free again at once. The audit events given
	// are written in the same transaction, only when it expires. Errors:
	// CodeUploadNotFound, CodeConflict when it is in another state or was
	// updated since (a chunk arrived), CodeDatabase.
	Expire(ctx context.Context, id string, updatedBefore, now time.Time, audit ...AuditEvent) (*Upload, error)

	// AppendAudit writes events that change no state (downloads, shares,
	// refusals), batched by the caller, in one transaction. Errors:
	// CodeDatabase.
	AppendAudit(ctx context.Context, events []AuditEvent) error

	// ListAudit returns up to q.Limit audit rows, newest first (by Time,
	// then by ID, both descending), filtered by q. Errors: CodeDatabase.
	ListAudit(ctx context.Context, q AuditQuery) ([]AuditEvent, error)

	// DeleteAuditBefore deletes the audit rows older than t and returns how
	// many. Errors: CodeDatabase.
	DeleteAuditBefore(ctx context.Context, t time.Time) (int64, error)

	// AcquireLease takes the lease called name for holder until until, when
	// nobody holds it at now (it was never taken, or its holder's lease
	// ended at or before now) or holder holds it already (which extends
	// it), and reports whether holder holds it afterwards. It is one atomic
	// statement, so of two instances asking at once one wins. Errors:
	// CodeDatabase.
	AcquireLease(ctx context.Context, name, holder string, now, until time.Time) (bool, error)

	// ReleaseLease gives up the lease called name when holder holds it, so
	// that another holder may take it at once; otherwise it does nothing.
	// Errors: CodeDatabase.
	ReleaseLease(ctx context.Context, name, holder string) error

	// Close releases the store's resources.
	Close() error
}
