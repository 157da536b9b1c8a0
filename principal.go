package storage

import "context"

// Principal is the verified caller of a Service operation. Front ends (the
// HTTP API, a later tus front end) verify a token and put the Principal in
// the request's context with ContextWithPrincipal; every Service operation
// reads it back and decides whether the caller may act.
//
// A Principal is one of: a user (UserID and Role), an administrator (Admin),
// an upload token (UploadID: that one upload, on behalf of UserID), or a
// share link (SharedKey: reading that one file).
type Principal struct {
	// UserID is the user the caller acts as (the token's sub claim).
	UserID string
	// Role is the user's role.
	Role Role
	// Admin may act on every upload and file.
	Admin bool
	// UploadID, when set, limits the caller to that one upload: chunk,
	// status, complete and cancel (an upload token).
	UploadID string
	// SharedKey, when set, limits the caller to reading that one file (a
	// share link).
	SharedKey string
}

// Actor names the kind of caller for logs and the audit trail: "admin",
// "upload_token", "share_link", "user" or "anonymous" (a nil Principal).
func (p *Principal) Actor() string {
	switch {
	case p == nil:
		return "anonymous"
	case p.Admin:
		return "admin"
	case p.UploadID != "":
		return "upload_token"
	case p.SharedKey != "":
		return "share_link"
	}
	return "user"
}

// isUser reports whether p is a user or an administrator acting with their
// own token (not a scoped upload token or share link).
func (p *Principal) isUser() bool {
	return p != nil && p.UploadID == "" && p.SharedKey == "" && (p.UserID != "" || p.Admin)
}

type principalKey struct{}

// ContextWithPrincipal returns ctx carrying p as the verified caller.
func ContextWithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFromContext returns the verified caller of ctx, or nil for an
// anonymous caller.
func PrincipalFromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}
