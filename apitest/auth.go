package apitest

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// AuthTarget is a deployment with auth on, verifying HS256 user tokens
// signed with Secret.
type AuthTarget struct {
	Target
	// Secret is the server's --jwt-secret.
	Secret []byte
	// Issuer and Audience are the server's --jwt-issuer and --jwt-audience
	// ("" when unchecked).
	Issuer, Audience string
}

// Claims are the claims of a user token the suite mints.
type Claims struct {
	Sub, Role string
	Admin     bool
	// Exp and NotBefore are offsets from now; Exp 0 means one hour, a
	// negative Exp an expired token.
	Exp, NotBefore time.Duration
	NoExp          bool
	Issuer         string // none (or, through AuthTarget.Mint, the target's) when ""
	Audience       string // none (or, through AuthTarget.Mint, the target's) when ""
}

// Mint returns an HS256 token for c signed with secret, with the target's
// issuer and audience unless c names its own.
func (a AuthTarget) Mint(c Claims, secret []byte) string {
	c.Issuer, c.Audience = cmp(c.Issuer, a.Issuer), cmp(c.Audience, a.Audience)
	return MintToken(secret, c)
}

// MintToken returns an HS256 user token for c signed with secret.
func MintToken(secret []byte, c Claims) string {
	now := time.Now()
	m := jwt.MapClaims{"sub": c.Sub, "iat": now.Unix()}
	if c.Role != "" {
		m["role"] = c.Role
	}
	if c.Admin {
		m["scope"] = "openid storage:admin"
	}
	if !c.NoExp {
		exp := c.Exp
		if exp == 0 {
			exp = time.Hour
		}
		m["exp"] = now.Add(exp).Unix()
	}
	if c.NotBefore != 0 {
		m["nbf"] = now.Add(c.NotBefore).Unix()
	}
	if c.Issuer != "" {
		m["iss"] = c.Issuer
	}
	if c.Audience != "" {
		m["aud"] = c.Audience
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, m).SignedString(secret)
	if err != nil {
		panic(err)
	}
	return tok
}

func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// User returns a valid creator token for user.
func (a AuthTarget) User(user string) string {
	return a.Mint(Claims{Sub: user, Role: "creator"}, a.Secret)
}

// Admin returns a valid administrator token.
func (a AuthTarget) Admin() string {
	return a.Mint(Claims{Sub: "ops-admin", Admin: true}, a.Secret)
}

// RunAuth runs the identity and access suite against a deployment with auth
// on: every route against every kind of credential, ownership, share links,
// upload tokens, listing and deletion.
func RunAuth(t *testing.T, target AuthTarget) {
	cases := []struct {
		name string
		fn   func(*T, AuthTarget)
	}{
		{"RouteCredentialMatrix", testAuthMatrix},
		{"BadTokensRefusedEverywhere", testBadTokens},
		{"InitTakesIdentityFromToken", testInitIdentity},
		{"OthersSeeNothing", testOthersSeeNothing},
		{"UploadTokenHandOff", testUploadToken},
		{"PublicAndPrivateFiles", testVisibility},
		{"ShareLinks", testShareLinks},
		{"ListPagination", testListPagination},
		{"DeleteKeepsKeyTaken", testDeleteKeepsKey},
		{"SeedBodyStillValid", testSeedBodyWithToken},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.fn(&T{T: t, Target: target.Target}, target) })
	}
}

// owned is a user's completed file and open upload, for the matrix.
type owned struct {
	user      string
	token     string
	file      *Upload // completed
	open      *Upload // initiated, chunk 0 stored
	openToken string  // the open upload's upload token
}

func newOwned(t *T, a AuthTarget) *owned {
	t.Helper()
	o := &owned{user: NewUserID()}
	o.token = a.User(o.user)
	as := t.As(o.token)
	o.file = as.Init("report.pdf", "application/pdf", RandomBytes(1000, 7), o.user)
	o.file.Key = as.UploadAll(o.file)
	o.open = as.Init("draft.bin", "", threeChunks(8), o.user)
	as.SendChunk(o.open, 0)
	m := as.Status(o.open)
	o.openToken, _ = m["upload_token"].(string)
	if o.openToken == "" {
		t.Fatalf("status by the owner has no upload_token: %v", m)
	}
	return o
}

