package storage

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// The audit log: every security-relevant event is a row in the metadata
// database.
//
// State changes (init, complete, cancel, delete, expire) write their row in
// the same transaction as the change: the MetaStore's CreateUpload,
// Transition and Expire take it as a trailing argument, so the row exists
// if and only if the change happened, and can never be lost once the
// change is committed. High-volume events (downloads, shares, refusals:
// auth failures, forbidden, rate limited, quota exceeded) change no state;
// a front end batches them and writes them with MetaStore.AppendAudit.
// Chunks are counted on their upload, not audited one by one.

// Audit actions.
const (
	AuditInit          = "init"
	AuditComplete      = "complete"
	AuditCancel        = "cancel"
	AuditExpire        = "expire"
	AuditDelete        = "delete"
	AuditDownload      = "download"
	AuditShare         = "share"
	AuditAuthFailure   = "auth_failure"
	AuditForbidden     = "forbidden"
	AuditRateLimited   = "rate_limited"
	AuditQuotaExceeded = "quota_exceeded"
)

// AuditActions lists every audit action.
var AuditActions = []string{AuditInit, AuditComplete, AuditCancel, AuditExpire, AuditDelete, AuditDownload,
	AuditShare, AuditAuthFailure, AuditForbidden, AuditRateLimited, AuditQuotaExceeded}

// ActorJanitor is the Actor of the events of the janitor (expiry, and the
// completes and cancels it finishes).
const ActorJanitor = "janitor"

// OutcomeOK is the Outcome of an event that succeeded; a refusal's Outcome
// is its error code.
const OutcomeOK = "ok"

// AuditEvent is one row of the audit log. It never holds a secret: no
// token, signature or password, only who, what, where from and how it
// ended.
type AuditEvent struct {
	// ID is the row's number, assigned by the store (0 before it is written).
	ID int64
	// Time is when it happened, kept to the millisecond.
	Time time.Time
	// RequestID is the HTTP request's id ("" for the janitor).
	RequestID string
	// Actor is the kind of caller: Principal.Actor() ("user", "admin",
	// "anonymous", "share_link", "upload_token") or ActorJanitor.
	Actor string
	// ActorID is the caller's user id ("" when anonymous or the janitor).
	ActorID string
	// ClientIP is the client's address as the front end resolved it.
	ClientIP string
	// Action is one of AuditActions.
	Action string
	// UploadID and Key name the upload and file concerned, when there is one.
	UploadID, Key string
	// Bytes is the size concerned: the upload's total size (init,
	// complete, cancel, expire, delete) or the bytes served (download).
	Bytes int64
	// Outcome is OutcomeOK or the error code of a refusal.
	Outcome string
}

// AuditQuery selects rows for MetaStore.ListAudit.
type AuditQuery struct {
	// Since, when not zero, keeps rows at or after it.
	Since time.Time
	// UserID, when set, keeps rows whose ActorID is it.
	UserID string
	// Action, when set, keeps rows of that action.
	Action string
	// Limit is the most rows returned; at least 1.
	Limit int
	// Before, when set, keeps rows that come after it in the newest-first
	// order (earlier, or at the same millisecond with a smaller ID): the
	// cursor of the next page.
	Before *AuditCursor
}

// AuditCursor is a position in the newest-first order of the audit log.
type AuditCursor struct {
	Time time.Time // compared in unix milliseconds
	ID   int64
}

// DefaultAuditRetention is how long audit rows are kept by default: 90 days.
const DefaultAuditRetention = 90 * 24 * time.Hour

// RequestInfo describes the request an operation serves, for the audit
// log: its id and the client's address.
type RequestInfo struct {
	ID       string
	ClientIP string
}

type requestKey struct{}

// janitorKey marks the janitor's context (janitorContext).
type janitorKey struct{}

// isJanitor reports whether ctx is the janitor's.
func isJanitor(ctx context.Context) bool {
	v, _ := ctx.Value(janitorKey{}).(bool)
	return v
}

// ContextWithRequest returns ctx carrying ri.
func ContextWithRequest(ctx context.Context, ri RequestInfo) context.Context {
	return context.WithValue(ctx, requestKey{}, ri)
}

// RequestFromContext returns the RequestInfo of ctx (zero when none).
func RequestFromContext(ctx context.Context) RequestInfo {
	ri, _ := ctx.Value(requestKey{}).(RequestInfo)
	return ri
}

