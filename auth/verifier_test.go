package auth

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	storage "github.com/memenow/memenow-storage"
)

const (
	testIssuer   = "https://idp.example"
	testAudience = "memenow-storage"
)

// fixture is a Verifier with HMAC secrets and a JWKS, Issuer and Audience
// set, on a fake clock.
type fixture struct {
	clock *fakeClock
	srv   *jwksServer
	v     *Verifier
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	k := keys()
	f := &fixture{clock: newClock()}
	f.srv = newJWKSServer(t,
		jwk(t, &k.rsa1.PublicKey, "rsa1", ""),
		jwk(t, &k.rsa2.PublicKey, "rs256only", "RS256"),
		jwk(t, &k.p256a.PublicKey, "ec1", "ES256"),
		jwk(t, &k.p384.PublicKey, "ec384", ""),
		jwk(t, &k.p521.PublicKey, "ec521", "ES512"),
		jwk(t, k.ed1.Public(), "ed1", "EdDSA"),
	)
	f.v = newTestVerifier(t, Config{
		HMACSecrets: [][]byte{k.secret},
		JWKSURL:     f.srv.URL + "/jwks.json",
		Issuer:      testIssuer,
		Audience:    testAudience,
		Now:         f.clock.Now,
	})
	return f
}

// claims returns valid claims for the fixture's issuer and audience.
func (f *fixture) claims() jwt.MapClaims {
	c := claims(f.clock.Now())
	c["iss"] = testIssuer
	c["aud"] = testAudience
	return c
}

func (f *fixture) with(change func(jwt.MapClaims)) jwt.MapClaims {
	c := f.claims()
	change(c)
	return c
}

func TestVerifyHMAC(t *testing.T) {
	k := keys()
	clock := newClock()
	v := newTestVerifier(t, Config{HMACSecrets: [][]byte{k.secret, k.secret2, k.secret3}, Now: clock.Now})
	want := &storage.Principal{UserID: "user_1", Role: storage.RoleCreator}
	for _, tc := range []struct {
		method jwt.SigningMethod
		secret []byte
	}{
		{jwt.SigningMethodHS256, k.secret},
		{jwt.SigningMethodHS384, k.secret},
		{jwt.SigningMethodHS512, k.secret},
		{jwt.SigningMethodHS256, k.secret2}, // any listed secret verifies
		{jwt.SigningMethodHS512, k.secret3},
	} {
		t.Run(tc.method.Alg(), func(t *testing.T) {
			p, err := v.Verify(context.Background(), mint(t, tc.method, tc.secret, "", claims(clock.Now())))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(p, want) {
				t.Fatalf("principal = %+v, want %+v", p, want)
			}
		})
	}
	tok := mint(t, jwt.SigningMethodHS256, k.secret4, "", claims(clock.Now()))
	_, err := v.Verify(context.Background(), tok)
	checkRefusal(t, err, storage.CodeUnauthorized, "token signature is invalid", tok)
}

func TestVerifyJWKSAlgorithms(t *testing.T) {
	k := keys()
	f := newFixture(t)
	want := &storage.Principal{UserID: "user_1", Role: storage.RoleCreator}
	for _, tc := range []struct {
		name   string
		method jwt.SigningMethod
		key    any
		kid    string
	}{
		{"RS256", jwt.SigningMethodRS256, k.rsa1, "rsa1"},
		{"RS384", jwt.SigningMethodRS384, k.rsa1, "rsa1"},
		{"RS512", jwt.SigningMethodRS512, k.rsa1, "rsa1"},
		{"PS256", jwt.SigningMethodPS256, k.rsa1, "rsa1"},
		{"PS384", jwt.SigningMethodPS384, k.rsa1, "rsa1"},
		{"PS512", jwt.SigningMethodPS512, k.rsa1, "rsa1"},
		{"RS256 with alg in JWK", jwt.SigningMethodRS256, k.rsa2, "rs256only"},
		{"ES256", jwt.SigningMethodES256, k.p256a, "ec1"},
		{"ES384", jwt.SigningMethodES384, k.p384, "ec384"},
		{"ES512", jwt.SigningMethodES512, k.p521, "ec521"},
		{"EdDSA", jwt.SigningMethodEdDSA, k.ed1, "ed1"},
		{"RS256 without kid", jwt.SigningMethodRS256, k.rsa2, ""},
		{"ES256 without kid", jwt.SigningMethodES256, k.p256a, ""},
		{"EdDSA without kid", jwt.SigningMethodEdDSA, k.ed1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := f.v.Verify(context.Background(), mint(t, tc.method, tc.key, tc.kid, f.claims()))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(p, want) {
				t.Fatalf("principal = %+v, want %+v", p, want)
			}
		})
	}
}