// snapshot is what a refused request must leave unchanged.
func (o *owned) snapshot(t *T) string {
	t.Helper()
	as := t.As(o.token)
	st := as.Status(o.open)
	r := as.Do("GET", FilePath(o.file.Key), nil, nil)
	if r.Status != http.StatusOK || string(r.Body) != string(o.file.Data) {
		t.Fatalf("owner cannot read their file: %d", r.Status)
	}
	return fmt.Sprint(st["status"], st["chunks"], st["bytes_uploaded"], st["visibility"])
}

// route is one call of the matrix.
type route struct {
	name string
	do   func(t *T, o *owned) *Response
}

func matrixRoutes(a AuthTarget) []route {
	return []route{
		{"init", func(t *T, o *owned) *Response {
			return t.PostJSON("/api/upload/init", map[string]any{"file_name": "x.bin", "total_size": 10,
				"user_id": o.user, "user_role": "creator"})
		}},
		{"chunk", func(t *T, o *owned) *Response { return t.PutChunk(o.open, 1, o.open.Chunk(1)) }},
		{"status", func(t *T, o *owned) *Response { return t.Do("GET", "/api/upload/"+o.open.ID+"/status", nil, nil) }},
		{"complete", func(t *T, o *owned) *Response { return t.Complete(o.open) }},
		{"cancel", func(t *T, o *owned) *Response { return t.Cancel(o.open) }},
		{"get-file", func(t *T, o *owned) *Response { return t.Do("GET", FilePath(o.file.Key), nil, nil) }},
		{"head-file", func(t *T, o *owned) *Response { return t.Do("HEAD", FilePath(o.file.Key), nil, nil) }},
		{"share", func(t *T, o *owned) *Response {
			return t.PostJSON("/api/files/share", map[string]any{"key": o.file.Key})
		}},
		{"delete", func(t *T, o *owned) *Response { return t.Do("DELETE", FilePath(o.file.Key), nil, nil) }},
		{"list-theirs", func(t *T, o *owned) *Response { return t.Do("GET", "/api/uploads?user_id="+o.user, nil, nil) }},
	}
}

// testAuthMatrix sends every route with every credential that must be
// refused, checks the status and code, and that nothing changed.
func testAuthMatrix(t *T, a AuthTarget) {
	o := newOwned(t, a)
	other := a.User(NewUserID())
	otherOwned := newOwned(t, a) // another user's upload token
	want := map[string]map[string]struct {
		status int
		code   string
	}{
		"none": {
			"init": {401, "UNAUTHORIZED"}, "chunk": {401, "UNAUTHORIZED"}, "status": {401, "UNAUTHORIZED"},
			"complete": {401, "UNAUTHORIZED"}, "cancel": {401, "UNAUTHORIZED"}, "get-file": {404, "NOT_FOUND"},
			"head-file": {404, ""}, "share": {401, "UNAUTHORIZED"}, "delete": {401, "UNAUTHORIZED"},
			"list-theirs": {401, "UNAUTHORIZED"},
		},
		"another user": {
			"init": {403, "FORBIDDEN"}, "chunk": {404, "UPLOAD_NOT_FOUND"}, "status": {404, "UPLOAD_NOT_FOUND"},
			"complete": {404, "UPLOAD_NOT_FOUND"}, "cancel": {404, "UPLOAD_NOT_FOUND"}, "get-file": {404, "NOT_FOUND"},
			"head-file": {404, ""}, "share": {404, "NOT_FOUND"}, "delete": {404, "NOT_FOUND"},
			"list-theirs": {403, "FORBIDDEN"},
		},
		"upload token of another upload": {
			"init": {403, "FORBIDDEN"}, "chunk": {404, "UPLOAD_NOT_FOUND"}, "status": {404, "UPLOAD_NOT_FOUND"},
			"complete": {404, "UPLOAD_NOT_FOUND"}, "cancel": {404, "UPLOAD_NOT_FOUND"}, "get-file": {404, "NOT_FOUND"},
			"head-file": {404, ""}, "share": {403, "FORBIDDEN"}, "delete": {403, "FORBIDDEN"},
			"list-theirs": {403, "FORBIDDEN"},
		},
	}
	creds := map[string]string{"none": "", "another user": other, "upload token of another upload": otherOwned.openToken}
	before := o.snapshot(t)
	for credName, token := range creds {
		for _, rt := range matrixRoutes(a) {
			w := want[credName][rt.name]
			r := rt.do(t.As(token), o)
			if rt.name == "head-file" {
				if r.Status != w.status {
					t.Errorf("%s %s: status %d, want %d", credName, rt.name, r.Status, w.status)
				}
				continue
			}
			if r.Status != w.status {
				t.Errorf("%s %s: status %d, want %d; body %s", credName, rt.name, r.Status, w.status, truncate(r.Body))
				continue
			}
			t.WantError(r, w.status, w.code)
			if w.status == 401 && !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s %s: 401 without WWW-Authenticate: Bearer", credName, rt.name)
			}
		}
	}
	if after := o.snapshot(t); after != before {
		t.Fatalf("refused requests changed the upload or file: %s → %s", before, after)
	}
	// The owner, the upload's own token (for its routes) and an
	// administrator may do each; mutating calls go last.
	for _, who := range []struct{ name, token string }{{"owner", o.token}, {"admin", a.Admin()}} {
		as := t.As(who.token)
		for _, path := range []string{"/api/upload/" + o.open.ID + "/status", FilePath(o.file.Key), "/api/uploads?user_id=" + o.user} {
			if r := as.Do("GET", path, nil, nil); r.Status != http.StatusOK {
				t.Errorf("%s GET %s: %d %s", who.name, path, r.Status, truncate(r.Body))
			}
		}
		as.WantOK(as.PostJSON("/api/files/share", map[string]any{"key": o.file.Key}))
	}
	up := t.As(o.openToken)
	up.WantOK(up.Do("GET", "/api/upload/"+o.open.ID+"/status", nil, nil))
	for i := 1; i < o.open.Chunks; i++ {
		up.SendChunk(o.open, i)
	}
	if m := up.WantOK(up.Complete(o.open)); m["status"] != "completed" {
		t.Fatalf("complete with the upload token: %v", m)
	}
	adm := t.As(a.Admin())
	if m := adm.WantOK(adm.Do("DELETE", FilePath(o.file.Key), nil, nil)); m["status"] != "deleted" {
		t.Fatalf("admin delete: %v", m)
	}
	owner := t.As(o.token)
	owner.WantError(owner.Do("GET", FilePath(o.file.Key), nil, nil), 404, "NOT_FOUND")
}

