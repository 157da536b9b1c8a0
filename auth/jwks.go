package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// RSA modulus sizes accepted from a JWKS.
const (
	minRSABits = 2048
	maxRSABits = 16384
)

// publicKey is one usable key of a JWKS.
type publicKey struct {
	kid string
	alg string // the JWK's "alg", or "" when it has none
	key jwt.VerificationKey
}

// accepts reports whether k may verify a token signed with alg: the key
// type's family, the curve for ES*, and the JWK's own alg when it has one.
func (k publicKey) accepts(alg string) bool {
	if k.alg != "" && k.alg != alg {
		return false
	}
	return keyAccepts(k.key, alg)
}

// keyAccepts reports whether key's type belongs to alg's family.
func keyAccepts(key jwt.VerificationKey, alg string) bool {
	switch key := key.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	case *ecdsa.PublicKey:
		switch alg {
		case "ES256":
			return key.Curve == elliptic.P256()
		case "ES384":
			return key.Curve == elliptic.P384()
		case "ES512":
			return key.Curve == elliptic.P521()
		}
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}

// jwkJSON is the part of a JWK (RFC 7517, 7518, 8037) read here.
type jwkJSON struct {
	Kty    string   `json:"kty"`
	Kid    string   `json:"kid"`
	Alg    string   `json:"alg"`
	Use    string   `json:"use"`
	KeyOps []string `json:"key_ops"`
	Crv    string   `json:"crv"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
}

// skippedKey names a JWK that was not used, and why.
type skippedKey struct {
	kid, reason string
}

// parseJWKS returns the usable verification keys of a JWKS document and the
// keys it skipped. It fails only when the document itself is not a JWKS.
func parseJWKS(data []byte) ([]publicKey, []skippedKey, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, nil, fmt.Errorf("JWKS is not valid JSON: %w", err)
	}
	if doc.Keys == nil {
		return nil, nil, errors.New(`JWKS has no "keys" array`)
	}
	var keys []publicKey
	var skipped []skippedKey
	for i, raw := range doc.Keys {
		var j jwkJSON
		if err := json.Unmarshal(raw, &j); err != nil {
			skipped = append(skipped, skippedKey{fmt.Sprintf("#%d", i), "not a JWK object"})
			continue
		}
		k, err := parseJWK(j)
		if err != nil {
			kid := j.Kid
			if kid == "" {
				kid = fmt.Sprintf("#%d", i)
			}
			skipped = append(skipped, skippedKey{kid, err.Error()})
			continue
		}
		keys = append(keys, k)
	}
	return keys, skipped, nil
}

// parseJWK returns the public key of one JWK, or why it is not usable for
// verifying signatures.
func parseJWK(j jwkJSON) (publicKey, error) {
	if j.Use != "" && j.Use != "sig" {
		return publicKey{}, fmt.Errorf("use %q is not sig", j.Use)
	}
	if j.KeyOps != nil && !slices.Contains(j.KeyOps, "verify") {
		return publicKey{}, errors.New(`key_ops does not include "verify"`)
	}
	k := publicKey{kid: j.Kid, alg: j.Alg}
	var err error
	switch j.Kty {
	case "RSA":
		k.key, err = parseRSA(j)
	case "EC":
		k.key, err = parseEC(j)
	case "OKP":
		k.key, err = parseOKP(j)
	default:
		return publicKey{}, fmt.Errorf("key type %q is not supported", j.Kty)
	}
	if err != nil {
		return publicKey{}, err
	}
	if j.Alg != "" && (!slices.Contains(publicAlgs, j.Alg) || !keyAccepts(k.key, j.Alg)) {
		return publicKey{}, fmt.Errorf("alg %q does not fit key type %s", j.Alg, j.Kty)
	}
	return k, nil
}

// parseRSA reads n and e.
func parseRSA(j jwkJSON) (*rsa.PublicKey, error) {
	nb, err := b64(j.N)
	if err != nil || len(nb) == 0 {
		return nil, errors.New("RSA n is missing or not base64url")
	}
	eb, err := b64(j.E)
	if err != nil || len(eb) == 0 || len(eb) > 4 {
		return nil, errors.New("RSA e is missing or not base64url")
	}
	n := new(big.Int).SetBytes(nb)
	if bits := n.BitLen(); bits < minRSABits || bits > maxRSABits {
		return nil, fmt.Errorf("RSA key is %d bits; %d to %d are accepted", bits, minRSABits, maxRSABits)
	}
	if n.Bit(0) == 0 {
		return nil, errors.New("RSA n is even")
	}
	e := new(big.Int).SetBytes(eb).Int64()
	if e < 3 || e > 1<<31-1 || e%2 == 0 {
		return nil, errors.New("RSA e is not an odd number from 3 to 2^31-1")
	}
	return &rsa.PublicKey{N: n, E: int(e)}, nil
}

// parseEC reads crv, x and y, and checks that the point is on the curve.
func parseEC(j jwkJSON) (*ecdsa.PublicKey, error) {
	var curve elliptic.Curve
	switch j.Crv {
	case "P-256":
		curve = elliptic.P256()
	case "P-384":
		curve = elliptic.P384()
	case "P-521":
		curve = elliptic.P521()
	default:
		return nil, fmt.Errorf("EC curve %q is not supported", j.Crv)
	}
	size := (curve.Params().BitSize + 7) / 8
	x, err1 := b64(j.X)
	y, err2 := b64(j.Y)
	if err1 != nil || err2 != nil || len(x) == 0 || len(y) == 0 || len(x) > size || len(y) > size {
		return nil, errors.New("EC x or y is missing, not base64url or too long")
	}
	point := make([]byte, 1+2*size)
	point[0] = 4 // uncompressed; shorter coordinates are left-padded with zeros
	copy(point[1+size-len(x):1+size], x)
	copy(point[1+2*size-len(y):], y)
	key, err := ecdsa.ParseUncompressedPublicKey(curve, point)
	if err != nil {
		return nil, errors.New("EC point is not on the curve")
	}
	return key, nil
}

// parseOKP reads an Ed25519 key.
func parseOKP(j jwkJSON) (ed25519.PublicKey, error) {
	if j.Crv != "Ed25519" {
		return nil, fmt.Errorf("OKP curve %q is not supported", j.Crv)
	}
	x, err := b64(j.X)
	if err != nil || len(x) != ed25519.PublicKeySize {
		return nil, errors.New("Ed25519 x is not 32 bytes of base64url")
	}
	return ed25519.PublicKey(x), nil
}

// b64 decodes base64url, tolerating padding.
func b64(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// keyCache holds the keys of a JWKS endpoint: a periodic refresh replaces
// them, and a token with an unknown kid causes a rate-limited refetch. At
// most one fetch runs at a time; callers that need one while it runs wait
// for it.
type keyCache struct {
	url         string
	logURL      string // url without credentials, query or fragment
	fetch       func(ctx context.Context, url string) ([]byte, error)
	now         func() time.Time
	minInterval time.Duration
	log         *slog.Logger

	keys atomic.Pointer[[]publicKey]
	gen  atomic.Uint64 // incremented each time keys is replaced
	// lazyEvery, when positive, makes keysFor fetch the keys when none were
	// fetched yet or the last fetch is older than it (Config.LazyJWKS).
	lazyEvery time.Duration
	fetchedAt atomic.Int64 // unix nanoseconds of the last successful fetch; 0 before

	base    context.Context // cancelled by close
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	onClose func() // releases the fetcher's idle connections; may be nil

	mu           sync.Mutex
	closed       bool
	inflight     chan struct{} // closed when the running fetch ends; nil when none runs
	lastKidFetch time.Time     // start of the last fetch caused by an unknown kid
}

func newKeyCache(rawURL string, fetch func(context.Context, string) ([]byte, error), now func() time.Time, minInterval time.Duration, log *slog.Logger) *keyCache {
	base, cancel := context.WithCancel(context.Background())
	c := &keyCache{
		url:         rawURL,
		logURL:      redactURL(rawURL),
		fetch:       fetch,
		now:         now,
		minInterval: minInterval,
		log:         log,
		base:        base,
		cancel:      cancel,
	}
	empty := []publicKey{}
	c.keys.Store(&empty)
	return c
}

// loadFirst fetches the keys before the Verifier is returned; it fails when
// the fetch fails or no key is usable.
func (c *keyCache) loadFirst(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, jwksFetchTimeout)
	defer cancel()
	keys, err := c.fetchKeys(ctx)
	if err != nil {
		c.cancel()
		return fmt.Errorf("auth: fetching JWKS from %s: %w", c.logURL, err)
	}
	if len(keys) == 0 {
		c.cancel()
		return fmt.Errorf("auth: JWKS at %s has no usable verification key", c.logURL)
	}
	c.keys.Store(&keys)
	c.gen.Add(1)
	c.fetchedAt.Store(c.now().UnixNano())
	return nil
}

// start runs the periodic refresh until close.
func (c *keyCache) start(every time.Duration) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-c.base.Done():
				return
			case <-t.C:
				c.refresh(c.base, false)
			}
		}
	}()
}

// close stops the refresh and any running fetch, and waits for them.
func (c *keyCache) close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	if c.onClose != nil {
		c.onClose()
	}
}

// keysFor returns the cached keys that may verify a token with kid and alg.
// With a kid, only keys with that kid; an unknown kid refetches the JWKS
// (rate-limited) once. Without a kid, every key of alg's family.
func (c *keyCache) keysFor(ctx context.Context, kid, alg string) ([]jwt.VerificationKey, error) {
	if c.lazyEvery > 0 {
		if last := c.fetchedAt.Load(); last == 0 || c.now().Sub(time.Unix(0, last)) > c.lazyEvery {
			c.refresh(ctx, true)
		}
	}
	keys, known := c.match(kid, alg)
	if len(keys) > 0 {
		return keys, nil
	}
	if kid != "" && !known {
		c.refresh(ctx, true)
		keys, known = c.match(kid, alg)
		if len(keys) > 0 {
			return keys, nil
		}
	}
	switch {
	case kid == "":
		return nil, unauthorized("token has no key id and no key fits its algorithm")
	case !known:
		return nil, unauthorized("token key id is unknown")
	}
	return nil, unauthorized("token algorithm does not fit the key named by its key id")
}

// match returns the cached keys for kid and alg, and whether kid names any
// cached key at all.
func (c *keyCache) match(kid, alg string) (keys []jwt.VerificationKey, known bool) {
	for _, k := range *c.keys.Load() {
		if kid != "" && k.kid != kid {
			continue
		}
		known = true
		if k.accepts(alg) {
			keys = append(keys, k.key)
		}
	}
	return keys, known
}

// refresh fetches the JWKS unless a fetch is running (then it waits for that
// one), and replaces the keys on success. A refresh caused by an unknown kid
// is skipped when the previous one started less than minInterval ago. It
// returns when the fetch ends or ctx is done.
func (c *keyCache) refresh(ctx context.Context, unknownKid bool) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	done := c.inflight
	if done == nil {
		if unknownKid {
			now := c.now()
			if !c.lastKidFetch.IsZero() && now.Sub(c.lastKidFetch) < c.minInterval {
				c.mu.Unlock()
				return
			}
			c.lastKidFetch = now
		}
		done = make(chan struct{})
		c.inflight = done
		c.wg.Add(1)
		go c.runFetch(done)
	}
	c.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// runFetch performs one fetch for refresh and signals done.
func (c *keyCache) runFetch(done chan struct{}) {
	defer c.wg.Done()
	ctx, cancel := context.WithTimeout(c.base, jwksFetchTimeout)
	keys, err := c.fetchKeys(ctx)
	cancel()
	if err != nil {
		c.log.Warn("auth: JWKS refresh failed; keeping the cached keys", "url", c.logURL, "error", err)
	} else {
		if len(keys) == 0 {
			c.log.Warn("auth: JWKS has no usable verification key; JWTs signed with public keys are refused until it has one", "url", c.logURL)
		}
		c.keys.Store(&keys)
		c.gen.Add(1)
		c.fetchedAt.Store(c.now().UnixNano())
	}
	c.mu.Lock()
	c.inflight = nil
	close(done)
	c.mu.Unlock()
}

// fetchKeys fetches and parses the JWKS, logging the keys it skips.
func (c *keyCache) fetchKeys(ctx context.Context) ([]publicKey, error) {
	data, err := c.fetch(ctx, c.url)
	if err != nil {
		return nil, err
	}
	keys, skipped, err := parseJWKS(data)
	if err != nil {
		return nil, err
	}
	for _, s := range skipped {
		c.log.Warn("auth: JWKS key skipped", "url", c.logURL, "kid", s.kid, "reason", s.reason)
	}
	return keys, nil
}

// newHTTPFetcher returns the default JWKS fetcher, a GET with its own
// transport that requires status 200 and a body of at most maxJWKSBytes, and
// a function that closes the transport's idle connections. Its errors never
// contain the URL's query or credentials.
func newHTTPFetcher() (fetch func(context.Context, string) ([]byte, error), closeIdle func()) {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	client := &http.Client{Transport: transport, Timeout: jwksFetchTimeout}
	client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 5 {
			return errors.New("too many redirects")
		}
		if req.URL.Scheme != "https" && req.URL.Scheme != via[0].URL.Scheme {
			return errors.New("redirect away from https refused")
		}
		return nil
	}
	fetch = func(ctx context.Context, rawURL string) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
		if err != nil {
			return nil, errors.New("invalid JWKS URL")
		}
		req.Header.Set("Accept", "application/jwk-set+json, application/json")
		resp, err := client.Do(req)
		if err != nil {
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("status %d", resp.StatusCode)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
		if err != nil {
			return nil, fmt.Errorf("reading the body: %w", err)
		}
		if len(body) > maxJWKSBytes {
			return nil, fmt.Errorf("body is larger than %d bytes", maxJWKSBytes)
		}
		return body, nil
	}
	return fetch, transport.CloseIdleConnections
}

// checkJWKSURL accepts https URLs, and http on a loopback host or when
// insecure is set.
func checkJWKSURL(rawURL string, insecure bool) error {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return errors.New("auth: the JWKS URL is not an absolute URL")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if insecure || isLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("auth: the JWKS URL %s is plain http on a non-loopback host; use https (or allow insecure JWKS for development)", redactURL(rawURL))
	}
	return fmt.Errorf("auth: the JWKS URL scheme %q is not http or https", u.Scheme)
}

// isLoopback reports whether host is localhost or a loopback address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// redactURL returns rawURL without user info, query or fragment, for logs.
func redactURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User = nil
	u.RawQuery = ""
	u.ForceQuery = false
	u.Fragment = ""
	u.RawFragment = ""
	return u.String()
}
