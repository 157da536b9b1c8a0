package auth

import (
	"context"
	"strings"
	"time"

	storage "github.com/memenow/memenow-storage"
)

// Authenticator turns the bearer credential of a request into its caller,
// for the HTTP layer and any other front end.
type Authenticator struct {
	// Verifier checks JWTs; nil refuses them.
	Verifier *Verifier
	// Signer checks upload tokens; nil refuses them.
	Signer *Signer
	// Now is the clock for upload-token expiry; time.Now when nil.
	Now func() time.Time
}

// Authenticate returns the caller of a bearer credential (the token alone,
// without the "Bearer " scheme; see BearerToken). A credential that starts
// with UploadTokenPrefix is an upload token, checked by the Signer; any
// other is a JWT, checked by the Verifier. Every refusal is a
// *storage.Error with storage.CodeUnauthorized.
func (a *Authenticator) Authenticate(ctx context.Context, bearer string) (*storage.Principal, error) {
	if bearer == "" {
		return nil, unauthorized("token is missing")
	}
	if strings.HasPrefix(bearer, UploadTokenPrefix) {
		if a.Signer == nil {
			return nil, unauthorized("upload tokens are not accepted")
		}
		now := time.Now
		if a.Now != nil {
			now = a.Now
		}
		return a.Signer.VerifyUploadToken(bearer, now())
	}
	if a.Verifier == nil {
		return nil, unauthorized("bearer tokens are not accepted")
	}
	return a.Verifier.Verify(ctx, bearer)
}
