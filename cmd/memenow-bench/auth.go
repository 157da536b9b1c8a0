package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The identity of the section's tokens: the same user and role that
// apiClient.InitUpload names, so that init with a token is accepted.
const (
	authUser = "bench"
	authRole = "creator"
)

// Key ids of the section's JWKS.
const (
	rsaKid = "bench-rs256"
	ecKid  = "bench-es256"
)

// authAddedLimit is the target of the cost that verifying a token adds to
// a request at p50, in milliseconds.
const authAddedLimit = 0.1

// authKeys are the section's signing keys: an HMAC secret for --jwt-secret,
// and an RSA 2048 and a P-256 key whose public halves the JWKS serves.
type authKeys struct {
	secret string // 64 hex digits: 32 random bytes' worth, the server's minimum
	rsa    *rsa.PrivateKey
	ec     *ecdsa.PrivateKey
}

// newAuthKeys generates the section's keys.
func newAuthKeys() (*authKeys, error) {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	return &authKeys{secret: randomHex(32), rsa: rk, ec: ek}, nil
}

// jwk is one public key of a JWKS (RFC 7517, 7518).
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
}

// jwks returns the JWKS document of the RSA and the EC key.
func (k *authKeys) jwks() ([]byte, error) {
	b64 := base64.RawURLEncoding.EncodeToString
	point, err := k.ec.PublicKey.Bytes() // 0x04 ‖ x ‖ y, 32 bytes each
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string][]jwk{"keys": {
		{Kty: "RSA", Kid: rsaKid, Alg: "RS256", Use: "sig",
			N: b64(k.rsa.N.Bytes()), E: b64(big.NewInt(int64(k.rsa.E)).Bytes())},
		{Kty: "EC", Kid: ecKid, Alg: "ES256", Use: "sig", Crv: "P-256",
			X: b64(point[1:33]), Y: b64(point[33:])},
	}})
}

// token returns a user token of authUser signed with alg (HS256, RS256 or
// ES256), valid from now until now+ttl.
func (k *authKeys) token(alg string, now time.Time, ttl time.Duration) (string, error) {
	return k.tokenWithID(alg, now, ttl, "")
}

// tokenWithID is token with a jti claim when id is not empty, so that two
// tokens of the same user differ.
func (k *authKeys) tokenWithID(alg string, now time.Time, ttl time.Duration, id string) (string, error) {
	claims := jwt.MapClaims{"sub": authUser, "role": authRole,
		"iat": now.Unix(), "exp": now.Add(ttl).Unix()}
	if id != "" {
		claims["jti"] = id
	}
	var t *jwt.Token
	var key any
	switch alg {
	case "HS256":
		t, key = jwt.NewWithClaims(jwt.SigningMethodHS256, claims), []byte(k.secret)
	case "RS256":
		t, key = jwt.NewWithClaims(jwt.SigningMethodRS256, claims), k.rsa
		t.Header["kid"] = rsaKid
	case "ES256":
		t, key = jwt.NewWithClaims(jwt.SigningMethodES256, claims), k.ec
		t.Header["kid"] = ecKid
	default:
		return "", fmt.Errorf("no key for %s", alg)
	}
	return t.SignedString(key)
}

// jwksServer serves a JWKS document on 127.0.0.1 and counts its fetches.
type jwksServer struct {
	srv     *httptest.Server
	fetches atomic.Int64
}

// startJWKS serves doc at /jwks.json.
func startJWKS(doc []byte) *jwksServer {
	s := &jwksServer{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /jwks.json", func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write(doc)
	})
	s.srv = httptest.NewServer(mux) // listens on 127.0.0.1: http is accepted for loopback
	return s
}

// url is the address of the JWKS document.
func (s *jwksServer) url() string { return s.srv.URL + "/jwks.json" }

// Close stops the server.
func (s *jwksServer) Close() { s.srv.Close() }

