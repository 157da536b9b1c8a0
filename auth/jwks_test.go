package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	storage "github.com/memenow/memenow-storage"
)

// TestUnknownKidRefetch checks that a key added to the JWKS works at once
// through the unknown-kid path, without waiting for the periodic refresh.
func TestUnknownKidRefetch(t *testing.T) {
	k := keys()
	clock := newClock()
	srv := newJWKSServer(t, jwk(t, &k.rsa1.PublicKey, "k1", ""))
	v := newTestVerifier(t, Config{JWKSURL: srv.URL, Now: clock.Now, JWKSRefresh: time.Hour})
	if _, err := v.Verify(context.Background(), mint(t, jwt.SigningMethodRS256, k.rsa1, "k1", claims(clock.Now()))); err != nil {
		t.Fatal(err)
	}
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches after start, want 1", n)
	}
	srv.setKeys(jwk(t, &k.rsa1.PublicKey, "k1", ""), jwk(t, &k.p256a.PublicKey, "k2", ""))
	if _, err := v.Verify(context.Background(), mint(t, jwt.SigningMethodES256, k.p256a, "k2", claims(clock.Now()))); err != nil {
		t.Fatalf("new key: %v", err)
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
	// A known kid never fetches.
	for range 10 {
		if _, err := v.Verify(context.Background(), mint(t, jwt.SigningMethodRS256, k.rsa1, "k1", claims(clock.Now()))); err != nil {
			t.Fatal(err)
		}
	}
	// Nor does a wrong signature under a known kid.
	v.Verify(context.Background(), mint(t, jwt.SigningMethodRS256, k.rsa2, "k1", claims(clock.Now())))
	if n := srv.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
}

// TestPeriodicRefresh checks key rotation by the periodic refresh alone: the
// unknown-kid path is held back by a frozen clock.
func TestPeriodicRefresh(t *testing.T) {
	k := keys()
	clock := newClock() // frozen: the unknown-kid rate limit never lapses
	srv := newJWKSServer(t, jwk(t, &k.rsa1.PublicKey, "k1", ""))
	v := newTestVerifier(t, Config{JWKSURL: srv.URL, Now: clock.Now, JWKSRefresh: 20 * time.Millisecond, JWKSMinInterval: time.Hour})
	verify := func(key any, method jwt.SigningMethod, kid string) error {
		_, err := v.Verify(context.Background(), mint(t, method, key, kid, claims(clock.Now())))
		return err
	}
	// Spend the one unknown-kid fetch the rate limit allows.
	tok := mint(t, jwt.SigningMethodRS256, k.rsa1, "k0", claims(clock.Now()))
	_, err := v.Verify(context.Background(), tok)
	checkRefusal(t, err, storage.CodeUnauthorized, "token key id is unknown", tok)

	// Add k2: only the periodic refresh can bring it in.
	srv.setKeys(jwk(t, &k.rsa1.PublicKey, "k1", ""), jwk(t, k.ed1.Public(), "k2", ""))
	waitFor(t, "the new key", func() bool { return verify(k.ed1, jwt.SigningMethodEdDSA, "k2") == nil })
	if err := verify(k.rsa1, jwt.SigningMethodRS256, "k1"); err != nil {
		t.Fatalf("old key after adding: %v", err)
	}

	// Remove k1: it stops working after a refresh.
	srv.setKeys(jwk(t, k.ed1.Public(), "k2", ""))
	waitFor(t, "the removed key to fail", func() bool { return verify(k.rsa1, jwt.SigningMethodRS256, "k1") != nil })
	tok = mint(t, jwt.SigningMethodRS256, k.rsa1, "k1", claims(clock.Now()))
	_, err = v.Verify(context.Background(), tok)
	checkRefusal(t, err, storage.CodeUnauthorized, "token key id is unknown", tok)
	// A removed key without kid fails as well.
	tok = mint(t, jwt.SigningMethodRS256, k.rsa1, "", claims(clock.Now()))
	_, err = v.Verify(context.Background(), tok)
	checkRefusal(t, err, storage.CodeUnauthorized, "token has no key id and no key fits its algorithm", tok)
	if err := verify(k.ed1, jwt.SigningMethodEdDSA, "k2"); err != nil {
		t.Fatalf("remaining key: %v", err)
	}
}

