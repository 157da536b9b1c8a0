package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	storage "github.com/memenow/memenow-storage"
)

// payload is script that, if it ever ran as a page of the API's origin,
// would leave a mark there: a localStorage entry, the title, and an upload
// of the user "pwned" made through the API with the page's credentials.
func payload(mark string) string {
	return `localStorage.setItem("memenow.pwned", "` + mark + `"); document.title = "pwned ` + mark + `";
fetch("/api/upload/init", {method: "POST", headers: {"Content-Type": "application/json"},
	body: JSON.stringify({file_name: "` + mark + `", total_size: 1, user_id: "pwned", user_role: "member"})});`
}

// apiUpload uploads data in one chunk through the HTTP API and returns the
// key of the completed file.
func apiUpload(t *testing.T, baseURL, fileName, contentType string, data []byte) string {
	t.Helper()
	call := func(method, path string, header map[string]string, body []byte) map[string]any {
		t.Helper()
		req, err := http.NewRequest(method, baseURL+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: %d %v (%v)", method, path, resp.StatusCode, m, err)
		}
		return m
	}
	jsonBody := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	jsonType := map[string]string{"Content-Type": "application/json"}
	init := call("POST", "/api/upload/init", jsonType, jsonBody(map[string]any{
		"file_name": fileName, "total_size": len(data), "content_type": contentType,
		"user_id": "uploader", "user_role": "member",
	}))
	id, _ := init["upload_id"].(string)
	call("PUT", "/api/upload/chunk", map[string]string{"X-Upload-Id": id, "X-Chunk-Index": "0"}, data)
	done := call("POST", "/api/upload/complete", jsonType, jsonBody(map[string]string{"upload_id": id}))
	key, _ := done["r2_key"].(string)
	return key
}

// downloadURL is the same-origin URL of a key, each segment escaped.
func downloadURL(baseURL, key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return baseURL + "/api/files/" + strings.Join(segs, "/")
}

// downloads records the downloads the browser starts and finishes.
type downloads struct {
	mu       sync.Mutex
	begun    map[string]browser.EventDownloadWillBegin // by URL
	finished map[string]browser.EventDownloadProgress  // by GUID, once completed or cancelled
}

// watchDownloads makes the browser save downloads, named by their GUID, in
// a new temporary folder, and records their events. It returns the folder.
func watchDownloads(t *testing.T, ctx context.Context) (*downloads, string) {
	t.Helper()
	d := &downloads{begun: map[string]browser.EventDownloadWillBegin{}, finished: map[string]browser.EventDownloadProgress{}}
	begun := chromedp.Events(ctx, browser.DownloadWillBegin)
	progress := chromedp.Events(ctx, browser.DownloadProgress)
	go func() {
		for ev, err := range begun {
			if err != nil {
				return
			}
			d.mu.Lock()
			d.begun[ev.URL] = ev
			d.mu.Unlock()
		}
	}()
	go func() {
		for ev, err := range progress {
			if err != nil {
				return
			}
			if ev.State == browser.DownloadProgressStateInProgress {
				continue
			}
			d.mu.Lock()
			d.finished[ev.GUID] = ev
			d.mu.Unlock()
		}
	}()
	dir := t.TempDir()
	events := true
	if _, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: &events,
	}); err != nil {
		t.Fatal(err)
	}
	return d, dir
}

// wait returns the download of u once it has finished. The minute is a
// deadline for a hung browser, not a performance bound.
func (d *downloads) wait(t *testing.T, u string) (browser.EventDownloadWillBegin, browser.EventDownloadProgress) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		d.mu.Lock()
		b, ok := d.begun[u]
		p, done := d.finished[b.GUID]
		d.mu.Unlock()
		if ok && done {
			return b, p
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no finished download of %s", u)
	return browser.EventDownloadWillBegin{}, browser.EventDownloadProgress{}
}

