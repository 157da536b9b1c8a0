package client_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	storage "github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/apitest"
	"github.com/memenow/memenow-storage/client"
)

// jwtSecret is the HS256 secret of the test identity provider.
var jwtSecret = []byte("client-tests-hs256-secret-of-at-least-32-bytes")

// newAuthServer starts the real API over SQLite and disk with share links
// and, when authOn, JWT authentication; it returns a client without a token.
func newAuthServer(t *testing.T, authOn bool) *client.Client {
	t.Helper()
	cfg := storage.DefaultConfig()
	cfg.MaxFileSize, cfg.ChunkSize, cfg.MaxChunkSize = 1<<30, chunk, 64<<20
	o := apitest.LocalOptions{Config: &cfg}
	if authOn {
		o.Secret = jwtSecret
	}
	h, _ := apitest.NewLocal(t, o)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &client.Client{BaseURL: srv.URL, HTTPClient: srv.Client(),
		Retry: client.RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: 10 * time.Millisecond}}
}

// mint returns an HS256 token for user sub with role, valid for ttl (a
// negative ttl makes an expired token); admin adds the administrator scope.
func mint(t *testing.T, sub, role string, admin bool, ttl time.Duration) string {
	return apitest.MintToken(jwtSecret, apitest.Claims{Sub: sub, Role: role, Admin: admin, Exp: ttl})
}

// as returns a copy of c that sends token.
func as(c *client.Client, token string) *client.Client {
	cc := *c
	cc.Token = token
	return &cc
}

// errorMessage is the server's message in err.
func errorMessage(err error) string {
	var se *storage.Error
	if errors.As(err, &se) {
		return se.Message
	}
	return ""
}

func TestMe(t *testing.T) {
	ctx := context.Background()
	off := newAuthServer(t, false)
	me, err := off.Me(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if me.Auth || me.Actor != client.ActorAnonymous {
		t.Errorf("auth off: %+v, want auth false and an anonymous actor", me)
	}

	on := newAuthServer(t, true)
	tests := []struct {
		name  string
		token string
		want  client.Identity
	}{
		{"no token", "", client.Identity{Auth: true, Actor: client.ActorAnonymous}},
		{"user", mint(t, "alice", "creator", false, time.Hour),
			client.Identity{Auth: true, Actor: client.ActorUser, UserID: "alice", UserRole: "creator"}},
		{"admin", mint(t, "root", "", true, time.Hour),
			client.Identity{Auth: true, Actor: client.ActorAdmin, UserID: "root", Admin: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			me, err := as(on, tt.token).Me(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if *me != tt.want {
				t.Errorf("Me = %+v, want %+v", *me, tt.want)
			}
		})
	}

	refusals := []struct {
		name, token, want string
	}{
		{"expired", mint(t, "alice", "creator", false, -time.Hour), "expired"},
		{"garbage", "not-a-jwt", "token"},
		{"other secret", func() string {
			s, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "alice", "role": "creator",
				"exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte("another-secret-another-secret-another"))
			return s
		}(), "signature"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			_, err := as(on, tt.token).Me(ctx)
			if !client.IsUnauthorized(err) || client.HTTPStatus(err) != http.StatusUnauthorized {
				t.Fatalf("err %v, want 401 UNAUTHORIZED", err)
			}
			msg := errorMessage(err)
			if !strings.Contains(msg, tt.want) {
				t.Errorf("message %q does not say %q", msg, tt.want)
			}
			if strings.Contains(err.Error(), tt.token) {
				t.Errorf("the error repeats the token: %v", err)
			}
		})
	}
}

func TestIsUnauthorized(t *testing.T) {
	// A proxy's 401 without the API's body is recognised too.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "login first", http.StatusUnauthorized)
	}))
	defer srv.Close()
	_, err := client.New(srv.URL).List(context.Background(), client.ListOptions{})
	if !client.IsUnauthorized(err) || !storage.HasCode(err, storage.CodeUnauthorized) {
		t.Errorf("err %v: want IsUnauthorized and the code UNAUTHORIZED", err)
	}
	for _, err := range []error{nil, errors.New("x"), storage.Errorf(storage.CodeForbidden, "no")} {
		if client.IsUnauthorized(err) {
			t.Errorf("IsUnauthorized(%v) = true", err)
		}
	}
}

