package auth

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	storage "github.com/memenow/memenow-storage"
)

// testKeys are the key pairs of the tests, generated once per test binary.
type testKeys struct {
	rsa1, rsa2       *rsa.PrivateKey
	p256a, p256b     *ecdsa.PrivateKey
	p384, p521       *ecdsa.PrivateKey
	ed1, ed2         ed25519.PrivateKey
	secret, secret2  []byte
	secret3, secret4 []byte
}

var keys = sync.OnceValue(func() *testKeys {
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	k := &testKeys{}
	var err error
	k.rsa1, err = rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	k.rsa2, err = rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	k.p256a, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	k.p256b, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	k.p384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	must(err)
	k.p521, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	must(err)
	_, k.ed1, err = ed25519.GenerateKey(rand.Reader)
	must(err)
	_, k.ed2, err = ed25519.GenerateKey(rand.Reader)
	must(err)
	k.secret = bytes.Repeat([]byte("s"), 32)
	k.secret2 = bytes.Repeat([]byte("t"), 48)
	k.secret3 = bytes.Repeat([]byte("u"), 64)
	k.secret4 = bytes.Repeat([]byte("v"), 32)
	return k
})

// fakeClock is a settable clock.
type fakeClock struct{ ns atomic.Int64 }

func newClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// jwk returns the JWK of pub as jwkset (an independent encoder) writes it.
func jwk(t testing.TB, pub crypto.PublicKey, kid, alg string) jwkset.JWKMarshal {
	t.Helper()
	j, err := jwkset.NewJWKFromKey(pub, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: kid, ALG: jwkset.ALG(alg)}})
	if err != nil {
		t.Fatal(err)
	}
	return j.Marshal()
}

// jwksServer serves a JWKS document that a test can change, counting
// fetches.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	keys    []any // jwkset.JWKMarshal or raw maps
	status  int   // 0: 200
	body    []byte
	delay   time.Duration
	fetches atomic.Int64
}

func newJWKSServer(t testing.TB, keys ...any) *jwksServer {
	s := &jwksServer{keys: keys}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		status, body, delay := s.status, s.body, s.delay
		if body == nil {
			ks := s.keys
			if ks == nil {
				ks = []any{}
			}
			body, _ = json.Marshal(map[string]any{"keys": ks})
		}
		s.mu.Unlock()
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		if status != 0 {
			http.Error(w, "unavailable", status)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) setKeys(keys ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = keys
}

func (s *jwksServer) setStatus(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = status
}

func (s *jwksServer) setBody(body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body = body
}

func (s *jwksServer) setDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// newTestVerifier returns a Verifier closed at the end of the test.
func newTestVerifier(t testing.TB, c Config) *Verifier {
	t.Helper()
	v, err := NewVerifier(context.Background(), c)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	t.Cleanup(v.Close)
	return v
}

// claims returns valid claims of a creator at now.
func claims(now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"sub":  "user_1",
		"role": "creator",
		"iat":  now.Unix(),
		"exp":  now.Add(time.Hour).Unix(),
	}
}

// mint signs claims with method and key, with kid in the header when set.
func mint(t testing.TB, method jwt.SigningMethod, key any, kid string, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// checkRefusal checks that err is a *storage.Error with code whose message
// contains want, and that neither the message nor the error text holds the
// credential or any of its parts.
func checkRefusal(t testing.TB, err error, code storage.Code, want, credential string) {
	t.Helper()
	var se *storage.Error
	if !errors.As(err, &se) {
		t.Fatalf("error = %v (%T), want a *storage.Error", err, err)
	}
	if se.Code != code {
		t.Errorf("code = %s, want %s (message %q)", se.Code, code, se.Message)
	}
	if !strings.Contains(se.Message, want) {
		t.Errorf("message = %q, want it to contain %q", se.Message, want)
	}
	checkNoSecret(t, se.Message+" | "+err.Error(), credential)
}

// checkNoSecret fails when text holds credential or any of its parts of 6
// characters or more (split at '.', '&', '=').
func checkNoSecret(t testing.TB, text, credential string) {
	t.Helper()
	if credential == "" {
		return
	}
	if strings.Contains(text, credential) {
		t.Fatalf("%q contains the credential", text)
	}
	for _, part := range strings.FieldsFunc(credential, func(r rune) bool { return r == '.' || r == '&' || r == '=' }) {
		if len(part) >= 6 && strings.Contains(text, part) {
			t.Fatalf("%q contains part %q of the credential", text, part)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for a logger used by goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func newLogger() (*slog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// waitFor polls cond for up to 5 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
