package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	storage "github.com/memenow/memenow-storage"
)

// StatusError is the HTTP side of an error answer: it is the cause (Err) of
// the *storage.Error the client returns.
type StatusError struct {
	StatusCode int
	// RetryAfter is the delay the server asked for in Retry-After, or 0.
	RetryAfter time.Duration
}

// Error returns the HTTP status.
func (e *StatusError) Error() string {
	return fmt.Sprintf("HTTP %d %s", e.StatusCode, http.StatusText(e.StatusCode))
}

// HTTPStatus returns the HTTP status of an error answer from the server, or
// 0 when err did not come from one.
func HTTPStatus(err error) int {
	var se *StatusError
	if errors.As(err, &se) {
		return se.StatusCode
	}
	return 0
}

// IsUnauthorized reports whether err is the server's refusal of a request
// for want of a valid token: 401 UNAUTHORIZED, because no token was sent to
// a server with auth on, or because the token sent did not verify (expired,
// badly signed, for another audience). The *storage.Error's Message then
// says which; it never contains the token.
func IsUnauthorized(err error) bool {
	return storage.HasCode(err, storage.CodeUnauthorized) || HTTPStatus(err) == http.StatusUnauthorized
}

// errorBody is the API's error envelope.
type errorBody struct {
	Error struct {
		Code          string `json:"code"`
		Message       string `json:"message"`
		MissingChunks []int  `json:"missing_chunks"`
	} `json:"error"`
}

// decodeError turns a non-2xx answer into a *storage.Error with the body's
// code, or one chosen from the status when the body is not the API's.
func decodeError(resp *http.Response) error {
	se := &StatusError{StatusCode: resp.StatusCode}
	if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
		se.RetryAfter = d
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var body errorBody
	if json.Unmarshal(data, &body) == nil && body.Error.Code != "" {
		return &storage.Error{Code: storage.Code(body.Error.Code), Message: body.Error.Message,
			Missing: body.Error.MissingChunks, Err: se}
	}
	msg := strings.TrimSpace(string(data))
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	if msg == "" {
		msg = resp.Status
	}
	return &storage.Error{Code: codeForStatus(resp.StatusCode), Message: msg, Err: se}
}

// codeForStatus picks a code for an error answer without an API body (from
// a proxy, say).
func codeForStatus(status int) storage.Code {
	switch {
	case status == http.StatusUnauthorized:
		return storage.CodeUnauthorized
	case status == http.StatusForbidden:
		return storage.CodeForbidden
	case status == http.StatusNotFound:
		return storage.CodeNotFound
	case status == http.StatusMethodNotAllowed:
		return storage.CodeMethodNotAllowed
	case status == http.StatusRequestEntityTooLarge:
		return storage.CodeRequestTooLarge
	case status == http.StatusInsufficientStorage:
		return storage.CodeInsufficientStorage
	case status == http.StatusServiceUnavailable, status == http.StatusTooManyRequests,
		status == http.StatusBadGateway, status == http.StatusGatewayTimeout:
		return storage.CodeUnavailable
	case status >= 400 && status < 500:
		return storage.CodeInvalidField
	}
	return storage.CodeInternal
}
