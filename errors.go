package storage

import (
	"errors"
	"fmt"
)

// Code is a machine-readable error code, sent to clients in the "code" field
// of the error body. The HTTP status of each code is decided in one table in
// package httpapi.
type Code string

// Error codes. The first seven are the original service's.
const (
	CodeMissingField    Code = "MISSING_FIELD"    // a required field or header is absent
	CodeInvalidField    Code = "INVALID_FIELD"    // a field or header has a bad value
	CodeFileTooLarge    Code = "FILE_TOO_LARGE"   // total_size over the limit
	CodeUploadNotFound  Code = "UPLOAD_NOT_FOUND" // no upload with that id
	CodeUploadCompleted Code = "UPLOAD_COMPLETED" // the upload is completed
	CodeDatabase        Code = "DATABASE_ERROR"   // the metadata store failed
	CodeStorage         Code = "R2_ERROR"         // the object store failed

	CodeUploadCancelled  Code = "UPLOAD_CANCELLED"    // the upload is cancelled
	CodeUploadBusy       Code = "UPLOAD_BUSY"         // completing or cancelling is under way
	CodeChunksMissing    Code = "CHUNKS_MISSING"      // complete before every chunk arrived
	CodeChunkSize        Code = "CHUNK_SIZE_MISMATCH" // a chunk body of the wrong length
	CodeIncompleteBody   Code = "INCOMPLETE_BODY"     // the body ended before its length
	CodeChunkLocked      Code = "CHUNK_LOCKED"        // the same chunk is being written now
	CodeNotFound         Code = "NOT_FOUND"           // no such route or file
	CodeMethodNotAllowed Code = "METHOD_NOT_ALLOWED"
	CodeRequestTooLarge  Code = "REQUEST_TOO_LARGE" // a JSON body over its limit
	CodeUnavailable      Code = "SERVICE_UNAVAILABLE"
	CodeInternal         Code = "INTERNAL_ERROR"

	CodeUnauthorized     Code = "UNAUTHORIZED"      // no token, or one that does not verify
	CodeForbidden        Code = "FORBIDDEN"         // a verified caller who may not do this
	CodeInvalidSignature Code = "INVALID_SIGNATURE" // a share link that was changed or not signed by us
	CodeLinkExpired      Code = "LINK_EXPIRED"      // a share link past its expiry

	CodeUploadExpired       Code = "UPLOAD_EXPIRED"       // the upload was abandoned and expired
	CodeRateLimited         Code = "RATE_LIMITED"         // too many requests; retry after Retry-After
	CodeTooManyUploads      Code = "TOO_MANY_UPLOADS"     // the user's open uploads are at their limit
	CodeQuotaExceeded       Code = "QUOTA_EXCEEDED"       // the user's bytes would exceed a quota
	CodeInsufficientStorage Code = "INSUFFICIENT_STORAGE" // the server's storage is (nearly) full

	// Codes that stay between the stores and the Service.

	CodeKeyTaken    Code = "KEY_TAKEN"    // the key is reserved by another upload
	CodeConflict    Code = "CONFLICT"     // a compare-and-set found another state
	CodeInvalidPart Code = "INVALID_PART" // stored parts disagree with the metadata
)

// Codes lists every code a client can receive, for the test that each has
// an HTTP status.
func Codes() []Code {
	return []Code{
		CodeMissingField, CodeInvalidField, CodeFileTooLarge, CodeUploadNotFound,
		CodeUploadCompleted, CodeDatabase, CodeStorage, CodeUploadCancelled,
		CodeUploadBusy, CodeChunksMissing, CodeChunkSize, CodeIncompleteBody,
		CodeChunkLocked, CodeNotFound, CodeMethodNotAllowed, CodeRequestTooLarge,
		CodeUnavailable, CodeInternal, CodeUnauthorized, CodeForbidden,
		CodeInvalidSignature, CodeLinkExpired, CodeInvalidPart,
		CodeUploadExpired, CodeRateLimited, CodeTooManyUploads, CodeQuotaExceeded,
		CodeInsufficientStorage,
	}
}

// Error is the domain's error: a code, a message safe to show a client, and
// optionally the underlying cause, which is logged but never sent.
type Error struct {
	Code    Code
	Message string
	// Missing lists the absent chunk indices for CodeChunksMissing.
	Missing []int
	// Err is the cause, for logs only.
	Err error
}

// Error returns the code, the message and the cause.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, &storage.Error{Code: storage.CodeUploadNotFound}) works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Errorf returns an *Error with code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error with code and message whose cause is err.
func Wrap(code Code, err error, message string) *Error {
	return &Error{Code: code, Message: message, Err: err}
}

// ErrorCode returns the code of err: its own when it is (or wraps) an
// *Error, CodeInternal otherwise.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// HasCode reports whether err is (or wraps) an *Error with code.
func HasCode(err error, code Code) bool {
	return err != nil && ErrorCode(err) == code
}