// testBadTokens sends tokens that must not verify to every route.
func testBadTokens(t *T, a AuthTarget) {
	o := newOwned(t, a)
	other := make([]byte, 32)
	_, _ = rand.Read(other)
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	payload := base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf(`{"sub":%q,"role":"creator","exp":%d}`, o.user, time.Now().Add(time.Hour).Unix())))
	bad := map[string]string{
		"garbage":        "not-a-token",
		"two parts":      "abc.def",
		"expired":        a.Mint(Claims{Sub: o.user, Role: "creator", Exp: -time.Hour}, a.Secret),
		"not yet valid":  a.Mint(Claims{Sub: o.user, Role: "creator", NotBefore: time.Hour}, a.Secret),
		"no exp":         a.Mint(Claims{Sub: o.user, Role: "creator", NoExp: true}, a.Secret),
		"wrong key":      a.Mint(Claims{Sub: o.user, Role: "creator"}, other),
		"alg none":       header + "." + payload + ".",
		"bad sub":        a.Mint(Claims{Sub: "a/b", Role: "creator"}, a.Secret),
		"bad role":       a.Mint(Claims{Sub: o.user, Role: "admin"}, a.Secret),
		"tampered":       a.User(o.user) + "x",
		"forged upload":  "mnu.eyJ1IjoieCJ9.AAAA",
		"upload garbage": "mnu.",
	}
	if a.Issuer != "" {
		bad["wrong issuer"] = a.Mint(Claims{Sub: o.user, Role: "creator", Issuer: "https://evil.example"}, a.Secret)
	}
	if a.Audience != "" {
		bad["wrong audience"] = a.Mint(Claims{Sub: o.user, Role: "creator", Audience: "someone-else"}, a.Secret)
	}
	before := o.snapshot(t)
	for name, token := range bad {
		for _, rt := range matrixRoutes(a) {
			r := rt.do(t.As(token), o)
			if r.Status != http.StatusUnauthorized {
				t.Errorf("%s %s: status %d, want 401; body %s", name, rt.name, r.Status, truncate(r.Body))
				continue
			}
			if !strings.Contains(r.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s %s: WWW-Authenticate %q", name, rt.name, r.Header.Get("WWW-Authenticate"))
			}
			if rt.name == "head-file" {
				continue
			}
			e := t.WantError(r, 401, "UNAUTHORIZED")
			if msg, _ := e["message"].(string); len(token) > 8 && strings.Contains(msg, token[len(token)/2:]) {
				t.Errorf("%s: the message repeats the token: %q", name, msg)
			}
		}
	}
	for _, scheme := range []string{"Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "Token " + a.User(o.user)} {
		r := t.Do("GET", "/api/uploads", map[string]string{"Authorization": scheme}, nil)
		t.WantError(r, 401, "UNAUTHORIZED")
	}
	if after := o.snapshot(t); after != before {
		t.Fatalf("refused requests changed the upload or file: %s → %s", before, after)
	}
}

