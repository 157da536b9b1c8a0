// Package cfworker runs MemeNow Storage on Cloudflare Workers: the same
// storage.Service and httpapi handler, compiled to WebAssembly, with a D1
// MetaStore, an R2 ObjectStore and a KV configuration.
//
// The adapters are written against small interfaces (D1, R2, KV) so that
// they build and are tested on the host; the files with the js && wasm build
// tag implement those interfaces over the Workers bindings and bridge Worker
// requests to an http.Handler.
package cfworker

import (
	"context"
	"fmt"
	"io"
)

// Statement is one SQL statement and its positional parameters.
type Statement struct {
	SQL    string
	Params []any
}

// Result is what one statement returned: its rows, each a map from column
// name to value (float64, string or nil, as D1 gives them to JavaScript).
type Result struct {
	Rows []map[string]any
}

// D1 is the part of a D1 database binding the MetaStore uses.
type D1 interface {
	// Query runs one statement.
	Query(ctx context.Context, st Statement) (Result, error)
	// Batch runs statements in order in one transaction: all or none.
	Batch(ctx context.Context, sts []Statement) ([]Result, error)
}

// R2Part is an uploaded part of a multipart upload.
type R2Part struct {
	PartNumber int    `json:"partNumber"`
	ETag       string `json:"etag"`
}

// R2Object describes a stored R2 object.
type R2Object struct {
	Key         string
	Size        int64
	HTTPETag    string // quoted
	UploadedMS  int64  // unix milliseconds
	ContentType string
	UploadID    string // the upload_id custom metadata
}

// R2 is the part of an R2 bucket binding the ObjectStore uses.
type R2 interface {
	CreateMultipart(ctx context.Context, key, contentType, uploadID string) (r2UploadID string, err error)
	// UploadPart stores part (1-based) of exactly size bytes from body.
	UploadPart(ctx context.Context, key, r2UploadID string, part int, size int64, body io.Reader) (etag string, err error)
	CompleteMultipart(ctx context.Context, key, r2UploadID string, parts []R2Part) (*R2Object, error)
	AbortMultipart(ctx context.Context, key, r2UploadID string) error
	// Head returns nil, nil when there is no object at key.
	Head(ctx context.Context, key string) (*R2Object, error)
	// Get streams length bytes of the object at key from offset.
	Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
	// Delete removes the object at key; a missing object is no error.
	Delete(ctx context.Context, key string) error
	// Ping lists at most one key.
	Ping(ctx context.Context) error
}

// R2Putter is an optional capability of an R2 binding (JSR2 has it):
// storing a whole object at once. The store needs it for empty files,
// which have no part, as R2 will not complete a multipart upload of none.
type R2Putter interface {
	// Put stores body at key with the content type and, as custom
	// metadata, the upload id, as a completed multipart upload has them.
	Put(ctx context.Context, key, contentType, uploadID string, body []byte) (*R2Object, error)
}

// KV is the part of a KV namespace binding the configuration uses.
type KV interface {
	// Get returns the value at key, or ok false when there is none.
	Get(ctx context.Context, key string) (value string, ok bool, err error)
}

// R2 error codes, as the R2 binding puts them at the end of its messages.
const (
	R2NoSuchUpload = 10024
	R2InvalidPart  = 10025
	R2NoSuchKey    = 10007
)

// BindingError is a failed binding call.
type BindingError struct {
	Op      string // e.g. "r2.uploadPart"
	Message string
	Code    int // the R2 error code when there is one
}

func (e *BindingError) Error() string {
	if e.Code != 0 {
		return fmt.Sprintf("%s: %s (code %d)", e.Op, e.Message, e.Code)
	}
	return fmt.Sprintf("%s: %s", e.Op, e.Message)
}
