package storage

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Completed files: reading, sharing, deleting and listing uploads.

// Open opens the completed file at key, when the caller of ctx may read it,
// and returns it with the upload that produced it. Keys that are malformed,
// try to leave the store, name no completed file or a file the caller may
// not read all give the same CodeNotFound.
func (s *Service) Open(ctx context.Context, key string) (Object, *Upload, error) {
	u, err := s.fileUpload(ctx, key)
	if err != nil {
		return nil, nil, err
	}
	if u.Status != StatusCompleted || !s.mayReadFile(PrincipalFromContext(ctx), u) {
		return nil, nil, fileNotFound()
	}
	obj, err := s.Objects.Open(ctx, key)
	if err != nil {
		return nil, nil, err
	}
	return obj, u, nil
}

// fileUpload returns the upload that holds key, or fileNotFound.
func (s *Service) fileUpload(ctx context.Context, key string) (*Upload, error) {
	if !ValidKey(key) {
		return nil, fileNotFound()
	}
	u, err := s.Meta.GetUploadByKey(ctx, key)
	if HasCode(err, CodeUploadNotFound) {
		return nil, fileNotFound()
	}
	return u, err
}

// managedFile returns the upload of the completed (or, with deleted true,
// deleted) file at key when the caller of ctx may manage it.
func (s *Service) managedFile(ctx context.Context, key string, deleted bool) (*Upload, error) {
	p, err := s.requireUser(ctx)
	if err != nil {
		return nil, err
	}
	u, err := s.fileUpload(ctx, key)
	if err != nil {
		return nil, err
	}
	ok := u.Status == StatusCompleted || (deleted && u.Status == StatusDeleted)
	if !ok || !s.mayManageFile(p, u) {
		return nil, fileNotFound()
	}
	return u, nil
}

// Delete deletes the completed file at key (its owner or an administrator).
// The upload moves to StatusDeleted and keeps the key, so that an old link
// can never point at another upload's file. Repeating it finishes a delete
// that a crash interrupted, and answers as the first did.
func (s *Service) Delete(ctx context.Context, key string) (*Upload, error) {
	u, err := s.managedFile(ctx, key, true)
	if err != nil {
		return nil, err
	}
	if u.Status == StatusCompleted {
		done, err := s.Meta.Transition(ctx, u.ID, []Status{StatusCompleted}, StatusDeleted, s.auditEvent(ctx, AuditDelete, u))
		if HasCode(err, CodeConflict) { // a concurrent delete
			done, err = s.Meta.GetUpload(ctx, u.ID)
			if err == nil && done.Status != StatusDeleted {
				return nil, fileNotFound()
			}
		}
		if err != nil {
			return nil, err
		}
		u = done
	}
	if err := s.Objects.Delete(ctx, key); err != nil {
		return nil, err
	}
	return u, nil
}

// DefaultShareTTL is how long a share link lives when the request names no
// expiry.
const DefaultShareTTL = time.Hour

// Share checks that the caller of ctx may share the completed file at key
// for ttl (0 means DefaultShareTTL; at most Config.MaxShareTTL) and returns
// its upload and the link's expiry, to the second. The front end signs the
// link.
func (s *Service) Share(ctx context.Context, key string, ttl time.Duration) (*Upload, time.Time, error) {
	if ttl == 0 {
		ttl = DefaultShareTTL
	}
	if ttl < time.Second || ttl > s.Config.MaxShareTTL {
		return nil, time.Time{}, Errorf(CodeInvalidField, "expires_in must be between 1 and %d seconds", int64(s.Config.MaxShareTTL/time.Second))
	}
	u, err := s.managedFile(ctx, key, false)
	if err != nil {
		return nil, time.Time{}, err
	}
	return u, s.now().Add(ttl).Truncate(time.Second).UTC(), nil
}