// testInitIdentity: with auth on, init takes the user and role from the
// token, and refuses a body that names another.
func testInitIdentity(t *T, a AuthTarget) {
	user := NewUserID()
	as := t.As(a.Mint(Claims{Sub: user, Role: "member"}, a.Secret))
	m := as.WantOK(as.PostJSON("/api/upload/init", map[string]any{"file_name": "a.txt", "total_size": 5}))
	key, _ := m["r2_key"].(string)
	if !strings.HasPrefix(key, "member/"+user+"/") {
		t.Fatalf("key %q, want member/%s/…", key, user)
	}
	if tok, _ := m["upload_token"].(string); tok == "" {
		t.Fatalf("init response has no upload_token: %v", m)
	}
	if m["visibility"] != "private" {
		t.Fatalf("visibility %v, want private", m["visibility"])
	}
	for _, body := range []map[string]any{
		{"file_name": "a.txt", "total_size": 5, "user_id": "someone-else"},
		{"file_name": "a.txt", "total_size": 5, "user_id": user, "user_role": "creator"},
		{"file_name": "a.txt", "total_size": 5, "user_role": "subscriber"},
	} {
		as.WantError(as.PostJSON("/api/upload/init", body), 403, "FORBIDDEN")
	}
	// An administrator may create an upload for a user: a trusted backend.
	adm := t.As(a.Admin())
	m = adm.WantOK(adm.PostJSON("/api/upload/init", map[string]any{"file_name": "b.txt", "total_size": 5, "user_id": user, "user_role": "creator"}))
	if key, _ := m["r2_key"].(string); !strings.HasPrefix(key, "creator/"+user+"/") {
		t.Fatalf("admin init key %q", key)
	}
	adm.WantError(adm.PostJSON("/api/upload/init", map[string]any{"file_name": "b.txt", "total_size": 5}), 400, "MISSING_FIELD")
	as.WantError(as.PostJSON("/api/upload/init", map[string]any{"file_name": "a.txt", "total_size": 5, "visibility": "world"}), 400, "INVALID_FIELD")
	// JSON with a duplicated identity field never reaches the Service.
	r := as.PostJSON("/api/upload/init", `{"file_name":"a.txt","total_size":5,"user_id":"`+user+`","user_id":"bob"}`)
	t.WantError(r, 400, "INVALID_FIELD")
}

// testOthersSeeNothing: another user's 404 for an upload is the same as
// for an id that does not exist.
func testOthersSeeNothing(t *T, a AuthTarget) {
	o := newOwned(t, a)
	other := t.As(a.User(NewUserID()))
	unknownID := strings.Replace(o.open.ID, o.open.ID[len(o.open.ID)-4:], "0000", 1)
	theirs := other.WantError(other.Do("GET", "/api/upload/"+o.open.ID+"/status", nil, nil), 404, "UPLOAD_NOT_FOUND")
	none := other.WantError(other.Do("GET", "/api/upload/"+unknownID+"/status", nil, nil), 404, "UPLOAD_NOT_FOUND")
	if strings.ReplaceAll(theirs["message"].(string), o.open.ID, "ID") != strings.ReplaceAll(none["message"].(string), unknownID, "ID") {
		t.Fatalf("messages differ: %q vs %q", theirs["message"], none["message"])
	}
	f1 := other.WantError(other.Do("GET", FilePath(o.file.Key), nil, nil), 404, "NOT_FOUND")
	f2 := other.WantError(other.Do("GET", FilePath(o.file.Key+"x"), nil, nil), 404, "NOT_FOUND")
	if f1["message"] != f2["message"] {
		t.Fatalf("file messages differ: %q vs %q", f1["message"], f2["message"])
	}
	m := other.WantOK(other.Do("GET", "/api/uploads", nil, nil))
	if strings.Contains(fmt.Sprint(m), o.user) {
		t.Fatalf("another user's list shows the owner's uploads: %v", m)
	}
}

