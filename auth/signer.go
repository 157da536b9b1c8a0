package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	storage "github.com/memenow/memenow-storage"
)

// MinSigningKeyBytes is the shortest signing key NewSigner accepts.
const MinSigningKeyBytes = 32

// UploadTokenPrefix starts every upload token. It makes the token
// recognisable (an Authenticator routes on it) and can never start a JWT,
// whose first segment is base64url of a JSON object ("eyJ").
const UploadTokenPrefix = "mnu."

// Query parameters of a share link.
const (
	// LinkExpiresParam holds the link's expiry in Unix seconds.
	LinkExpiresParam = "expires"
	// LinkSignatureParam holds the link's signature, base64url (no
	// padding) of an HMAC-SHA256.
	LinkSignatureParam = "sig"
)

// Labels of the sub-keys derived from the signing key. A new format gets a
// new label, so that no credential of one kind or version passes as another.
const (
	uploadTokenLabel = "memenow upload token v1"
	shareLinkLabel   = "memenow share link v1"
)

// maxUploadTokenBytes bounds the work spent on one upload token.
const maxUploadTokenBytes = 4 << 10

// Signer signs and verifies the service's own credentials, upload tokens and
// share links, with one signing key. Each kind uses its own sub-key,
// HMAC-SHA256(key, label), so one kind can never pass as the other. A Signer
// is safe for concurrent use.
type Signer struct {
	uploadKey []byte
	linkKey   []byte
}

// NewSigner returns a Signer for key, which must be at least
// MinSigningKeyBytes (32) bytes; see GenerateSigningKey and ParseSigningKey.
func NewSigner(key []byte) (*Signer, error) {
	if len(key) < MinSigningKeyBytes {
		return nil, fmt.Errorf("auth: signing key is %d bytes; at least %d are required", len(key), MinSigningKeyBytes)
	}
	return &Signer{
		uploadKey: derive(key, uploadTokenLabel),
		linkKey:   derive(key, shareLinkLabel),
	}, nil
}

// derive returns HMAC-SHA256(key, label).
func derive(key []byte, label string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// GenerateSigningKey returns a new signing key: 32 random bytes from
// crypto/rand.
func GenerateSigningKey() ([]byte, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("auth: generating a signing key: %w", err)
	}
	return key, nil
}

// EncodeSigningKey returns the text form of key written to a key file:
// standard base64 with padding (what `openssl rand -base64 32` prints).
func EncodeSigningKey(key []byte) string {
	return base64.StdEncoding.EncodeToString(key)
}

// ParseSigningKey decodes the text form of a signing key, ignoring
// surrounding white space (a key file's final newline). It accepts hex
// (what `openssl rand -hex 32` prints) and base64, standard or URL alphabet,
// padded or not; hex is tried first, since a base64 key of 32 random bytes
// is practically never all hex digits. The decoded key must be at least
// MinSigningKeyBytes long. Raw text is not accepted as a key: a passphrase
// has far less entropy than its length suggests, so the text must be an
// encoding of random bytes. Errors never contain the text.
func ParseSigningKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("auth: the signing key is empty")
	}
	var key []byte
	if len(s)%2 == 0 {
		if b, err := hex.DecodeString(s); err == nil {
			key = b
		}
	}
	if key == nil {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if b, err := enc.DecodeString(s); err == nil {
				key = b
				break
			}
		}
	}
	if key == nil {
		return nil, errors.New("auth: the signing key is neither hex nor base64")
	}
	if len(key) < MinSigningKeyBytes {
		return nil, fmt.Errorf("auth: the signing key decodes to %d bytes; at least %d are required (generate one with `openssl rand -base64 32`)", len(key), MinSigningKeyBytes)
	}
	return key, nil
}

// uploadClaims is the payload of an upload token.
type uploadClaims struct {
	UploadID string       `json:"u"`
	UserID   string       `json:"s"`
	Role     storage.Role `json:"r,omitempty"`
	Expires  int64        `json:"e"` // Unix seconds
}

// UploadToken returns a bearer credential for one upload, on behalf of
// userID with role, valid until expires (truncated to the second):
// UploadTokenPrefix, then base64url of a small JSON payload, ".", and
// base64url of its HMAC-SHA256 under the upload-token sub-key. A token made
// with an empty uploadID or an invalid userID never verifies.
func (s *Signer) UploadToken(uploadID, userID string, role storage.Role, expires time.Time) string {
	payload, _ := json.Marshal(uploadClaims{UploadID: uploadID, UserID: userID, Role: role, Expires: expires.Unix()})
	body := UploadTokenPrefix + base64.RawURLEncoding.EncodeToString(payload)
	return body + "." + base64.RawURLEncoding.EncodeToString(s.uploadMAC(body))
}

// uploadMAC returns the signature of an upload token's prefix and payload.
func (s *Signer) uploadMAC(body string) []byte {
	m := hmac.New(sha256.New, s.uploadKey)
	m.Write([]byte(body))
	return m.Sum(nil)
}

