package httpapi_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	storage "github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/apitest"
	"github.com/memenow/memenow-storage/httpapi"
)

// startAuthServer returns an in-process server on SQLite and disk with auth
// on (HS256 user tokens signed with secret).
func startAuthServer(t *testing.T, secret []byte, origins []string) *httptest.Server {
	t.Helper()
	h, _ := apitest.NewLocal(t, apitest.LocalOptions{Secret: secret, AllowedOrigins: origins})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// TestAuthAPI runs the identity and access suite in process.
func TestAuthAPI(t *testing.T) {
	secret := []byte("an-hmac-secret-of-at-least-32-bytes!!")
	srv := startAuthServer(t, secret, nil)
	apitest.RunAuth(t, apitest.AuthTarget{Target: apitest.Target{BaseURL: srv.URL}, Secret: secret})
}

// TestAuthCORS: with auth on, no origin is allowed unless listed, and
// credentials are never allowed.
func TestAuthCORS(t *testing.T) {
	secret := []byte("an-hmac-secret-of-at-least-32-bytes!!")
	preflight := func(base, origin string) http.Header {
		req, _ := http.NewRequest("OPTIONS", base+"/api/upload/init", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header
	}
	closed := startAuthServer(t, secret, nil)
	if h := preflight(closed.URL, "https://evil.example"); h.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("auth on, no list: origin allowed: %v", h)
	}
	listed := startAuthServer(t, secret, []string{"https://app.example"})
	h := preflight(listed.URL, "https://app.example")
	if h.Get("Access-Control-Allow-Origin") != "https://app.example" || h.Get("Access-Control-Allow-Credentials") != "" {
		t.Fatalf("listed origin: %v", h)
	}
	if !strings.Contains(strings.ToLower(h.Get("Access-Control-Allow-Headers")), "authorization") {
		t.Fatalf("Authorization not allowed: %v", h)
	}
	if h := preflight(listed.URL, "https://evil.example"); h.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("unlisted origin allowed: %v", h)
	}
	star := startAuthServer(t, secret, []string{"*"})
	if h := preflight(star.URL, "https://any.example"); h.Get("Access-Control-Allow-Origin") != "*" || h.Get("Access-Control-Allow-Credentials") != "" {
		t.Fatalf("*: %v", h)
	}
}

// TestEveryCodeHasAStatus: no code a client can receive falls through to
// 500 by omission.
func TestEveryCodeHasAStatus(t *testing.T) {
	for _, code := range storage.Codes() {
		status := httpapi.HTTPStatus(code)
		if status == http.StatusInternalServerError && code != storage.CodeInternal {
			t.Errorf("%s has no status of its own", code)
		}
	}
}

// TestRefusalsDoNotFloodTheLog: 401s, which a client can send at will and
// the audit log records, are logged at debug, not info; a 404 still is.
func TestRefusalsDoNotFloodTheLog(t *testing.T) {
	var logs strings.Builder
	svc := newService(t)
	srv := httptest.NewServer(httpapi.NewServer(httpapi.Options{Service: svc,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Auth:   refuseAllTokens{}}))
	defer srv.Close()
	for range 20 {
		req, _ := http.NewRequest("GET", srv.URL+"/api/uploads", nil)
		req.Header.Set("Authorization", "Bearer nope")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("status %d, want 401", resp.StatusCode)
		}
	}
	if strings.Contains(logs.String(), "status=401") {
		t.Fatalf("401s logged at info:\n%s", logs.String())
	}
	resp, err := http.Get(srv.URL + "/nope")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !strings.Contains(logs.String(), "status=404") {
		t.Fatalf("a 404 is no longer logged at info:\n%s", logs.String())
	}
}

// refuseAllTokens is an Authenticator that refuses every token.
type refuseAllTokens struct{}

func (refuseAllTokens) Authenticate(context.Context, string) (*storage.Principal, error) {
	return nil, storage.Errorf(storage.CodeUnauthorized, "token is not valid")
}