func TestVerifyAccepted(t *testing.T) {
	k := keys()
	f := newFixture(t)
	now := f.clock.Now()
	for _, tc := range []struct {
		name   string
		claims jwt.MapClaims
		want   storage.Principal
	}{
		{"expired within leeway", f.with(func(c jwt.MapClaims) { c["exp"] = now.Add(-30 * time.Second).Unix() }),
			storage.Principal{UserID: "user_1", Role: storage.RoleCreator}},
		{"nbf within leeway", f.with(func(c jwt.MapClaims) { c["nbf"] = now.Add(30 * time.Second).Unix() }),
			storage.Principal{UserID: "user_1", Role: storage.RoleCreator}},
		{"iat within leeway", f.with(func(c jwt.MapClaims) { c["iat"] = now.Add(30 * time.Second).Unix() }),
			storage.Principal{UserID: "user_1", Role: storage.RoleCreator}},
		{"nbf past", f.with(func(c jwt.MapClaims) { c["nbf"] = now.Add(-time.Hour).Unix() }),
			storage.Principal{UserID: "user_1", Role: storage.RoleCreator}},
		{"audience array", f.with(func(c jwt.MapClaims) { c["aud"] = []string{"other", testAudience} }),
			storage.Principal{UserID: "user_1", Role: storage.RoleCreator}},
		{"member", f.with(func(c jwt.MapClaims) { c["role"] = "member"; c["sub"] = "User-2" }),
			storage.Principal{UserID: "User-2", Role: storage.RoleMember}},
		{"subscriber", f.with(func(c jwt.MapClaims) { c["role"] = "subscriber" }),
			storage.Principal{UserID: "user_1", Role: storage.RoleSubscriber}},
		{"admin via scope without role", f.with(func(c jwt.MapClaims) { delete(c, "role"); c["scope"] = "openid storage:admin profile" }),
			storage.Principal{UserID: "user_1", Admin: true}},
		{"admin via scp array", f.with(func(c jwt.MapClaims) { delete(c, "role"); c["scp"] = []string{"openid", "storage:admin"} }),
			storage.Principal{UserID: "user_1", Admin: true}},
		{"admin via scp string", f.with(func(c jwt.MapClaims) { c["role"] = ""; c["scp"] = "storage:admin" }),
			storage.Principal{UserID: "user_1", Admin: true}},
		{"admin with role", f.with(func(c jwt.MapClaims) { c["role"] = "member"; c["scope"] = "storage:admin" }),
			storage.Principal{UserID: "user_1", Role: storage.RoleMember, Admin: true}},
		{"a near scope is not admin", f.with(func(c jwt.MapClaims) { c["scope"] = "storage:administrator storage" }),
			storage.Principal{UserID: "user_1", Role: storage.RoleCreator}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, tok := range []string{
				mint(t, jwt.SigningMethodHS256, k.secret, "", tc.claims),
				mint(t, jwt.SigningMethodES256, k.p256a, "ec1", tc.claims),
			} {
				p, err := f.v.Verify(context.Background(), tok)
				if err != nil {
					t.Fatal(err)
				}
				if *p != tc.want {
					t.Fatalf("principal = %+v, want %+v", *p, tc.want)
				}
			}
		})
	}
}