// pngImage is a 40×30 red PNG.
func pngImage(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for y := range 30 {
		for x := range 40 {
			img.Set(x, y, color.RGBA{R: 255, A: 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestBrowserDownloadsDoNotRun uploads files whose bytes are script (an
// HTML page, an SVG image, and a .txt declared text/html), opens each
// file's download URL in Chromium on the page's own origin, and checks that
// each became a download and that none of their script ran: the origin's
// localStorage, the page's title and the server hold no mark. A PNG, by
// contrast, is shown inline.
func TestBrowserDownloadsDoNotRun(t *testing.T) {
	srv := newServer(t)
	ctx := newBrowser(t)
	html := "<!doctype html><title>evil</title><script>" + payload("html") + "</script><p>evil</p>"
	active := []struct {
		fileName, contentType, body string
	}{
		{"evil.html", "text/html", html},
		{"evil.svg", "image/svg+xml", `<svg xmlns="http://www.w3.org/2000/svg" onload='` + payload("svg-onload") +
			`'><script>` + payload("svg") + `</script><rect width="10" height="10"/></svg>`},
		{"notes.txt", "text/html", "<script>" + payload("txt") + "</script>"},
		{"page.xhtml", "application/xhtml+xml", `<html xmlns="http://www.w3.org/1999/xhtml"><body><script>` +
			payload("xhtml") + `</script></body></html>`},
	}
	keys := make([]string, len(active))
	for i, f := range active {
		keys[i] = apiUpload(t, srv.URL, f.fileName, f.contentType, []byte(f.body))
	}
	pngData := pngImage(t)
	pngKey := apiUpload(t, srv.URL, "red.png", "image/png", pngData)

	dl, dir := watchDownloads(t, ctx)
	pageURL := srv.URL + "/"
	open(t, ctx, pageURL)
	title, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.title`))
	if err != nil {
		t.Fatal(err)
	}
	checkNoMark := func(when string) {
		t.Helper()
		state, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](`({
			href: location.href, title: document.title, mark: String(localStorage.getItem("memenow.pwned")),
			ready: document.body.dataset.ready ? "yes" : "no" })`))
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		want := map[string]string{"href": pageURL, "title": title, "mark": "null", "ready": "yes"}
		if !maps.Equal(state, want) {
			t.Fatalf("%s: page state %v, want %v (the page still shown, no mark of the files' script)", when, state, want)
		}
	}
	checkNoMark("before opening the files")

	for i, f := range active {
		u := downloadURL(srv.URL, keys[i])
		res, err := chromedp.Call(ctx, page.Navigate, page.NavigateParams{URL: u})
		if err != nil {
			t.Fatalf("navigate to %s: %v", f.fileName, err)
		}
		if !res.IsDownload {
			// Rendered: let it load, then look for its mark from the page.
			t.Errorf("opening %s (%s) was not a download: %+v", f.fileName, f.contentType, res)
			for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
				if st, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.readyState`)); err == nil && st == "complete" {
					break
				}
			}
			open(t, ctx, pageURL)
			checkNoMark("after opening " + f.fileName + " as a document")
			continue
		}
		begun, finished := dl.wait(t, u)
		if finished.State != browser.DownloadProgressStateCompleted {
			t.Errorf("download of %s ended %s", f.fileName, finished.State)
		}
		if begun.SuggestedFilename != f.fileName {
			t.Errorf("download of %s suggested the name %q", f.fileName, begun.SuggestedFilename)
		}
		got, err := os.ReadFile(filepath.Join(dir, begun.GUID))
		if err != nil || string(got) != f.body {
			t.Errorf("downloaded %s: %q (%v), want the uploaded bytes", f.fileName, got, err)
		}
		checkNoMark("after opening " + f.fileName)
	}

	// The PNG is displayed, not downloaded.
	u := downloadURL(srv.URL, pngKey)
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(u))
	if err != nil || resp == nil || resp.Status != http.StatusOK || resp.MimeType != "image/png" {
		t.Fatalf("navigate to red.png: %+v, %v; want a 200 image/png document", resp, err)
	}
	if cd, _ := resp.Headers["Content-Disposition"].(string); !strings.HasPrefix(cd, "inline;") {
		t.Errorf("red.png came with Content-Disposition %q, want inline", cd)
	}
	if !waitForRed(t, ctx) {
		t.Errorf("red.png is not displayed inline")
	}
	dl.mu.Lock()
	_, pngDownloaded := dl.begun[u]
	dl.mu.Unlock()
	if pngDownloaded {
		t.Errorf("red.png was downloaded, want it shown inline")
	}

	// Back on the page's origin: no mark, and the server got no upload
	// from the files' script.
	open(t, ctx, pageURL)
	checkNoMark("back on the page")
	list, err := srv.svc.Meta.ListUploads(t.Context(), storage.ListQuery{UserID: "pwned", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 0 {
		t.Errorf("the files' script made %d uploads as user pwned", len(list))
	}
}

// waitForRed waits until a screenshot of the tab shows the red PNG: a
// block of pure red pixels.
func waitForRed(t *testing.T, ctx context.Context) bool {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(shot))
		if err != nil {
			t.Fatal(err)
		}
		red := 0
		b := img.Bounds()
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				r, g, bl, _ := img.At(x, y).RGBA()
				if r>>8 == 255 && g>>8 == 0 && bl>>8 == 0 {
					red++
				}
			}
		}
		if red >= 40*30 {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}
