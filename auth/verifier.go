package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	storage "github.com/memenow/memenow-storage"
)

// Defaults and limits of Config.
const (
	// DefaultLeeway is the clock skew allowed on exp, nbf and iat when
	// Config.Leeway is zero. Identity providers and this service rarely
	// disagree by more than a few seconds; a minute absorbs a badly synced
	// clock without keeping expired tokens alive for long.
	DefaultLeeway = 60 * time.Second
	// DefaultRoleClaim is the claim that holds the user's role when
	// Config.RoleClaim is empty.
	DefaultRoleClaim = "role"
	// DefaultJWKSRefresh is the period of the JWKS refresh when
	// Config.JWKSRefresh is zero.
	DefaultJWKSRefresh = 15 * time.Minute
	// DefaultJWKSMinInterval is the shortest time between two JWKS fetches
	// caused by an unknown key id when Config.JWKSMinInterval is zero.
	DefaultJWKSMinInterval = 30 * time.Second
	// MinHMACSecretBytes is the shortest HMAC secret accepted. RFC 7518
	// section 3.2 requires a key at least as long as the hash output; 32
	// bytes is that for HS256.
	MinHMACSecretBytes = 32
	// AdminScope is the scope (in the "scope" or "scp" claim) that makes the
	// caller an administrator.
	AdminScope = "storage:admin"
)

const (
	// maxTokenBytes bounds the work spent on one bearer token.
	maxTokenBytes = 16 << 10
	// jwksFetchTimeout bounds one JWKS fetch.
	jwksFetchTimeout = 10 * time.Second
	// maxJWKSBytes bounds a JWKS document.
	maxJWKSBytes = 1 << 20
)

// Algorithm groups, in the order they are offered to the parser.
var (
	hmacAlgs   = []string{"HS256", "HS384", "HS512"}
	publicAlgs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)

// Config configures a Verifier. At least one of HMACSecrets and JWKSURL must
// be set; zero values of the other fields select the documented defaults.
type Config struct {
	// HMACSecrets are the shared secrets of HS256/HS384/HS512 tokens; a
	// token verifies when any of them verifies it (to rotate a secret, list
	// the new and the old). Each must be at least MinHMACSecretBytes long.
	// HMAC secrets verify only HS* tokens.
	HMACSecrets [][]byte
	// JWKSURL is the JWKS endpoint of the identity provider, whose public
	// keys verify RS*, PS*, ES* and EdDSA tokens. With the default fetcher
	// it must be https, or http on a loopback host (127.0.0.1, ::1,
	// localhost), unless InsecureJWKSURL is set.
	JWKSURL string
	// InsecureJWKSURL allows an http JWKSURL on a non-loopback host. Anyone
	// on the path could then substitute keys; for development only.
	InsecureJWKSURL bool
	// FetchJWKS fetches the JWKS document at url. Nil selects a net/http GET
	// with a 10 s timeout, a 1 MiB body cap and status 200 required. A
	// custom fetcher (a Workers service binding, a test) is handed JWKSURL
	// as is and is responsible for the transport's security. It is called
	// with a context that carries a 10 s deadline.
	FetchJWKS func(ctx context.Context, url string) ([]byte, error)
	// Issuer, when set, must equal the token's iss claim.
	Issuer string
	// Audience, when set, must be the token's aud claim or one of its
	// elements.
	Audience string
	// RoleClaim names the claim that holds the user's role (creator, member
	// or subscriber); DefaultRoleClaim ("role") when empty.
	RoleClaim string
	// Leeway is the clock skew allowed on exp, nbf and iat; DefaultLeeway
	// (60 s) when zero. It may not be negative.
	Leeway time.Duration
	// JWKSRefresh is the period of the background JWKS refresh, which
	// replaces the cached keys (keys removed from the JWKS stop working);
	// DefaultJWKSRefresh (15 min) when zero.
	JWKSRefresh time.Duration
	// JWKSMinInterval is the shortest time between two fetches caused by a
	// token whose key id is not cached, across all callers;
	// DefaultJWKSMinInterval (30 s) when zero.
	JWKSMinInterval time.Duration
	// LazyJWKS fetches the JWKS on the first token that needs it instead of
	// in NewVerifier, and refreshes it on a token that arrives after
	// JWKSRefresh instead of in the background: for runtimes such as
	// Cloudflare Workers, where I/O may only happen while a request is
	// served. Lazy fetches are rate-limited like unknown-kid ones.
	LazyJWKS bool
	// Now is the clock for token times and the fetch rate limit; time.Now
	// when nil.
	Now func() time.Time
	// Logger receives JWKS fetch failures and skipped keys; nothing when
	// nil. Tokens are never logged.
	Logger *slog.Logger
}

// Verifier checks bearer JWTs and turns them into a *storage.Principal. It is
// safe for concurrent use. Close stops its background JWKS refresh.
type Verifier struct {
	cache     verifiedCache
	now       func() time.Time
	leeway    time.Duration
	secrets   []jwt.VerificationKey
	jwks      *keyCache // nil without a JWKS URL
	parser    *jwt.Parser
	methods   []string
	roleClaim string
	issuer    string // the required iss, or ""
}