// VerifyUploadToken checks an upload token at time now and returns its
// Principal: UserID, Role and UploadID. Refusals are CodeUnauthorized:
// "upload token is malformed", "upload token signature is invalid" (checked
// with a constant-time compare before anything in the payload is read), or
// "upload token has expired" (now at or after the expiry).
func (s *Signer) VerifyUploadToken(token string, now time.Time) (*storage.Principal, error) {
	if len(token) > maxUploadTokenBytes || !strings.HasPrefix(token, UploadTokenPrefix) {
		return nil, unauthorized("upload token is malformed")
	}
	i := strings.LastIndexByte(token, '.')
	body, sig := token[:i], token[i+1:]
	if len(body) <= len(UploadTokenPrefix) || strings.IndexByte(body[len(UploadTokenPrefix):], '.') >= 0 {
		return nil, unauthorized("upload token is malformed")
	}
	got, err := base64.RawURLEncoding.Strict().DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.uploadMAC(body)) {
		return nil, unauthorized("upload token signature is invalid")
	}
	payload, err := base64.RawURLEncoding.DecodeString(body[len(UploadTokenPrefix):])
	if err != nil {
		return nil, unauthorized("upload token is malformed")
	}
	var c uploadClaims
	if err := json.Unmarshal(payload, &c); err != nil || c.UploadID == "" || !storage.ValidUserID(c.UserID) {
		return nil, unauthorized("upload token is malformed")
	}
	if c.Role != "" {
		if _, ok := storage.ParseRole(string(c.Role)); !ok {
			return nil, unauthorized("upload token is malformed")
		}
	}
	if now.Unix() >= c.Expires {
		return nil, unauthorized("upload token has expired")
	}
	return &storage.Principal{UserID: c.UserID, Role: c.Role, UploadID: c.UploadID}, nil
}

// SignLink returns the query of a share link for the file key, valid until
// expires (truncated to the second): a copy of extra plus LinkExpiresParam
// (Unix seconds) and LinkSignatureParam. The signature, an HMAC-SHA256 under
// the share-link sub-key, covers the key, the expiry text and every other
// parameter with all its values (sorted by name, values in order), so any
// change to the URL's key or query fails VerifyLink. Any "expires" or "sig"
// in extra is replaced.
func (s *Signer) SignLink(key string, expires time.Time, extra url.Values) url.Values {
	q := make(url.Values, len(extra)+2)
	for name, values := range extra {
		if name != LinkExpiresParam && name != LinkSignatureParam {
			q[name] = slices.Clone(values)
		}
	}
	exp := strconv.FormatInt(expires.Unix(), 10)
	q.Set(LinkExpiresParam, exp)
	q.Set(LinkSignatureParam, base64.RawURLEncoding.EncodeToString(s.linkMAC(key, exp, q)))
	return q
}

// linkMAC returns the signature of a share link: HMAC-SHA256 of the
// length-prefixed key, expiry text and encoded other parameters.
func (s *Signer) linkMAC(key, expires string, q url.Values) []byte {
	rest := make(url.Values, len(q))
	for name, values := range q {
		if name != LinkExpiresParam && name != LinkSignatureParam {
			rest[name] = values
		}
	}
	m := hmac.New(sha256.New, s.linkKey)
	for _, part := range []string{key, expires, rest.Encode()} {
		writeField(m, part)
	}
	return m.Sum(nil)
}

// writeField writes s with its length first, so that fields cannot run
// into each other.
func writeField(h hash.Hash, s string) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(s)))
	h.Write(n[:])
	h.Write([]byte(s))
}

// VerifyLink checks the query q of a share link for the file key at time
// now and returns Principal{SharedKey: key}. The signature is checked first,
// with a constant-time compare: a missing, duplicated or garbled signature
// or expiry, a link signed with another key, or any change to the key, the
// expiry or another parameter is storage.CodeInvalidSignature. Only a link
// whose signature holds is then storage.CodeLinkExpired when now is at or
// after its expiry.
func (s *Signer) VerifyLink(key string, q url.Values, now time.Time) (*storage.Principal, error) {
	sigs, exps := q[LinkSignatureParam], q[LinkExpiresParam]
	if len(sigs) != 1 || len(exps) != 1 {
		return nil, storage.Errorf(storage.CodeInvalidSignature, "share link signature is missing or repeated")
	}
	got, err := base64.RawURLEncoding.Strict().DecodeString(sigs[0])
	if err != nil || !hmac.Equal(got, s.linkMAC(key, exps[0], q)) {
		return nil, storage.Errorf(storage.CodeInvalidSignature, "share link signature is invalid")
	}
	exp, err := strconv.ParseInt(exps[0], 10, 64)
	if err != nil { // only a link we signed gets here, and we sign decimal
		return nil, storage.Errorf(storage.CodeInvalidSignature, "share link signature is invalid")
	}
	if now.Unix() >= exp {
		return nil, storage.Errorf(storage.CodeLinkExpired, "share link has expired")
	}
	return &storage.Principal{SharedKey: key}, nil
}
