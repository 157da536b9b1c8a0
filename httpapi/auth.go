package httpapi

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	storage "github.com/memenow/memenow-storage"
)

// Authenticator verifies a bearer token (a user's JWT or an upload token)
// and returns the caller. Refusals are *storage.Error values with
// storage.CodeUnauthorized whose message says what was wrong, never the token.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (*storage.Principal, error)
}

// LinkSigner signs the service's own credentials: share links and upload
// tokens.
type LinkSigner interface {
	// SignLink returns the query of a link to key that reads the file
	// until expires: extra plus the signature's own parameters.
	SignLink(key string, expires time.Time, extra url.Values) url.Values
	// VerifyLink checks a link's query and returns its Principal. Errors:
	// storage.CodeInvalidSignature, storage.CodeLinkExpired.
	VerifyLink(key string, q url.Values, now time.Time) (*storage.Principal, error)
	// UploadToken returns a bearer token for one upload until expires.
	UploadToken(uploadID, userID string, role storage.Role, expires time.Time) string
}

// DefaultUploadTokenTTL is how long an upload token lives; a status request
// by its holder returns a fresh one.
const DefaultUploadTokenTTL = 24 * time.Hour

// authenticate puts the verified caller of a request with an Authorization
// header in its context, and refuses a request whose token does not verify.
// A request without the header goes on anonymous; the Service decides what
// an anonymous caller may do. With auth off the header is ignored.
func (s *server) authenticate(next http.Handler) http.Handler {
	if s.auth == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		header := r.Header.Get("Authorization")
		if header == "" {
			next.ServeHTTP(w, r)
			return
		}
		scheme, token, _ := strings.Cut(header, " ")
		token = strings.TrimSpace(token)
		if !strings.EqualFold(scheme, "Bearer") || token == "" {
			s.writeError(w, r, storage.Errorf(storage.CodeUnauthorized, "the Authorization header must be \"Bearer <token>\""))
			return
		}
		p, err := s.auth.Authenticate(r.Context(), token)
		if err != nil {
			if !storage.HasCode(err, storage.CodeUnauthorized) {
				err = storage.Wrap(storage.CodeUnauthorized, err, "the token could not be verified")
			}
			s.writeError(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(storage.ContextWithPrincipal(r.Context(), p)))
	})
}

// challenge sets the WWW-Authenticate header of a 401 (RFC 6750).
func challenge(h http.Header, r *http.Request) {
	if r.Header.Get("Authorization") != "" {
		h.Set("WWW-Authenticate", `Bearer realm="memenow-storage", error="invalid_token"`)
		return
	}
	h.Set("WWW-Authenticate", `Bearer realm="memenow-storage"`)
}

// meResponse answers GET /api/me.
type meResponse struct {
	Auth     bool   `json:"auth"`
	Actor    string `json:"actor"`
	UserID   string `json:"user_id,omitempty"`
	UserRole string `json:"user_role,omitempty"`
	Admin    bool   `json:"admin"`
	UploadID string `json:"upload_id,omitempty"`
}

// handleMe tells a client whether the server wants a token and who the
// token says the caller is.
func (s *server) handleMe(w http.ResponseWriter, r *http.Request) {
	p := storage.PrincipalFromContext(r.Context())
	resp := meResponse{Auth: s.auth != nil, Actor: p.Actor()}
	if p != nil {
		resp.UserID, resp.UserRole, resp.Admin, resp.UploadID = p.UserID, string(p.Role), p.Admin, p.UploadID
	}
	writeJSON(w, http.StatusOK, resp)
}

// uploadToken returns a fresh upload token for u, or "" with auth off or
// without a signer.
func (s *server) uploadToken(u *storage.Upload) string {
	if s.auth == nil || s.links == nil {
		return ""
	}
	return s.links.UploadToken(u.ID, u.UserID, u.UserRole, s.now().Add(s.uploadTokenTTL))
}