// NewVerifier checks c and returns a Verifier. With a JWKS URL it fetches
// the keys once before returning, and returns an error when that fetch fails
// or yields no usable key, so that a service refuses to start with a clear
// message rather than refuse every token; it then refreshes the keys in the
// background until Close.
func NewVerifier(ctx context.Context, c Config) (*Verifier, error) {
	if len(c.HMACSecrets) == 0 && c.JWKSURL == "" {
		return nil, errors.New("auth: no token verification configured: set HMAC secrets, a JWKS URL, or both")
	}
	for i, s := range c.HMACSecrets {
		if len(s) < MinHMACSecretBytes {
			return nil, fmt.Errorf("auth: HMAC secret %d is %d bytes; at least %d are required", i+1, len(s), MinHMACSecretBytes)
		}
	}
	if c.Leeway < 0 {
		return nil, fmt.Errorf("auth: leeway %v is negative", c.Leeway)
	}
	if c.JWKSRefresh < 0 || c.JWKSMinInterval < 0 {
		return nil, errors.New("auth: JWKS refresh intervals may not be negative")
	}
	if c.Leeway == 0 {
		c.Leeway = DefaultLeeway
	}
	if c.RoleClaim == "" {
		c.RoleClaim = DefaultRoleClaim
	}
	if c.JWKSRefresh == 0 {
		c.JWKSRefresh = DefaultJWKSRefresh
	}
	if c.JWKSMinInterval == 0 {
		c.JWKSMinInterval = DefaultJWKSMinInterval
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}

	v := &Verifier{roleClaim: c.RoleClaim, issuer: c.Issuer, now: c.Now, leeway: c.Leeway}
	for _, s := range c.HMACSecrets {
		v.secrets = append(v.secrets, slices.Clone(s))
	}
	if len(v.secrets) > 0 {
		v.methods = append(v.methods, hmacAlgs...)
	}
	if c.JWKSURL != "" {
		fetch, closeIdle := c.FetchJWKS, func() {}
		if fetch == nil {
			if err := checkJWKSURL(c.JWKSURL, c.InsecureJWKSURL); err != nil {
				return nil, err
			}
			fetch, closeIdle = newHTTPFetcher()
		}
		v.jwks = newKeyCache(c.JWKSURL, fetch, c.Now, c.JWKSMinInterval, c.Logger)
		v.jwks.onClose = closeIdle
		if c.LazyJWKS {
			v.jwks.lazyEvery = c.JWKSRefresh
		} else {
			if err := v.jwks.loadFirst(ctx); err != nil {
				closeIdle()
				return nil, err
			}
			v.jwks.start(c.JWKSRefresh)
		}
		v.methods = append(v.methods, publicAlgs...)
	}

	opts := []jwt.ParserOption{
		jwt.WithValidMethods(v.methods),
		jwt.WithLeeway(c.Leeway),
		jwt.WithTimeFunc(c.Now),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
	}
	if c.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(c.Issuer))
	}
	if c.Audience != "" {
		opts = append(opts, jwt.WithAudience(c.Audience))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

// Close stops the background JWKS refresh and waits for it. Verify keeps
// working with the keys cached so far, without fetching. Close may be called
// more than once.
func (v *Verifier) Close() {
	if v.jwks != nil {
		v.jwks.close()
	}
}

// Verify checks a bearer JWT (without the "Bearer " scheme) and returns its
// caller: UserID from sub, Role from the role claim (optional for an
// administrator), Admin when the scope or scp claim holds AdminScope. Every
// refusal is a *storage.Error with storage.CodeUnauthorized whose message
// names the problem and never contains the token. ctx bounds the wait for a
// JWKS fetch caused by an unknown key id.
func (v *Verifier) Verify(ctx context.Context, token string) (*storage.Principal, error) {
	if token == "" {
		return nil, unauthorized("token is missing")
	}
	if len(token) > maxTokenBytes {
		return nil, unauthorized("token is too long")
	}
	now, gen := v.now(), v.keyGeneration()
	if p, ok := v.cache.get(token, now, v.leeway, gen); ok {
		return p, nil
	}
	claims := jwt.MapClaims{}
	tok, err := v.parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		return v.keyFor(ctx, t)
	})
	if err != nil {
		return nil, v.refusal(tok, claims, err)
	}
	p, err := v.principal(claims)
	if err != nil {
		return nil, err
	}
	exp, _ := claims.GetExpirationTime() // present: the parser requires it
	nbf, _ := claims.GetNotBefore()
	var notBefore time.Time
	if nbf != nil {
		notBefore = nbf.Time
	}
	if exp != nil && gen == v.keyGeneration() {
		v.cache.put(token, p, exp.Time, notBefore, gen, now)
	}
	return p, nil
}

