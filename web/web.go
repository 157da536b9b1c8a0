// Package web serves the browser upload page of MemeNow Storage: one HTML
// file with its script and style inline, embedded in the binary. The page
// talks to the HTTP API on the same origin and loads nothing from elsewhere.
//
// When the server checks tokens (GET /api/me says so), the page asks for an
// access token, or takes one from "#token=…" in its address and removes it
// from the address bar; it keeps the token in sessionStorage (never
// localStorage), sends it as a bearer token on every API call, and shows
// whom it names. Each upload's own requests use the upload token the server
// returns at init. With auth off the page needs no token.
package web

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"regexp"
	"strings"
	"time"
)

//go:embed index.html
var indexHTML []byte

// inlineBlocks finds the inline <script> and <style> elements, whose hashes
// the Content-Security-Policy allows.
var inlineBlocks = regexp.MustCompile(`(?s)<(script|style)>(.*?)</(?:script|style)>`)

// contentSecurityPolicy allows the page's own inline script and style (by
// hash), requests to its own origin, and nothing else.
func contentSecurityPolicy(page []byte) string {
	var scripts, styles []string
	for _, m := range inlineBlocks.FindAllSubmatch(page, -1) {
		sum := sha256.Sum256(m[2])
		src := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
		if string(m[1]) == "script" {
			scripts = append(scripts, src)
		} else {
			styles = append(styles, src)
		}
	}
	return strings.Join([]string{
		"default-src 'none'",
		"script-src " + orNone(scripts),
		"style-src " + orNone(styles),
		"connect-src 'self'",
		"img-src 'self' data:",
		"base-uri 'none'",
		"form-action 'none'",
		"frame-ancestors 'none'",
	}, "; ")
}

func orNone(sources []string) string {
	if len(sources) == 0 {
		return "'none'"
	}
	return strings.Join(sources, " ")
}

// Handler returns the handler of the upload page. It answers GET and HEAD of
// "/" with the page, revalidated by ETag on every visit (Cache-Control:
// no-cache), under a Content-Security-Policy that forbids external loads.
func Handler() http.Handler {
	csp := contentSecurityPolicy(indexHTML)
	sum := sha256.Sum256(indexHTML)
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", csp)
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", etag)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		http.ServeContent(w, r, "index.html", time.Time{}, bytes.NewReader(indexHTML))
	})
}