// testUploadToken: the init response's upload token sends the bytes of
// that one upload without the user's token.
func testUploadToken(t *T, a AuthTarget) {
	user := NewUserID()
	backend := t.As(a.Admin())
	data := threeChunks(11)
	m := backend.WantOK(backend.PostJSON("/api/upload/init", map[string]any{"file_name": "clip.mp4", "total_size": len(data),
		"user_id": user, "user_role": "creator", "chunk_size": ChunkSize}))
	tok, _ := m["upload_token"].(string)
	u := &Upload{ID: m["upload_id"].(string), Data: data, ChunkSize: ChunkSize, Chunks: 3}
	browser := t.As(tok)
	key := browser.UploadAll(u)
	owner := t.As(a.User(user))
	if r := owner.Do("GET", FilePath(key), nil, nil); r.Status != 200 || string(r.Body) != string(data) {
		t.Fatalf("owner download after hand-off: %d", r.Status)
	}
	// The token does not reach the finished file, nor any other upload.
	browser.WantError(browser.Do("GET", FilePath(key), nil, nil), 404, "NOT_FOUND")
	browser.WantError(browser.Do("GET", "/api/uploads", nil, nil), 403, "FORBIDDEN")
	other := owner.Init("other.bin", "", RandomBytes(100, 3), user)
	browser.WantError(browser.Do("GET", "/api/upload/"+other.ID+"/status", nil, nil), 404, "UPLOAD_NOT_FOUND")
	browser.WantError(browser.Cancel(other), 404, "UPLOAD_NOT_FOUND")
	me := browser.WantOK(browser.Do("GET", "/api/me", nil, nil))
	if me["actor"] != "upload_token" || me["upload_id"] != u.ID {
		t.Fatalf("/api/me with an upload token: %v", me)
	}
}

// testVisibility: private files need the owner's token; public ones do not.
func testVisibility(t *T, a AuthTarget) {
	user := NewUserID()
	as := t.As(a.User(user))
	data := RandomBytes(2000, 5)
	m := as.WantOK(as.PostJSON("/api/upload/init", map[string]any{"file_name": "pub.png", "total_size": len(data), "visibility": "public"}))
	if m["visibility"] != "public" {
		t.Fatalf("init visibility %v", m["visibility"])
	}
	u := &Upload{ID: m["upload_id"].(string), Data: data, ChunkSize: ChunkSize, Chunks: 1}
	key := as.UploadAll(u)
	anon := t.As("")
	if r := anon.Do("GET", FilePath(key), nil, nil); r.Status != 200 || string(r.Body) != string(data) {
		t.Fatalf("anonymous read of a public file: %d", r.Status)
	}
	if r := anon.Do("GET", FilePath(key), map[string]string{"Range": "bytes=10-19"}, nil); r.Status != 206 || string(r.Body) != string(data[10:20]) {
		t.Fatalf("anonymous range read of a public file: %d", r.Status)
	}
	// Public does not mean anyone may manage it.
	other := t.As(a.User(NewUserID()))
	other.WantError(other.Do("DELETE", FilePath(key), nil, nil), 404, "NOT_FOUND")
	other.WantError(other.PostJSON("/api/files/share", map[string]any{"key": key}), 404, "NOT_FOUND")
	anon.WantError(anon.Do("DELETE", FilePath(key), nil, nil), 401, "UNAUTHORIZED")
}