// NewAuditEvent returns the event of action by the caller of ctx (its
// Principal and RequestInfo) at now, about u when u is not nil, with
// Outcome OutcomeOK. The janitor's context makes Actor ActorJanitor.
func NewAuditEvent(ctx context.Context, now time.Time, action string, u *Upload) AuditEvent {
	ri := RequestFromContext(ctx)
	e := AuditEvent{Time: now.UTC(), RequestID: ri.ID, ClientIP: ri.ClientIP, Action: action, Outcome: OutcomeOK}
	p := PrincipalFromContext(ctx)
	switch {
	case isJanitor(ctx):
		e.Actor = ActorJanitor
	default:
		e.Actor = p.Actor()
		if p != nil {
			e.ActorID = p.UserID
		}
	}
	if u != nil {
		e.UploadID, e.Key, e.Bytes = u.ID, u.Key, u.TotalSize
	}
	return e
}

// auditEvent returns the event of action on u by the caller of ctx, as of
// the Service's clock. With auth off the caller is anonymous but names its
// user in the request, which the Service trusts: that user (the upload's)
// is the ActorID, so that the log can be searched by user; the Actor stays
// "anonymous" (unverified).
func (s *Service) auditEvent(ctx context.Context, action string, u *Upload) AuditEvent {
	e := NewAuditEvent(ctx, s.now(), action, u)
	if !s.RequireAuth && e.Actor == "anonymous" && u != nil {
		e.ActorID = u.UserID
	}
	return e
}

// AuditRequest asks for a page of the audit log. Fields are as the client
// sent them.
type AuditRequest struct {
	// Since keeps events at or after it; zero for all.
	Since time.Time
	// UserID keeps the events of one actor.
	UserID string
	// Action keeps one action ("" for all).
	Action string
	// Limit is the page size: 0 means DefaultListLimit, at most
	// MaxListLimit.
	Limit int
	// Cursor continues an earlier page ("" for the first).
	Cursor string
}

// AuditPage is one page of the audit log, newest first.
type AuditPage struct {
	Events []AuditEvent
	// NextCursor continues the listing; "" on the last page.
	NextCursor string
}

// ListAudit returns a page of the audit log, newest first. With auth on
// only administrators may read it (CodeUnauthorized without a token,
// CodeForbidden for anyone else); with auth off anyone may, as anyone may
// do anything then.
func (s *Service) ListAudit(ctx context.Context, r AuditRequest) (*AuditPage, error) {
	p, err := s.requireUser(ctx)
	if err != nil {
		return nil, err
	}
	if s.RequireAuth && !p.Admin {
		return nil, Errorf(CodeForbidden, "only an administrator may read the audit log")
	}
	q := AuditQuery{Since: r.Since, UserID: r.UserID, Action: r.Action, Limit: r.Limit}
	if r.UserID != "" && !ValidUserID(r.UserID) && r.UserID != ActorJanitor {
		return nil, Errorf(CodeInvalidField, "user_id must be 1 to 64 characters of A-Z, a-z, 0-9, '_' or '-'")
	}
	if r.Action != "" && !validAuditAction(r.Action) {
		return nil, Errorf(CodeInvalidField, "action must be one of %s", strings.Join(AuditActions, ", "))
	}
	switch {
	case q.Limit == 0:
		q.Limit = DefaultListLimit
	case q.Limit < 0 || q.Limit > MaxListLimit:
		return nil, Errorf(CodeInvalidField, "limit must be between 1 and %d", MaxListLimit)
	}
	if r.Cursor != "" {
		c, err := parseCursor(r.Cursor) // files.go: "{ms}:{id}"
		if err != nil {
			return nil, err
		}
		id, perr := strconv.ParseInt(c.ID, 10, 64)
		if perr != nil {
			return nil, Errorf(CodeInvalidField, "cursor is not one this service returned")
		}
		q.Before = &AuditCursor{Time: c.CreatedAt, ID: id}
	}
	want := q.Limit
	q.Limit++ // one more tells whether there is a next page
	events, err := s.Meta.ListAudit(ctx, q)
	if err != nil {
		return nil, err
	}
	page := &AuditPage{Events: events}
	if len(events) > want {
		page.Events = events[:want]
		last := page.Events[want-1]
		page.NextCursor = formatCursor(ListCursor{CreatedAt: last.Time, ID: strconv.FormatInt(last.ID, 10)})
	}
	return page, nil
}

// validAuditAction reports whether a is one of AuditActions.
func validAuditAction(a string) bool {
	for _, v := range AuditActions {
		if v == a {
			return true
		}
	}
	return false
}