// ListRequest asks for a page of uploads. Fields are as the client sent them.
type ListRequest struct {
	// UserID keeps one user's uploads: only administrators (or anyone with
	// auth off) may name another user than themselves.
	UserID string
	// Status keeps uploads in one state; "" for all.
	Status string
	// Limit is the page size: 0 means DefaultListLimit, at most MaxListLimit.
	Limit int
	// Cursor continues an earlier page ("" for the first).
	Cursor string
}

// ListPage is one page of uploads, newest first.
type ListPage struct {
	Uploads []*Upload
	// NextCursor continues the listing; "" on the last page.
	NextCursor string
}

// Page sizes of List.
const (
	DefaultListLimit = 50
	MaxListLimit     = 1000
)

// List returns the caller's uploads, newest first. With auth on a user sees
// their own; an administrator sees everyone's, or one user's with UserID.
func (s *Service) List(ctx context.Context, r ListRequest) (*ListPage, error) {
	p, err := s.requireUser(ctx)
	if err != nil {
		return nil, err
	}
	q := ListQuery{UserID: r.UserID, Limit: r.Limit}
	if s.RequireAuth && !p.Admin {
		if r.UserID != "" && r.UserID != p.UserID {
			return nil, Errorf(CodeForbidden, "only an administrator may list another user's uploads")
		}
		q.UserID = p.UserID
	}
	if r.UserID != "" && !ValidUserID(r.UserID) {
		return nil, Errorf(CodeInvalidField, "user_id must be 1 to 64 characters of A-Z, a-z, 0-9, '_' or '-'")
	}
	if r.Status != "" {
		st, ok := ParseStatus(r.Status)
		if !ok {
			return nil, Errorf(CodeInvalidField, "status must be one of initiated, in_progress, completing, completed, cancelling, cancelled, deleted, expired")
		}
		q.Status = st
	}
	switch {
	case q.Limit == 0:
		q.Limit = DefaultListLimit
	case q.Limit < 0 || q.Limit > MaxListLimit:
		return nil, Errorf(CodeInvalidField, "limit must be between 1 and %d", MaxListLimit)
	}
	if r.Cursor != "" {
		if q.After, err = parseCursor(r.Cursor); err != nil {
			return nil, err
		}
	}
	want := q.Limit
	q.Limit++ // one more tells whether there is a next page
	uploads, err := s.Meta.ListUploads(ctx, q)
	if err != nil {
		return nil, err
	}
	for i, u := range uploads {
		uploads[i] = freed(u)
	}
	page := &ListPage{Uploads: uploads}
	if len(uploads) > want {
		page.Uploads = uploads[:want]
		last := page.Uploads[want-1]
		page.NextCursor = formatCursor(ListCursor{CreatedAt: last.CreatedAt, ID: last.ID})
	}
	return page, nil
}

// formatCursor encodes a position as an opaque token.
func formatCursor(c ListCursor) string {
	return base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("%d:%s", c.CreatedAt.UnixMilli(), c.ID)))
}

// parseCursor decodes a token of formatCursor.
func parseCursor(s string) (*ListCursor, error) {
	bad := Errorf(CodeInvalidField, "cursor is not one this service returned")
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(s) > 256 {
		return nil, bad
	}
	msText, id, ok := strings.Cut(string(raw), ":")
	ms, err := strconv.ParseInt(msText, 10, 64)
	if !ok || err != nil || id == "" || !utf8ValidNoControl(id) {
		return nil, bad
	}
	return &ListCursor{CreatedAt: time.UnixMilli(ms).UTC(), ID: id}, nil
}

// ValidKey reports whether key is a well-formed object key: 1 to 1024 bytes
// of valid UTF-8 without control characters or backslashes, made of
// non-empty '/'-separated segments none of which is "." or "..".
func ValidKey(key string) bool {
	if key == "" || len(key) > 1024 || !utf8ValidNoControl(key) || strings.ContainsRune(key, '\\') {
		return false
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

func utf8ValidNoControl(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}