// testShareLinks: a signed link reads a private file, ranges included,
// until it expires; any change to it is refused.
func testShareLinks(t *T, a AuthTarget) {
	o := newOwned(t, a)
	as := t.As(o.token)
	m := as.WantOK(as.PostJSON("/api/files/share", map[string]any{"key": o.file.Key, "expires_in": 600}))
	link, _ := m["url"].(string)
	exp, err := time.Parse(time.RFC3339, fmt.Sprint(m["expires_at"]))
	if err != nil || exp.Before(time.Now().Add(590*time.Second)) || exp.After(time.Now().Add(610*time.Second)) {
		t.Fatalf("expires_at %v", m["expires_at"])
	}
	u, err := url.Parse(link)
	if err != nil || u.Host == "" {
		t.Fatalf("url %q", link)
	}
	path := u.EscapedPath() + "?" + u.RawQuery
	anon := t.As("")
	if r := anon.Do("GET", path, nil, nil); r.Status != 200 || string(r.Body) != string(o.file.Data) {
		t.Fatalf("GET through the link: %d %s", r.Status, truncate(r.Body))
	}
	if r := anon.Do("GET", path, map[string]string{"Range": "bytes=100-199"}, nil); r.Status != 206 || string(r.Body) != string(o.file.Data[100:200]) {
		t.Fatalf("range through the link: %d", r.Status)
	}
	r := anon.Do("GET", path, nil, nil)
	if etag := r.Header.Get("ETag"); etag != "" {
		if r := anon.Do("GET", path, map[string]string{"If-None-Match": etag}, nil); r.Status != 304 {
			t.Fatalf("conditional GET through the link: %d", r.Status)
		}
	}
	q := u.Query()
	tampered := map[string]string{}
	q2 := cloneQuery(q)
	q2.Set("expires", strconv.FormatInt(exp.Unix()+3600, 10))
	tampered["expiry"] = u.EscapedPath() + "?" + q2.Encode()
	tampered["path"] = FilePath(o.open.Key) + "?" + u.RawQuery
	q3 := cloneQuery(q)
	q3.Set("sig", base64.RawURLEncoding.EncodeToString(make([]byte, 32)))
	tampered["signature (another key)"] = u.EscapedPath() + "?" + q3.Encode()
	q4 := cloneQuery(q)
	q4.Set("download", "1")
	tampered["added parameter"] = u.EscapedPath() + "?" + q4.Encode()
	q5 := cloneQuery(q)
	q5.Del("sig")
	tampered["no signature"] = u.EscapedPath() + "?" + q5.Encode()
	for name, p := range tampered {
		anon.WantError(anon.Do("GET", p, nil, nil), 403, "INVALID_SIGNATURE")
		_ = name
	}
	// The link is no token: it does not reach other routes.
	anon.WantError(anon.Do("DELETE", path, nil, nil), 401, "UNAUTHORIZED")
	// Expiry.
	m = as.WantOK(as.PostJSON("/api/files/share", map[string]any{"key": o.file.Key, "expires_in": 1}))
	short, _ := url.Parse(m["url"].(string))
	time.Sleep(2100 * time.Millisecond)
	anon.WantError(anon.Do("GET", short.EscapedPath()+"?"+short.RawQuery, nil, nil), 403, "LINK_EXPIRED")
	// Bad requests.
	as.WantError(as.PostJSON("/api/files/share", map[string]any{"key": o.file.Key, "expires_in": 100 * 24 * 3600}), 400, "INVALID_FIELD")
	as.WantError(as.PostJSON("/api/files/share", map[string]any{"key": o.file.Key, "expires_in": -5}), 400, "INVALID_FIELD")
	as.WantError(as.PostJSON("/api/files/share", map[string]any{"key": o.file.Key, "expires_in": "soon"}), 400, "INVALID_FIELD")
	as.WantError(as.PostJSON("/api/files/share", map[string]any{"expires_in": 60}), 400, "MISSING_FIELD")
	as.WantError(as.PostJSON("/api/files/share", map[string]any{"key": o.open.Key}), 404, "NOT_FOUND")
	// A deleted file's link stops working.
	as.WantOK(as.Do("DELETE", FilePath(o.file.Key), nil, nil))
	anon.WantError(anon.Do("GET", path, nil, nil), 404, "NOT_FOUND")
}

func cloneQuery(q url.Values) url.Values {
	c := url.Values{}
	for k, v := range q {
		c[k] = append([]string(nil), v...)
	}
	return c
}