// TestAuthUploadShareDelete walks a file through its life on an auth-on
// server: uploaded with a token, invisible to another user, shared,
// downloaded through the link, deleted.
func TestAuthUploadShareDelete(t *testing.T) {
	ctx := context.Background()
	anon := newAuthServer(t, true)
	alice := as(anon, mint(t, "alice", "creator", false, time.Hour))
	bob := as(anon, mint(t, "bob", "member", false, time.Hour))
	admin := as(anon, mint(t, "root", "", true, time.Hour))
	data := randomData(t, chunk+777)

	// Without a token nothing but public files.
	if _, err := anon.Init(ctx, client.InitRequest{FileName: "x.bin", TotalSize: 10, UserID: "alice", UserRole: "creator"}); !client.IsUnauthorized(err) {
		t.Errorf("anonymous init: %v, want UNAUTHORIZED", err)
	}
	if _, err := anon.List(ctx, client.ListOptions{}); !client.IsUnauthorized(err) {
		t.Errorf("anonymous list: %v, want UNAUTHORIZED", err)
	}
	// The body may not name someone else.
	if _, err := alice.Init(ctx, client.InitRequest{FileName: "x.bin", TotalSize: 10, UserID: "bob", UserRole: "member"}); !storage.HasCode(err, storage.CodeForbidden) || client.HTTPStatus(err) != http.StatusForbidden {
		t.Errorf("init for another user: %v, want 403 FORBIDDEN", err)
	}

	// The owner comes from the token.
	res, err := alice.Upload(ctx, bytes.NewReader(data), int64(len(data)), client.UploadOptions{FileName: "private.bin"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.Key, "creator/alice/") {
		t.Errorf("key %q, want it under creator/alice/", res.Key)
	}
	st, err := alice.Status(ctx, res.UploadID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Visibility != client.VisibilityPrivate || st.UserID != "alice" || st.UploadToken != "" {
		t.Errorf("status %+v: want private, alice's, and no upload token once completed", st)
	}
	if got := download(t, alice, res.Key); !bytes.Equal(got, data) {
		t.Error("the owner's download differs from the upload")
	}
	for name, c := range map[string]*client.Client{"bob": bob, "anonymous": anon} {
		var buf bytes.Buffer
		if _, err := c.Download(ctx, res.Key, &buf); !storage.HasCode(err, storage.CodeNotFound) {
			t.Errorf("%s downloading a private file: %v, want NOT_FOUND", name, err)
		}
	}
	if _, err := bob.Status(ctx, res.UploadID); !storage.HasCode(err, storage.CodeUploadNotFound) {
		t.Errorf("bob's status of alice's upload: %v, want UPLOAD_NOT_FOUND", err)
	}
	if got := download(t, admin, res.Key); !bytes.Equal(got, data) {
		t.Error("the administrator's download differs from the upload")
	}

	// A public file is read by anyone.
	pub, err := alice.Upload(ctx, strings.NewReader("for everyone\n"), 13,
		client.UploadOptions{FileName: "public.txt", Visibility: client.VisibilityPublic})
	if err != nil {
		t.Fatal(err)
	}
	if got := download(t, anon, pub.Key); string(got) != "for everyone\n" {
		t.Errorf("anonymous download of a public file: %q", got)
	}

	// Share: a link that reads the file without a token, Range included.
	if _, err := bob.Share(ctx, res.Key, time.Minute, false); !storage.HasCode(err, storage.CodeNotFound) {
		t.Errorf("bob sharing alice's file: %v, want NOT_FOUND", err)
	}
	link, err := alice.Share(ctx, res.Key, 90*time.Second, true)
	if err != nil {
		t.Fatal(err)
	}
	if link.Key != res.Key || !strings.HasPrefix(link.URL, anon.BaseURL+"/api/files/") {
		t.Errorf("link %+v", link)
	}
	if left := time.Until(link.Expires()); left < 80*time.Second || left > 100*time.Second {
		t.Errorf("link expires in %v, want about 90 s", left)
	}
	req, _ := http.NewRequest(http.MethodGet, link.URL, nil)
	req.Header.Set("Range", "bytes=10-19")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	part, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(part, data[10:20]) {
		t.Errorf("ranged GET of the share link: %d, %d bytes; want 206 and bytes 10-19", resp.StatusCode, len(part))
	}
	u, _ := url.Parse(link.URL)
	q := u.Query()
	q.Set("expires", q.Get("expires")+"0")
	u.RawQuery = q.Encode()
	resp, err = http.Get(u.String())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "INVALID_SIGNATURE") {
		t.Errorf("changed link: %d %s, want 403 INVALID_SIGNATURE", resp.StatusCode, body)
	}
	if _, err := alice.Share(ctx, res.Key, 30*24*time.Hour, false); !storage.HasCode(err, storage.CodeInvalidField) {
		t.Errorf("a link for 30 days: %v, want INVALID_FIELD (over the 7-day limit)", err)
	}

	// Delete: not bob's; alice's twice; gone afterwards.
	if _, err := bob.Delete(ctx, res.Key); !storage.HasCode(err, storage.CodeNotFound) || client.HTTPStatus(err) != http.StatusNotFound {
		t.Errorf("bob deleting alice's file: %v, want 404 NOT_FOUND", err)
	}
	for range 2 {
		d, err := alice.Delete(ctx, res.Key)
		if err != nil {
			t.Fatal(err)
		}
		if d.Key != res.Key || d.UploadID != res.UploadID || d.Status != "deleted" {
			t.Errorf("delete answered %+v", d)
		}
	}
	var buf bytes.Buffer
	if _, err := alice.Download(ctx, res.Key, &buf); !storage.HasCode(err, storage.CodeNotFound) {
		t.Errorf("download after delete: %v, want NOT_FOUND", err)
	}
	page, err := alice.List(ctx, client.ListOptions{Status: "deleted"})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Uploads) != 1 || page.Uploads[0].Key != res.Key || page.Uploads[0].Status != "deleted" {
		t.Errorf("deleted uploads %+v, want the one deleted with its key", page.Uploads)
	}
}

