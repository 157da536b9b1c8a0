package auth

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	storage "github.com/memenow/memenow-storage"
)

// benchVerify measures the full check of one token with the JWKS keys
// cached: the verified-token cache is emptied before each call, so every
// call checks the signature (a client's first request with a token).
func benchVerify(b *testing.B, c Config, tok string) {
	v := newTestVerifier(b, c)
	ctx := context.Background()
	if _, err := v.Verify(ctx, tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		v.cache.entries = nil
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyHS256(b *testing.B) {
	k := keys()
	clock := newClock()
	benchVerify(b, Config{HMACSecrets: [][]byte{k.secret}, Now: clock.Now},
		mint(b, jwt.SigningMethodHS256, k.secret, "", claims(clock.Now())))
}

func BenchmarkVerifyRS256JWKS(b *testing.B) {
	k := keys()
	clock := newClock()
	srv := newJWKSServer(b, jwk(b, &k.rsa1.PublicKey, "k1", "RS256"), jwk(b, &k.p256a.PublicKey, "k2", "ES256"))
	benchVerify(b, Config{JWKSURL: srv.URL, Now: clock.Now},
		mint(b, jwt.SigningMethodRS256, k.rsa1, "k1", claims(clock.Now())))
}

func BenchmarkVerifyES256JWKS(b *testing.B) {
	k := keys()
	clock := newClock()
	srv := newJWKSServer(b, jwk(b, &k.rsa1.PublicKey, "k1", "RS256"), jwk(b, &k.p256a.PublicKey, "k2", "ES256"))
	benchVerify(b, Config{JWKSURL: srv.URL, Now: clock.Now},
		mint(b, jwt.SigningMethodES256, k.p256a, "k2", claims(clock.Now())))
}

func BenchmarkVerifyEdDSAJWKS(b *testing.B) {
	k := keys()
	clock := newClock()
	srv := newJWKSServer(b, jwk(b, k.ed1.Public(), "k3", "EdDSA"))
	benchVerify(b, Config{JWKSURL: srv.URL, Now: clock.Now},
		mint(b, jwt.SigningMethodEdDSA, k.ed1, "k3", claims(clock.Now())))
}

func BenchmarkVerifyUploadToken(b *testing.B) {
	s := newSigner(b, 1)
	now := time.Unix(1_900_000_000, 0)
	tok := s.UploadToken("0190a8c4-1d2e-7f00-8000-000000000001", "user_1", storage.RoleCreator, now.Add(time.Hour))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.VerifyUploadToken(tok, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyLink(b *testing.B) {
	s := newSigner(b, 1)
	now := time.Unix(1_900_000_000, 0)
	key := "creator/user_1/20300102/video/holiday.mp4"
	q := s.SignLink(key, now.Add(time.Hour), url.Values{"download": {"1"}})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.VerifyLink(key, q, now); err != nil {
			b.Fatal(err)
		}
	}
}
