package web_test

import (
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/memenow/memenow-storage/web"
)

func TestHandler(t *testing.T) {
	h := web.Handler()
	get := httptest.NewRecorder()
	h.ServeHTTP(get, httptest.NewRequest(http.MethodGet, "/", nil))
	etag := get.Header().Get("ETag")

	tests := []struct {
		name, method, path string
		header             map[string]string
		wantStatus         int
		wantBody           bool
	}{
		{"get", http.MethodGet, "/", nil, http.StatusOK, true},
		{"head", http.MethodHead, "/", nil, http.StatusOK, false},
		{"revalidate", http.MethodGet, "/", map[string]string{"If-None-Match": etag}, http.StatusNotModified, false},
		{"stale etag", http.MethodGet, "/", map[string]string{"If-None-Match": `"old"`}, http.StatusOK, true},
		{"post", http.MethodPost, "/", nil, http.StatusMethodNotAllowed, false},
		{"other path", http.MethodGet, "/app.js", nil, http.StatusNotFound, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, nil)
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d", rec.Code, tt.wantStatus)
			}
			hasPage := strings.Contains(rec.Body.String(), "<!doctype html>")
			if hasPage != tt.wantBody {
				t.Errorf("body has the page: %v, want %v", hasPage, tt.wantBody)
			}
			if tt.wantStatus != http.StatusOK {
				return
			}
			for k, want := range map[string]string{
				"Content-Type":           "text/html; charset=utf-8",
				"Cache-Control":          "no-cache",
				"X-Content-Type-Options": "nosniff",
				"ETag":                   etag,
			} {
				if got := rec.Header().Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		})
	}
	if !regexp.MustCompile(`^"[0-9a-f]{32}"$`).MatchString(etag) {
		t.Errorf("ETag %q is not a quoted hash", etag)
	}
}

// TestContentSecurityPolicy checks that the policy allows exactly the
// page's inline script and style, its own origin, and nothing external.
func TestContentSecurityPolicy(t *testing.T) {
	rec := httptest.NewRecorder()
	web.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	body, _ := io.ReadAll(rec.Body)
	csp := rec.Header().Get("Content-Security-Policy")
	directives := map[string]string{}
	for _, d := range strings.Split(csp, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		directives[name] = value
	}
	hash := func(tag string) string {
		m := regexp.MustCompile(`(?s)<` + tag + `>(.*?)</` + tag + `>`).FindSubmatch(body)
		if m == nil {
			t.Fatalf("no inline <%s> in the page", tag)
		}
		sum := sha256.Sum256(m[1])
		return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	}
	for name, want := range map[string]string{
		"default-src":     "'none'",
		"script-src":      hash("script"),
		"style-src":       hash("style"),
		"connect-src":     "'self'",
		"img-src":         "'self' data:",
		"frame-ancestors": "'none'",
	} {
		if got := directives[name]; got != want {
			t.Errorf("CSP %s = %q, want %q (policy %q)", name, got, want, csp)
		}
	}
	// Nothing in the page points at another origin.
	external := regexp.MustCompile(`(?i)(src|href|action)\s*=\s*["']?\s*(https?:)?//|url\(\s*["']?(https?:)?//|@import`)
	if m := external.Find(body); m != nil {
		t.Errorf("the page refers to an external resource: %q", m)
	}
}