// TestUploadToken uses the token of one upload, from init and from status,
// to send its chunks and complete it, and checks it is good for nothing else.
func TestUploadToken(t *testing.T) {
	ctx := context.Background()
	anon := newAuthServer(t, true)
	alice := as(anon, mint(t, "alice", "member", false, time.Hour))
	in, err := alice.Init(ctx, client.InitRequest{FileName: "t.bin", TotalSize: chunk + 5})
	if err != nil {
		t.Fatal(err)
	}
	if in.UploadToken == "" || in.Visibility != client.VisibilityPrivate {
		t.Fatalf("init answered %+v: want an upload token and private visibility", in)
	}
	holder := as(anon, in.UploadToken)
	if _, err := holder.PutChunk(ctx, in.UploadID, 0, bytes.NewReader(make([]byte, chunk)), chunk); err != nil {
		t.Fatal(err)
	}
	st, err := holder.Status(ctx, in.UploadID)
	if err != nil {
		t.Fatal(err)
	}
	if st.UploadToken == "" || st.ChunksUploaded != 1 {
		t.Errorf("status %+v: want a fresh upload token and 1 chunk", st)
	}
	fresh := as(anon, st.UploadToken)
	if _, err := fresh.PutChunk(ctx, in.UploadID, 1, strings.NewReader("12345"), 5); err != nil {
		t.Fatal(err)
	}
	done, err := fresh.Complete(ctx, in.UploadID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := holder.List(ctx, client.ListOptions{}); err == nil {
		t.Error("an upload token listed uploads")
	}
	if _, err := holder.Share(ctx, done.Key, time.Minute, false); err == nil {
		t.Error("an upload token shared the file")
	}
	other, err := alice.Init(ctx, client.InitRequest{FileName: "u.bin", TotalSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := holder.Status(ctx, other.UploadID); !storage.HasCode(err, storage.CodeUploadNotFound) {
		t.Errorf("an upload token reading another upload: %v, want UPLOAD_NOT_FOUND", err)
	}
}

func TestListPages(t *testing.T) {
	ctx := context.Background()
	anon := newAuthServer(t, true)
	alice := as(anon, mint(t, "alice", "creator", false, time.Hour))
	bob := as(anon, mint(t, "bob", "member", false, time.Hour))
	admin := as(anon, mint(t, "root", "", true, time.Hour))
	var ids []string
	for i := range 5 {
		in, err := alice.Init(ctx, client.InitRequest{FileName: "f.bin", TotalSize: int64(100 + i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, in.UploadID)
		time.Sleep(3 * time.Millisecond) // distinct creation times: the order is defined
	}
	if _, err := bob.Init(ctx, client.InitRequest{FileName: "b.bin", TotalSize: 1}); err != nil {
		t.Fatal(err)
	}

	var got []string
	opts := client.ListOptions{Limit: 2}
	for pages := 0; ; pages++ {
		if pages > 3 {
			t.Fatal("more than 3 pages of 2 for 5 uploads")
		}
		page, err := alice.List(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range page.Uploads {
			if u.UserID != "alice" || u.Status != "initiated" || u.Key != "" {
				t.Errorf("listed %+v", u)
			}
			got = append(got, u.UploadID)
		}
		if page.NextCursor == "" {
			break
		}
		opts.Cursor = page.NextCursor
	}
	want := []string{ids[4], ids[3], ids[2], ids[1], ids[0]}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("listed %v, want newest first %v", got, want)
	}

	if _, err := bob.List(ctx, client.ListOptions{UserID: "alice"}); !storage.HasCode(err, storage.CodeForbidden) {
		t.Errorf("bob listing alice's uploads: %v, want FORBIDDEN", err)
	}
	page, err := admin.List(ctx, client.ListOptions{UserID: "alice", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Uploads) != 5 || page.NextCursor != "" {
		t.Errorf("admin listing alice's: %d uploads, cursor %q; want 5 and none", len(page.Uploads), page.NextCursor)
	}
	if page, err := admin.List(ctx, client.ListOptions{}); err != nil || len(page.Uploads) != 6 {
		t.Errorf("admin listing everyone's: %v, %v; want 6", page, err)
	}
	for _, o := range []client.ListOptions{{Limit: 1001}, {Status: "sleeping"}, {Cursor: "!!"}} {
		if _, err := alice.List(ctx, o); !storage.HasCode(err, storage.CodeInvalidField) {
			t.Errorf("List(%+v): %v, want INVALID_FIELD", o, err)
		}
	}
}

// TestAuthOff checks that the new calls work without any token when the
// server does not check them.
func TestAuthOff(t *testing.T) {
	ctx := context.Background()
	c := newAuthServer(t, false)
	res, err := c.Upload(ctx, strings.NewReader("hello"), 5, client.UploadOptions{FileName: "h.txt", UserID: "carol", UserRole: "member"})
	if err != nil {
		t.Fatal(err)
	}
	page, err := c.List(ctx, client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Uploads) != 1 || page.Uploads[0].Key != res.Key || page.Uploads[0].Status != "completed" {
		t.Errorf("list %+v", page)
	}
	link, err := c.Share(ctx, res.Key, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	if left := time.Until(link.Expires()); left < 59*time.Minute || left > 61*time.Minute {
		t.Errorf("default link lifetime %v, want an hour", left)
	}
	if _, err := c.Delete(ctx, res.Key); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Delete(ctx, "no/such/key"); !storage.HasCode(err, storage.CodeNotFound) {
		t.Errorf("delete of a missing key: %v, want NOT_FOUND", err)
	}
}