// probe is one kind of status request the auth section times.
type probe struct {
	name     string // as printed in the metrics
	baseline bool   // the request without auth that the others are compared with
	auth     bool   // the request carries a token the server verifies
	call     func(ctx context.Context) error
	lat      []time.Duration // one per round
}

// authCost measures what verifying the caller's token adds to a request:
// status of a one-chunk upload in progress, on a server without auth, one
// with an HMAC secret (HS256) and one with a JWKS URL (RS256 and ES256,
// keys cached), next to the bare handler's status, all interleaved so that
// the machine's noise hits each alike.
func (b *bench) authCost(ctx context.Context) (res []Result, err error) {
	keys, err := newAuthKeys()
	if err != nil {
		return nil, err
	}
	doc, err := keys.jwks()
	if err != nil {
		return nil, err
	}
	jwks := startJWKS(doc)
	defer jwks.Close() // after the servers have stopped: deferred first, runs last

	plain, noAuth, err := b.server(ctx, "auth-none")
	if err != nil {
		return nil, err
	}
	defer b.stopServer(plain, &err)
	hmacSrv, hmacAPI, err := b.server(ctx, "auth-hs256", "--jwt-secret", keys.secret)
	if err != nil {
		return nil, err
	}
	defer b.stopServer(hmacSrv, &err)
	jwksSrv, jwksAPI, err := b.server(ctx, "auth-jwks", "--jwks-url", jwks.url())
	if err != nil {
		return nil, err
	}
	defer b.stopServer(jwksSrv, &err)
	bare, err := startBare(filepath.Join(b.tmp, "bare-auth"))
	if err != nil {
		return nil, err
	}
	defer bare.Close()
	bc := &bareClient{api: apiClient{base: bare.base, hc: b.hc}}

	// The tokens outlive the whole run (45 min at most).
	now := time.Now()
	client := func(api *apiClient, alg string) (*apiClient, error) {
		tok, err := keys.token(alg, now, 2*time.Hour)
		return &apiClient{base: api.base, hc: api.hc, token: tok}, err
	}
	hs, err := client(hmacAPI, "HS256")
	if err != nil {
		return nil, err
	}
	rs, err := client(jwksAPI, "RS256")
	if err != nil {
		return nil, err
	}
	es, err := client(jwksAPI, "ES256")
	if err != nil {
		return nil, err
	}

	// Every request with a new token: the server checks each signature (a
	// client's first request). With a reused token (a client's every other
	// request) the server's verified-token cache answers.
	n := b.sz.authOps
	warm := min(n, 20)
	fresh := func(api *apiClient, alg string) (*apiClient, error) {
		pool := make([]string, warm+n)
		for i := range pool {
			if pool[i], err = keys.tokenWithID(alg, now, 2*time.Hour, fmt.Sprint(i)); err != nil {
				return nil, err
			}
		}
		c := &apiClient{base: api.base, hc: api.hc, token: pool[0]}
		c.tokens = pool
		return c, nil
	}
	hsNew, err := fresh(hmacAPI, "HS256")
	if err != nil {
		return nil, err
	}
	rsNew, err := fresh(jwksAPI, "RS256")
	if err != nil {
		return nil, err
	}
	esNew, err := fresh(jwksAPI, "ES256")
	if err != nil {
		return nil, err
	}

	probes := []*probe{{name: "bare handler"}, {name: "no auth", baseline: true}}
	for _, p := range []struct {
		name string
		api  *apiClient
		auth bool
	}{{"no auth", noAuth, false}, {"HS256", hs, true}, {"RS256 (JWKS)", rs, true}, {"ES256 (JWKS)", es, true},
		{"HS256, new token each request", hsNew, true}, {"RS256 (JWKS), new token each request", rsNew, true},
		{"ES256 (JWKS), new token each request", esNew, true}} {
		id, err := b.oneChunkUpload(ctx, p.api)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.name, err)
		}
		if p.auth {
			if err := refusesAnonymous(ctx, p.api, id); err != nil {
				return nil, fmt.Errorf("%s: %w", p.name, err)
			}
		}
		call := func(ctx context.Context) error {
			p.api.nextToken()
			_, err := p.api.Status(ctx, id)
			return err
		}
		if p.auth {
			probes = append(probes, &probe{name: p.name, auth: true, call: call})
		} else {
			probes[1].call = call
		}
	}
	bid, err := b.oneChunkUpload(ctx, bc)
	if err != nil {
		return nil, fmt.Errorf("bare handler: %w", err)
	}
	probes[0].call = func(ctx context.Context) error { return bc.Status(ctx, bid) }

	before := jwks.fetches.Load()
	if err := timeInterleaved(ctx, probes, warm, n); err != nil {
		return nil, err
	}
	res = authResults(probes, n)
	return append(res, atMost("", "JWKS fetches during the timed requests", float64(jwks.fetches.Load()-before), "", 0)), nil
}