// testListPagination: newest first, cursor paging, status filter.
func testListPagination(t *T, a AuthTarget) {
	user := NewUserID()
	as := t.As(a.User(user))
	var ids []string
	for i := 0; i < 5; i++ {
		u := as.Init(fmt.Sprintf("f%d.bin", i), "", RandomBytes(10, uint64(i)), user)
		ids = append(ids, u.ID)
		if i == 2 {
			as.WantOK(as.Cancel(u))
		}
	}
	var got []string
	cursor := ""
	for page := 0; page < 10; page++ {
		path := "/api/uploads?limit=2"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		m := as.WantOK(as.Do("GET", path, nil, nil))
		list, _ := m["uploads"].([]any)
		if len(list) > 2 {
			t.Fatalf("page of %d with limit 2", len(list))
		}
		for _, item := range list {
			e := item.(map[string]any)
			if e["user_id"] != user {
				t.Fatalf("list shows another user's upload: %v", e)
			}
			got = append(got, e["upload_id"].(string))
		}
		cursor, _ = m["next_cursor"].(string)
		if cursor == "" {
			break
		}
	}
	if len(got) != 5 {
		t.Fatalf("listed %d uploads, want 5: %v", len(got), got)
	}
	for i := range got {
		if got[i] != ids[4-i] {
			t.Fatalf("order %v, want newest first %v", got, ids)
		}
	}
	m := as.WantOK(as.Do("GET", "/api/uploads?status=cancelled", nil, nil))
	if list, _ := m["uploads"].([]any); len(list) != 1 || list[0].(map[string]any)["upload_id"] != ids[2] {
		t.Fatalf("status filter: %v", m)
	}
	for _, q := range []string{"limit=0", "limit=1001", "limit=abc", "limit=-1", "status=bogus", "cursor=%%%", "cursor=bm90LWEtY3Vyc29y", "user_id=a/b"} {
		r := as.Do("GET", "/api/uploads?"+q, nil, nil)
		if q == "user_id=a/b" {
			t.WantError(r, 403, "FORBIDDEN")
			continue
		}
		if r.Status != 400 {
			t.Errorf("list ?%s: status %d, want 400", q, r.Status)
		}
	}
	adm := t.As(a.Admin())
	m = adm.WantOK(adm.Do("GET", "/api/uploads?user_id="+user+"&limit=10", nil, nil))
	if list, _ := m["uploads"].([]any); len(list) != 5 {
		t.Fatalf("admin list of the user: %d uploads", len(list))
	}
}

// testDeleteKeepsKey: a deleted file's key is never handed to a new upload,
// and repeating the delete answers the same.
func testDeleteKeepsKey(t *T, a AuthTarget) {
	user := NewUserID()
	as := t.As(a.User(user))
	u := as.Init("keep.txt", "text/plain", RandomBytes(50, 9), user)
	key := as.UploadAll(u)
	first := as.WantOK(as.Do("DELETE", FilePath(key), nil, nil))
	again := as.WantOK(as.Do("DELETE", FilePath(key), nil, nil))
	if first["status"] != "deleted" || again["status"] != "deleted" || first["key"] != key {
		t.Fatalf("delete answers %v then %v", first, again)
	}
	as.WantError(as.Do("GET", FilePath(key), nil, nil), 404, "NOT_FOUND")
	st := as.Status(u)
	if st["status"] != "deleted" {
		t.Fatalf("status after delete: %v", st["status"])
	}
	as.WantError(as.PutChunk(u, 0, u.Chunk(0)), 409, "UPLOAD_COMPLETED")
	as.WantError(as.Complete(u), 409, "UPLOAD_COMPLETED")
	as.WantError(as.Cancel(u), 409, "UPLOAD_COMPLETED")
	n := as.Init("keep.txt", "text/plain", RandomBytes(50, 10), user)
	if n.Key == key {
		t.Fatalf("a new upload was given the deleted file's key %q", key)
	}
	as.WantError(as.Do("DELETE", FilePath(key+".nope"), nil, nil), 404, "NOT_FOUND")
	as.WantError(as.Do("DELETE", FilePath(n.Key), nil, nil), 404, "NOT_FOUND") // not completed
}

// testSeedBodyWithToken: the seed's init body (user_id and user_role in
// it) stays valid when they match the token.
func testSeedBodyWithToken(t *T, a AuthTarget) {
	user := NewUserID()
	as := t.As(a.User(user))
	u := as.Init("seed.bin", "application/octet-stream", threeChunks(12), user)
	key := as.UploadAll(u)
	if r := as.Do("GET", FilePath(key), nil, nil); r.Status != 200 || string(r.Body) != string(u.Data) {
		t.Fatalf("download: %d", r.Status)
	}
	me := as.WantOK(as.Do("GET", "/api/me", nil, nil))
	if me["auth"] != true || me["user_id"] != user || me["user_role"] != "creator" || me["actor"] != "user" {
		t.Fatalf("/api/me: %v", me)
	}
}
