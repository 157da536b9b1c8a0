package auth

import (
	"context"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	storage "github.com/memenow/memenow-storage"
)

func TestAuthenticate(t *testing.T) {
	k := keys()
	clock := newClock()
	s := newSigner(t, 1)
	v := newTestVerifier(t, Config{HMACSecrets: [][]byte{k.secret}, Now: clock.Now})
	a := &Authenticator{Verifier: v, Signer: s, Now: clock.Now}
	ctx := context.Background()

	jwtTok := mint(t, jwt.SigningMethodHS256, k.secret, "", claims(clock.Now()))
	p, err := a.Authenticate(ctx, jwtTok)
	if err != nil || *p != (storage.Principal{UserID: "user_1", Role: storage.RoleCreator}) {
		t.Fatalf("JWT: %+v, %v", p, err)
	}
	up := s.UploadToken("upload-1", "user_1", storage.RoleCreator, clock.Now().Add(time.Minute))
	p, err = a.Authenticate(ctx, up)
	if err != nil || *p != (storage.Principal{UserID: "user_1", Role: storage.RoleCreator, UploadID: "upload-1"}) {
		t.Fatalf("upload token: %+v, %v", p, err)
	}
	// Authenticator.Now decides upload-token expiry.
	clock.Advance(time.Minute)
	_, err = a.Authenticate(ctx, up)
	checkRefusal(t, err, storage.CodeUnauthorized, "upload token has expired", up)

	_, err = a.Authenticate(ctx, "")
	checkRefusal(t, err, storage.CodeUnauthorized, "token is missing", "")
	_, err = (&Authenticator{Verifier: v}).Authenticate(ctx, up)
	checkRefusal(t, err, storage.CodeUnauthorized, "upload tokens are not accepted", up)
	_, err = (&Authenticator{Signer: s}).Authenticate(ctx, jwtTok)
	checkRefusal(t, err, storage.CodeUnauthorized, "bearer tokens are not accepted", jwtTok)
	_, err = a.Authenticate(ctx, "mnu.garbage")
	checkRefusal(t, err, storage.CodeUnauthorized, "upload token is malformed", "mnu.garbage")
	// Without Now, Authenticate uses the real clock.
	real := &Authenticator{Signer: s}
	if _, err := real.Authenticate(ctx, s.UploadToken("u", "user_1", storage.RoleCreator, time.Now().Add(time.Minute))); err != nil {
		t.Fatal(err)
	}
}