// keyGeneration counts the JWKS key sets seen so far (0 without a JWKS):
// a cached token is used only under the key set that verified it.
func (v *Verifier) keyGeneration() uint64 {
	if v.jwks == nil {
		return 0
	}
	return v.jwks.gen.Load()
}

// keyFor is the Keyfunc: it returns only keys of the token's algorithm
// family, so that no key is ever used with another algorithm.
func (v *Verifier) keyFor(ctx context.Context, t *jwt.Token) (any, error) {
	if _, ok := t.Header["crit"]; ok {
		return nil, unauthorized("token header has critical parameters, which are not supported")
	}
	alg := t.Method.Alg()
	if slices.Contains(hmacAlgs, alg) {
		if len(v.secrets) == 0 { // not reached: the parser's methods exclude HS*
			return nil, unauthorized("token algorithm " + alg + " is not accepted")
		}
		return jwt.VerificationKeySet{Keys: v.secrets}, nil
	}
	if v.jwks == nil || !slices.Contains(publicAlgs, alg) { // not reached either
		return nil, unauthorized("token algorithm " + alg + " is not accepted")
	}
	kid := ""
	if raw, ok := t.Header["kid"]; ok {
		s, ok := raw.(string)
		if !ok {
			return nil, unauthorized("token is malformed")
		}
		kid = s
	}
	keys, err := v.jwks.keysFor(ctx, kid, alg)
	if err != nil {
		return nil, err
	}
	if len(keys) == 1 {
		return keys[0], nil
	}
	return jwt.VerificationKeySet{Keys: keys}, nil
}

// refusal translates a parse error into the client's message.
func (v *Verifier) refusal(tok *jwt.Token, claims jwt.MapClaims, err error) *storage.Error {
	var se *storage.Error
	switch {
	case errors.As(err, &se):
		return se
	case errors.Is(err, jwt.ErrTokenMalformed):
		return unauthorized("token is malformed")
	case tok != nil && tok.Method == nil:
		return unauthorized("token algorithm is missing or not supported")
	case tok != nil && !slices.Contains(v.methods, tok.Method.Alg()):
		// The name is one of golang-jwt's registered algorithms, not text
		// from the token.
		return unauthorized("token algorithm " + tok.Method.Alg() + " is not accepted")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return unauthorized("token signature is invalid")
	case errors.Is(err, jwt.ErrTokenInvalidClaims):
		return v.claimsRefusal(claims, err)
	}
	return unauthorized("token is not valid")
}

// claimsRefusal names the first failed claim check.
func (v *Verifier) claimsRefusal(claims jwt.MapClaims, err error) *storage.Error {
	missing := errors.Is(err, jwt.ErrTokenRequiredClaimMissing)
	_, hasExp := claims["exp"]
	_, hasIss := claims["iss"]
	switch {
	case errors.Is(err, jwt.ErrInvalidType):
		return unauthorized("token has a malformed exp, nbf, iat, iss or aud claim")
	case missing && (!hasExp || claims["exp"] == float64(0)):
		return unauthorized("token has no exp claim")
	case errors.Is(err, jwt.ErrTokenExpired):
		return unauthorized("token has expired")
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return unauthorized("token is not valid yet")
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return unauthorized("token is issued in the future")
	case errors.Is(err, jwt.ErrTokenInvalidIssuer), missing && v.issuer != "" && !hasIss:
		return unauthorized("token issuer is not accepted")
	case errors.Is(err, jwt.ErrTokenInvalidAudience), missing:
		return unauthorized("token audience is not accepted")
	}
	return unauthorized("token claims are not valid")
}

// principal maps verified claims to the caller.
func (v *Verifier) principal(claims jwt.MapClaims) (*storage.Principal, error) {
	sub, _ := claims["sub"].(string)
	if !storage.ValidUserID(sub) {
		return nil, unauthorized("token sub claim is not a valid user id")
	}
	p := &storage.Principal{
		UserID: sub,
		Admin:  hasScope(claims["scope"], AdminScope) || hasScope(claims["scp"], AdminScope),
	}
	claim, present := claims[v.roleClaim]
	raw, isString := claim.(string)
	if p.Admin && (!present || isString && raw == "") {
		return p, nil // an administrator needs no role
	}
	role, ok := storage.ParseRole(raw)
	if !ok {
		return nil, unauthorized("token " + v.roleClaim + " claim must be creator, member or subscriber")
	}
	p.Role = role
	return p, nil
}

// hasScope reports whether claim, a space-separated string or an array of
// strings (each possibly space-separated), holds scope.
func hasScope(claim any, scope string) bool {
	switch c := claim.(type) {
	case string:
		return slices.Contains(strings.Fields(c), scope)
	case []any:
		for _, e := range c {
			if s, ok := e.(string); ok && slices.Contains(strings.Fields(s), scope) {
				return true
			}
		}
	}
	return false
}

// unauthorized returns a CodeUnauthorized refusal.
func unauthorized(message string) *storage.Error {
	return &storage.Error{Code: storage.CodeUnauthorized, Message: message}
}
