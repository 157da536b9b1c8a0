package auth

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	storage "github.com/memenow/memenow-storage"
)

// TestVerifiedCacheHonoursExpiry: a token served from the cache stops
// verifying once its exp (plus the leeway) has passed, with the same
// message as a fresh check.
func TestVerifiedCacheHonoursExpiry(t *testing.T) {
	k := keys()
	clock := newClock()
	v := newTestVerifier(t, Config{HMACSecrets: [][]byte{k.secret}, Now: clock.Now, Leeway: time.Second})
	c := claims(clock.Now())
	c["exp"] = clock.Now().Add(time.Minute).Unix()
	tok := mint(t, jwt.SigningMethodHS256, k.secret, "", c)
	for range 3 {
		p, err := v.Verify(context.Background(), tok)
		if err != nil || p.UserID != "user_1" || p.Role != storage.RoleCreator {
			t.Fatalf("Verify: %+v, %v", p, err)
		}
	}
	// A caller changing the returned principal does not change the cache.
	p, _ := v.Verify(context.Background(), tok)
	p.Admin, p.UserID = true, "mallory"
	if again, _ := v.Verify(context.Background(), tok); again.Admin || again.UserID != "user_1" {
		t.Fatalf("the cached principal was changed through a returned copy: %+v", again)
	}
	clock.Advance(time.Minute + 2*time.Second)
	_, err := v.Verify(context.Background(), tok)
	checkRefusal(t, err, storage.CodeUnauthorized, "token has expired", tok)
}

// TestVerifiedCacheOnlyHoldsVerifiedTokens: refused tokens are never
// cached, a token not yet valid stays refused, and the cache stays bounded.
func TestVerifiedCacheOnlyHoldsVerifiedTokens(t *testing.T) {
	k := keys()
	clock := newClock()
	v := newTestVerifier(t, Config{HMACSecrets: [][]byte{k.secret}, Now: clock.Now})
	c := claims(clock.Now())
	c["nbf"] = clock.Now().Add(time.Hour).Unix()
	early := mint(t, jwt.SigningMethodHS256, k.secret, "", c)
	for range 2 {
		_, err := v.Verify(context.Background(), early)
		checkRefusal(t, err, storage.CodeUnauthorized, "token is not valid yet", early)
	}
	forged := mint(t, jwt.SigningMethodHS256, k.secret2, "", claims(clock.Now()))
	for range 2 {
		_, err := v.Verify(context.Background(), forged)
		checkRefusal(t, err, storage.CodeUnauthorized, "token signature is invalid", forged)
	}
	if n := len(v.cache.entries); n != 0 {
		t.Fatalf("%d refused tokens cached", n)
	}
	for i := range maxCachedTokens + 100 {
		c := claims(clock.Now())
		c["sub"] = fmt.Sprintf("u%d", i)
		if _, err := v.Verify(context.Background(), mint(t, jwt.SigningMethodHS256, k.secret, "", c)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(v.cache.entries); n > maxCachedTokens {
		t.Fatalf("cache holds %d tokens, more than %d", n, maxCachedTokens)
	}
}

// BenchmarkVerifyES256Cached is the cost of a token seen before: what a
// client pays per chunk after its first request.
func BenchmarkVerifyES256Cached(b *testing.B) {
	k := keys()
	srv := newJWKSServer(b, jwk(b, &k.p256a.PublicKey, "k1", ""))
	v := newTestVerifier(b, Config{JWKSURL: srv.URL})
	tok := mint(b, jwt.SigningMethodES256, k.p256a, "k1", claims(time.Now()))
	for b.Loop() {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			b.Fatal(err)
		}
	}
}
