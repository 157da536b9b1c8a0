package httpapi

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"time"

	storage "github.com/memenow/memenow-storage"
)

// The audit log's HTTP side: a request id and the client's address in every
// request's context (the Service puts them in the rows of state changes),
// the events that change no state (downloads, shares, refusals) handed to
// the AuditRecorder, and GET /api/audit for administrators.

// AuditRecorder takes the audit events that change no state, to be written
// in batches (storage.AuditBatcher). Record must not block.
type AuditRecorder interface {
	Record(e storage.AuditEvent)
}

// requestIDHeader carries the request id, in and out.
const requestIDHeader = "X-Request-Id"

// requestInfo gives every request an id (a safe incoming X-Request-Id, 1 to
// 64 of A-Z a-z 0-9 . _ - , or a random one), echoes it in the response's
// X-Request-Id, and puts it with the client's address (clientip.go) in the
// request's context for the audit log.
func (s *server) requestInfo(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(requestIDHeader)
		if !safeRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set(requestIDHeader, id)
		ri := storage.RequestInfo{ID: id}
		if ip := s.clientIP(r); ip.IsValid() {
			ri.ClientIP = ip.String()
		}
		next.ServeHTTP(w, r.WithContext(storage.ContextWithRequest(r.Context(), ri)))
	})
}

// safeRequestID reports whether an incoming request id may be kept: 1 to 64
// of A-Z a-z 0-9 . _ -, so that it cannot forge log lines or rows.
func safeRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// newRequestID returns 16 random bytes in hex.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// record hands the event of action by the caller of r (its context's
// Principal and RequestInfo) to the recorder, if there is one.
func (s *server) record(r *http.Request, action string, u *storage.Upload, bytes int64, outcome string) {
	if s.audit == nil {
		return
	}
	e := storage.NewAuditEvent(r.Context(), s.now(), action, u)
	e.Bytes, e.Outcome = bytes, outcome
	s.audit.Record(e)
}

// refusalAction returns the audit action of a refusal with code, or "" when
// the refusal is not audited. Auth failures include bad share-link
// signatures and expired links; refusals that answer 404 (another user's
// upload or file) are not audited, so the log cannot tell them apart from
// unknown ids either.
func refusalAction(code storage.Code) string {
	switch code {
	case storage.CodeUnauthorized, storage.CodeInvalidSignature, storage.CodeLinkExpired:
		return storage.AuditAuthFailure
	case storage.CodeForbidden:
		return storage.AuditForbidden
	case storage.CodeRateLimited:
		return storage.AuditRateLimited
	case storage.CodeQuotaExceeded, storage.CodeTooManyUploads:
		return storage.AuditQuotaExceeded
	}
	return ""
}

// recordRefusal audits a refusal that writeError answers: the upload and
// key named by the request, if any, and the code as the outcome. The
// Authorization header is never read here: no token reaches the log.
func (s *server) recordRefusal(r *http.Request, code storage.Code) {
	action := refusalAction(code)
	if action == "" || s.audit == nil {
		return
	}
	u := &storage.Upload{ID: truncateID(r.Header.Get("X-Upload-Id")), Key: truncateID(r.PathValue("key"))}
	s.record(r, action, u, 0, string(code))
}

// truncateID keeps at most 1024 bytes of a client-supplied id or key.
func truncateID(v string) string {
	if len(v) > 1024 {
		return v[:1024]
	}
	return v
}

// AuditJSON is one row of GET /api/audit (and of the audit command's --json).
type AuditJSON struct {
	ID        int64  `json:"id"`
	Time      string `json:"time"`
	RequestID string `json:"request_id,omitempty"`
	Actor     string `json:"actor"`
	ActorID   string `json:"actor_id,omitempty"`
	ClientIP  string `json:"client_ip,omitempty"`
	Action    string `json:"action"`
	UploadID  string `json:"upload_id,omitempty"`
	Key       string `json:"key,omitempty"`
	Bytes     int64  `json:"bytes"`
	Outcome   string `json:"outcome"`
}

// AuditJSONOf is the JSON form of e, as GET /api/audit and the CLI print it.
func AuditJSONOf(e storage.AuditEvent) AuditJSON {
	return AuditJSON{ID: e.ID, Time: e.Time.UTC().Format(time.RFC3339Nano), RequestID: e.RequestID, Actor: e.Actor,
		ActorID: e.ActorID, ClientIP: e.ClientIP, Action: e.Action, UploadID: e.UploadID, Key: e.Key,
		Bytes: e.Bytes, Outcome: e.Outcome}
}

// auditResponse answers GET /api/audit.
type auditResponse struct {
	Events     []AuditJSON `json:"events"`
	NextCursor string      `json:"next_cursor,omitempty"`
}

// handleAudit lists the audit log, newest first, for administrators:
// ?since= (RFC 3339) &user_id= &action= &limit= &cursor=.
func (s *server) handleAudit(w http.ResponseWriter, r *http.Request) {
	q, limit, err := pageQuery(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	req := storage.AuditRequest{UserID: q.Get("user_id"), Action: q.Get("action"), Cursor: q.Get("cursor"), Limit: limit}
	if v := q.Get("since"); v != "" {
		if req.Since, err = time.Parse(time.RFC3339Nano, v); err != nil {
			s.writeError(w, r, storage.Errorf(storage.CodeInvalidField, "since must be an RFC 3339 time, such as 2024-01-12T00:00:00Z"))
			return
		}
	}
	page, err := s.svc.ListAudit(r.Context(), req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	resp := auditResponse{Events: make([]AuditJSON, len(page.Events)), NextCursor: page.NextCursor}
	for i, e := range page.Events {
		resp.Events[i] = AuditJSONOf(e)
	}
	writeJSON(w, http.StatusOK, resp)
}
