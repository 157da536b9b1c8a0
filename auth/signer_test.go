package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	storage "github.com/memenow/memenow-storage"
)

func newSigner(t testing.TB, fill byte) *Signer {
	t.Helper()
	s, err := NewSigner(bytes.Repeat([]byte{fill}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// encodeQuery returns the query text of q as a browser would send it.
func encodeQuery(q url.Values) string { return q.Encode() }

func TestLinkRoundTrip(t *testing.T) {
	s := newSigner(t, 1)
	now := time.Unix(1_900_000_000, 0)
	key := "creator/user_1/20300102/video/holiday film.mp4"
	extra := url.Values{"download": {"1"}, "filename": {"a b&c=d.mp4"}, "multi": {"2", "1"}}
	extraCopy := url.Values{"download": {"1"}, "filename": {"a b&c=d.mp4"}, "multi": {"2", "1"}}
	q := s.SignLink(key, now.Add(time.Hour), extra)
	if !reflect.DeepEqual(extra, extraCopy) {
		t.Fatal("SignLink changed extra")
	}
	if q.Get(LinkExpiresParam) != strconv.FormatInt(now.Add(time.Hour).Unix(), 10) || q.Get(LinkSignatureParam) == "" {
		t.Fatalf("query %v", q)
	}
	// Through a URL's text and back, in any parameter order.
	parsed, err := url.ParseQuery(encodeQuery(q))
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.VerifyLink(key, parsed, now)
	if err != nil {
		t.Fatal(err)
	}
	if *p != (storage.Principal{SharedKey: key}) {
		t.Fatalf("principal %+v", p)
	}
	reordered := "sig=" + url.QueryEscape(q.Get("sig")) + "&multi=2&filename=" + url.QueryEscape("a b&c=d.mp4") + "&expires=" + q.Get("expires") + "&download=1&multi=1"
	parsed, err = url.ParseQuery(reordered)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.VerifyLink(key, parsed, now); err != nil {
		t.Fatalf("reordered: %v", err)
	}
	// Without extra parameters, and with extra trying to set sig/expires.
	q = s.SignLink(key, now.Add(time.Minute), url.Values{"sig": {"x"}, "expires": {"9"}})
	if len(q["sig"]) != 1 || q.Get("expires") == "9" {
		t.Fatalf("query %v", q)
	}
	if _, err := s.VerifyLink(key, q, now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.VerifyLink("", s.SignLink("", now.Add(time.Minute), nil), now); err != nil {
		t.Fatalf("empty key: %v", err)
	}
}

func TestLinkRefusals(t *testing.T) {
	s := newSigner(t, 1)
	other := newSigner(t, 2)
	now := time.Unix(1_900_000_000, 0)
	key := "member/user_1/20300102/image/cat.png"
	exp := now.Add(time.Hour)
	good := func() url.Values { return s.SignLink(key, exp, url.Values{"download": {"1"}, "x": {"a", "b"}}) }
	change := func(f func(url.Values)) url.Values { q := good(); f(q); return q }
	expiredQ := s.SignLink(key, now.Add(-time.Second), nil)
	uploadTok := s.UploadToken("upload-1", "user_1", storage.RoleCreator, exp)
	uploadSig := uploadTok[strings.LastIndexByte(uploadTok, '.')+1:]

	for _, tc := range []struct {
		name string
		key  string
		q    url.Values
		code storage.Code
	}{
		{"another file key", key + "x", good(), storage.CodeInvalidSignature},
		{"key prefix", "member/user_1", good(), storage.CodeInvalidSignature},
		{"expiry later", key, change(func(q url.Values) { q.Set("expires", strconv.FormatInt(exp.Unix()+1, 10)) }), storage.CodeInvalidSignature},
		{"expiry with a leading zero", key, change(func(q url.Values) { q.Set("expires", "0"+q.Get("expires")) }), storage.CodeInvalidSignature},
		{"expiry not a number", key, change(func(q url.Values) { q.Set("expires", "never") }), storage.CodeInvalidSignature},
		{"extra changed", key, change(func(q url.Values) { q.Set("download", "0") }), storage.CodeInvalidSignature},
		{"extra added", key, change(func(q url.Values) { q.Set("inline", "1") }), storage.CodeInvalidSignature},
		{"empty extra added", key, change(func(q url.Values) { q.Set("inline", "") }), storage.CodeInvalidSignature},
		{"extra removed", key, change(func(q url.Values) { q.Del("download") }), storage.CodeInvalidSignature},
		{"extra duplicated", key, change(func(q url.Values) { q.Add("download", "1") }), storage.CodeInvalidSignature},
		{"extra values swapped", key, change(func(q url.Values) { q["x"] = []string{"b", "a"} }), storage.CodeInvalidSignature},
		{"sig changed", key, change(func(q url.Values) {
			b := []byte(q.Get("sig"))
			if b[0] == 'A' {
				b[0] = 'B'
			} else {
				b[0] = 'A'
			}
			q.Set("sig", string(b))
		}), storage.CodeInvalidSignature},
		{"sig truncated", key, change(func(q url.Values) { q.Set("sig", q.Get("sig")[:20]) }), storage.CodeInvalidSignature},
		{"sig padded", key, change(func(q url.Values) { q.Set("sig", q.Get("sig")+"=") }), storage.CodeInvalidSignature},
		{"sig standard base64", key, change(func(q url.Values) {
			raw, _ := base64.RawURLEncoding.DecodeString(q.Get("sig"))
			q.Set("sig", base64.StdEncoding.EncodeToString(raw))
		}), storage.CodeInvalidSignature},
		{"sig garbled", key, change(func(q url.Values) { q.Set("sig", "!!!not-base64!!!") }), storage.CodeInvalidSignature},
		{"sig empty", key, change(func(q url.Values) { q.Set("sig", "") }), storage.CodeInvalidSignature},
		{"sig missing", key, change(func(q url.Values) { q.Del("sig") }), storage.CodeInvalidSignature},
		{"sig duplicated", key, change(func(q url.Values) { q.Add("sig", q.Get("sig")) }), storage.CodeInvalidSignature},
		{"expires missing", key, change(func(q url.Values) { q.Del("expires") }), storage.CodeInvalidSignature},
		{"expires duplicated", key, change(func(q url.Values) { q.Add("expires", q.Get("expires")) }), storage.CodeInvalidSignature},
		{"no parameters", key, url.Values{}, storage.CodeInvalidSignature},
		{"signed by another key", key, other.SignLink(key, exp, url.Values{"download": {"1"}, "x": {"a", "b"}}), storage.CodeInvalidSignature},
		{"upload token signature as link signature", key, change(func(q url.Values) { q.Set("sig", uploadSig) }), storage.CodeInvalidSignature},
		{"expired", key, expiredQ, storage.CodeLinkExpired},
		{"expired and tampered", key + "x", expiredQ, storage.CodeInvalidSignature},
		{"expired and re-dated", key, func() url.Values {
			q := s.SignLink(key, now.Add(-time.Second), nil)
			q.Set("expires", strconv.FormatInt(now.Add(time.Hour).Unix(), 10))
			return q
		}(), storage.CodeInvalidSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := s.VerifyLink(tc.key, tc.q, now)
			if err == nil {
				t.Fatalf("accepted: %+v", p)
			}
			want := "share link signature is"
			if tc.code == storage.CodeLinkExpired {
				want = "share link has expired"
			}
			checkRefusal(t, err, tc.code, want, tc.q.Get("sig"))
		})
	}
}

func TestLinkExpiryBoundary(t *testing.T) {
	s := newSigner(t, 1)
	exp := time.Unix(2_000_000_000, 0)
	q := s.SignLink("k", exp, nil)
	if _, err := s.VerifyLink("k", q, exp.Add(-time.Nanosecond)); err != nil {
		t.Fatalf("just before expiry: %v", err)
	}
	_, err := s.VerifyLink("k", q, exp)
	checkRefusal(t, err, storage.CodeLinkExpired, "share link has expired", q.Get("sig"))
}

func TestUploadTokenRoundTrip(t *testing.T) {
	s := newSigner(t, 1)
	now := time.Unix(1_900_000_000, 0)
	tok := s.UploadToken("0190a8c4-1d2e-7f00-8000-000000000001", "user_1", storage.RoleMember, now.Add(time.Hour))
	if !strings.HasPrefix(tok, UploadTokenPrefix) {
		t.Fatalf("token %q lacks the prefix", tok)
	}
	p, err := s.VerifyUploadToken(tok, now)
	if err != nil {
		t.Fatal(err)
	}
	want := storage.Principal{UserID: "user_1", Role: storage.RoleMember, UploadID: "0190a8c4-1d2e-7f00-8000-000000000001"}
	if *p != want {
		t.Fatalf("principal %+v, want %+v", *p, want)
	}
	if p.Actor() != "upload_token" {
		t.Fatalf("actor %q", p.Actor())
	}
	// An empty role is carried as empty.
	p, err = s.VerifyUploadToken(s.UploadToken("u1", "user_1", "", now.Add(time.Hour)), now)
	if err != nil || p.Role != "" {
		t.Fatalf("empty role: %+v, %v", p, err)
	}
	// An upload token is never a valid JWT.
	v := newTestVerifier(t, Config{HMACSecrets: [][]byte{keys().secret}})
	_, err = v.Verify(context.Background(), tok)
	checkRefusal(t, err, storage.CodeUnauthorized, "token is malformed", tok)
}

func TestUploadTokenRefusals(t *testing.T) {
	s := newSigner(t, 1)
	other := newSigner(t, 2)
	now := time.Unix(1_900_000_000, 0)
	exp := now.Add(time.Hour)
	tok := s.UploadToken("upload-1", "user_1", storage.RoleCreator, exp)
	i := strings.LastIndexByte(tok, '.')
	body, sig := tok[:i], tok[i+1:]
	payload := func(v any) string {
		b, _ := json.Marshal(v)
		return UploadTokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	}
	link := s.SignLink("upload-1", exp, nil)
	flip := func(s string, at int) string {
		b := []byte(s)
		if b[at] == 'A' {
			b[at] = 'B'
		} else {
			b[at] = 'A'
		}
		return string(b)
	}
	// A token we signed whose payload is not what UploadToken writes.
	signed := func(p string) string { return p + "." + base64.RawURLEncoding.EncodeToString(s.uploadMAC(p)) }

	for _, tc := range []struct {
		name, token, want string
	}{
		{"empty", "", "upload token is malformed"},
		{"no prefix", strings.TrimPrefix(tok, UploadTokenPrefix), "upload token is malformed"},
		{"prefix only", UploadTokenPrefix, "upload token is malformed"},
		{"no signature part", body, "upload token is malformed"},
		{"three parts", body + ".abc." + sig, "upload token is malformed"},
		{"too long", UploadTokenPrefix + strings.Repeat("A", maxUploadTokenBytes) + "." + sig, "upload token is malformed"},
		{"other upload id", payload(uploadClaims{UploadID: "upload-2", UserID: "user_1", Role: storage.RoleCreator, Expires: exp.Unix()}) + "." + sig, "upload token signature is invalid"},
		{"later expiry", payload(uploadClaims{UploadID: "upload-1", UserID: "user_1", Role: storage.RoleCreator, Expires: exp.Unix() + 3600}) + "." + sig, "upload token signature is invalid"},
		{"payload changed", flip(tok, len(UploadTokenPrefix)+3), "upload token signature is invalid"},
		{"signature changed", flip(tok, len(tok)-5), "upload token signature is invalid"},
		{"signature empty", body + ".", "upload token signature is invalid"},
		{"signature garbled", body + ".!!!!", "upload token signature is invalid"},
		{"another key", other.UploadToken("upload-1", "user_1", storage.RoleCreator, exp), "upload token signature is invalid"},
		{"share link signature", body + "." + link.Get("sig"), "upload token signature is invalid"},
		{"expired", s.UploadToken("upload-1", "user_1", storage.RoleCreator, now), "upload token has expired"},
		{"expired long ago", s.UploadToken("upload-1", "user_1", storage.RoleCreator, now.Add(-time.Hour)), "upload token has expired"},
		{"signed, bad user id", s.UploadToken("upload-1", "a/b", storage.RoleCreator, exp), "upload token is malformed"},
		{"signed, no upload id", s.UploadToken("", "user_1", storage.RoleCreator, exp), "upload token is malformed"},
		{"signed, bad role", s.UploadToken("upload-1", "user_1", "owner", exp), "upload token is malformed"},
		{"signed, not JSON", signed(UploadTokenPrefix + base64.RawURLEncoding.EncodeToString([]byte("[]"))), "upload token is malformed"},
		{"signed, not base64", signed(UploadTokenPrefix + "!!!"), "upload token is malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := s.VerifyUploadToken(tc.token, now)
			if err == nil {
				t.Fatalf("accepted: %+v", p)
			}
			checkRefusal(t, err, storage.CodeUnauthorized, tc.want, tc.token)
		})
	}
}

// TestDomainSeparation checks that the same bytes signed as one kind of
// credential never verify as the other, even when the signed texts are made
// to coincide.
func TestDomainSeparation(t *testing.T) {
	s := newSigner(t, 1)
	now := time.Unix(1_900_000_000, 0)
	// The link MAC of some text, presented as an upload token's MAC.
	body := UploadTokenPrefix + base64.RawURLEncoding.EncodeToString([]byte(`{"u":"x","s":"user_1","e":9999999999}`))
	m := s.linkMAC(body, "", nil)
	forged := body + "." + base64.RawURLEncoding.EncodeToString(m)
	_, err := s.VerifyUploadToken(forged, now)
	checkRefusal(t, err, storage.CodeUnauthorized, "upload token signature is invalid", forged)
	// The sub-keys differ from each other and from the signing key.
	key := bytes.Repeat([]byte{1}, 32)
	if bytes.Equal(s.uploadKey, s.linkKey) || bytes.Equal(s.uploadKey, key) || bytes.Equal(s.linkKey, key) {
		t.Fatal("sub-keys are not separate")
	}
}

func TestSigningKeys(t *testing.T) {
	key, err := GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	key2, _ := GenerateSigningKey()
	if len(key) != 32 || bytes.Equal(key, key2) {
		t.Fatalf("keys %x %x", key, key2)
	}
	for _, text := range []string{
		EncodeSigningKey(key),
		EncodeSigningKey(key) + "\n",
		"  " + hex.EncodeToString(key) + "\r\n",
		strings.ToUpper(hex.EncodeToString(key)),
		base64.RawStdEncoding.EncodeToString(key),
		base64.URLEncoding.EncodeToString(key),
		base64.RawURLEncoding.EncodeToString(key),
	} {
		got, err := ParseSigningKey(text)
		if err != nil {
			t.Fatalf("ParseSigningKey(%q): %v", text, err)
		}
		if !bytes.Equal(got, key) {
			t.Fatalf("ParseSigningKey(%q) = %x, want %x", text, got, key)
		}
	}
	long := bytes.Repeat([]byte{0xab}, 64)
	if got, err := ParseSigningKey(EncodeSigningKey(long)); err != nil || !bytes.Equal(got, long) {
		t.Fatalf("64-byte key: %x, %v", got, err)
	}
	for _, tc := range []struct{ text, want string }{
		{"", "empty"},
		{"   \n", "empty"},
		{hex.EncodeToString(key[:16]), "decodes to 16 bytes"},
		{base64.StdEncoding.EncodeToString(key[:31]), "decodes to 31 bytes"},
		{"this is a long passphrase, not an encoded key!!", "neither hex nor base64"},
		{"correct horse battery staple correct horse battery", "neither hex nor base64"},
	} {
		_, err := ParseSigningKey(tc.text)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseSigningKey(%q) error = %v, want %q", tc.text, err, tc.want)
			continue
		}
		checkNoSecret(t, err.Error(), strings.TrimSpace(tc.text))
	}
	if _, err := NewSigner(key[:31]); err == nil || !strings.Contains(err.Error(), "31 bytes") {
		t.Fatalf("NewSigner(31 bytes) = %v", err)
	}
	s1, _ := NewSigner(key)
	flipped := bytes.Clone(key)
	flipped[31] ^= 1
	s2, _ := NewSigner(flipped)
	if _, err := s2.VerifyLink("k", s1.SignLink("k", time.Unix(2e9, 0), nil), time.Unix(1e9, 0)); err == nil {
		t.Fatal("a key one bit apart verified the link")
	}
}