// TestUnknownKidRateLimit sends a flood of tokens with random kids from 100
// goroutines: they cause one fetch per JWKSMinInterval, not one each.
func TestUnknownKidRateLimit(t *testing.T) {
	k := keys()
	clock := newClock()
	srv := newJWKSServer(t, jwk(t, &k.rsa1.PublicKey, "k1", ""))
	v := newTestVerifier(t, Config{JWKSURL: srv.URL, Now: clock.Now, JWKSRefresh: time.Hour})
	srv.setDelay(50 * time.Millisecond) // the flood arrives while the fetch runs

	flood := func(kid func(i int) string) (refused int) {
		toks := make([]string, 100)
		for i := range toks {
			toks[i] = mint(t, jwt.SigningMethodRS256, k.rsa1, kid(i), claims(clock.Now()))
		}
		errs := make([]error, len(toks))
		var wg sync.WaitGroup
		for i, tok := range toks {
			wg.Go(func() { _, errs[i] = v.Verify(context.Background(), tok) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				checkRefusal(t, err, storage.CodeUnauthorized, "token key id is unknown", toks[i])
				refused++
			}
		}
		return refused
	}
	random := func(int) string { return "bad-" + rand.Text() }

	if refused := flood(random); refused != 100 {
		t.Fatalf("%d refused, want 100", refused)
	}
	if n := srv.fetches.Load() - 1; n < 1 || n > 2 {
		t.Fatalf("%d fetches for 100 unknown kids, want 1 or 2", n)
	}
	before := srv.fetches.Load()
	flood(random)
	if n := srv.fetches.Load() - before; n != 0 {
		t.Fatalf("%d fetches within the interval, want 0", n)
	}

	// After the interval, one more fetch; callers that arrive while it
	// runs wait for it, so a newly published key works for all of them.
	clock.Advance(DefaultJWKSMinInterval)
	srv.setKeys(jwk(t, &k.rsa1.PublicKey, "k1", ""), jwk(t, &k.rsa1.PublicKey, "k-new", ""))
	before = srv.fetches.Load()
	if refused := flood(func(int) string { return "k-new" }); refused != 0 {
		t.Fatalf("%d refused a newly published key", refused)
	}
	if n := srv.fetches.Load() - before; n != 1 {
		t.Fatalf("%d fetches for 100 callers of a new key, want 1", n)
	}
}

// TestUnknownKidWaitHonoursContext checks that a caller waiting for a slow
// fetch gives up when its context ends, and that Close ends the fetch.
func TestUnknownKidWaitHonoursContext(t *testing.T) {
	k := keys()
	clock := newClock()
	srv := newJWKSServer(t, jwk(t, &k.rsa1.PublicKey, "k1", ""))
	v, err := NewVerifier(context.Background(), Config{JWKSURL: srv.URL, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv.setDelay(time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	tok := mint(t, jwt.SigningMethodRS256, k.rsa1, "other", claims(clock.Now()))
	start := time.Now()
	_, err = v.Verify(ctx, tok)
	checkRefusal(t, err, storage.CodeUnauthorized, "token key id is unknown", tok)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Verify waited %v", d)
	}
	done := make(chan struct{})
	go func() { v.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the running fetch")
	}
	// After Close, cached keys still verify, and nothing is fetched.
	n := srv.fetches.Load()
	if _, err := v.Verify(context.Background(), mint(t, jwt.SigningMethodRS256, k.rsa1, "k1", claims(clock.Now()))); err != nil {
		t.Fatal(err)
	}
	v.Verify(context.Background(), mint(t, jwt.SigningMethodRS256, k.rsa1, "k9", claims(clock.Now())))
	if srv.fetches.Load() != n {
		t.Fatal("fetched after Close")
	}
}

// TestRefreshFailureKeepsKeys checks that a JWKS server that fails after the
// first fetch leaves the cached keys working, and that the failure is logged
// without tokens.
func TestRefreshFailureKeepsKeys(t *testing.T) {
	k := keys()
	for _, tc := range []struct {
		name    string
		breakIt func(*jwksServer)
		want    string
	}{
		{"status 503", func(s *jwksServer) { s.setStatus(http.StatusServiceUnavailable) }, "status 503"},
		{"not JSON", func(s *jwksServer) { s.setBody([]byte("<html>maintenance</html>")) }, "not valid JSON"},
		{"no keys member", func(s *jwksServer) { s.setBody([]byte(`{}`)) }, `no \"keys\" array`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := newClock()
			srv := newJWKSServer(t, jwk(t, &k.rsa1.PublicKey, "k1", ""))
			log, buf := newLogger()
			v := newTestVerifier(t, Config{JWKSURL: srv.URL + "/jwks?key=SECRETVALUE", Now: clock.Now, JWKSRefresh: 5 * time.Millisecond, Logger: log})
			tc.breakIt(srv)
			waitFor(t, "failed refreshes", func() bool { return srv.fetches.Load() >= 4 })
			tok := mint(t, jwt.SigningMethodRS256, k.rsa1, "k1", claims(clock.Now()))
			if _, err := v.Verify(context.Background(), tok); err != nil {
				t.Fatalf("cached key after failed refreshes: %v", err)
			}
			// An unknown kid's fetch fails the same way, keeping the keys.
			bad := mint(t, jwt.SigningMethodRS256, k.rsa1, "k2", claims(clock.Now()))
			_, err := v.Verify(context.Background(), bad)
			checkRefusal(t, err, storage.CodeUnauthorized, "token key id is unknown", bad)
			if _, err := v.Verify(context.Background(), tok); err != nil {
				t.Fatalf("cached key after a failed unknown-kid fetch: %v", err)
			}
			logs := buf.String()
			if !strings.Contains(logs, "JWKS refresh failed") || !strings.Contains(logs, tc.want) {
				t.Errorf("logs do not report the failure %q:\n%s", tc.want, logs)
			}
			checkNoSecret(t, logs, tok)
			checkNoSecret(t, logs, bad)
			if strings.Contains(logs, "SECRETVALUE") {
				t.Errorf("logs show the URL's query:\n%s", logs)
			}
		})
	}
}

// TestRefreshToEmptyJWKS checks that a JWKS emptied by its provider removes
// every key (with a warning) rather than keeping them.
func TestRefreshToEmptyJWKS(t *testing.T) {
	k := keys()
	clock := newClock()
	srv := newJWKSServer(t, jwk(t, &k.rsa1.PublicKey, "k1", ""))
	log, buf := newLogger()
	v := newTestVerifier(t, Config{JWKSURL: srv.URL, Now: clock.Now, JWKSRefresh: 5 * time.Millisecond, Logger: log})
	srv.setKeys()
	waitFor(t, "the key to go", func() bool {
		_, err := v.Verify(context.Background(), mint(t, jwt.SigningMethodRS256, k.rsa1, "k1", claims(clock.Now())))
		return err != nil
	})
	if !strings.Contains(buf.String(), "no usable verification key") {
		t.Errorf("no warning logged:\n%s", buf.String())
	}
}

// rawJWK returns a JWK as a map, to be changed by a test.
func rawJWK(t *testing.T, pub any, kid, alg string) map[string]any {
	t.Helper()
	b, err := json.Marshal(jwk(t, pub, kid, alg))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestParseJWKS(t *testing.T) {
	k := keys()
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	with := func(m map[string]any, change func(map[string]any)) map[string]any { change(m); return m }
	offCurve := rawJWK(t, &k.p256a.PublicKey, "off-curve", "")
	offCurve["y"] = offCurve["x"]
	padded := rawJWK(t, &k.rsa2.PublicKey, "padded", "")
	padded["n"] = base64.URLEncoding.EncodeToString(k.rsa2.PublicKey.N.Bytes())
	doc := map[string]any{"keys": []any{
		rawJWK(t, &k.rsa1.PublicKey, "rsa", "RS256"),
		rawJWK(t, &k.p256a.PublicKey, "p256", ""),
		rawJWK(t, &k.p384.PublicKey, "p384", "ES384"),
		rawJWK(t, &k.p521.PublicKey, "p521", ""),
		rawJWK(t, k.ed1.Public(), "ed", ""),
		with(rawJWK(t, &k.rsa1.PublicKey, "sig-use", ""), func(m map[string]any) { m["use"] = "sig"; m["key_ops"] = []string{"verify"} }),
		padded,
		// Skipped:
		map[string]any{"kty": "oct", "kid": "oct", "k": "c2VjcmV0"},
		with(rawJWK(t, &k.rsa1.PublicKey, "enc", ""), func(m map[string]any) { m["use"] = "enc" }),
		with(rawJWK(t, &k.rsa1.PublicKey, "ops", ""), func(m map[string]any) { m["key_ops"] = []string{"encrypt"} }),
		rawJWK(t, &small.PublicKey, "small", ""),
		offCurve,
		map[string]any{"kty": "OKP", "crv": "Ed448", "kid": "ed448", "x": base64.RawURLEncoding.EncodeToString(make([]byte, 57))},
		with(rawJWK(t, &k.rsa1.PublicKey, "alg-mismatch", ""), func(m map[string]any) { m["alg"] = "ES256" }),
		with(rawJWK(t, &k.rsa1.PublicKey, "alg-hs", ""), func(m map[string]any) { m["alg"] = "HS256" }),
		with(rawJWK(t, &k.p256a.PublicKey, "curve-mismatch", ""), func(m map[string]any) { m["alg"] = "ES384" }),
		with(rawJWK(t, &k.rsa1.PublicKey, "e-even", ""), func(m map[string]any) { m["e"] = "AQAA" }),
		map[string]any{"kty": "RSA", "kid": "no-n", "e": "AQAB"},
		with(rawJWK(t, k.ed1.Public(), "ed-short", ""), func(m map[string]any) { m["x"] = "AAAA" }),
		"not an object",
	}}
	data, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	got, skipped, err := parseJWKS(data)
	if err != nil {
		t.Fatal(err)
	}
	wantKeys := map[string]any{
		"rsa": &k.rsa1.PublicKey, "p256": &k.p256a.PublicKey, "p384": &k.p384.PublicKey,
		"p521": &k.p521.PublicKey, "ed": k.ed1.Public(), "sig-use": &k.rsa1.PublicKey, "padded": &k.rsa2.PublicKey,
	}
	if len(got) != len(wantKeys) {
		t.Errorf("%d keys, want %d", len(got), len(wantKeys))
	}
	for _, pk := range got {
		want, ok := wantKeys[pk.kid].(interface{ Equal(crypto.PublicKey) bool })
		if !ok {
			t.Errorf("unexpected key %q", pk.kid)
			continue
		}
		if !want.Equal(pk.key) {
			t.Errorf("key %q differs from the original", pk.kid)
		}
	}
	var names []string
	for _, s := range skipped {
		names = append(names, s.kid+": "+s.reason)
	}
	if len(skipped) != 13 {
		t.Errorf("skipped %d, want 13:\n%s", len(skipped), strings.Join(names, "\n"))
	}
	t.Logf("skipped:\n%s", strings.Join(names, "\n"))
}

// TestParseJWKRFC8037 parses the Ed25519 key of RFC 8037 appendix A.2 and
// checks the signature of appendix A.4 with it.
func TestParseJWKRFC8037(t *testing.T) {
	keys, _, err := parseJWKS([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`))
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys %v, err %v", keys, err)
	}
	sig, err := base64.RawURLEncoding.DecodeString("hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg")
	if err != nil {
		t.Fatal(err)
	}
	if !ed25519.Verify(keys[0].key.(ed25519.PublicKey), []byte("eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"), sig) {
		t.Fatal("RFC 8037 A.4 signature does not verify")
	}
}

// TestParseJWKShortECCoordinates checks that coordinates with their leading
// zero bytes stripped (a common encoder mistake) still parse to the same key.
func TestParseJWKShortECCoordinates(t *testing.T) {
	for i := 0; ; i++ {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := key.PublicKey.Bytes()
		x := b[1:33]
		if x[0] != 0 {
			if i < 2000 {
				continue
			}
			t.Skip("no key with a leading zero byte found")
		}
		j := fmt.Sprintf(`{"keys":[{"kty":"EC","crv":"P-256","x":%q,"y":%q}]}`,
			base64.RawURLEncoding.EncodeToString(x[1:]), base64.RawURLEncoding.EncodeToString(b[33:]))
		got, _, err := parseJWKS([]byte(j))
		if err != nil || len(got) != 1 || !key.PublicKey.Equal(got[0].key) {
			t.Fatalf("short x: keys %v, err %v", got, err)
		}
		return
	}
}

// TestLazyJWKS: with LazyJWKS nothing is fetched before the first token;
// the first token fetches once; later ones use the cache until JWKSRefresh
// has passed, then one token refreshes it (a removed key stops working).
func TestLazyJWKS(t *testing.T) {
	k := keys()
	clock := newClock()
	srv := newJWKSServer(t, jwk(t, &k.rsa1.PublicKey, "k1", ""))
	v := newTestVerifier(t, Config{JWKSURL: srv.URL, Now: clock.Now, LazyJWKS: true, JWKSRefresh: time.Minute})
	if n := srv.fetches.Load(); n != 0 {
		t.Fatalf("%d fetches before any token, want 0", n)
	}
	verify := func(key any, method jwt.SigningMethod, kid string) error {
		_, err := v.Verify(context.Background(), mint(t, method, key, kid, claims(clock.Now())))
		return err
	}
	for range 5 {
		if err := verify(k.rsa1, jwt.SigningMethodRS256, "k1"); err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches after 5 tokens, want 1", n)
	}
	srv.setKeys(jwk(t, k.ed1.Public(), "k2", ""))
	clock.Advance(2 * time.Minute)
	if err := verify(k.rsa1, jwt.SigningMethodRS256, "k1"); err == nil {
		t.Fatal("a key removed from the JWKS still verifies after the refresh interval")
	}
	if err := verify(k.ed1, jwt.SigningMethodEdDSA, "k2"); err != nil {
		t.Fatalf("the new key: %v", err)
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
}
