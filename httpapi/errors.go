package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	storage "github.com/memenow/memenow-storage"
)

// statusOf is the one table from error codes to HTTP statuses.
var statusOf = map[storage.Code]int{
	storage.CodeMissingField:     http.StatusBadRequest,
	storage.CodeInvalidField:     http.StatusBadRequest,
	storage.CodeChunkSize:        http.StatusBadRequest,
	storage.CodeIncompleteBody:   http.StatusBadRequest,
	storage.CodeFileTooLarge:     http.StatusRequestEntityTooLarge,
	storage.CodeRequestTooLarge:  http.StatusRequestEntityTooLarge,
	storage.CodeUploadNotFound:   http.StatusNotFound,
	storage.CodeNotFound:         http.StatusNotFound,
	storage.CodeMethodNotAllowed: http.StatusMethodNotAllowed,
	storage.CodeUploadCompleted:  http.StatusConflict,
	storage.CodeUploadCancelled:  http.StatusConflict,
	storage.CodeUploadBusy:       http.StatusConflict,
	storage.CodeChunksMissing:    http.StatusConflict,
	storage.CodeInvalidPart:      http.StatusConflict,
	storage.CodeChunkLocked:      http.StatusLocked,
	storage.CodeDatabase:         http.StatusBadGateway,
	storage.CodeStorage:          http.StatusBadGateway,
	storage.CodeUnavailable:      http.StatusServiceUnavailable,
	storage.CodeInternal:         http.StatusInternalServerError,
	storage.CodeUnauthorized:     http.StatusUnauthorized,
	storage.CodeForbidden:        http.StatusForbidden,
	storage.CodeInvalidSignature: http.StatusForbidden,
	storage.CodeLinkExpired:      http.StatusForbidden,

	storage.CodeUploadExpired:       http.StatusGone,
	storage.CodeRateLimited:         http.StatusTooManyRequests,
	storage.CodeTooManyUploads:      http.StatusTooManyRequests,
	storage.CodeQuotaExceeded:       http.StatusRequestEntityTooLarge,
	storage.CodeInsufficientStorage: http.StatusInsufficientStorage,
}

// HTTPStatus returns the HTTP status that answers an error code.
func HTTPStatus(code storage.Code) int {
	if s, ok := statusOf[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// errorBody is the documented error shape: {"error":{"code","message","timestamp"}}.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code          storage.Code `json:"code"`
	Message       string       `json:"message"`
	Timestamp     string       `json:"timestamp"`
	MissingChunks []int        `json:"missing_chunks,omitempty"`
}

// writeError answers err in the documented JSON shape. Codes that are not
// the client's fault are logged with their cause; the client sees only the
// clean message.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := storage.ErrorCode(err)
	status := HTTPStatus(code)
	detail := errorDetail{Code: code, Timestamp: timestamp(s.now())}
	var e *storage.Error
	if errors.As(err, &e) {
		detail.Message = e.Message
		detail.MissingChunks = e.Missing
	}
	if code == storage.CodeInternal || detail.Message == "" {
		detail.Message = "internal error"
	}
	if code == storage.CodeKeyTaken || code == storage.CodeConflict {
		// Store-level codes never reach clients as such.
		detail.Code, status, detail.Message = storage.CodeInternal, http.StatusInternalServerError, "internal error"
	}
	s.recordRefusal(r, code) // audit.go: auth failures, forbidden, rate limited, quota exceeded
	if status >= 500 {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "code", code, "err", err)
	}
	if status == http.StatusUnauthorized {
		challenge(w.Header(), r)
	}
	if status == http.StatusLocked || status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, errorBody{Error: detail})
}

// writeJSON writes v as the JSON body with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		body = []byte(`{"error":{"code":"INTERNAL_ERROR","message":"internal error","timestamp":""}}`)
	}
	body = append(body, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// timestamp formats t as the API's RFC 3339 UTC time.
func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
