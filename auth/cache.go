package auth

import (
	"crypto/sha256"
	"sync"
	"time"

	storage "github.com/memenow/memenow-storage"
)

// maxCachedTokens bounds the verified-token cache. Only tokens that passed
// every check get in, so a flood of forged tokens cannot fill it.
const maxCachedTokens = 8192

// verifiedCache remembers tokens that verified, so that a client sending the
// same token with every chunk pays for one signature check, not one per
// request. An entry is used only while the token's own exp and nbf (with
// the leeway) still hold and the key set it was verified against is
// unchanged: a JWKS refresh that removes a key empties the cache's meaning
// for tokens signed by it.
type verifiedCache struct {
	mu      sync.Mutex
	entries map[[sha256.Size]byte]cachedToken
}

// cachedToken is one verified token.
type cachedToken struct {
	principal storage.Principal
	exp, nbf  time.Time // nbf is zero when the token had none
	keyGen    uint64    // the JWKS generation it was verified against
}

// get returns the principal of a verified token when its entry is still
// usable at now (with leeway) under key generation gen.
func (c *verifiedCache) get(token string, now time.Time, leeway time.Duration, gen uint64) (*storage.Principal, bool) {
	sum := sha256.Sum256([]byte(token))
	c.mu.Lock()
	e, ok := c.entries[sum]
	c.mu.Unlock()
	if !ok || e.keyGen != gen || now.After(e.exp.Add(leeway)) || (!e.nbf.IsZero() && now.Before(e.nbf.Add(-leeway))) {
		return nil, false
	}
	p := e.principal
	return &p, true
}

// put remembers a verified token. When the cache is full it first drops the
// entries that can no longer be used, then, if need be, arbitrary ones.
func (c *verifiedCache) put(token string, p *storage.Principal, exp, nbf time.Time, gen uint64, now time.Time) {
	sum := sha256.Sum256([]byte(token))
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = make(map[[sha256.Size]byte]cachedToken)
	}
	if len(c.entries) >= maxCachedTokens {
		for k, e := range c.entries {
			if e.keyGen != gen || now.After(e.exp) {
				delete(c.entries, k)
			}
		}
		for k := range c.entries {
			if len(c.entries) < maxCachedTokens {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[sum] = cachedToken{principal: *p, exp: exp, nbf: nbf, keyGen: gen}
}