// segment returns base64url of v's JSON.
func segment(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestVerifyRefusals(t *testing.T) {
	k := keys()
	f := newFixture(t)
	now := f.clock.Now()
	hs := func(c jwt.MapClaims) string { return mint(t, jwt.SigningMethodHS256, k.secret, "", c) }
	valid := hs(f.claims())
	parts := strings.Split(valid, ".")

	der, err := x509.MarshalPKIXPublicKey(&k.rsa1.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, f.claims()).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	critTok := jwt.NewWithClaims(jwt.SigningMethodHS256, f.claims())
	critTok.Header["crit"] = []string{"exp"}
	crit, err := critTok.SignedString(k.secret)
	if err != nil {
		t.Fatal(err)
	}
	kidTok := jwt.NewWithClaims(jwt.SigningMethodRS256, f.claims())
	kidTok.Header["kid"] = 42
	numericKid, err := kidTok.SignedString(k.rsa1)
	if err != nil {
		t.Fatal(err)
	}
	tampered := parts[0] + "." + segment(t, f.with(func(c jwt.MapClaims) { c["sub"] = "someone_else" })) + "." + parts[2]

	for _, tc := range []struct {
		name, token, want string
	}{
		{"empty", "", "token is missing"},
		{"garbage", "garbage-token-text", "token is malformed"},
		{"two parts", parts[0] + "." + parts[1], "token is malformed"},
		{"four parts", valid + ".abcdef", "token is malformed"},
		{"header not base64", "!!!!" + "." + parts[1] + "." + parts[2], "token is malformed"},
		{"header not JSON", base64.RawURLEncoding.EncodeToString([]byte("not json at all")) + "." + parts[1] + "." + parts[2], "token is malformed"},
		{"claims not JSON", parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte("[1,2,3]")) + "." + parts[2], "token is malformed"},
		{"signature not base64", parts[0] + "." + parts[1] + ".!!!!!!", "token is malformed"},
		{"too long", parts[0] + "." + strings.Repeat("A", maxTokenBytes) + "." + parts[2], "token is too long"},
		{"no alg", segment(t, map[string]any{"typ": "JWT"}) + "." + parts[1] + "." + parts[2], "token algorithm is missing or not supported"},
		{"unknown alg", segment(t, map[string]any{"alg": "XY999"}) + "." + parts[1] + "." + parts[2], "token algorithm is missing or not supported"},
		{"alg none", none, "token algorithm none is not accepted"},
		{"alg none with a signature", strings.TrimSuffix(none, ".") + "." + parts[2], "token algorithm none is not accepted"},
		{"wrong secret", mint(t, jwt.SigningMethodHS256, k.secret4, "", f.claims()), "token signature is invalid"},
		{"tampered claims", tampered, "token signature is invalid"},
		{"HS256 with the RSA public key PEM as secret", mint(t, jwt.SigningMethodHS256, pemBytes, "rsa1", f.claims()), "token signature is invalid"},
		{"HS256 with the RSA public key DER as secret", mint(t, jwt.SigningMethodHS256, der, "rsa1", f.claims()), "token signature is invalid"},
		{"RS256 signed by another key with a known kid", mint(t, jwt.SigningMethodRS256, k.rsa2, "rsa1", f.claims()), "token signature is invalid"},
		{"ES256 signed by a key not in the JWKS, no kid", mint(t, jwt.SigningMethodES256, k.p256b, "", f.claims()), "token signature is invalid"},
		{"EdDSA signed by another key", mint(t, jwt.SigningMethodEdDSA, k.ed2, "ed1", f.claims()), "token signature is invalid"},
		{"JWK alg differs from the token's", mint(t, jwt.SigningMethodPS256, k.rsa2, "rs256only", f.claims()), "token algorithm does not fit the key named by its key id"},
		{"EC curve differs from the token's", mint(t, jwt.SigningMethodES384, k.p384, "ec1", f.claims()), "token algorithm does not fit the key named by its key id"},
		{"RSA token naming an EC key", mint(t, jwt.SigningMethodRS256, k.rsa1, "ec384", f.claims()), "token algorithm does not fit the key named by its key id"},
		{"unknown kid", mint(t, jwt.SigningMethodRS256, k.rsa1, "no-such-kid", f.claims()), "token key id is unknown"},
		{"kid not a string", numericKid, "token is malformed"},
		{"crit header", crit, "critical"},
		{"expired", hs(f.with(func(c jwt.MapClaims) { c["exp"] = now.Add(-2 * time.Minute).Unix() })), "token has expired"},
		{"expired long ago", hs(f.with(func(c jwt.MapClaims) { c["exp"] = now.Add(-48 * time.Hour).Unix() })), "token has expired"},
		{"not valid yet", hs(f.with(func(c jwt.MapClaims) { c["nbf"] = now.Add(2 * time.Minute).Unix() })), "token is not valid yet"},
		{"issued in the future", hs(f.with(func(c jwt.MapClaims) { c["iat"] = now.Add(2 * time.Minute).Unix() })), "token is issued in the future"},
		{"no exp", hs(f.with(func(c jwt.MapClaims) { delete(c, "exp") })), "token has no exp claim"},
		{"exp zero", hs(f.with(func(c jwt.MapClaims) { c["exp"] = 0 })), "token has no exp claim"},
		{"exp a string", hs(f.with(func(c jwt.MapClaims) { c["exp"] = "tomorrow" })), "token has a malformed"},
		{"wrong issuer", hs(f.with(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" })), "token issuer is not accepted"},
		{"no issuer", hs(f.with(func(c jwt.MapClaims) { delete(c, "iss") })), "token issuer is not accepted"},
		{"wrong audience", hs(f.with(func(c jwt.MapClaims) { c["aud"] = "another-service" })), "token audience is not accepted"},
		{"audience array without ours", hs(f.with(func(c jwt.MapClaims) { c["aud"] = []string{"a", "b"} })), "token audience is not accepted"},
		{"no audience", hs(f.with(func(c jwt.MapClaims) { delete(c, "aud") })), "token audience is not accepted"},
		{"sub with a slash", hs(f.with(func(c jwt.MapClaims) { c["sub"] = "a/b" })), "token sub claim is not a valid user id"},
		{"sub empty", hs(f.with(func(c jwt.MapClaims) { c["sub"] = "" })), "token sub claim is not a valid user id"},
		{"no sub", hs(f.with(func(c jwt.MapClaims) { delete(c, "sub") })), "token sub claim is not a valid user id"},
		{"sub a number", hs(f.with(func(c jwt.MapClaims) { c["sub"] = 12345 })), "token sub claim is not a valid user id"},
		{"sub too long", hs(f.with(func(c jwt.MapClaims) { c["sub"] = strings.Repeat("a", 65) })), "token sub claim is not a valid user id"},
		{"admin with a bad sub", hs(f.with(func(c jwt.MapClaims) { c["sub"] = "a b"; c["scope"] = "storage:admin" })), "token sub claim is not a valid user id"},
		{"bad role", hs(f.with(func(c jwt.MapClaims) { c["role"] = "owner" })), "token role claim must be creator, member or subscriber"},
		{"role in another case", hs(f.with(func(c jwt.MapClaims) { c["role"] = "Creator" })), "token role claim must be creator, member or subscriber"},
		{"role a number", hs(f.with(func(c jwt.MapClaims) { c["role"] = 1 })), "token role claim must be creator, member or subscriber"},
		{"no role", hs(f.with(func(c jwt.MapClaims) { delete(c, "role") })), "token role claim must be creator, member or subscriber"},
		{"admin with a role that is not a string", hs(f.with(func(c jwt.MapClaims) { c["role"] = 1; c["scope"] = "storage:admin" })), "token role claim must be creator, member or subscriber"},
		{"admin with a bad role", hs(f.with(func(c jwt.MapClaims) { c["role"] = "owner"; c["scope"] = "storage:admin" })), "token role claim must be creator, member or subscriber"},
		{"scope array element is not admin", hs(f.with(func(c jwt.MapClaims) { delete(c, "role"); c["scp"] = []any{1, "storage"} })), "token role claim must be creator, member or subscriber"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := f.v.Verify(context.Background(), tc.token)
			if err == nil {
				t.Fatalf("accepted: %+v", p)
			}
			checkRefusal(t, err, storage.CodeUnauthorized, tc.want, tc.token)
		})
	}
}

// TestVerifyKeyConfusion checks that a token signed with HS256 using the
// RSA public key as the secret never verifies, whatever sources are
// configured.
func TestVerifyKeyConfusion(t *testing.T) {
	k := keys()
	clock := newClock()
	srv := newJWKSServer(t, jwk(t, &k.rsa1.PublicKey, "rsa1", ""), jwk(t, &k.rsa1.PublicKey, "rsa1-alg", "RS256"))
	der, err := x509.MarshalPKIXPublicKey(&k.rsa1.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	pkcs1 := x509.MarshalPKCS1PublicKey(&k.rsa1.PublicKey)
	jwksOnly := newTestVerifier(t, Config{JWKSURL: srv.URL, Now: clock.Now})
	both := newTestVerifier(t, Config{JWKSURL: srv.URL, HMACSecrets: [][]byte{k.secret}, Now: clock.Now})
	for _, secret := range [][]byte{pemBytes, der, pkcs1} {
		for _, kid := range []string{"", "rsa1", "rsa1-alg"} {
			for _, method := range []jwt.SigningMethod{jwt.SigningMethodHS256, jwt.SigningMethodHS384, jwt.SigningMethodHS512} {
				tok := mint(t, method, secret, kid, claims(clock.Now()))
				_, err := jwksOnly.Verify(context.Background(), tok)
				checkRefusal(t, err, storage.CodeUnauthorized, "token algorithm "+method.Alg()+" is not accepted", tok)
				_, err = both.Verify(context.Background(), tok)
				checkRefusal(t, err, storage.CodeUnauthorized, "token signature is invalid", tok)
			}
		}
	}
	// And the other way: an HMAC-only verifier refuses every public-key
	// algorithm before looking for a key.
	hmacOnly := newTestVerifier(t, Config{HMACSecrets: [][]byte{k.secret}, Now: clock.Now})
	tok := mint(t, jwt.SigningMethodRS256, k.rsa1, "rsa1", claims(clock.Now()))
	_, err = hmacOnly.Verify(context.Background(), tok)
	checkRefusal(t, err, storage.CodeUnauthorized, "token algorithm RS256 is not accepted", tok)
}

// TestVerifyRefusesOctJWK checks that a symmetric key published in a JWKS
// is never used as an HMAC secret.
func TestVerifyRefusesOctJWK(t *testing.T) {
	k := keys()
	clock := newClock()
	oct := map[string]any{"kty": "oct", "kid": "shared", "alg": "HS256", "k": base64.RawURLEncoding.EncodeToString(k.secret4)}
	srv := newJWKSServer(t, oct, jwk(t, &k.rsa1.PublicKey, "rsa1", ""))
	log, buf := newLogger()
	v := newTestVerifier(t, Config{JWKSURL: srv.URL, Now: clock.Now, Logger: log})
	tok := mint(t, jwt.SigningMethodHS256, k.secret4, "shared", claims(clock.Now()))
	_, err := v.Verify(context.Background(), tok)
	checkRefusal(t, err, storage.CodeUnauthorized, "token algorithm HS256 is not accepted", tok)
	if !strings.Contains(buf.String(), `kid=shared`) || !strings.Contains(buf.String(), "not supported") {
		t.Errorf("log does not name the skipped key: %s", buf.String())
	}
}

func TestVerifyCustomRoleClaim(t *testing.T) {
	k := keys()
	clock := newClock()
	v := newTestVerifier(t, Config{HMACSecrets: [][]byte{k.secret}, RoleClaim: "https://memenow.example/role", Now: clock.Now})
	c := claims(clock.Now())
	delete(c, "role")
	c["https://memenow.example/role"] = "member"
	p, err := v.Verify(context.Background(), mint(t, jwt.SigningMethodHS256, k.secret, "", c))
	if err != nil {
		t.Fatal(err)
	}
	if p.Role != storage.RoleMember {
		t.Fatalf("role = %q", p.Role)
	}
	tok := mint(t, jwt.SigningMethodHS256, k.secret, "", claims(clock.Now()))
	_, err = v.Verify(context.Background(), tok)
	checkRefusal(t, err, storage.CodeUnauthorized, "token https://memenow.example/role claim must be", tok)
}

func TestVerifyLeewayConfigured(t *testing.T) {
	k := keys()
	clock := newClock()
	v := newTestVerifier(t, Config{HMACSecrets: [][]byte{k.secret}, Leeway: time.Second, Now: clock.Now})
	c := claims(clock.Now())
	c["exp"] = clock.Now().Add(-30 * time.Second).Unix()
	tok := mint(t, jwt.SigningMethodHS256, k.secret, "", c)
	_, err := v.Verify(context.Background(), tok)
	checkRefusal(t, err, storage.CodeUnauthorized, "token has expired", tok)
	// The same token passes with the default leeway.
	d := newTestVerifier(t, Config{HMACSecrets: [][]byte{k.secret}, Now: clock.Now})
	if _, err := d.Verify(context.Background(), tok); err != nil {
		t.Fatalf("default leeway: %v", err)
	}
}

func TestNewVerifierErrors(t *testing.T) {
	k := keys()
	failing := newJWKSServer(t)
	failing.setStatus(http.StatusInternalServerError)
	empty := newJWKSServer(t)
	notJWKS := newJWKSServer(t)
	notJWKS.setBody([]byte(`{"issuer":"x"}`))
	huge := newJWKSServer(t)
	huge.setBody([]byte(`{"keys":[],"pad":"` + strings.Repeat("x", maxJWKSBytes) + `"}`))
	for _, tc := range []struct {
		name string
		c    Config
		want string
	}{
		{"nothing", Config{}, "no token verification configured"},
		{"short secret", Config{HMACSecrets: [][]byte{k.secret, []byte("0123456789abcdef")}}, "HMAC secret 2 is 16 bytes; at least 32"},
		{"negative leeway", Config{HMACSecrets: [][]byte{k.secret}, Leeway: -time.Second}, "negative"},
		{"first fetch fails", Config{JWKSURL: failing.URL + "/jwks?api_key=SECRETVALUE"}, "status 500"},
		{"no usable key", Config{JWKSURL: empty.URL}, "no usable verification key"},
		{"not a JWKS", Config{JWKSURL: notJWKS.URL}, `no "keys" array`},
		{"too large", Config{JWKSURL: huge.URL}, "larger than"},
		{"plain http elsewhere", Config{JWKSURL: "http://idp.example/jwks"}, "plain http"},
		{"not a URL", Config{JWKSURL: "jwks.json"}, "not an absolute URL"},
		{"other scheme", Config{JWKSURL: "ftp://idp.example/jwks"}, "not http or https"},
		{"nothing listens", Config{JWKSURL: "http://127.0.0.1:1/jwks"}, "fetching JWKS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := NewVerifier(context.Background(), tc.c)
			if err == nil {
				v.Close()
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %q, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "SECRETVALUE") {
				t.Fatalf("error %q shows the URL's query", err)
			}
		})
	}
	// A custom fetcher is handed the URL as is, scheme unchecked.
	v, err := NewVerifier(context.Background(), Config{
		JWKSURL: "http://idp.internal/jwks",
		FetchJWKS: func(ctx context.Context, url string) ([]byte, error) {
			return json.Marshal(map[string]any{"keys": []any{jwk(t, &k.rsa1.PublicKey, "rsa1", "")}})
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	v.Close()
	// InsecureJWKSURL lets a plain http URL through to the fetch (which
	// then finds no key at this server).
	if _, err := NewVerifier(context.Background(), Config{JWKSURL: empty.URL, InsecureJWKSURL: true}); err == nil || !strings.Contains(err.Error(), "no usable verification key") {
		t.Fatalf("InsecureJWKSURL: %v", err)
	}
}

func TestCloseStopsGoroutines(t *testing.T) {
	k := keys()
	srv := newJWKSServer(t, jwk(t, &k.rsa1.PublicKey, "rsa1", ""))
	before := runtime.NumGoroutine()
	for range 5 {
		v, err := NewVerifier(context.Background(), Config{JWKSURL: srv.URL, JWKSRefresh: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "a refresh", func() bool { return srv.fetches.Load() >= 2 })
		v.Close()
		v.Close() // twice is fine
	}
	waitFor(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}