// oneChunkUpload starts a 1 KiB upload through u and sends its one chunk,
// leaving it in progress.
func (b *bench) oneChunkUpload(ctx context.Context, u uploader) (string, error) {
	id, err := u.Init(ctx, b.name("auth"), kib, 0)
	if err != nil {
		return "", err
	}
	return id, u.Put(ctx, id, 0, b.buf[:kib])
}

// refusesAnonymous checks that the server of c answers 401 to a status
// request for upload id without a token: that auth is really on.
func refusesAnonymous(ctx context.Context, c *apiClient, id string) error {
	anon := &apiClient{base: c.base, hc: c.hc}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, anon.base+"/api/upload/"+id+"/status", nil)
	if err != nil {
		return err
	}
	resp, err := anon.hc.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		return fmt.Errorf("status without a token: %s, want 401 Unauthorized", resp.Status)
	}
	return nil
}

// timeInterleaved calls every probe warm times untimed, then n rounds in
// which each probe is called and timed once; each round starts at the next
// probe, so that none always follows the same one. Round r's latency is
// lat[r] of every probe.
func timeInterleaved(ctx context.Context, probes []*probe, warm, n int) error {
	for range warm {
		for _, p := range probes {
			if err := p.call(ctx); err != nil {
				return fmt.Errorf("%s (warm-up): %w", p.name, err)
			}
		}
	}
	for _, p := range probes {
		p.lat = make([]time.Duration, n)
	}
	for r := range n {
		for j := range probes {
			p := probes[(r+j)%len(probes)]
			start := time.Now()
			err := p.call(ctx)
			p.lat[r] = time.Since(start)
			if err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
		}
	}
	return nil
}

// authResults returns the auth section's rows: p50 and p99 of every probe,
// then for each probe with auth its added cost, the p50 of its difference
// to the baseline's latency in the same round, with a target of at most
// authAddedLimit.
func authResults(probes []*probe, n int) []Result {
	var res []Result
	var base *probe
	for _, p := range probes {
		if p.baseline {
			base = p
		}
		label := "status, " + p.name
		res = append(res, info("", label+": p50", ms(percentile(p.lat, 50)), "ms"),
			info("", label+": p99", ms(percentile(p.lat, 99)), "ms"))
	}
	res[0].Note = fmt.Sprintf("%d rounds of each, interleaved; a 1-chunk upload in progress", n)
	if base == nil {
		return res
	}
	for _, p := range probes {
		if !p.auth {
			continue
		}
		diffs := make([]time.Duration, min(len(p.lat), len(base.lat)))
		for r := range diffs {
			diffs[r] = p.lat[r] - base.lat[r]
		}
		label := p.name + " added (auth−no auth) p50"
		if strings.Contains(p.name, "new token") {
			res = append(res, info("", label, ms(percentile(diffs, 50)), "ms"))
			continue
		}
		res = append(res, atMost("", label, ms(percentile(diffs, 50)), "ms", authAddedLimit))
	}
	return res
}
